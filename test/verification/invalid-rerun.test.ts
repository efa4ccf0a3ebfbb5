/**
 * A claim whose rerun the trusted evaluator found invalid (the model cheated under measurement)
 * is flagged with the probe's evidence, never real and never credited. First the pure rule
 * (rerunFailure), then judgeClaims itself over measurements already in a real store: measure()
 * reuses a stored measurement, so nothing trains.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { Lab } from "../../src/lab/index.ts";
import { rerunFailure } from "../../src/verification/failed.ts";
import { type MeasureSetup, measure } from "../../src/verification/measure.ts";
import { sessionOf } from "../../src/verification/pairing.ts";
import { VERIFY_SEED_BASE, judgeClaims } from "../../src/verification/verify.ts";
import { type NewMeasurement, openStore } from "../../src/store/index.ts";

const root = mkdtempSync(join(tmpdir(), "ns-invalid-rerun-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const sha = (s: string) => createHash("sha1").update(s).digest("hex");

const PROBE = "statelessness probe: logits for the same rows differed on the second call (max |Δ| 0.41)";
const ok = { outcome: "ok" as const, error: null };

describe("rerunFailure", () => {
  it("is null when both trainings of the seed are ok", () => {
    expect(rerunFailure(ok, ok, 1000)).toBeNull();
  });

  it("flags the claim when the candidate's rerun is invalid, with the probe's evidence", () => {
    const r = rerunFailure(ok, { outcome: "invalid", error: PROBE }, 1003);
    expect(r).toEqual({
      verdict: "flagged",
      reason: `not credited: the rerun of the candidate at seed 1003 was invalid (the evaluator's probes caught the model cheating): ${PROBE}`,
    });
  });

  it("flags it when the parent's rerun is invalid too, and names the parent", () => {
    const r = rerunFailure({ outcome: "invalid", error: PROBE }, ok, 1000);
    expect(r?.verdict).toBe("flagged");
    expect(r?.reason).toMatch(/the rerun of the parent at seed 1000 was invalid/);
  });

  it("an invalid candidate outranks a crashed parent: the claim is flagged, not inconclusive", () => {
    const r = rerunFailure({ outcome: "crash", error: "boom" }, { outcome: "invalid", error: PROBE }, 1000);
    expect(r?.verdict).toBe("flagged");
  });

  it("leaves the claim inconclusive on any other failure", () => {
    for (const outcome of ["crash", "timeout", "over-budget", "non-finite", "out-of-memory"] as const) {
      const r = rerunFailure(ok, { outcome, error: "it broke" }, 1001);
      expect(r).toEqual({ verdict: "inconclusive", reason: `the rerun of the candidate at seed 1001 failed (${outcome}): it broke` });
    }
  });
});

describe("judgeClaims with an invalid rerun", () => {
  const CODE_DIFF = [
    "diff --git a/train.ts b/train.ts",
    "--- a/train.ts",
    "+++ b/train.ts",
    "@@ -1,1 +1,1 @@",
    "-const LR = 0.04;",
    "+const LR = 0.05;",
    "",
  ].join("\n");

  /** A store with one kept claim, and the paired measurements given, as verify would have made them. */
  function claimWithMeasurements(name: string, candidate: (i: number) => Partial<NewMeasurement>, parentTokensPerSecond?: number) {
    const store = openStore(join(root, `${name}.db`));
    const org = store.createOrg({ name: "org", programMd: "# org\n" });
    const base = sha("base");
    const run = store.createRun({ tag: name, orgId: org.id, branch: `nightshift/${name}/org`, profile: "cpu", timeBudget: 10, deviceKind: "cpu", agent: "builtin", baseCommit: base });
    const proposed = store.proposeExperiment({ runId: run.id, parentCommit: base, description: "lr 0.05", hypothesis: "faster" });
    store.startExperiment(proposed.id, { commit: sha("cand"), diff: CODE_DIFF, seed: 42 });
    const summary = { val_bpb: 1.2, training_seconds: 10, total_seconds: 12, peak_vram_mb: 0, mfu_percent: 1, total_tokens_M: 1, num_steps: 30, num_params_M: 1, depth: 2 };
    const experiment = store.finishExperiment(proposed.id, {
      status: "keep",
      result: { status: "ok", summary, logTail: "", seed: 42, profile: "cpu", timeBudget: 10, sandboxed: true },
    });
    // Made by this claim's own verification session, the only one that may reuse them.
    const session = sessionOf(experiment.id, base);
    const key = { profile: "cpu" as const, timeBudget: 10, deviceKind: "cpu", dataset: "tiny", purpose: "verify" as const, session };
    for (let i = 0; i < 6; i++) {
      const seed = VERIFY_SEED_BASE + i;
      const test = i === 0 ? { testBpb: 1.5 } : {};
      const throughput = parentTokensPerSecond === undefined ? {} : { tokensPerSecond: parentTokensPerSecond };
      store.recordMeasurement({ ...key, commit: base, seed, outcome: "ok", valBpb: 1.5 + 0.001 * i, sandboxed: true, ...test, ...throughput });
      const c = candidate(i);
      store.recordMeasurement({ ...key, commit: sha("cand"), seed, outcome: "ok", valBpb: 1.2 + 0.001 * i, sandboxed: true, ...test, ...c } as NewMeasurement);
    }
    const setup: MeasureSetup = {
      store,
      lab: {} as Lab, // never asked: every measurement is already stored
      logsDir: join(root, "logs"),
      trainer: () => Promise.reject(new Error("never asked: every measurement is already stored")),
      profile: "cpu",
      timeBudget: 10,
      datasetDir: join(root, "tiny"),
      deviceKind: "cpu",
      onTraining: () => {
        throw new Error("nothing should train: the measurements are stored");
      },
    };
    return { store, experiment, setup, base };
  }

  const options = { thresholds: { effect: 0.001, margin: 0 }, maxSeeds: 6, minSeeds: 3, alpha: 0.05 };

  it("a candidate invalid on its first rerun is flagged, not real, however low its val_bpb", async () => {
    const { store, experiment, setup, base } = claimWithMeasurements("first", (i) =>
      i === 0 ? { outcome: "invalid", valBpb: undefined, testBpb: undefined, error: PROBE } : {},
    );
    const [judged] = await judgeClaims(setup, [{ experiment, parentCommit: base, diff: CODE_DIFF }], options);
    expect(judged!.verification.verdict).toBe("flagged");
    expect(judged!.verification.reason).toContain(PROBE);
    expect(judged!.verification.seeds).toBe(0);
    expect(judged!.verification.pValue).toBeUndefined();
    store.close();
  });

  it("an invalid rerun after ok ones still flags the claim (a cheat found late is a cheat), outside BH", async () => {
    // Seeds 0-1 show a large, consistent gain; seed 2 is caught cheating before the first look.
    const { store, experiment, setup, base } = claimWithMeasurements("late", (i) =>
      i === 2 ? { outcome: "invalid", valBpb: undefined, error: PROBE } : {},
    );
    const [judged] = await judgeClaims(setup, [{ experiment, parentCommit: base, diff: CODE_DIFF }], options);
    const v = judged!.verification;
    expect(v.verdict).toBe("flagged");
    expect(v.reason).toMatch(/rerun of the candidate at seed 1002 was invalid/);
    expect(v.pValue).toBeUndefined();
    expect(v.pAdjusted).toBeUndefined();
    expect(v.details).toMatchObject({ integrity: "invalid" });
    // Recorded, it is the flagged verdict the tournament never credits (verified gain 0 unless real).
    const stored = store.recordVerification(v);
    expect(stored.verdict).toBe("flagged");
    store.close();
  });

  it("the same measurements without the invalid rerun verify as real (the flag is what changed)", async () => {
    const { store, experiment, setup, base } = claimWithMeasurements("clean", () => ({}));
    const [judged] = await judgeClaims(setup, [{ experiment, parentCommit: base, diff: CODE_DIFF }], options);
    expect(judged!.verification.verdict).toBe("real");
    store.close();
  });

  it("reuses a measurement only within the verification session that made it", async () => {
    const { store, experiment, setup, base } = claimWithMeasurements("sessions", () => ({}));
    const own = sessionOf(experiment.id, base);
    const reused = await measure(setup, base, VERIFY_SEED_BASE, "verify", { session: own });
    expect(reused.session).toBe(own);
    // Another claim on the same parent would have to train its own parent measurement.
    await expect(measure(setup, base, VERIFY_SEED_BASE, "verify", { session: sessionOf(experiment.id + 1, base) })).rejects.toThrow(/nothing should train/);
    await expect(measure(setup, base, VERIFY_SEED_BASE, "verify")).rejects.toThrow(/nothing should train/);
    store.close();
  });

  it("does not decide on pairs whose load changed within them, unless every seed's gain is beyond the effect of interest", async () => {
    // The candidate's throughput against its parent's: 1.0, 0.4, 1.0 — load changed within a pair.
    const { store, experiment, setup, base } = claimWithMeasurements("load", (i) => ({ tokensPerSecond: i === 1 ? 400 : 1000 }));
    for (const m of store.findMeasurements({ commit: base, profile: "cpu", timeBudget: 10, deviceKind: "cpu", dataset: "tiny" })) expect(m.tokensPerSecond).toBeNull();
    const claim = [{ experiment, parentCommit: base, diff: CODE_DIFF }];
    // Without a parent throughput there is nothing to compare: decided as before.
    expect((await judgeClaims(setup, claim, options))[0]!.verification.verdict).toBe("real");
    store.close();

    const loaded = claimWithMeasurements("load2", (i) => ({ tokensPerSecond: i === 1 ? 400 : 1000 }), 1000);
    const small = await judgeClaims(loaded.setup, [{ experiment: loaded.experiment, parentCommit: loaded.base, diff: CODE_DIFF }], { ...options, thresholds: { effect: 1, margin: 0 }, retryUnreliable: 0 }); // the retry (verify-fake.test.ts) would train
    expect(small[0]!.verification).toMatchObject({ verdict: "inconclusive", reason: expect.stringMatching(/^unreliable, not decided \(it would have been real\)/) });
    expect(small[0]!.verification.details).toMatchObject({ unreliable: true, throughput: { bound: 0.5 } });
    // The same pairs with gains (0.3 bpb on every seed) beyond an effect of interest of 0.1: decided.
    const large = await judgeClaims(loaded.setup, [{ experiment: loaded.experiment, parentCommit: loaded.base, diff: CODE_DIFF }], { ...options, thresholds: { effect: 0.1, margin: 0 } });
    expect(large[0]!.verification.verdict).toBe("real");
    loaded.store.close();
  });
});
