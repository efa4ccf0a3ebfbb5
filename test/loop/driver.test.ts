/**
 * The inner loop's decisions, end to end through the real store and the real lab, with the fake
 * trainer (test/support/fake-trainer.ts) in place of real training: what is kept and what the
 * branch then points at, a crash and its fix attempts, a model the evaluator rejects, a baseline
 * that does not run, the simplicity threshold, a stop in the middle of a training and the
 * resume after it, and a win on a head that moved (requeued, not kept blind).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { Agent, AgentContext, Proposal } from "../../src/agents/types.ts";
import { LoopError, type LoopEvent } from "../../src/loop/loop.ts";
import { type Experiment, openStore } from "../../src/store/index.ts";
import { parseDevices } from "../../src/workspace/devices.ts";
import type { OrgSource } from "../../src/workspace/org.ts";
import { fakeTrainer, initFakeLab } from "../support/fake-trainer.ts";
import { runLoopIn } from "../support/loop.ts";

const root = mkdtempSync(join(tmpdir(), "ns-driver-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const ORG: OrgSource = { name: "org", path: "(test)", programMd: "# org\nLower val_bpb.\n" };
const base = { org: ORG, profile: "cpu" as const, timeBudget: 1, datasetDir: join(root, "data"), seed: 1, resume: false, agent: { kind: "builtin" as const } };
const MATRIX = "export const MATRIX_LR = 0.04;";
const USAGE = { model: "scripted", calls: 1, inputTokens: 10, outputTokens: 1, costUsd: 0 };

/** Adds a `<name>_BPB = delta` line after MATRIX_LR: val_bpb moves by delta. */
const gain = (name: string, delta: number, extra = ""): Proposal => ({
  edits: [{ file: "train.ts", search: MATRIX, replace: `${MATRIX}\nexport const ${name}_BPB = ${delta};${extra ? `\n${extra}` : ""}` }],
  description: `${name} ${delta}`,
  hypothesis: "test",
});

/** Answers from a script, one entry per proposal; records the contexts it was given. */
function scripted(script: ((ctx: AgentContext) => Proposal | null)[]): { agent: Agent; seen: AgentContext[] } {
  const seen: AgentContext[] = [];
  return {
    seen,
    agent: {
      name: "scripted",
      async propose(ctx) {
        const next = script[seen.length];
        seen.push(ctx);
        const proposal = next ? next(ctx) : null;
        return proposal ? { proposal, usage: USAGE, attempts: 1 } : { proposal: null, usage: USAGE, attempts: 1, error: "nothing to propose" };
      },
    },
  };
}

let n = 0;
const workspace = () => initFakeLab(join(root, `ws${n++}`));

function read(ws: string, branch: string): { experiments: Experiment[]; head: string; status: string } {
  const store = openStore(join(ws, "nightshift.db"), { readonly: true });
  try {
    const run = store.findRunByBranch(branch)!;
    return { experiments: store.listExperiments(run.id), head: store.runHead(run.id), status: store.getRun(run.id).status };
  } finally {
    store.close();
  }
}

const git = (ws: string, ...args: string[]) => execFileSync("git", args, { cwd: join(ws, "lab"), encoding: "utf8" }).trim();

