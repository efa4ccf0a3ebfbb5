/**
 * An org's research memory, built from a real store: the settled verifications and crashes of
 * its own earlier runs and of the orgs it was bred from, never of the current run; the same
 * idea settled twice shows once; caps hold and what they leave out is counted; shared memory
 * adds other orgs' verified results of the tournament and nothing unverified; and what a diff
 * touched is read from the diff, knob moves first.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { Agent, AgentContext, ResearchMemory } from "../../src/agents/types.ts";
import type { RunResult } from "../../src/harness/types.ts";
import type { LoopEvent } from "../../src/loop/loop.ts";
import { runLoopIn } from "../support/loop.ts";
import { loadOrg } from "../../src/workspace/org.ts";
import { parseResearchMemory } from "../../src/agents/memory.ts";
import { MEMORY_LIMITS, buildResearchMemory, lineageOf, memoryJson } from "../../src/loop/memory.ts";
import { MAX_TOUCHED, touchedByDiff } from "../../src/loop/touched.ts";
import { openStore } from "../../src/store/index.ts";
import { DETUNED, TUNED } from "../support/small-lab.ts";
import { FAKE_TRAIN_TS, fakeTrainer } from "../support/fake-trainer.ts";
import { Lab, labReadme } from "../../src/lab/index.ts";

const root = mkdtempSync(join(tmpdir(), "ns-memory-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const sha = (s: string) => createHash("sha1").update(s).digest("hex");
let dbs = 0;

const result = (valBpb: number | null): RunResult =>
  valBpb === null
    ? { status: "crash", error: "TypeError: x.gelu is not a function\n    at train", logTail: "boom", seed: 1, profile: "cpu", timeBudget: 10, sandboxed: true }
    : {
        status: "ok",
        summary: {
          val_bpb: valBpb,
          training_seconds: 10,
          total_seconds: 12,
          peak_vram_mb: 0,
          mfu_percent: 0,
          total_tokens_M: 0.1,
          num_steps: 20,
          num_params_M: 1,
          depth: 2,
        },
        logTail: "done",
        seed: 1,
        profile: "cpu",
        timeBudget: 10,
        sandboxed: true,
      };

const knobDiff = (name: string, from: string, to: string) =>
  `diff --git a/train.ts b/train.ts\n--- a/train.ts\n+++ b/train.ts\n@@ -1,3 +1,3 @@\n-export const ${name} = ${from}; // lr\n+export const ${name} = ${to}; // lr\n`;

function setup() {
  let t = Date.UTC(2026, 11, 1);
  const store = openStore(join(root, `m${++dbs}.db`), { now: () => new Date((t += 1000)) });
  let runs = 0;
  const run = (orgId: number) =>
    store.createRun({ tag: `t${++runs}`, orgId, branch: `nightshift/t${runs}/o${orgId}`, profile: "cpu", timeBudget: 10, deviceKind: "cpu", agent: "builtin", baseCommit: sha("base") });
  let n = 0;
  /** One finished experiment; with a verdict, also its verification. */
  const experiment = (runId: number, description: string, diff: string, outcome: "real" | "noise" | "negligible" | "inconclusive" | "crash" | "keep") => {
    const e = store.proposeExperiment({ runId, parentCommit: sha("base"), description, hypothesis: "" });
    const commit = sha(`${description}${++n}`);
    store.startExperiment(e.id, { commit, diff, seed: 1 });
    if (outcome === "crash") return store.finishExperiment(e.id, { status: "crash", result: result(null), reason: "TypeError: x.gelu is not a function\nmore lines" });
    const done = store.finishExperiment(e.id, { status: "keep", result: result(1 - n / 1000) });
    if (outcome !== "keep")
      store.recordVerification({
        experimentId: e.id,
        parentCommit: sha("base"),
        commit,
        verdict: outcome,
        seeds: 4,
        meanGain: outcome === "real" ? 0.012 : 0.0001,
        reason: `${outcome} after 4 seeds`,
      });
    return done;
  };
  return { store, run, experiment };
}

