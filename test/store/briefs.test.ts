/**
 * The store's narrow reads (briefs.ts) against the whole rows they stand for: the same values
 * without the large texts, the diff line counts of kept rows computed in SQL, texts fetched only
 * as asked, a commit lookup through the commit index, and aggregates equal to their sums.
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseUnifiedDiff } from "../../src/report/diff.ts";
import { StoreError } from "../../src/store/index.ts";
import { buildLongRun, type LongRun } from "../support/long-run.ts";

let fx: LongRun;
let second: number;

beforeAll(() => {
  fx = buildLongRun(120);
  const { store } = fx;
  const org = store.listOrgs()[0]!;
  second = store.createRun({ tag: "b", orgId: org.id, branch: "nightshift/b/default", profile: "cpu", timeBudget: 10, deviceKind: "cpu", agent: "builtin", baseCommit: "b".repeat(40) }).id;
  const e = store.proposeExperiment({ runId: second, parentCommit: "b".repeat(40), description: "other run", hypothesis: "h", usage: { model: "m", calls: 2, inputTokens: 10, outputTokens: 5, costUsd: 0.5 } });
  // A commit sharing its first 7 digits with the long run's first (9e30000…).
  store.startExperiment(e.id, { commit: `9e30000${"f".repeat(33)}`, diff: "", seed: 1 });
  store.recordAgentCall({ runId: fx.runId, purpose: "fix", model: "m", calls: 3, inputTokens: 7, outputTokens: 1, costUsd: 0.25, ok: false, error: "timeout" });
});
afterAll(() => {
  fx?.store.close();
  if (fx) rmSync(fx.dir, { recursive: true, force: true });
});

describe("listExperimentBriefs", () => {
  it("has every row's values without diff, log tail or hypothesis", () => {
    const full = fx.store.listExperiments(fx.runId);
    const briefs = fx.store.listExperimentBriefs([fx.runId]);
    expect(briefs.map((b) => b.id)).toEqual(full.map((e) => e.id));
    full.forEach((e, i) => {
      const b = briefs[i]!;
      expect(b).not.toHaveProperty("diff");
      expect(b).not.toHaveProperty("logTail");
      expect(b).not.toHaveProperty("hypothesis");
      expect(b).toMatchObject({
        runId: e.runId, seq: e.seq, slot: e.slot, parentCommit: e.parentCommit, commit: e.commit, description: e.description, status: e.status,
        outcome: e.outcome, reason: e.reason, valBpb: e.summary?.val_bpb ?? null, trainingSeconds: e.summary?.training_seconds ?? null,
        peakVramMb: e.summary?.peak_vram_mb ?? null, numSteps: e.summary?.num_steps ?? null, fixAttempt: e.fixAttempt, fixOf: e.fixOf,
        costUsd: e.usage.costUsd, createdAt: e.createdAt, startedAt: e.startedAt, finishedAt: e.finishedAt, sandboxed: e.sandboxed,
      });
    });
  });

  it("counts the added and removed lines of kept rows' diffs as the diff parser does, and only theirs", () => {
    const full = new Map(fx.store.listExperiments(fx.runId).map((e) => [e.id, e]));
    for (const b of fx.store.listExperimentBriefs([fx.runId])) {
      const e = full.get(b.id)!;
      if (b.status !== "keep") expect([b.diffAdded, b.diffRemoved]).toEqual([null, null]);
      else {
        const view = parseUnifiedDiff(e.diff ?? "");
        expect([b.diffAdded, b.diffRemoved], `seq ${b.seq}`).toEqual([view.added, view.removed]);
      }
    }
  });

  it("reads several runs in the order given, and refuses an unknown one by name", () => {
    const both = fx.store.listExperimentBriefs([second, fx.runId]);
    expect(both[0]!.runId).toBe(second);
    expect(both.slice(1).every((b) => b.runId === fx.runId)).toBe(true);
    expect(fx.store.listExperimentBriefs([])).toEqual([]);
    const err = (() => { try { fx.store.listExperimentBriefs([fx.runId, 999]); } catch (e) { return e; } })();
    expect(err).toBeInstanceOf(StoreError);
    expect((err as StoreError).code).toBe("STORE_UNKNOWN_RUN");
  });
});

describe("experimentTexts", () => {
  it("returns only the fields asked for, for the ids asked for", () => {
    const [a, b] = fx.store.listExperiments(fx.runId).filter((e) => e.status === "crash");
    const texts = fx.store.experimentTexts([a!.id, b!.id, 99_999], ["logTail"]);
    expect([...texts.keys()].sort()).toEqual([a!.id, b!.id].sort());
    expect(texts.get(a!.id)).toEqual({ logTail: a!.logTail });
    const both = fx.store.experimentTexts([a!.id], ["hypothesis", "diff"]);
    expect(both.get(a!.id)).toEqual({ hypothesis: a!.hypothesis, diff: a!.diff });
    expect(() => fx.store.experimentTexts([a!.id], ["summary" as never])).toThrow(/unknown field "summary"/);
  });
});

describe("findExperimentsByCommit", () => {
  it("finds a commit by its prefix through the commit index, in all runs or in one", () => {
    const all = [...fx.store.listExperiments(fx.runId), ...fx.store.listExperiments(second)];
    const target = all.find((e) => e.seq === 1)!;
    expect(fx.store.findExperimentsByCommit(target.commit!).map((e) => e.id)).toEqual([target.id]);
    const prefix = target.commit!.slice(0, 7);
    const sharing = all.filter((e) => e.commit?.startsWith(prefix)).map((e) => e.id).sort((a, b) => a - b);
    expect(sharing.length).toBe(2);
    expect(fx.store.findExperimentsByCommit(prefix).map((e) => e.id)).toEqual(sharing);
    expect(fx.store.findExperimentsByCommit(prefix, second).map((e) => e.runId)).toEqual([second]);
    expect(fx.store.findExperimentsByCommit("abcdef0")).toEqual([]);
    expect(() => fx.store.findExperimentsByCommit("XYZ")).toThrow(/4 to 40 lowercase hex digits/);
  });

  it("is a search of the index, not a scan of the table", () => {
    // The statement briefs.ts runs, planned by SQLite on the same file.
    const db = new Database(join(fx.dir, "nightshift.db"), { readonly: true });
    try {
      const plan = db.prepare("EXPLAIN QUERY PLAN SELECT * FROM experiments WHERE commit_hash >= ? AND commit_hash < ? ORDER BY id").all("0000", "0000g") as { detail: string }[];
      expect(plan.map((p) => p.detail).join(" ")).toMatch(/SEARCH experiments USING INDEX experiments_commit/);
    } finally {
      db.close();
    }
  });
});

describe("aggregates", () => {
  it("counts a run's experiments per status, and the skipped ones with a reason prefix", () => {
    const all = fx.store.listExperiments(fx.runId);
    const counts = fx.store.experimentCounts(fx.runId, "malformed");
    expect(counts.total).toBe(all.length);
    for (const s of ["keep", "discard", "crash", "skipped", "proposed"] as const) expect(counts[s], s).toBe(all.filter((e) => e.status === s).length);
    expect(counts.skippedWithPrefix).toBe(counts.skipped);
    expect(fx.store.experimentCounts(fx.runId, "interrupted").skippedWithPrefix).toBe(0);
  });

  it("sums the agent ledger by run, purpose and model as runCost sums it in all", () => {
    const groups = fx.store.agentCostGroups([fx.runId, second]);
    for (const runId of [fx.runId, second]) {
      const mine = groups.filter((g) => g.runId === runId);
      const total = fx.store.runCost(runId);
      expect(mine.reduce((s, g) => s + g.calls, 0)).toBe(total.calls);
      expect(mine.reduce((s, g) => s + g.costUsd, 0)).toBeCloseTo(total.costUsd, 12);
    }
    expect(groups.find((g) => g.runId === fx.runId && g.purpose === "fix")).toMatchObject({ calls: 3, failed: 3, inputTokens: 7 });
  });

  it("reads the verifications of several runs as runVerifications reads each", () => {
    const keeps = fx.store.listExperiments(fx.runId).filter((e) => e.status === "keep" && e.seq > 1).slice(0, 2);
    for (const [i, e] of keeps.entries())
      for (const verdict of ["noise", "real"] as const)
        fx.store.recordVerification({ experimentId: e.id, parentCommit: e.parentCommit, commit: e.commit!, verdict, seeds: 3 + i, reason: "r" });
    expect(fx.store.verificationsOfRuns([second, fx.runId])).toEqual([...fx.store.runVerifications(second), ...fx.store.runVerifications(fx.runId)]);
    expect(fx.store.verificationsOfRuns([fx.runId]).map((v) => v.verdict)).toEqual(["real", "real"]);
  });
});