describe("the loop's keep rule, through the store and the lab", () => {
  it("keeps only what beats the best, advances the branch to each keep, and discards ties and losses", async () => {
    const ws = await workspace();
    const fake = fakeTrainer();
    const { agent } = scripted([() => gain("A", -0.1), () => gain("B", 0.05), () => gain("C", 0), () => gain("D", -0.02)]);
    const summary = await runLoopIn(ws, { ...base, tag: "keep", experiments: 5, pipeline: false, agentOverride: agent }, fake.train);
    const { experiments, head, status } = read(ws, summary.branch);
    expect(experiments.map((e) => [e.description, e.status])).toEqual([
      ["baseline", "keep"],
      ["A -0.1", "keep"],
      ["B 0.05", "discard"],
      ["C 0", "discard"],
      ["D -0.02", "keep"],
    ]);
    expect(summary).toMatchObject({ experiments: 5, kept: 3, best: expect.closeTo(1.38, 12), stoppedBecause: "experiments" });
    expect(status).toBe("finished");
    // The branch is the chain of keeps, each on the one before.
    expect(head).toBe(experiments[4]!.commit);
    expect(git(ws, "rev-parse", summary.branch)).toBe(head);
    expect(experiments[4]!.parentCommit).toBe(experiments[1]!.commit);
    // Every experiment trained with the run's seed; the discarded ones never reached the branch.
    expect(fake.trainings.map((t) => t.seed)).toEqual([1, 1, 1, 1, 1]);
    expect(git(ws, "branch", "--contains", experiments[2]!.commit!, "--list", summary.branch)).toBe("");
  });

  it("asks for a fix with the crash log, gives up after --fix-attempts, then goes on", async () => {
    const ws = await workspace();
    const { agent, seen } = scripted([
      () => gain("A", -0.1, "// fake: crash TypeError: x is undefined"),
      (ctx) => gain("A2", 0, ctx.crashLog?.includes("x is undefined") ? "// fake: crash still broken" : ""),
      () => gain("A3", 0, "// fake: crash still broken"),
      () => gain("B", -0.05),
    ]);
    const summary = await runLoopIn(ws, { ...base, tag: "fix", experiments: 5, fixAttempts: 2, pipeline: false, agentOverride: agent }, fakeTrainer().train);
    const { experiments } = read(ws, summary.branch);
    expect(experiments.map((e) => [e.status, e.fixOf === null ? null : experiments.find((x) => x.id === e.fixOf)!.seq, e.fixAttempt])).toEqual([
      ["keep", null, 0],
      ["crash", null, 0],
      ["crash", 2, 1],
      ["crash", 3, 2], // a fix of the fix
      ["keep", null, 0],
    ]);
    // Each fix was asked on the crashed train.ts, with its log; the next idea on the head again.
    expect(seen[1]!.crashLog).toContain("TypeError: x is undefined");
    expect(seen[1]!.trainTs).toContain("A_BPB");
    expect(seen[2]!.crashLog).toContain("still broken");
    expect(seen[3]!.crashLog).toBeUndefined();
    expect(seen[3]!.trainTs).not.toContain("A_BPB");
  });

  it("never keeps or asks to fix a model the evaluator rejected, however low its val_bpb", async () => {
    const ws = await workspace();
    const { agent, seen } = scripted([() => gain("CHEAT", -1, "// fake: invalid causality probe failed"), () => gain("B", 0.01)]);
    const summary = await runLoopIn(ws, { ...base, tag: "invalid", experiments: 3, pipeline: false, agentOverride: agent }, fakeTrainer().train);
    const { experiments, head } = read(ws, summary.branch);
    expect(experiments.map((e) => e.status)).toEqual(["keep", "invalid", "discard"]);
    expect(head).toBe(experiments[0]!.commit);
    expect(seen.every((c) => c.crashLog === undefined)).toBe(true);
  });

  it("discards a gain below the org's simplicity threshold", async () => {
    const ws = await workspace();
    const org = { ...ORG, name: "simple", programMd: '# org\n\n```nightshift-strategy\n{"simplicityThreshold": 0.01, "knobs": [{"name": "MATRIX_LR", "kind": "log", "min": 0.001, "max": 0.1}]}\n```\n' };
    const { agent } = scripted([() => gain("SMALL", -0.005), () => gain("BIG", -0.02)]);
    const summary = await runLoopIn(ws, { ...base, org, tag: "simple", experiments: 3, pipeline: false, agentOverride: agent }, fakeTrainer().train);
    expect(read(ws, summary.branch).experiments.map((e) => e.status)).toEqual(["keep", "discard", "keep"]);
  });

  it("stops with BASELINE_FAILED when the unchanged train.ts does not run, and records why", async () => {
    const ws = await workspace();
    const fake = fakeTrainer();
    const broken = join(ws, "lab");
    // Make main's train.ts crash: the baseline is what every run starts from.
    execFileSync("sh", ["-c", "printf '// fake: crash the recipe is broken\\n' >> train.ts && git commit -qam broken"], { cwd: broken });
    const { agent, seen } = scripted([() => gain("A", -0.1)]);
    const err = await runLoopIn(ws, { ...base, tag: "broken", experiments: 3, agentOverride: agent }, fake.train).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LoopError);
    expect((err as LoopError).code).toBe("BASELINE_FAILED");
    expect((err as LoopError).message).toContain("the recipe is broken");
    const { experiments, status } = read(ws, "nightshift/broken/org");
    expect(experiments.map((e) => e.status)).toEqual(["crash"]);
    expect(status).toBe("stopped");
    expect(fake.trainings).toHaveLength(1);
    // A pipelined proposal may have been asked while the baseline trained; none was trained.
    expect(seen.length).toBeLessThanOrEqual(1);
  });
});

