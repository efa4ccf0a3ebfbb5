/**
 * The loop's scheduling, in process with the fake trainer (test/support/fake-trainer.ts, a
 * training of a few milliseconds whose val_bpb the edits set): pipelining (the next proposal is
 * made while an experiment trains, and re-applied — or replaced — when that experiment is kept),
 * the cost cap, and several device slots on one run. Each `<NAME>_BPB` line an edit adds moves
 * val_bpb by its value, so an edit that adds a negative one is a keep every time.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { AnthropicAgent } from "../../src/agents/anthropic.ts";
import type { Agent, AgentContext, Proposal } from "../../src/agents/types.ts";
import { DeviceError, parseDevices } from "../../src/workspace/devices.ts";
import type { LoopEvent } from "../../src/loop/loop.ts";
import { runLoopIn } from "../support/loop.ts";
import { loadOrg } from "../../src/workspace/org.ts";
import { openStore } from "../../src/store/index.ts";
import { startLlmServer } from "../support/llm-server.ts";
import { type FakeTrainer, fakeTrainer, initFakeLab } from "../support/fake-trainer.ts";

const root = mkdtempSync(join(tmpdir(), "ns-slots-"));
const dataset = join(root, "data"); // never read: the fake trainer trains nothing
const DEFAULT_ORG = loadOrg(new URL("../../program.md", import.meta.url).pathname);
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A workspace whose lab starts from the fake trainer's train.ts. */
const workspace = (name: string) => initFakeLab(join(root, name));
/** Lines of that train.ts the edits below change. */
const MATRIX = "export const MATRIX_LR = 0.04;";
const WARMDOWN = "export const WARMDOWN_RATIO = 0.5;";

const edit = (search: string, replace: string, description: string): Proposal => ({
  edits: [{ file: "train.ts", search, replace }],
  description,
  hypothesis: "it lowers val_bpb",
});

/** An agent answering from a script; it records what it saw and pretends each call cost tokens. */
function scriptedAgent(script: ((ctx: AgentContext) => Proposal)[]) {
  const seen: { trainTs: string; at: number }[] = [];
  const agent: Agent = {
    name: "scripted",
    async propose(ctx) {
      const next = script[seen.length];
      seen.push({ trainTs: ctx.trainTs, at: Date.now() });
      const usage = { model: "scripted", calls: 1, inputTokens: 100, outputTokens: 10, costUsd: 0.001 };
      if (!next) return { proposal: null, usage, attempts: 1, error: "script exhausted" };
      return { proposal: next(ctx), usage, attempts: 1 };
    },
  };
  return { agent, seen };
}

const base = { profile: "cpu" as const, timeBudget: 1, datasetDir: dataset, seed: 1, resume: false, agent: { kind: "builtin" as const } };
/** Trainings take 100 ms: long enough for a pipelined proposal to be asked while one is in flight. */
const trainer = (): FakeTrainer => fakeTrainer({ delayMs: 100 });

