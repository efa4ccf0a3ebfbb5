/**
 * The LLM meta-agent breeding a finished night (no training): a real store holding a night in
 * "evolving", the meta-agent driven through the official SDKs against the scripted LLM server.
 * A rewrite is accepted (lineage, note, hash, ledger row without a run); refused answers (no
 * strategy block, a near-duplicate) are asked again with the reasons and then bred by the
 * builtin mutator, which the note says; a hyper-mutation stores a new meta prompt with its
 * lineage, used for the breeding and reused on resume; a missing key is refused at start.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkBuiltinSetup } from "../../src/agents/builtin/index.ts";
import { type MetaAgent, DEFAULT_META_PROMPT, MAX_PROGRAM_MD_CHARS, createMetaAgent } from "../../src/agents/meta/index.ts";
import { type Store, openStore } from "../../src/store/index.ts";
import { breedNight } from "../../src/tournament/evolve.ts";
import { strategyKey } from "../../src/tournament/mutate.ts";
import { DEFAULT_META, type MetaSettings, type TournamentSettings } from "../../src/tournament/settings.ts";
import { offlineSettings } from "./settings.ts";
import { type LlmServer, reply, startLlmServer } from "../support/llm-server.ts";
import { smallTrainTs } from "../support/small-lab.ts";
import { writeTinyDataset } from "../support/tiny-dataset.ts";
import { TEST_ORGS } from "./orgs.ts";

const root = mkdtempSync(join(tmpdir(), "ns-meta-"));
const trainTs = smallTrainTs();
const sha = (s: string) => createHash("sha256").update(s).digest("hex");
const program = (name: string, strategy: object, prose = "A test org.") => `# nightshift — the ${name} org\n\n${prose}\n\n\`\`\`nightshift-strategy\n${JSON.stringify(strategy, null, 2)}\n\`\`\`\n`;
const LR = program("lr", TEST_ORGS.lr!);
const WD = program("wd", TEST_ORGS.wd!);
let server: LlmServer;
let stores: Store[] = [];

beforeAll(async () => {
  server = await startLlmServer();
});
afterAll(async () => {
  for (const s of stores) s.close();
  await server.close();
  rmSync(root, { recursive: true, force: true });
});

const settings = (meta: Partial<MetaSettings>): TournamentSettings =>
  offlineSettings({ meta: { ...DEFAULT_META, maxAttempts: 2, hyperMutationRate: 0, ...meta } });

/** A store with a two-org tournament whose night 1 is recorded and waits for its evolution. */
function finishedNight(name: string) {
  const store = openStore(join(root, `${name}.db`));
  stores.push(store);
  const lr = store.createOrg({ name: "lr", programMd: LR, mutationNote: "seed" });
  const wd = store.createOrg({ name: "wd", programMd: WD, mutationNote: "seed" });
  const t = store.createTournament({ name, nights: 2, baseCommit: "a".repeat(40), settings: {}, orgIds: [lr.id, wd.id] });
  const n = store.startNight(t.id, 1);
  store.endAllocating(n.id);
  const result = (orgId: number, rank: number, claimedGain: number) => ({ orgId, claimedGain, verifiedGain: 0, deviceSeconds: 20, experiments: 4, score: 0, rank });
  store.recordNightResults(n.id, [result(lr.id, 1, 0.004), result(wd.id, 2, 0)], null);
  const night = store.listNights(t.id)[0]!;
  expect(night.status).toBe("evolving");
  return { store, t: store.getTournament(t.id), night, lr, wd };
}

const agent = (provider: "anthropic" | "openai"): MetaAgent =>
  createMetaAgent(provider, {
    apiKey: "sk-test-meta-agent-key",
    baseURL: provider === "anthropic" ? server.anthropicBaseURL : server.openaiBaseURL,
    sleep: async () => undefined,
    maxRetries: 1,
  });