describe("touchedByDiff", () => {
  it("reads knob moves from replaced export const lines, then the other changed lines, clipped", () => {
    expect(touchedByDiff(knobDiff("MATRIX_LR", "0.04", "0.06"))).toEqual(["MATRIX_LR 0.04 -> 0.06"]);
    const mixed =
      "--- a/train.ts\n+++ b/train.ts\n@@\n-export const DEPTH = 4;\n+export const DEPTH = 6;\n+export const GATE: boolean = true;\n-  x = x.relu().square();\n+  x = x.gelu();\n \n+   \n";
    expect(touchedByDiff(mixed)).toEqual(["DEPTH 4 -> 6", "GATE = true (new)", "- x = x.relu().square();", "+ x = x.gelu();"]);
    const long = `--- a/train.ts\n+++ b/train.ts\n${Array.from({ length: 9 }, (_, i) => `+const v${i} = "${"y".repeat(200)}";`).join("\n")}\n`;
    const touched = touchedByDiff(long);
    expect(touched).toHaveLength(MAX_TOUCHED);
    expect(touched.every((l) => l.length <= 100 && l.endsWith("…"))).toBe(true);
  });

  it("says nothing for a missing diff, and nothing of a knob whose value did not move", () => {
    expect(touchedByDiff(null)).toEqual([]);
    expect(touchedByDiff("--- a/train.ts\n+++ b/train.ts\n-export const WD = 0.2; // a\n+export const WD = 0.2; // b\n")).toEqual([]);
  });
});