describe("stopping and resuming", () => {
  it("records a training abandoned by an abort as interrupted, and --resume goes on from the store's head", async () => {
    const ws = await workspace();
    const abort = new AbortController();
    const events: LoopEvent[] = [];
    const first = scripted([() => gain("A", -0.1), () => gain("HANG", -0.5, "// fake: hang")]);
    const summary = await runLoopIn(
      ws,
      {
        ...base,
        tag: "resume",
        experiments: 10,
        pipeline: false,
        agentOverride: first.agent,
        signal: abort.signal,
        onEvent: (e) => {
          events.push(e);
          if (e.kind === "training" && e.description.startsWith("HANG")) setTimeout(() => abort.abort(), 20);
        },
      },
      fakeTrainer().train,
    );
    expect(summary.stoppedBecause).toBe("interrupted");
    let view = read(ws, summary.branch);
    expect(view.experiments.map((e) => e.status)).toEqual(["keep", "keep", "skipped"]);
    expect(view.experiments[2]!.reason).toContain("interrupted");
    expect(view.status).toBe("stopped");
    const headBefore = view.head;

    const second = scripted([() => gain("B", -0.01)]);
    const resumed = await runLoopIn(ws, { ...base, tag: "resume", resume: true, experiments: 1, pipeline: false, agentOverride: second.agent }, fakeTrainer().train);
    view = read(ws, resumed.branch);
    expect(view.experiments.map((e) => [e.seq, e.status])).toEqual([
      [1, "keep"],
      [2, "keep"],
      [3, "skipped"],
      [4, "keep"],
    ]);
    expect(view.experiments[3]!.parentCommit).toBe(headBefore);
    expect(second.seen[0]!.trainTs).not.toContain("HANG");
    // The agent's history holds what finished; the abandoned training taught nothing.
    expect(second.seen[0]!.history.map((h) => h.status)).toEqual(["keep", "keep"]);
    expect(view.status).toBe("finished");
  });

  it("records what a killed process left in flight as interrupted on --resume, and cleans the slot", async () => {
    const ws = await workspace();
    // A first process that dies mid-training: the abort leaves its row, as a kill -9 would not
    // record anything either, so write the in-flight row the way the loop does and stop there.
    const { agent } = scripted([() => gain("A", -0.1)]);
    await runLoopIn(ws, { ...base, tag: "kill", experiments: 2, pipeline: false, agentOverride: agent }, fakeTrainer().train);
    const store = openStore(join(ws, "nightshift.db"));
    const run = store.findRunByBranch("nightshift/kill/org")!;
    const e = store.proposeExperiment({ runId: run.id, slot: 0, parentCommit: store.runHead(run.id), description: "in flight", hypothesis: "" });
    store.startExperiment(e.id, { commit: store.runHead(run.id), diff: "", seed: 1, logPath: "x.log" });
    store.setRunStatus(run.id, "running");
    store.close();
    execFileSync("sh", ["-c", "echo garbage >> train.ts"], { cwd: join(ws, "lab", ".worktrees", "slot-0") });

    const events: LoopEvent[] = [];
    const next = scripted([() => gain("B", -0.01)]);
    await runLoopIn(ws, { ...base, tag: "kill", resume: true, experiments: 1, pipeline: false, agentOverride: next.agent, onEvent: (ev) => events.push(ev) }, fakeTrainer().train);
    const view = read(ws, "nightshift/kill/org");
    expect(view.experiments.map((x) => [x.description, x.status])).toEqual([
      ["baseline", "keep"],
      ["A -0.1", "keep"],
      ["in flight", "skipped"],
      ["B -0.01", "keep"],
    ]);
    expect(events.find((ev) => ev.kind === "run")).toMatchObject({ resumed: true, interrupted: 1 });
    expect(next.seen[0]!.trainTs).not.toContain("garbage");
  });
});