describe("pipelining", () => {
  it("prepares the next proposal while an experiment trains, re-applies it after a keep, and replaces one that no longer applies", async () => {
    const ws = await workspace("ws-pipe");
    const { agent, seen } = scriptedAgent([
      () => edit(MATRIX, `${MATRIX}\nexport const MATRIX_BPB = -0.1;`, "MATRIX -0.1"), // asked while the baseline trains
      () => edit(WARMDOWN, "export const WARMDOWN_RATIO = 0.4;\nexport const WARMDOWN_BPB = -0.05;", "WARMDOWN -0.05"), // while exp 2 trains, against the baseline's head
      () => edit(WARMDOWN, "export const WARMDOWN_RATIO = 0.3;", "WARMDOWN_RATIO 0.3"), // while exp 3 trains: stale once exp 3 is kept
      () => edit(MATRIX, "export const MATRIX_LR = 0.03;", "MATRIX_LR 0.03"), // asked again after that
    ]);
    const events: LoopEvent[] = [];
    const summary = await runLoopIn(ws, { ...base, org: DEFAULT_ORG, tag: "p", experiments: 4, agentOverride: agent, onEvent: (e) => events.push(e) }, trainer().train);

    const store = openStore(join(ws, "nightshift.db"), { readonly: true });
    const run = store.findRunByBranch(summary.branch)!;
    const experiments = store.listExperiments(run.id);
    const calls = store.listAgentCalls(run.id);
    store.close();
    expect(experiments.map((e) => [e.seq, e.description, e.status])).toEqual([
      [1, "baseline", "keep"],
      [2, "MATRIX -0.1", "keep"],
      [3, "WARMDOWN -0.05", "keep"],
      [4, "MATRIX_LR 0.03", "discard"],
    ]);
    expect(experiments.map((e) => e.summary?.val_bpb)).toEqual([1.5, 1.4, expect.closeTo(1.35, 12), expect.closeTo(1.35, 12)]);
    // Each proposal was asked for while the previous experiment trained.
    const order = events.map((e) => (e.kind === "training" || e.kind === "finished" ? `${e.kind}:${e.kind === "training" ? e.seq : e.experiment.seq}` : e.kind === "proposing" ? `ask${e.speculative ? "*" : ""}` : null)).filter(Boolean);
    expect(order.slice(0, 7)).toEqual(["training:1", "ask*", "finished:1", "training:2", "ask*", "finished:2", "training:3"]);
    // Exp 3 was proposed against the baseline's train.ts, and ran re-applied on exp 2's commit.
    expect(seen[1]!.trainTs).not.toContain("MATRIX_BPB");
    expect(experiments[2]!.parentCommit).toBe(experiments[1]!.commit);
    expect(experiments[2]!.diff).toContain("+export const WARMDOWN_BPB = -0.05;");
    expect(experiments[2]!.diff).not.toMatch(/^[-+].*MATRIX/m);
    // The third answer no longer applied after exp 3's keep: no experiment, but its cost is on the ledger.
    expect(seen).toHaveLength(5); // the fifth ask is the speculative one the stop left unused
    expect(calls.filter((c) => c.error?.startsWith("unused: prepared on"))).toHaveLength(1);
    expect(summary.experiments).toBe(4);
    expect(summary.trainingSeconds).toBeGreaterThan(0);
  }, 120_000);

  it("waits for each proposal with pipeline off", async () => {
    const ws = await workspace("ws-serial");
    const { agent } = scriptedAgent([() => edit(MATRIX, `${MATRIX}\nexport const MATRIX_BPB = -0.1;`, "MATRIX -0.1")]);
    const events: LoopEvent[] = [];
    await runLoopIn(ws, { ...base, org: DEFAULT_ORG, tag: "s", experiments: 2, pipeline: false, agentOverride: agent, onEvent: (e) => events.push(e) }, trainer().train);
    const asks = events.filter((e) => e.kind === "proposing");
    expect(asks).toHaveLength(1);
    expect(asks.every((e) => e.kind === "proposing" && !e.speculative)).toBe(true);
  }, 60_000);
});

describe("cost cap", () => {
  it("stops proposing once the run's agent spending reaches --max-cost", async () => {
    const ws = await workspace("ws-cost");
    const { agent, seen } = scriptedAgent(Array.from({ length: 20 }, (_, i) => () => edit(MATRIX, `export const MATRIX_LR = 0.04${i + 1};`, `MATRIX_LR ${i}`)));
    // Each call costs $0.001: the cap is reached after the third proposal is paid for.
    const summary = await runLoopIn(ws, { ...base, org: DEFAULT_ORG, tag: "c", experiments: 20, maxCostUsd: 0.0025, pipeline: false, agentOverride: agent }, trainer().train);
    expect(summary.stoppedBecause).toBe("cost cap");
    expect(seen).toHaveLength(3);
    const store = openStore(join(ws, "nightshift.db"), { readonly: true });
    expect(store.runCost(summary.runId).costUsd).toBeCloseTo(0.003, 9);
    store.close();
  }, 60_000);

  it("counts what the calls really cost: cache reads at their price, not the whole prompt at the input price", async () => {
    const ws = await workspace("ws-cost-cached");
    const server = await startLlmServer();
    try {
      // One call per proposal, 100k input tokens of which 90k read from the cache. At
      // claude-sonnet-5-5's $2/MTok: $0.038 a proposal; uncached it would be $0.20.
      server.setFallback({
        type: "tools",
        calls: [
          { name: "edit_file", args: { search: `${MATRIX}\n`, replace: `${MATRIX}\n// (a probe)\n` } },
          { name: "submit", args: { description: "comment probe", hypothesis: "it costs tokens" } },
        ],
        usage: { input: 100_000, output: 0, cacheRead: 90_000 },
      });
      const agent = new AnthropicAgent({ apiKey: "sk-test-cost", model: "claude-sonnet-5-5", baseURL: server.anthropicBaseURL, sleep: async () => {} });
      const summary = await runLoopIn(ws, { ...base, org: DEFAULT_ORG, tag: "cc", experiments: 20, maxCostUsd: 0.1, pipeline: false, agentOverride: agent }, trainer().train);
      expect(summary.stoppedBecause).toBe("cost cap");
      // The uncached price would have stopped the run after one proposal; the real one allows three.
      expect(server.requests).toHaveLength(3);
      const store = openStore(join(ws, "nightshift.db"), { readonly: true });
      const cost = store.runCost(summary.runId);
      store.close();
      expect(cost).toMatchObject({ calls: 3, inputTokens: 300_000, cacheReadTokens: 270_000, cacheWriteTokens: 0 });
      expect(cost.costUsd).toBeCloseTo(3 * (10_000 * 2 + 90_000 * 0.2) / 1e6, 9);
    } finally {
      await server.close();
    }
  }, 120_000);
});

