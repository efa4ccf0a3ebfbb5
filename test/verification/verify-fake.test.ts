/**
 * Verification's orchestration (src/verification/verify.ts) on the fake trainer: claims made by
 * a real loop in a real lab, then rerun with fresh seeds by a trainer whose seed noise is known.
 * A planted gain is credited (with confirmation seeds from their own range), a gain far below
 * δ_min is not, every rerun is recorded once under its claim's session, and a second
 * verification trains nothing (the measurements are reused).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { Agent, Proposal } from "../../src/agents/types.ts";
import { CONFIRM_SEED_BASE } from "../../src/verification/confirm.ts";
import type { MeasureSetup } from "../../src/verification/measure.ts";
import { claimsOf } from "../../src/verification/claims.ts";
import { VERIFY_SEED_BASE, verifyClaimsOfRun } from "../../src/verification/verify.ts";
import { openWorkspace } from "../../src/workspace/workspace.ts";
import { fakeTrainer, initFakeLab } from "../support/fake-trainer.ts";
import { runLoopIn } from "../support/loop.ts";

const root = mkdtempSync(join(tmpdir(), "ns-verify-fake-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const MATRIX = "export const MATRIX_LR = 0.04;";
const WARMDOWN = "export const WARMDOWN_RATIO = 0.5;";
const add = (search: string, line: string, description: string): Proposal => ({ edits: [{ file: "train.ts", search, replace: `${search}\n${line}` }], description, hypothesis: "h" });

/** A run of the real loop in a fresh fake lab whose agent makes exactly `script`'s proposals, each kept (no noise in the loop). */
async function runOf(name: string, tag: string, script: Proposal[]): Promise<{ dir: string; runId: number }> {
  const dir = await initFakeLab(join(root, name));
  const agent: Agent = {
    name: "scripted",
    async propose() {
      const proposal = script.shift() ?? null;
      const usage = { model: "scripted", calls: 1, inputTokens: 0, outputTokens: 0, costUsd: 0 };
      return proposal ? { proposal, usage, attempts: 1 } : { proposal: null, usage, attempts: 1, error: "done" };
    },
  };
  const experiments = script.length + 1;
  const base = { org: { name: "org", path: "(test)", programMd: "# org\n" }, agent: { kind: "builtin" as const }, profile: "cpu" as const, timeBudget: 1, datasetDir: join(root, "data") };
  const summary = await runLoopIn(dir, { ...base, tag, seed: 42, resume: false, experiments, pipeline: false, agentOverride: agent }, fakeTrainer().train);
  expect(summary.kept).toBe(experiments);
  return { dir, runId: summary.runId };
}