describe("slots", () => {
  it("does not keep a win measured on a head that moved: its edits are requeued and measured on the new head", async () => {
    const ws = await workspace();
    const devices = parseDevices("cpu,cpu", { gpus: 0, cpuThreads: 2 });
    // Slot 0's idea trains fast, slot 1's slowly: slot 0's keep moves the head under slot 1.
    // While SLOW trains, the other slot keeps FAST and then trains X for longer than SLOW
    // takes, so that the requeued SLOW is the next experiment either slot takes.
    const { agent } = scripted([() => gain("FAST", -0.1, "// fake: delay 10"), () => gain("SLOW", -0.2, "// fake: delay 600"), () => gain("X", 0.1, "// fake: delay 1500")]);
    const fake = fakeTrainer({ delayMs: 10 });
    const summary = await runLoopIn(ws, { ...base, tag: "requeue", experiments: 5, devices, pipeline: false, agentOverride: agent }, fake.train);
    const { experiments, head } = read(ws, summary.branch);
    const slow = experiments.filter((e) => e.description.startsWith("SLOW"));
    expect(slow.map((e) => e.status)).toEqual(["discard", "keep"]);
    expect(slow[0]!.reason).toContain("head moved");
    expect(slow[1]!.description).toContain("again, on the new head");
    const fast = experiments.find((e) => e.description.startsWith("FAST"))!;
    expect(slow[1]!.parentCommit).toBe(fast.commit);
    expect(head).toBe(slow[1]!.commit);
    expect(summary.best).toBeCloseTo(1.2, 12);
  });

  it("settles two equal wins that finish together on one head: the first is kept, the second is not", async () => {
    // Both train for the same time from the same head. The first to settle moves the branch
    // (a git call): the second, settling meanwhile, must see the move and not try it too.
    const failures: string[] = [];
    for (let attempt = 0; attempt < 4; attempt++) {
      const ws = await workspace();
      const devices = parseDevices("cpu,cpu", { gpus: 0, cpuThreads: 2 });
      const { agent } = scripted([() => gain("A", -0.1, "// fake: delay 150"), () => gain("B", -0.1, "// fake: delay 150")]);
      try {
        const summary = await runLoopIn(ws, { ...base, tag: `together${attempt}`, experiments: 3, devices, pipeline: false, agentOverride: agent }, fakeTrainer({ delayMs: 10 }).train);
        const { experiments, head } = read(ws, summary.branch);
        const first = experiments.filter((e) => e.description === "A -0.1" || e.description === "B -0.1");
        expect(first.map((e) => e.status).sort()).toEqual(["discard", "keep"]);
        // Measured against the new best (not below it) or the new head (requeued): either way, not kept.
        expect(first.find((e) => e.status === "discard")!.reason).toMatch(/not below|head moved/);
        expect(head).toBe(experiments.filter((e) => e.status === "keep").at(-1)!.commit);
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
    expect(failures).toEqual([]);
  });
});