describe("breedNight with an LLM meta-agent", () => {
  it("accepts a valid rewrite: lineage, note, hash, and the call in the ledger without a run", async () => {
    const { store, t, night, lr, wd } = finishedNight("accept");
    const rewrite = program("lr", { ...TEST_ORGS.lr!, stepSize: 0.15, explorationRate: 0.2 }, "A test org that now moves in smaller steps around the learning rates it kept.");
    server.push(reply.tool("submit_program", { program_md: rewrite, note: "halve the step: the night kept only small LR moves" }, { input: 1_000, output: 500 }));
    const before = server.requests.length;
    const plan = await breedNight({ store, tournament: t, night, settings: settings({ mutator: "anthropic" }), trainTs, metaAgent: agent("anthropic") });
    expect(plan.retire).toEqual([wd.id]);
    const [child] = store.evolveNight(night.id, plan);
    expect(child).toBeDefined();
    expect(child!.parentId).toBe(lr.id);
    expect(child!.generation).toBe(1);
    expect(child!.name).toBe("lr-g1n1a");
    expect(child!.mutationNote).toMatch(/^night 1, anthropic meta-agent \(claude-sonnet-5-5, meta prompt #1\), answer 1: halve the step/);
    expect(child!.programMdHash).toBe(sha(child!.programMd));
    expect(child!.programMd).toContain("> Tournament lineage: `lr-g1n1a`, generation 1, bred by the anthropic meta-agent");
    expect(child!.programMd).toContain("now moves in smaller steps");
    expect(() => checkBuiltinSetup(child!.programMd, trainTs)).not.toThrow();

    // What the meta-agent was given: the stored meta prompt, the parent, the leaderboard.
    const req = server.requests.slice(before);
    expect(req).toHaveLength(1);
    expect(req[0]!.body.system).toBe(DEFAULT_META_PROMPT);
    expect(req[0]!.body.tool_choice).toEqual({ type: "tool", name: "submit_program" });
    const user = req[0]!.body.messages[0].content as string;
    expect(user).toContain(LR.trim());
    expect(user).toMatch(/1\tlr\tno claim\t0\.00400/);
    expect(user).toContain("MATRIX_LR");
    expect(store.listMetaPrompts(t.id).map((p) => [p.generation, p.prompt])).toEqual([[0, DEFAULT_META_PROMPT]]);

    const calls = store.listRunlessCalls("meta");
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ runId: null, experimentId: null, purpose: "meta", model: "claude-sonnet-5-5", calls: 1, inputTokens: 1_000, outputTokens: 500, ok: true });
    expect(calls[0]!.costUsd).toBeCloseTo((1_000 * 2 + 500 * 10) / 1e6, 12);
  });

  it("asks again with the reasons after a refused answer, then falls back to the builtin mutator", async () => {
    const { store, t, night, lr } = finishedNight("refuse");
    server.push(reply.tool("submit_program", { program_md: "# lr\n\nNo strategy block here.\n", note: "prose only" }));
    server.push(reply.tool("submit_program", { program_md: LR.replace("A test org.", "A test org, reworded."), note: "the same strategy" }));
    const before = server.requests.length;
    const plan = await breedNight({ store, tournament: t, night, settings: settings({ mutator: "openai" }), trainTs, metaAgent: agent("openai") });
    const req = server.requests.slice(before);
    expect(req).toHaveLength(2);
    expect(req[0]!.body.tool_choice).toEqual({ type: "function", function: { name: "submit_program" } });
    expect(req[1]!.body.messages[1].content).toMatch(/earlier answers were refused[\s\S]*no nightshift-strategy block/);

    const [child] = store.evolveNight(night.id, plan);
    expect(child!.parentId).toBe(lr.id);
    expect(child!.mutationNote).toMatch(/^night 1, the meta-agent's 2 answers were refused \(last: a near-duplicate.*\), fell back to the builtin meta-mutator; builtin draw \d+: /);
    expect(child!.programMd).toContain("bred by the builtin meta-mutator");
    expect(strategyKey(child!.programMd)).not.toBe(strategyKey(LR));
    expect(() => checkBuiltinSetup(child!.programMd, trainTs)).not.toThrow();

    const calls = store.listRunlessCalls("meta");
    expect(calls.map((c) => c.ok)).toEqual([false, false]);
    expect(calls[0]!.error).toBe("answer refused: it has no nightshift-strategy block");
    expect(calls[1]!.error).toMatch(/^answer refused: a near-duplicate/);
    expect(calls.every((c) => c.runId === null && c.model === "gpt-5.5")).toBe(true);
  });

  it("states the program.md cap, refuses a longer answer with its length, and takes the shortened one", async () => {
    const { store, t, night, lr } = finishedNight("cap");
    const strategy = { ...TEST_ORGS.lr!, stepSize: 0.35 };
    const long = program("lr", strategy, "Think hard. ".repeat(1_100));
    expect(long.length).toBeGreaterThan(MAX_PROGRAM_MD_CHARS);
    const short = program("lr", strategy, "Think hard, briefly.");
    server.push(reply.tool("submit_program", { program_md: long, note: "verbose" }), reply.tool("submit_program", { program_md: short, note: "shorter" }));
    const before = server.requests.length;
    const plan = await breedNight({ store, tournament: t, night, settings: settings({ mutator: "anthropic" }), trainTs, metaAgent: agent("anthropic") });
    const req = server.requests.slice(before);
    expect(req).toHaveLength(2);
    expect(req[0]!.body.messages[0].content).toContain(`At most 12,000 characters in all (the parent's has ${LR.trimEnd().length})`);
    const refusal = `it is ${long.trimEnd().length.toLocaleString("en-US")} characters long, over the cap of 12,000: shorten it by at least ${(long.trimEnd().length - MAX_PROGRAM_MD_CHARS).toLocaleString("en-US")} characters`;
    expect(req[1]!.body.messages[0].content).toContain(refusal);
    const [child] = store.evolveNight(night.id, plan);
    expect(child!.parentId).toBe(lr.id);
    expect(child!.programMd).toContain("Think hard, briefly.");
    expect(child!.mutationNote).toMatch(/answer 2: shorter/);
    const calls = store.listRunlessCalls("meta");
    expect(calls.map((c) => c.ok)).toEqual([false, true]);
    expect(calls[0]!.error).toContain(`answer refused: ${refusal}`);
  });

  it("a hyper-mutation stores a new meta prompt with its lineage, breeds under it, and is reused on resume", async () => {
    const { store, t, night } = finishedNight("hyper");
    const NEW_PROMPT = "You breed research orgs. Read the night's log first; move knob ranges toward kept values.";
    const child = (step: number) => reply.tool("submit_program", { program_md: program("lr", { ...TEST_ORGS.lr!, stepSize: step }), note: `step ${step}` });
    server.push(reply.tool("submit_prompt", { prompt: NEW_PROMPT, note: "focus on the log" }), child(0.11));
    const s = settings({ mutator: "anthropic", hyperMutationRate: 1 });
    const before = server.requests.length;
    const first = await breedNight({ store, tournament: t, night, settings: s, trainTs, metaAgent: agent("anthropic") });
    const req = server.requests.slice(before);
    expect(req.map((r) => r.body.tool_choice.name)).toEqual(["submit_prompt", "submit_program"]);
    expect(req[0]!.body.messages[0].content).toContain(DEFAULT_META_PROMPT);
    expect(req[1]!.body.system).toBe(NEW_PROMPT);
    const prompts = store.listMetaPrompts(t.id);
    expect(prompts).toHaveLength(2);
    expect(prompts[1]).toMatchObject({ parentId: prompts[0]!.id, generation: 1, night: 1, prompt: NEW_PROMPT, note: "focus on the log", model: "claude-sonnet-5-5", promptHash: sha(NEW_PROMPT) });
    expect(first.children[0]!.mutationNote).toContain(`meta prompt #${prompts[1]!.id}`);
    expect(store.listRunlessCalls("meta")).toHaveLength(2);

    // A kill before the children were recorded: the resumed breeding reuses the night's prompt.
    server.push(child(0.12));
    const again = await breedNight({ store, tournament: t, night, settings: s, trainTs, metaAgent: agent("anthropic") });
    const resumed = server.requests.slice(before + 2);
    expect(resumed.map((r) => r.body.tool_choice.name)).toEqual(["submit_program"]);
    expect(resumed[0]!.body.system).toBe(NEW_PROMPT);
    expect(store.listMetaPrompts(t.id)).toHaveLength(2);
    store.evolveNight(night.id, again);
    expect(server.exhausted).toBe(0);
  });
});

describe("nightshift tournament start --meta-agent", () => {
  it("refuses an LLM meta-agent without its key before writing anything", () => {
    const bin = fileURLToPath(new URL("../../bin/nightshift.js", import.meta.url));
    const dataset = join(root, "data");
    writeTinyDataset(dataset, { docs: { val: 20, test: 20 } });
    const ws = join(root, "ws-nokey");
    const env: NodeJS.ProcessEnv = { ...process.env, NIGHTSHIFT_HOME: root };
    delete env.ANTHROPIC_API_KEY;
    const r = spawnSync(process.execPath, [bin, "tournament", "start", "nokey", "--nights", "2", "--dataset", dataset, "--profile", "cpu", "--workspace", ws, "--meta-agent", "anthropic"], { encoding: "utf8", env });
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/ANTHROPIC_API_KEY/);
    expect(existsSync(ws)).toBe(false);
  });
});
