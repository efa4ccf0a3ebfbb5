/**
 * The keep rule (src/loop/keep-rule.ts), a pure function of a run's result, the head's val_bpb
 * and the org's simplicity threshold: what is kept, what is discarded and why, what is a crash to
 * fix, and that a model the evaluator found invalid is never kept, whatever val_bpb it shows.
 */
import { describe, expect, it } from "vitest";
import type { RunResult, RunStatus, RunSummary } from "../../src/harness/types.ts";
import { decide } from "../../src/loop/keep-rule.ts";

const summary = (valBpb: number): RunSummary => ({
  val_bpb: valBpb,
  training_seconds: 10,
  total_seconds: 14,
  peak_vram_mb: 0,
  mfu_percent: 1,
  total_tokens_M: 0.5,
  num_steps: 40,
  num_params_M: 0.4,
  depth: 2,
});

const base = { logTail: "", seed: 42, profile: "cpu", timeBudget: 10, sandboxed: true } as const;
const ok = (valBpb: number): RunResult => ({ ...base, status: "ok", summary: summary(valBpb) });
const failed = (status: RunStatus, error?: string): RunResult => ({ ...base, status, ...(error ? { error } : {}) });

const PROBE = "causality probe: the logits at position 17 changed when only tokens after it were altered (max |Δ| 3.2)";

describe("keep rule", () => {
  it("keeps the baseline (no head yet) when it is ok", () => {
    expect(decide(ok(1.9), null)).toEqual({ status: "keep" });
  });

  it("keeps an ok run below the head", () => {
    expect(decide(ok(1.49), 1.5)).toEqual({ status: "keep" });
  });

  it("discards an ok run equal to or above the head, saying both values", () => {
    for (const bpb of [1.5, 1.6]) {
      const d = decide(ok(bpb), 1.5);
      expect(d.status).toBe("discard");
      expect(d.reason).toBe(`val_bpb ${bpb.toFixed(6)} is not below the head's 1.500000`);
    }
  });

  it("discards a gain that does not clear the simplicity threshold, and keeps one that does", () => {
    const small = decide(ok(1.495), 1.5, 0.01);
    expect(small.status).toBe("discard");
    expect(small.reason).toMatch(/not below the head's 1\.500000 by more than 0\.01$/);
    expect(decide(ok(1.5 - 0.01), 1.5, 0.01).status).toBe("discard"); // exactly the threshold is not more
    expect(decide(ok(1.48), 1.5, 0.01)).toEqual({ status: "keep" });
  });

  it("calls every failed run other than invalid a crash, with the run's error or its outcome", () => {
    const statuses: RunStatus[] = ["crash", "timeout", "over-budget", "non-finite", "out-of-memory"];
    for (const status of statuses) {
      expect(decide(failed(status, `${status}: details`), 1.5)).toEqual({ status: "crash", reason: `${status}: details` });
      expect(decide(failed(status), 1.5)).toEqual({ status: "crash", reason: `run ended ${status}` });
      expect(decide(failed(status), null).status).toBe("crash"); // a failed baseline too
    }
  });

  it("calls an ok result without a summary a crash (never a keep on no number)", () => {
    expect(decide({ ...base, status: "ok" }, 1.5)).toEqual({ status: "crash", reason: "run ended ok" });
  });

  it("never keeps an invalid run, even with a val_bpb far below the head: its reason is the probe's evidence", () => {
    // The harness gives an invalid run no summary; one that carried a tempting number anyway is
    // still not kept, as baseline or otherwise.
    const cheat: RunResult = { ...base, status: "invalid", error: PROBE, summary: summary(0.01) };
    expect(decide(cheat, 1.5)).toEqual({ status: "invalid", reason: PROBE });
    expect(decide(cheat, null)).toEqual({ status: "invalid", reason: PROBE });
    expect(decide(cheat, 1.5, 0.5)).toEqual({ status: "invalid", reason: PROBE });
  });

  it("an invalid run is not a crash (the loop does not ask the agent to fix it)", () => {
    const d = decide(failed("invalid"), 1.5);
    expect(d.status).toBe("invalid");
    expect(d.status).not.toBe("crash");
    expect(d.reason).toMatch(/invalid/);
  });
});