describe("buildResearchMemory", () => {
  it("holds the lineage's settled and crashed experiments of earlier runs, never the current run's or an unsettled one", () => {
    const { store, run, experiment } = setup();
    const grandparent = store.createOrg({ name: "lr", programMd: "# lr\n" });
    const parent = store.createOrg({ name: "lr-2", programMd: "# lr 2\n", parentId: grandparent.id });
    const org = store.createOrg({ name: "lr-3", programMd: "# lr 3\n", parentId: parent.id });
    const stranger = store.createOrg({ name: "arch", programMd: "# arch\n" });
    expect(lineageOf(store, org.id)).toEqual([org.id, parent.id, grandparent.id]);

    const old = run(grandparent.id);
    experiment(old.id, "raise matrix lr", knobDiff("MATRIX_LR", "0.04", "0.06"), "noise");
    experiment(old.id, "restore the unembedding lr", knobDiff("UNEMBEDDING_LR", "0.000004", "0.004"), "real");
    experiment(old.id, "swap relu² for gelu", "--- a/train.ts\n+++ b/train.ts\n-  x = x.relu().square();\n+  x = x.gelu();\n", "crash");
    experiment(old.id, "an unverified keep", knobDiff("WD", "0.2", "0.1"), "keep");
    experiment(old.id, "an inconclusive one", knobDiff("WD", "0.2", "0.3"), "inconclusive");
    const mid = run(parent.id);
    experiment(mid.id, "warmdown 0.5 -> 0.3", knobDiff("WARMDOWN_RATIO", "0.5", "0.3"), "negligible");
    const mine = run(org.id);
    experiment(mine.id, "raise matrix lr again", knobDiff("MATRIX_LR", "0.04", "0.08"), "noise");
    const theirs = run(stranger.id);
    experiment(theirs.id, "the stranger's idea", knobDiff("DEPTH", "4", "6"), "real");
    const current = run(org.id);
    experiment(current.id, "tonight's claim", knobDiff("DEPTH", "4", "8"), "noise");

    const memory = buildResearchMemory(store, { runId: current.id, orgId: org.id });
    expect(memory.omitted).toBe(0);
    expect(memory.entries.map((e) => [e.outcome, e.source, e.org, e.description, e.touched])).toEqual([
      ["real", "ancestor", "lr", "restore the unembedding lr", ["UNEMBEDDING_LR 0.000004 -> 0.004"]],
      ["noise", "own", "lr-3", "raise matrix lr again", ["MATRIX_LR 0.04 -> 0.08"]],
      ["negligible", "ancestor", "lr-2", "warmdown 0.5 -> 0.3", ["WARMDOWN_RATIO 0.5 -> 0.3"]],
      ["noise", "ancestor", "lr", "raise matrix lr", ["MATRIX_LR 0.04 -> 0.06"]],
      ["crash", "ancestor", "lr", "swap relu² for gelu", ["- x = x.relu().square();", "+ x = x.gelu();"]],
    ]);
    expect(memory.entries[0]!.gain).toBe(0.012);
    expect(memory.entries[4]).toMatchObject({ gain: null, reason: "TypeError: x.gelu is not a function", night: null });
    // The current run's own claim is tonight's business, not memory; the stranger is not kin.
    expect(JSON.stringify(memory)).not.toMatch(/tonight's claim|stranger/);
    // Kept as the store keeps it, read back the same.
    store.setRunMemory(current.id, memoryJson(memory));
    expect(parseResearchMemory(store.runMemory(current.id))).toEqual(memory);
    store.close();
  });

  it("shows an idea settled twice once, caps each group and counts what it leaves out", () => {
    const { store, run, experiment } = setup();
    const org = store.createOrg({ name: "busy", programMd: "# busy\n" });
    const earlier = run(org.id);
    experiment(earlier.id, "raise matrix lr", knobDiff("MATRIX_LR", "0.04", "0.06"), "noise");
    experiment(earlier.id, "raise matrix lr, in other words", knobDiff("MATRIX_LR", "0.04", "0.06"), "negligible");
    const extra = 7;
    for (let i = 0; i < MEMORY_LIMITS.refuted + extra; i++) experiment(earlier.id, `try ${i}`, knobDiff("WD", "0.2", `0.${i + 300}`), "noise");
    const current = run(org.id);
    const memory = buildResearchMemory(store, { runId: current.id, orgId: org.id });
    const refuted = memory.entries.filter((e) => e.outcome !== "real" && e.outcome !== "crash");
    expect(refuted).toHaveLength(MEMORY_LIMITS.refuted);
    expect(refuted[0]!.description).toBe(`try ${MEMORY_LIMITS.refuted + extra - 1}`); // newest first
    // The repeated MATRIX_LR idea counts once among the (cap + extra + 1) distinct ideas.
    expect(memory.omitted).toBe(extra + 1);
    expect(memory.entries.filter((e) => e.touched[0] === "MATRIX_LR 0.04 -> 0.06").length).toBeLessThanOrEqual(1);
    store.close();
  });

  it("with shared memory adds other orgs' verified results of the tournament, with their nights, and nothing unverified", () => {
    const { store, run, experiment } = setup();
    const mine = store.createOrg({ name: "mine", programMd: "# mine\n" });
    const other = store.createOrg({ name: "other", programMd: "# other\n" });
    const outsider = store.createOrg({ name: "outsider", programMd: "# outsider\n" });
    const t = store.createTournament({ name: "week", nights: 3, baseCommit: sha("base"), orgIds: [mine.id, other.id] });
    const night1 = store.startNight(t.id, 1);
    const [a1, a2] = store.addAllocations(night1.id, 0, [
      { orgId: mine.id, experiments: 2 },
      { orgId: other.id, experiments: 2 },
    ]);
    const myRun = run(mine.id);
    const theirRun = run(other.id);
    store.startAllocation(a1!.id);
    store.finishAllocation(a1!.id, myRun.id);
    store.startAllocation(a2!.id);
    store.finishAllocation(a2!.id, theirRun.id);
    experiment(myRun.id, "my refuted idea", knobDiff("MATRIX_LR", "0.04", "0.05"), "noise");
    experiment(theirRun.id, "their real gain", knobDiff("DEPTH", "4", "5"), "real");
    experiment(theirRun.id, "their refuted idea", knobDiff("WD", "0.2", "0.25"), "negligible");
    experiment(theirRun.id, "their crash", "--- a/train.ts\n+++ b/train.ts\n+boom();\n", "crash");
    experiment(theirRun.id, "their unverified keep", knobDiff("WD", "0.2", "0.15"), "keep");
    experiment(theirRun.id, "their inconclusive claim", knobDiff("WD", "0.2", "0.35"), "inconclusive");
    const outsiderRun = run(outsider.id); // not in the tournament
    experiment(outsiderRun.id, "outside the tournament", knobDiff("DEPTH", "4", "9"), "real");

    const current = run(mine.id);
    const alone = buildResearchMemory(store, { runId: current.id, orgId: mine.id });
    expect(alone.entries.map((e) => [e.source, e.description, e.night])).toEqual([["own", "my refuted idea", 1]]);

    const shared = buildResearchMemory(store, { runId: current.id, orgId: mine.id, sharedTournamentId: t.id });
    expect(shared.entries.map((e) => [e.source, e.org, e.outcome, e.description, e.night])).toEqual([
      ["own", "mine", "noise", "my refuted idea", 1],
      ["shared", "other", "negligible", "their refuted idea", 1],
      ["shared", "other", "real", "their real gain", 1],
    ]);
    expect(JSON.stringify(shared)).not.toMatch(/crash|unverified|inconclusive|outside/);
    store.close();
  });

  it("is empty for an org without a past, and the store refuses what is not a memory", () => {
    const { store, run } = setup();
    const org = store.createOrg({ name: "new", programMd: "# new\n" });
    const current = run(org.id);
    expect(buildResearchMemory(store, { runId: current.id, orgId: org.id })).toEqual({ entries: [], omitted: 0 });
    expect(store.runMemory(current.id)).toBeNull();
    expect(() => store.setRunMemory(current.id, [] as never)).toThrow(/memory must be a plain object/);
    expect(() => store.setRunMemory(9_999, { entries: [], omitted: 0 })).toThrow(/9999/);
    expect(parseResearchMemory({ entries: [{ source: "rumour" }], omitted: 0 })).toBeNull();
    expect(parseResearchMemory(null)).toBeNull();
    store.close();
  });
});

describe("the loop", () => {
  const dataset = join(root, "data"); // never read: the fake trainer trains nothing
  const org = loadOrg(new URL("../../program.md", import.meta.url).pathname);
  const base = { profile: "cpu" as const, timeBudget: 1, datasetDir: dataset, seed: 1, agent: { kind: "builtin" as const } };

  /** Restores the detuned matrix LR (a keep), then has nothing more to say; records every memory it is shown. */
  function recordingAgent() {
    const shown: (ResearchMemory | undefined)[] = [];
    const agent: Agent = {
      name: "recording",
      async propose(ctx: AgentContext) {
        shown.push(ctx.memory);
        const usage = { model: "recording", calls: 1, inputTokens: 0, outputTokens: 0, costUsd: 0 };
        if (!ctx.trainTs.includes(DETUNED.matrix)) return { proposal: null, usage, attempts: 1, error: "nothing left to try" };
        return { proposal: { edits: [{ file: "train.ts", search: DETUNED.matrix, replace: TUNED.matrix }], description: "restore MATRIX_LR", hypothesis: "" }, usage, attempts: 1 };
      },
    };
    return { agent, shown };
  }

  it("shows every proposal of a run the memory built when it started, records it, and keeps it on --resume", async () => {
    const ws = join(root, "ws-loop");
    await Lab.init(join(ws, "lab"), { trainTs: FAKE_TRAIN_TS.replace(TUNED.matrix, DETUNED.matrix), readme: labReadme({ profile: "cpu" }) });
    const trainer = fakeTrainer({ optima: { MATRIX_LR: 0.04 } }).train;
    const first = recordingAgent();
    const a = await runLoopIn(ws, { ...base, org, tag: "a", resume: false, experiments: 2, agentOverride: first.agent }, trainer);
    expect(first.shown.every((m) => m !== undefined && m.entries.length === 0)).toBe(true);

    // What `nightshift verify` would conclude of run a's keep: reruns refuted it.
    const db = join(ws, "nightshift.db");
    let store = openStore(db);
    const kept = store.listExperiments(a.runId).find((e) => e.description === "restore MATRIX_LR" && e.status === "keep")!;
    expect(kept).toBeDefined();
    store.recordVerification({ experimentId: kept.id, parentCommit: kept.parentCommit, commit: kept.commit!, verdict: "noise", seeds: 4, meanGain: 0.0003, reason: "noise" });
    store.close();

    const second = recordingAgent();
    const events: LoopEvent[] = [];
    const b = await runLoopIn(ws, { ...base, org, tag: "b", resume: false, experiments: 2, agentOverride: second.agent, onEvent: (e) => events.push(e) }, trainer);
    expect(second.shown.length).toBeGreaterThan(0);
    for (const memory of second.shown)
      expect(memory?.entries).toEqual([
        expect.objectContaining({ source: "own", outcome: "noise", description: "restore MATRIX_LR", touched: ["MATRIX_LR 0.00004 -> 0.04"], gain: 0.0003 }),
      ]);
    const runEvent = events.find((e) => e.kind === "run");
    expect(runEvent?.kind === "run" && runEvent.memory).toEqual(second.shown[0]);

    // A later verification does not change a run's memory mid-run, nor on --resume: the prompt's
    // memory block stays what the run started with (and what the report shows).
    store = openStore(db);
    expect(parseResearchMemory(store.runMemory(b.runId))).toEqual(second.shown[0]);
    store.recordVerification({ experimentId: kept.id, parentCommit: kept.parentCommit, commit: kept.commit!, verdict: "real", seeds: 6, meanGain: 0.02, reason: "real" });
    store.close();
    const third = recordingAgent();
    await runLoopIn(ws, { ...base, org, tag: "b", resume: true, experiments: 1, agentOverride: third.agent }, trainer);
    expect(third.shown.length).toBeGreaterThan(0);
    expect(third.shown.every((m) => JSON.stringify(m) === JSON.stringify(second.shown[0]))).toBe(true);
  }, 120_000);
});