describe("device slots", () => {
  it("runs two CPU slots on one run: trainings overlap, every experiment recorded once, keeps chained on the run branch, slots clean", async () => {
    const ws = await workspace("ws-slots");
    const devices = parseDevices("cpu,cpu", { gpus: 0, cpuThreads: 2 });
    const fake = fakeTrainer({ delayMs: 100 });
    // Each proposal adds a line to the head's train.ts: a third of them lower val_bpb by 0.01.
    let asked = 0;
    const agent: Agent = {
      name: "adder",
      async propose() {
        const i = ++asked;
        return { proposal: edit(MATRIX, `${MATRIX}\nexport const STEP${i}_BPB = ${i % 3 === 0 ? -0.01 : 0};`, `step ${i}`), usage: { model: "adder", calls: 1, inputTokens: 0, outputTokens: 0, costUsd: 0 }, attempts: 1 };
      },
    };
    const summary = await runLoopIn(ws, { ...base, org: DEFAULT_ORG, tag: "two", experiments: 8, devices, agentOverride: agent }, fake.train);
    expect(summary.slots).toBe(2);
    expect(fake.maxInFlight()).toBe(2);
    // Each slot trained with its own device environment.
    expect(new Set(fake.trainings.map((t) => JSON.stringify(t.env)))).toEqual(new Set(devices.map((d) => JSON.stringify(d.env))));
    const store = openStore(join(ws, "nightshift.db"), { readonly: true });
    const run = store.findRunByBranch(summary.branch)!;
    const experiments = store.listExperiments(run.id);
    const head = store.runHead(run.id);
    store.close();
    expect(experiments.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(new Set(experiments.map((e) => e.slot))).toEqual(new Set([0, 1]));
    const lab = join(ws, "lab");
    const chain = execFileSync("git", ["log", "--first-parent", "--format=%H", summary.branch], { cwd: lab, encoding: "utf8" }).trim().split("\n");
    const kept = experiments.filter((e) => e.status === "keep").map((e) => e.commit!);
    expect(chain.slice(0, kept.length)).toEqual([...kept].reverse());
    expect(chain[0]).toBe(head);
    // Every keep was made on the head of its time: its parent is the previous keep.
    kept.slice(1).forEach((c, i) => expect(experiments.find((e) => e.commit === c)!.parentCommit).toBe(kept[i]));
    for (const slot of [0, 1]) {
      const path = join(lab, ".worktrees", `slot-${slot}`);
      expect(execFileSync("git", ["status", "--porcelain"], { cwd: path, encoding: "utf8" })).toBe("");
      expect(execFileSync("git", ["rev-parse", "HEAD"], { cwd: path, encoding: "utf8" }).trim()).toBe(head);
    }
  }, 120_000);

  it("parses device lists and rejects bad ones", () => {
    expect(parseDevices("cpu", { gpus: 0, cpuThreads: 8 })).toEqual([{ slot: 0, label: "cpu", env: {} }]);
    expect(parseDevices("cpu,cpu", { gpus: 0, cpuThreads: 8 }).map((d) => d.env)).toEqual([{ NIGHTSHIFT_NUM_THREADS: "4" }, { NIGHTSHIFT_NUM_THREADS: "4" }]);
    expect(parseDevices("1,0", { gpus: 2, cpuThreads: 8 }).map((d) => [d.slot, d.label, d.env.CUDA_VISIBLE_DEVICES])).toEqual([
      [0, "cuda:1", "1"],
      [1, "cuda:0", "0"],
    ]);
    const bad = (spec: string, gpus: number, message: RegExp) => {
      expect(() => parseDevices(spec, { gpus, cpuThreads: 2 })).toThrow(DeviceError);
      expect(() => parseDevices(spec, { gpus, cpuThreads: 2 })).toThrow(message);
    };
    // auto: GPU 0 when there is one, else the CPU; CPU slots never see a GPU (they would use it)
    expect(parseDevices("auto", { gpus: 0, cpuThreads: 8 })).toEqual([{ slot: 0, label: "cpu", env: {} }]);
    expect(parseDevices("auto", { gpus: 2, cpuThreads: 8 })).toEqual([{ slot: 0, label: "cuda:0", env: { CUDA_VISIBLE_DEVICES: "0" } }]);
    expect(parseDevices("cpu,cpu", { gpus: 1, cpuThreads: 8 }).map((d) => d.env)).toEqual([
      { CUDA_VISIBLE_DEVICES: "", NIGHTSHIFT_NUM_THREADS: "4" },
      { CUDA_VISIBLE_DEVICES: "", NIGHTSHIFT_NUM_THREADS: "4" },
    ]);
    bad("0", 0, /no GPU the engine can use here.*--devices cpu/);
    bad("2", 2, /GPU 2 does not exist \(this machine has 2: 0\.\.1\)/);
    bad("0,0", 2, /listed twice/);
    bad("cpu,,cpu", 0, /empty entry/);
    bad("gpu0", 1, /neither a GPU index nor cpu/);
  });
});
