/**
 * Research memory across a tournament's nights: nights 1 and 2 are written to the store as a
 * tournament writes them (allocations, runs, a claim that verification refuted on night 1, the
 * refuted org's child bred from it and the parent retired), then the tournament is driven again
 * (what `tournament resume` does) and runs night 3 on the fake trainer (test/support/fake-trainer.ts):
 * what an agent is shown depends on the store and the lineage, not on real training. Night 3's
 * run of the child must have been shown its parent's refuted idea (recorded with the run; for the
 * LLM agent also in every prompt the loopback server received), while the unrelated org is shown
 * nothing of it unless shared memory is on, and then only verified results. Once with the
 * builtin agent, once with the openai agent against the scripted server.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import type { ResearchMemory } from "../../src/agents/types.ts";
import type { RunResult } from "../../src/harness/types.ts";
import { parseResearchMemory } from "../../src/agents/memory.ts";
import { Lab, labReadme } from "../../src/lab/index.ts";
import { openStore } from "../../src/store/index.ts";
import { driveTournament, nightTag } from "../../src/tournament/index.ts";
import { DEFAULT_META, type TournamentSettings, settingsToJson } from "../../src/tournament/settings.ts";
import type { DeviceSlot } from "../../src/workspace/devices.ts";
import { openWorkspace } from "../../src/workspace/workspace.ts";
import { FAKE_TRAIN_TS, fakeTrainer } from "../support/fake-trainer.ts";
import { type LlmServer, type ScriptedReply, startLlmServer } from "../support/llm-server.ts";
import { TEST_ORGS } from "./orgs.ts";

const root = mkdtempSync(join(tmpdir(), "ns-tmemory-"));
const dataset = join(root, "data"); // nobody reads it: the fake trainer trains nothing
const SLOTS: DeviceSlot[] = [{ slot: 0, label: "cpu", env: {} }];
const DETUNED_TRAIN_TS = FAKE_TRAIN_TS.replace("MATRIX_LR = 0.04;", "MATRIX_LR = 0.00004;");
let server: LlmServer;

const PROBE: ScriptedReply = {
  type: "tools",
  calls: [
    { name: "edit_file", args: { search: "export const VAL_BPB = 1.5;\n", replace: "export const VAL_BPB = 1.5;\n// (a probe)\n" } },
    { name: "submit", args: { description: "comment probe", hypothesis: "it changes nothing" } },
  ],
};

const REFUTED = "raise MATRIX_LR tenfold";
const REFUTED_DIFF = "--- a/train.ts\n+++ b/train.ts\n@@ -1 +1 @@\n-export const MATRIX_LR = 0.00004;\n+export const MATRIX_LR = 0.0004;\n";
const CRASHED = "swap the activation";
const SHARED_REAL = "lower the weight decay";

beforeAll(async () => {
  server = await startLlmServer();
  server.setFallback(PROBE);
});
afterEach(() => vi.unstubAllEnvs());
afterAll(async () => {
  await server.close();
  rmSync(root, { recursive: true, force: true });
});

const programMd = (name: string, strategy: object) => `# nightshift — the ${name} org\n\nA test org.\n\n\`\`\`nightshift-strategy\n${JSON.stringify(strategy, null, 2)}\n\`\`\`\n`;

const ok = (valBpb: number): RunResult => ({
  status: "ok",
  summary: { val_bpb: valBpb, training_seconds: 1, total_seconds: 2, peak_vram_mb: 0, mfu_percent: 0, total_tokens_M: 0.01, num_steps: 5, num_params_M: 0.1, depth: 2 },
  logTail: "done",
  seed: 42,
  profile: "cpu",
  timeBudget: 1,
  sandboxed: false,
});

/**
 * Nights 1 and 2 of tournament `name`, as the tournament records them: lr's night-1 claim
 * refuted (noise) and one of its experiments crashed; wd's night-1 claim verified real; lr
 * breeds lr-child and retires; night 2 has baselines only. Night 3 is left to runNightThree.
 */