describe("verification on the fake trainer", () => {
  it("credits the planted gain, not the one below δ_min, and reuses its reruns the second time", async () => {
    const { dir, runId } = await runOf("ws", "v", [add(MATRIX, "export const PLANTED_BPB = -0.05;", "planted"), add(WARMDOWN, "export const TINY_BPB = -0.0002;", "tiny")]);

    // Reruns see seed noise of sd 0.004: the tiny gain (0.0002) is invisible, the planted one (0.05) is not.
    const fake = fakeTrainer({ noiseSd: 0.004 });
    const ws = await openWorkspace(dir, "cpu", { trainer: fake.train });
    try {
      const setup: MeasureSetup = { store: ws.store, lab: ws.lab, logsDir: ws.logsDir, trainer: ws.trainer, profile: "cpu", timeBudget: 1, datasetDir: join(root, "data"), deviceKind: "cpu", sandbox: "off" };
      const experiments = ws.store.listExperiments(runId);
      const options = { thresholds: { margin: 0.002, effect: 0.01 }, maxSeeds: 8, minSeeds: 2, alpha: 0.05, confirmSeeds: 3 };
      const first = await verifyClaimsOfRun(setup, experiments, claimsOf(experiments), options);
      const verdicts = Object.fromEntries(first.claims.map((c) => [c.experiment.description, c.verification]));
      expect(verdicts.planted!.verdict).toBe("real");
      expect(verdicts.planted!.meanGain).toBeGreaterThan(0.03);
      expect(verdicts.tiny!.verdict).not.toBe("real");
      expect(first.counts.real).toBe(1);
      expect(verdicts.planted!.details.claimAlpha).toBeCloseTo(0.05 / 2, 15); // two claims: each at alpha/2
      // The planted gain was confirmed on its own seeds, after the stopping rule's.
      const confirmation = verdicts.planted!.details.confirmation as { seeds: number; meanGain: number };
      expect(confirmation.seeds).toBe(3);
      expect(confirmation.meanGain).toBeCloseTo(0.05, 1);
      const seeds = fake.trainings.map((t) => t.seed);
      expect(seeds.every((s) => s >= VERIFY_SEED_BASE)).toBe(true);
      expect(seeds.filter((s) => s >= CONFIRM_SEED_BASE)).toHaveLength(3 * 2);
      // Every rerun was trained once and stored: pairs of parent and candidate per seed.
      const trained = fake.trainings.length;
      expect(trained % 2).toBe(0);

      const again = await verifyClaimsOfRun(setup, experiments, claimsOf(experiments), options);
      expect(fake.trainings).toHaveLength(trained); // nothing trained: every measurement reused
      expect(again.claims.map((c) => c.verification.verdict)).toEqual(first.claims.map((c) => c.verification.verdict));
    } finally {
      ws.store.close();
    }
  });

  it("tests each of m claims at alpha/m and credits one left undecided at the cap when BH keeps it", async () => {
    const planted = (search: string, name: string) => add(search, `export const ${name}_BPB = -0.05;`, name.toLowerCase());
    const { dir, runId } = await runOf("ws-family", "f", [
      planted(MATRIX, "P1"),
      planted("export const UNEMBEDDING_LR = 0.004;", "P2"),
      planted("export const WEIGHT_DECAY = 0.2;", "P3"),
      add(WARMDOWN, "export const MODERATE_BPB = -0.009;", "moderate"),
    ]);

    // Seed noise of sd 0.002: the moderate gain (0.009, just under the effect of 0.01) does not
    // clear alpha/4 within 4 seeds, but its sequential p is under alpha, the largest of the four.
    const ws = await openWorkspace(dir, "cpu", { trainer: fakeTrainer({ noiseSd: 0.002 }).train });
    try {
      const setup: MeasureSetup = { store: ws.store, lab: ws.lab, logsDir: ws.logsDir, trainer: ws.trainer, profile: "cpu", timeBudget: 1, datasetDir: join(root, "data-family"), deviceKind: "cpu", sandbox: "off" };
      const experiments = ws.store.listExperiments(runId);
      const judged = await verifyClaimsOfRun(setup, experiments, claimsOf(experiments), { thresholds: { margin: 0.002, effect: 0.01 }, maxSeeds: 4, minSeeds: 2, alpha: 0.05 });
      const byName = Object.fromEntries(judged.claims.map((c) => [c.experiment.description, c.verification]));
      for (const v of Object.values(byName)) expect(v.details.claimAlpha).toBeCloseTo(0.05 / 4, 15);
      for (const name of ["p1", "p2", "p3"]) expect((byName[name]!.details.sequential as { decision: string }).decision).toBe("real");
      const moderate = byName.moderate!;
      expect((moderate.details.sequential as { decision: string }).decision).toBe("inconclusive");
      expect(moderate.pAdjusted!).toBeLessThan(0.05);
      expect(moderate.verdict).toBe("real");
      expect(moderate.reason).toMatch(/^real after Benjamini–Hochberg across 4 claims .*undecided on its own at 4 seeds/);
      expect(judged.counts.real).toBe(4);
    } finally {
      ws.store.close();
    }
  });

  it("measures an unreliable verdict again after the other claims, in a session of its own", async () => {
    const { runId } = await runOf("ws-retry", "r", [add(MATRIX, "export const TINY_BPB = -0.0002;", "tiny"), add(WARMDOWN, "export const SMALL_BPB = -0.0001;", "small")]);

    // The load swings for the first 8 trainings (the first claim's first pairs: throughput 1×,
    // 3×, 1×, 3×, …), then the machine is steady.
    const verifyWith = async (retryUnreliable: number) => {
      const fake = fakeTrainer({ noiseSd: 0.004, tokensM: (i) => (i < 8 && i % 2 === 1 ? 0.3 : 0.1) });
      const ws = await openWorkspace(join(root, `ws-retry`), "cpu", { trainer: fake.train });
      try {
        const setup: MeasureSetup = { store: ws.store, lab: ws.lab, logsDir: ws.logsDir, trainer: ws.trainer, profile: "cpu", timeBudget: 1, datasetDir: join(root, `data-${retryUnreliable}`), deviceKind: "cpu", sandbox: "off" };
        const experiments = ws.store.listExperiments(runId);
        const retried: string[] = [];
        const options = { thresholds: { margin: 0.002, effect: 0.01 }, maxSeeds: 4, minSeeds: 2, alpha: 0.05, retryUnreliable, onRetry: (e: { description: string }, attempt: number) => retried.push(`${e.description} ${attempt}`) };
        const judged = await verifyClaimsOfRun(setup, experiments, claimsOf(experiments), options);
        return { judged, retried, sessions: new Set(ws.store.findMeasurements({ commit: judged.claims[0]!.experiment.commit!, profile: "cpu", timeBudget: 1, deviceKind: "cpu", dataset: `data-${retryUnreliable}` }).map((m) => m.session)) };
      } finally {
        ws.store.close();
      }
    };

    // Without a retry the first claim stays undecided: its pairs saw the load change.
    const once = await verifyWith(0);
    const [tinyOnce, smallOnce] = once.judged.claims.map((c) => c.verification);
    expect(tinyOnce!.verdict).toBe("inconclusive");
    expect(tinyOnce!.details.unreliable).toBe(true);
    expect(tinyOnce!.reason).toMatch(/^unreliable, not decided/);
    expect(smallOnce!.details.unreliable).toBeUndefined();
    expect(once.retried).toEqual([]);

    // With one retry it is measured again after the second claim, on a steady machine, and decided.
    const retried = await verifyWith(1);
    const [tiny, small] = retried.judged.claims.map((c) => c.verification);
    expect(retried.retried).toEqual(["tiny 1"]);
    expect(tiny!.details.unreliable).toBeUndefined();
    expect(["noise", "negligible"]).toContain(tiny!.verdict);
    const earlier = tiny!.details.earlierAttempts as { reason: string; gains: number[] }[];
    expect(earlier).toHaveLength(1);
    expect(earlier[0]!.reason).toMatch(/^unreliable, not decided/);
    expect(small!.verdict).toBe(smallOnce!.verdict);
    // The retry trained in a session of its own: none of the first attempt's pairs was reused.
    // (The tiny claim's commit is also the parent of the small one: only its own sessions count.)
    const own = [...retried.sessions].filter((session) => session?.startsWith(`claim ${tiny!.experimentId} `));
    expect(own.sort()).toEqual([`claim ${tiny!.experimentId} vs ${tiny!.parentCommit}`, `claim ${tiny!.experimentId} vs ${tiny!.parentCommit} retry 1`]);
  });
});