async function writeTwoNights(ws: string, name: string, agent: TournamentSettings["agent"], sharedMemory: boolean): Promise<void> {
  await Lab.init(join(ws, "lab"), { trainTs: DETUNED_TRAIN_TS, readme: labReadme({ profile: "cpu" }) });
  const base = execFileSync("git", ["-C", join(ws, "lab"), "rev-parse", "main"], { encoding: "utf8" }).trim();
  const settings: TournamentSettings = {
    profile: "cpu",
    timeBudget: 1,
    datasetDir: dataset,
    experimentsPerNight: 4,
    allocation: "halving",
    seed: 42,
    evolutionSeed: 42,
    devices: "cpu",
    verify: { maxSeeds: 2, minSeeds: 2, alpha: 0.05, effect: 0.002, championAlpha: 0.01 },
    breed: 1,
    retire: 1,
    meta: DEFAULT_META,
    agent,
    sandbox: "off",
    ...(sharedMemory ? { sharedMemory: true } : {}),
  };
  let clock = Date.UTC(2026, 11, 1);
  const store = openStore(join(ws, "nightshift.db"), { now: () => new Date((clock += 1000)) });
  try {
    const lr = store.createOrg({ name: "lr", programMd: programMd("lr", TEST_ORGS.lr!) });
    const wd = store.createOrg({ name: "wd", programMd: programMd("wd", TEST_ORGS.wd!) });
    const t = store.createTournament({ name, nights: 3, baseCommit: base, settings: settingsToJson(settings), orgIds: [lr.id, wd.id] });
    let n = 0;
    const experiment = (runId: number, description: string, diff: string, crash = false) => {
      const e = store.proposeExperiment({ runId, parentCommit: base, description, hypothesis: "" });
      const commit = (++n).toString(16).padStart(40, "c");
      store.startExperiment(e.id, { commit, diff, seed: 42 });
      if (crash)
        return store.finishExperiment(e.id, { status: "crash", result: { ...ok(0), status: "crash", summary: undefined, error: "TypeError: x.gelu is not a function" }, reason: "TypeError: x.gelu is not a function" });
      return store.finishExperiment(e.id, { status: "keep", result: ok(3 - n / 100) });
    };
    const night = (number: number, orgs: { id: number; name: string }[], fill: (runId: number, org: string) => void) => {
      const nt = store.startNight(t.id, number);
      const grants = store.addAllocations(nt.id, 0, orgs.map((o) => ({ orgId: o.id, experiments: 2 })));
      const runs = new Map<string, number>();
      for (const [i, a] of grants.entries()) {
        const org = orgs[i]!;
        store.startAllocation(a.id);
        const tag = nightTag(name, number);
        const run = store.createRun({ tag, orgId: org.id, branch: `nightshift/${tag}/${org.name}`, profile: "cpu", timeBudget: 1, deviceKind: "cpu", agent: agent?.kind ?? "builtin", baseCommit: base });
        experiment(run.id, "baseline", "");
        fill(run.id, org.name);
        store.setRunStatus(run.id, "finished");
        store.finishAllocation(a.id, run.id);
        runs.set(org.name, run.id);
      }
      store.endAllocating(nt.id);
      return { nt, runs };
    };

    const n1 = night(1, [lr, wd], (runId, org) => {
      if (org === "lr") {
        experiment(runId, CRASHED, "--- a/train.ts\n+++ b/train.ts\n-  x = x.relu().square();\n+  x = x.gelu();\n", true);
        experiment(runId, REFUTED, REFUTED_DIFF);
      } else experiment(runId, SHARED_REAL, "--- a/train.ts\n+++ b/train.ts\n-export const WEIGHT_DECAY = 0.2;\n+export const WEIGHT_DECAY = 0.1;\n");
    });
    const claim = (runId: number, verdict: "noise" | "real") => {
      const e = store.listExperiments(runId).at(-1)!;
      return { experimentId: e.id, verification: { experimentId: e.id, parentCommit: base, commit: e.commit!, verdict, seeds: 4, meanGain: verdict === "real" ? 0.02 : 0.0002, reason: verdict } };
    };
    const lrRun = n1.runs.get("lr")!;
    const wdRun = n1.runs.get("wd")!;
    store.recordNightResults(
      n1.nt.id,
      [
        { orgId: wd.id, runId: wdRun, ...claim(wdRun, "real"), claimedGain: 0.02, verifiedGain: 0.02, deviceSeconds: 4, experiments: 2, score: 1, rank: 1 },
        { orgId: lr.id, runId: lrRun, ...claim(lrRun, "noise"), claimedGain: 0.01, verifiedGain: 0, deviceSeconds: 4, experiments: 3, score: 0, rank: 2 },
      ],
      null,
    );
    const [child] = store.evolveNight(n1.nt.id, { children: [{ name: "lr-child", programMd: programMd("lr-child", TEST_ORGS.lr!), parentId: lr.id, mutationNote: "bred for the test" }], retire: [lr.id] });

    const n2 = night(2, [child!, wd], () => undefined);
    store.recordNightResults(
      n2.nt.id,
      [child!, wd].map((o, i) => ({ orgId: o.id, runId: n2.runs.get(o.name)!, claimedGain: 0, verifiedGain: 0, deviceSeconds: 2, experiments: 1, score: 0, rank: i + 1 })),
      null,
    );
    store.evolveNight(n2.nt.id, { children: [], retire: [] });
  } finally {
    store.close();
  }
}

/**
 * Drives the tournament again, as `tournament resume` does: night 3 runs on the fake trainer.
 * Returns the memory each org's night-3 run was given, by org name.
 */
async function runNightThree(dir: string, name: string): Promise<Map<string, ResearchMemory>> {
  const ws = await openWorkspace(dir, "cpu", { trainer: fakeTrainer({ noiseSd: 0.002, optima: { MATRIX_LR: 0.04 } }).train });
  try {
    const end = await driveTournament(ws, ws.store.getTournamentByName(name)!, { slots: SLOTS });
    expect(end.status).toBe("finished");
    const out = new Map<string, ResearchMemory>();
    for (const run of ws.store.listRuns().filter((r) => r.tag === nightTag(name, 3))) {
      const memory = parseResearchMemory(ws.store.runMemory(run.id));
      expect(memory).not.toBeNull();
      out.set(ws.store.getOrg(run.orgId).name, memory!);
    }
    return out;
  } finally {
    ws.store.close();
  }
}

describe("research memory in a tournament", () => {
  it("shows night 3's builtin agent of the bred child its parent's refuted idea and crash from night 1, and the other org none of it", async () => {
    const dir = join(root, "builtin");
    await writeTwoNights(dir, "mem", { kind: "builtin" }, false);
    const memories = await runNightThree(dir, "mem");
    expect([...memories.keys()].sort()).toEqual(["lr-child", "wd"]);
    expect(memories.get("lr-child")!.entries).toEqual([
      expect.objectContaining({ source: "ancestor", org: "lr", night: 1, outcome: "noise", description: REFUTED, touched: ["MATRIX_LR 0.00004 -> 0.0004"] }),
      expect.objectContaining({ source: "ancestor", org: "lr", night: 1, outcome: "crash", description: CRASHED }),
    ]);
    // wd remembers its own night-1 gain, and nothing of lr's: sharing is off.
    expect(memories.get("wd")!.entries).toEqual([expect.objectContaining({ source: "own", outcome: "real", description: SHARED_REAL, night: 1, gain: 0.02 })]);
  });

  it("puts the refuted idea into every night-3 prompt of the child's LLM agent; with --shared-memory the other org's verified gain too, never a crash", async () => {
    const dir = join(root, "openai");
    await writeTwoNights(dir, "memllm", { kind: "openai", baseURL: server.openaiBaseURL }, true);
    vi.stubEnv("OPENAI_API_KEY", "sk-test-memory");
    const before = server.requests.length;
    const memories = await runNightThree(dir, "memllm");
    const child = memories.get("lr-child")!.entries;
    expect(child.map((e) => [e.source, e.outcome, e.description])).toEqual([
      ["ancestor", "noise", REFUTED],
      ["ancestor", "crash", CRASHED],
      ["shared", "real", SHARED_REAL],
    ]);
    // Shared memory holds verified results only: lr's crash is not shared with wd.
    expect(memories.get("wd")!.entries.map((e) => [e.source, e.outcome, e.description])).toEqual([
      ["own", "real", SHARED_REAL],
      ["shared", "noise", REFUTED],
    ]);

    const prompts = server.requests.slice(before).map((q) => JSON.stringify(q.body.messages));
    const childPrompts = prompts.filter((p) => p.includes("the lr-child org"));
    expect(childPrompts.length).toBeGreaterThan(0);
    for (const p of childPrompts) {
      expect(p).toContain(REFUTED);
      expect(p).toContain("MATRIX_LR 0.00004 -> 0.0004");
    }
    const wdPrompts = prompts.filter((p) => p.includes("the wd org"));
    expect(wdPrompts.length).toBeGreaterThan(0);
    for (const p of wdPrompts) expect(p).not.toContain(CRASHED);
  });
});
