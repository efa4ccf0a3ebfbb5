/**
 * The Anthropic and OpenAI research agents, driven through the real SDKs against the scripted
 * server in test/support/llm-server.ts (real HTTP on 127.0.0.1). Sleeps are injected (they
 * record the wait and return at once) and timeouts are a few hundred ms, so the file is fast.
 */
import { readFileSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { AnthropicAgent } from "../../src/agents/anthropic.ts";
import { applyEdits } from "../../src/agents/edits.ts";
import { AgentError } from "../../src/agents/llm/errors.ts";
import type { LlmAgentOptions } from "../../src/agents/llm/options.ts";
import { buildResearchPrompt, estimateTokens } from "../../src/agents/llm/prompt.ts";
import type { Sleep } from "../../src/agents/llm/retry.ts";
import { OpenAIAgent } from "../../src/agents/openai.ts";
import type { Agent, AgentContext, HistoryEntry } from "../../src/agents/types.ts";
import { reply, startLlmServer, type LlmServer, type RecordedRequest } from "../support/llm-server.ts";

const RECIPE = readFileSync(new URL("../../src/recipe/train.ts", import.meta.url), "utf8");
const KEY = "sk-test-PLANTED-123";
const PROGRAM_MD = "# org: steady\nLower val_bpb with small, careful steps. PROGRAM-MD-MARKER\n";
const README = "# lab README\nThe engine API and the rules. README-MARKER\n";
const HISTORY: HistoryEntry[] = [
  { commit: "a1b2c3d4e5f6", val_bpb: 1.0234, memory_gb: 0.5, status: "keep", description: "baseline" },
  { commit: "b2c3d4e5f6a7", val_bpb: null, memory_gb: 0, status: "crash", description: "double width HISTORY-MARKER" },
];

const LR_EDIT = { search: "export const MATRIX_LR = 0.04;", replace: "export const MATRIX_LR = 0.05;" };
const WD_EDIT = { search: "export const WARMDOWN_RATIO = 0.5;", replace: "export const WARMDOWN_RATIO = 0.6;" };
const SUBMIT = { description: "raise Muon LR to 0.05", hypothesis: "the baseline LR is conservative for this budget" };

const context = (over: Partial<AgentContext> = {}): AgentContext => ({
  programMd: PROGRAM_MD,
  trainTs: RECIPE,
  labReadme: README,
  history: HISTORY,
  seed: 1,
  ...over,
});

type Variant = { provider: "anthropic" | "openai"; stream: boolean };
const VARIANTS: Variant[] = [
  { provider: "anthropic", stream: false },
  { provider: "anthropic", stream: true },
  { provider: "openai", stream: false },
  { provider: "openai", stream: true },
];
const label = (v: Variant) => `${v.provider} ${v.stream ? "streaming" : "JSON"}`;

let server: LlmServer;
let sleeps: number[];
const sleep: Sleep = async (ms) => {
  sleeps.push(ms);
};

beforeEach(async () => {
  server = await startLlmServer();
  sleeps = [];
});
afterEach(async () => {
  await server.close();
  vi.restoreAllMocks();
});

function makeAgent(v: Variant, extra: LlmAgentOptions = {}): Agent {
  const common: LlmAgentOptions = { apiKey: KEY, sleep, timeoutMs: 2_000, maxRetries: 2, stream: v.stream, ...extra };
  return v.provider === "anthropic"
    ? new AnthropicAgent({ model: "claude-sonnet-5-5", baseURL: server.anthropicBaseURL, ...common })
    : new OpenAIAgent({ model: "gpt-5.5", baseURL: server.openaiBaseURL, ...common });
}

/** Text of a string or of a list of text blocks (Anthropic's system and content may be either). */
function plainText(content: unknown): string {
  if (typeof content === "string") return content;
  return (content as { type: string; text?: string }[]).map((b) => b.text ?? "").join("");
}

/** The system text and the opening user message of a request, in either wire format. */
function openingTexts(r: RecordedRequest): { system: string; user: string } {
  return r.api === "anthropic"
    ? { system: plainText(r.body.system), user: plainText(r.body.messages[0].content) }
    : { system: r.body.messages[0].content, user: r.body.messages[1].content };
}

/** The tool results (or our notes) in the last message(s) of a request, as one string. */
function lastReplies(r: RecordedRequest): string {
  const messages = r.body.messages as unknown[];
  if (r.api === "anthropic") return JSON.stringify(messages[messages.length - 1]);
  const tail: unknown[] = [];
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i] as { role: string };
    if (m.role === "assistant") break;
    tail.unshift(m);
  }
  return JSON.stringify(tail);
}

describe.each(VARIANTS)("$provider agent, stream=$stream", (v) => {
  it(`proposes edits that apply to the recipe (${label(v)})`, async () => {
    server.push(
      reply.tool("view_file", { path: "train.ts" }, { input: 1000, output: 20 }),
      { type: "tools", text: "Two schedule changes.", calls: [{ name: "edit_file", args: LR_EDIT }, { name: "edit_file", args: WD_EDIT }], usage: { input: 3000, output: 200 } },
      reply.tool("submit", SUBMIT, { input: 3100, output: 50 }),
    );
    const r = await makeAgent(v, { pricing: { inputPerMTok: 3, outputPerMTok: 15 } }).propose(context());

    expect(r.error).toBeUndefined();
    expect(r.attempts).toBe(1);
    expect(r.proposal?.description).toBe(SUBMIT.description);
    expect(r.proposal?.hypothesis).toBe(SUBMIT.hypothesis);
    expect(r.proposal?.edits).toEqual([
      { file: "train.ts", ...LR_EDIT },
      { file: "train.ts", ...WD_EDIT },
    ]);
    const edited = applyEdits(RECIPE, r.proposal!.edits);
    expect(edited).toContain("export const MATRIX_LR = 0.05;");
    expect(edited).toContain("export const WARMDOWN_RATIO = 0.6;");

    expect(r.usage).toMatchObject({ calls: 3, inputTokens: 7100, outputTokens: 270 });
    expect(r.usage.costUsd).toBeCloseTo((7100 * 3 + 270 * 15) / 1e6, 12);

    expect(server.requests).toHaveLength(3);
    const first = server.requests[0]!;
    expect(first.api).toBe(v.provider);
    expect(first.stream).toBe(v.stream);
    expect(first.headers.authorization).toBe(`Bearer ${KEY}`);
    const toolNames =
      v.provider === "anthropic"
        ? first.body.tools.map((t: { name: string }) => t.name)
        : first.body.tools.map((t: { function: { name: string } }) => t.function.name);
    expect(toolNames).toEqual(["view_file", "edit_file", "submit"]);
    // The prompt carried program.md, the README, train.ts and the history as results.tsv rows.
    const { system, user } = openingTexts(first);
    expect(system).toContain("PROGRAM-MD-MARKER");
    expect(system).toContain("README-MARKER");
    expect(user).toContain("export const MATRIX_LR = 0.04;");
    expect(user).toContain("commit\tval_bpb\tmemory_gb\tstatus\tdescription");
    expect(user).toContain("a1b2c3d\t1.023400\t0.5\tkeep\tbaseline");
    expect(user).toContain("b2c3d4e\t0.000000\t0.0\tcrash\tdouble width HISTORY-MARKER");
    // view_file did not send train.ts again (the prompt holds it); the third request saw both edits acknowledged.
    expect(lastReplies(server.requests[1]!)).toContain("train.ts is unchanged since the prompt");
    expect(lastReplies(server.requests[1]!)).not.toContain("WARMDOWN_RATIO");
    expect(lastReplies(server.requests[2]!).match(/edit applied/g)).toHaveLength(2);
    // OpenAI-compatible servers (a custom baseURL) get max_tokens, the widely supported name.
    expect(first.body.max_tokens).toBe(4096);
    if (v.provider === "openai" && v.stream) expect(first.body.stream_options).toEqual({ include_usage: true });
    expect(server.exhausted).toBe(0);
  });

  it(`recovers from malformed JSON arguments (${label(v)})`, async () => {
    server.push(
      reply.tool("edit_file", '{"search": "export const MATRIX_LR = 0.04;", "replace": "export const MATRIX_LR'),
      reply.tool("edit_file", LR_EDIT),
      reply.tool("submit", SUBMIT),
    );
    const r = await makeAgent(v).propose(context());
    expect(r.error).toBeUndefined();
    expect(r.proposal?.edits).toEqual([{ file: "train.ts", ...LR_EDIT }]);
    expect(r.attempts).toBe(1);
    expect(lastReplies(server.requests[1]!)).toMatch(/not valid JSON/);
  });

  it(`sends a failing edit's error back and takes the corrected one (${label(v)})`, async () => {
    server.push(
      reply.tool("edit_file", { search: "export const MATRIX_LR = 0.4;", replace: "export const MATRIX_LR = 0.5;" }),
      reply.tool("edit_file", LR_EDIT),
      reply.tool("submit", SUBMIT),
    );
    const r = await makeAgent(v).propose(context());
    expect(r.proposal?.edits).toEqual([{ file: "train.ts", ...LR_EDIT }]);
    const toolResult = lastReplies(server.requests[1]!);
    expect(toolResult).toContain("EDIT_NOT_FOUND");
    expect(toolResult).toContain("was not found in train.ts");
  });
});

describe("rejected answers", () => {
  it.each(VARIANTS)("rejects an edit to another file and files outside the lab ($provider stream=$stream)", async (v) => {
    server.push(
      reply.tool("edit_file", { path: "prepare.ts", search: "x", replace: "y" }),
      reply.tools({ name: "view_file", args: { path: "../harness/evaluate.ts" } }, { name: "submit", args: SUBMIT }),
    );
    const r = await makeAgent(v, { maxTurns: 2, maxAttempts: 1 }).propose(context());
    expect(r.proposal).toBeNull();
    expect(r.attempts).toBe(1);
    expect(r.error).toMatch(/no submitted proposal within 2 turns in 1 attempt/);
    expect(r.error).toMatch(/submit rejected: no edit has applied yet/);
    expect(lastReplies(server.requests[1]!)).toMatch(/EDIT_WRONG_FILE.*only train.ts may change/);
    expect(server.requests).toHaveLength(2);
  });

  it("starts a fresh conversation when one ends without a submit, then skips", async () => {
    server.setFallback(reply.text("I think we should lower the learning rate."));
    const r = await makeAgent(VARIANTS[0]!, { maxTurns: 3, maxAttempts: 2 }).propose(context());
    expect(r.proposal).toBeNull();
    expect(r.attempts).toBe(2);
    expect(r.usage.calls).toBe(6);
    expect(server.requests).toHaveLength(6);
    // Each fresh attempt starts from the opening prompt alone.
    expect(server.requests[3]!.body.messages).toHaveLength(1);
    expect(lastReplies(server.requests[1]!)).toContain("called no tool");
  });
});

describe("HTTP failures", () => {
  it.each(VARIANTS)("waits out a 429 with retry-after, then succeeds ($provider stream=$stream)", async (v) => {
    server.push(reply.status(429, { "retry-after": "3" }), reply.tool("edit_file", LR_EDIT), reply.tool("submit", SUBMIT));
    const r = await makeAgent(v).propose(context());
    expect(r.error).toBeUndefined();
    expect(r.proposal?.edits).toHaveLength(1);
    expect(sleeps).toEqual([3000]);
    expect(r.usage.calls).toBe(3);
  });

  it.each(VARIANTS)("skips after 500 forever, backing off exponentially ($provider stream=$stream)", async (v) => {
    server.setFallback(reply.status(500));
    const r = await makeAgent(v, { maxRetries: 3 }).propose(context());
    expect(r.proposal).toBeNull();
    expect(r.error).toMatch(/500/);
    expect(r.error).toMatch(/gave up after 4 tries/);
    expect(r.error!.split("\n")).toHaveLength(1);
    expect(server.requests).toHaveLength(4);
    expect(sleeps).toHaveLength(3);
    expect(sleeps[0]).toBeGreaterThanOrEqual(1000);
    expect(sleeps[1]).toBeGreaterThanOrEqual(2000);
    expect(sleeps[2]).toBeGreaterThanOrEqual(4000);
    expect(r.usage).toMatchObject({ calls: 4, inputTokens: 0, outputTokens: 0, costUsd: 0 });
  });

  it.each(VARIANTS)("times out a server that never answers, then skips ($provider stream=$stream)", async (v) => {
    server.setFallback(reply.hang());
    const started = Date.now();
    const r = await makeAgent(v, { timeoutMs: 250, maxRetries: 1 }).propose(context());
    expect(r.proposal).toBeNull();
    expect(r.error).toMatch(/timed out/);
    expect(server.requests).toHaveLength(2);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it.each(VARIANTS.filter((v) => v.stream))("times out a stream that stalls mid-body ($provider)", async (v) => {
    server.push({ type: "hang", midStream: true }, reply.tool("edit_file", LR_EDIT), reply.tool("submit", SUBMIT));
    const r = await makeAgent(v, { timeoutMs: 250 }).propose(context());
    expect(r.error).toBeUndefined();
    expect(r.proposal?.edits).toHaveLength(1);
    expect(sleeps).toHaveLength(1);
  });

  it("does not retry a 400 (a request the server will never accept)", async () => {
    server.setFallback(reply.status(400));
    const r = await makeAgent(VARIANTS[2]!).propose(context());
    expect(r.proposal).toBeNull();
    expect(r.error).toMatch(/400.*not retried/);
    expect(server.requests).toHaveLength(1);
  });

  it.each([
    [401, "AGENT_AUTH_FAILED"],
    [404, "AGENT_NOT_FOUND"],
  ])("throws on HTTP %i: no later call could succeed", async (status, code) => {
    server.setFallback(reply.status(status));
    await expect(makeAgent(VARIANTS[0]!).propose(context())).rejects.toMatchObject({ name: "AgentError", code });
    expect(server.requests).toHaveLength(1);
  });

  it("throws AGENT_ABORTED when the caller aborts mid-call", async () => {
    server.setFallback(reply.hang());
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    await expect(makeAgent(VARIANTS[3]!).propose(context({ signal: controller.signal }))).rejects.toMatchObject({
      code: "AGENT_ABORTED",
    });
  });
});

describe("configuration", () => {
  it.each([
    ["anthropic", "ANTHROPIC_API_KEY"],
    ["openai", "OPENAI_API_KEY"],
  ])("%s without a key fails with AGENT_NO_API_KEY naming %s", (provider, variable) => {
    const make = () => (provider === "anthropic" ? new AnthropicAgent({ env: {} }) : new OpenAIAgent({ env: {} }));
    expect(make).toThrow(AgentError);
    expect(make).toThrow(new RegExp(`set ${variable}`));
    try {
      make();
    } catch (err) {
      expect((err as AgentError).code).toBe("AGENT_NO_API_KEY");
    }
    const fromEnv = provider === "anthropic" ? new AnthropicAgent({ env: { [variable]: KEY } }) : new OpenAIAgent({ env: { [variable]: KEY } });
    expect(fromEnv.name).toBe(provider);
  });

  it("rejects an unknown option by name with a suggestion", () => {
    expect(() => new AnthropicAgent({ apiKey: KEY, maxTurn: 3 } as LlmAgentOptions)).toThrow(
      /unknown option 'maxTurn' — did you mean 'maxTurns'\?/,
    );
    expect(() => new OpenAIAgent({ apiKey: KEY, maxRetries: -1 })).toThrow(/maxRetries must be an integer ≥ 0/);
    expect(() => new OpenAIAgent({ apiKey: KEY, baseURL: "localhost:8000" })).toThrow(/baseURL must be an http\(s\) URL/);
  });

  it("prices known models from the table and notes unknown ones at $0", async () => {
    const known = new AnthropicAgent({ apiKey: KEY, model: "claude-sonnet-4-5-20250929" });
    expect(known.costNote).toBeUndefined();
    const logs: string[] = [];
    const local = new OpenAIAgent({
      apiKey: KEY,
      model: "qwen3-coder-local",
      baseURL: server.openaiBaseURL,
      sleep,
      log: (l) => logs.push(l),
    });
    expect(local.costNote).toMatch(/no price known for model 'qwen3-coder-local'/);
    expect(logs.join("\n")).toMatch(/no price known/);
    server.push(reply.tool("edit_file", LR_EDIT, { input: 500, output: 50 }), reply.tool("submit", SUBMIT, { input: 600, output: 10 }));
    const r = await local.propose(context());
    expect(r.usage).toMatchObject({ model: "qwen3-coder-local", calls: 2, inputTokens: 1100, outputTokens: 60, costUsd: 0 });
  });
});

describe("OpenAI tool_choice", () => {
  it("asks for a tool call on every request", async () => {
    server.push(reply.tool("edit_file", LR_EDIT), reply.tool("submit", SUBMIT));
    const r = await makeAgent(VARIANTS[2]!).propose(context());
    expect(r.proposal?.edits).toHaveLength(1);
    expect(server.requests.map((q) => q.body.tool_choice)).toEqual(["required", "required"]);
  });

  it.each([false, true])("falls back to auto, once and for later proposals, on a server that refuses required (stream=%s)", async (stream) => {
    const picky = await startLlmServer({ refusedToolChoices: ["required"] });
    try {
      const logs: string[] = [];
      const agent = new OpenAIAgent({ apiKey: KEY, model: "gpt-5.5", baseURL: picky.openaiBaseURL, sleep, stream, log: (l) => logs.push(l) });
      picky.push(reply.tool("edit_file", LR_EDIT), reply.tool("submit", SUBMIT), reply.tool("edit_file", WD_EDIT), reply.tool("submit", SUBMIT));
      const first = await agent.propose(context());
      const second = await agent.propose(context());
      expect(first.error).toBeUndefined();
      expect(first.proposal?.edits).toMatchObject([LR_EDIT]);
      expect(second.proposal?.edits).toMatchObject([WD_EDIT]);
      expect(picky.requests.map((q) => q.body.tool_choice)).toEqual(["required", "auto", "auto", "auto", "auto"]);
      expect(logs.filter((l) => /refused tool_choice "required"/.test(l))).toHaveLength(1);
      expect(sleeps).toHaveLength(0); // a fallback, not a retry after a wait
    } finally {
      await picky.close();
    }
  });

  it("does not take another 400 for a refused tool_choice", async () => {
    server.setFallback(reply.status(400));
    const r = await makeAgent(VARIANTS[2]!).propose(context());
    expect(r.error).toMatch(/400.*not retried/);
    expect(server.requests.map((q) => q.body.tool_choice)).toEqual(["required"]);
  });
});

describe("API key hygiene", () => {
  it("never lets the planted key into results, errors, logs or the console", async () => {
    const spies = (["log", "info", "warn", "error", "debug"] as const).map((m) => vi.spyOn(console, m).mockImplementation(() => {}));
    const logs: string[] = [];
    const seen: string[] = [];

    for (const v of VARIANTS) {
      // A server that echoes the Authorization header in its error bodies.
      server.setFallback({ type: "status", status: 500, echoAuthorization: true });
      const skipped = await makeAgent(v, { log: (l) => logs.push(l), maxRetries: 1 }).propose(context());
      seen.push(JSON.stringify(skipped));
      expect(skipped.error).toContain("[REDACTED]");

      server.setFallback({ type: "status", status: 401, echoAuthorization: true });
      const err = await makeAgent(v).propose(context()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AgentError);
      seen.push(String(err), (err as Error).stack ?? "");

      server.setFallback({ type: "status", status: 429, echoAuthorization: true, headers: { "retry-after": "1" } });
      const limited = await makeAgent(v, { log: (l) => logs.push(l), maxRetries: 1 }).propose(context());
      seen.push(JSON.stringify(limited));
    }
    try {
      new OpenAIAgent({ apiKey: KEY, maxTurns: 0 });
    } catch (e) {
      seen.push(String(e));
    }
    // The key did reach the server, so the check below is not vacuous.
    expect(server.requests.every((r) => r.headers.authorization === `Bearer ${KEY}`)).toBe(true);
    const consoleText = spies.flatMap((s) => s.mock.calls.map((c) => c.map(String).join(" ")));
    const everything = [...seen, ...logs, ...consoleText].join("\n");
    expect(logs.length).toBeGreaterThan(0);
    expect(everything).not.toContain(KEY);
    expect(everything).not.toContain("PLANTED");
  });
});

describe("research prompt", () => {
  const rows = (n: number): HistoryEntry[] =>
    Array.from({ length: n }, (_, i) => ({
      commit: `c${String(i).padStart(6, "0")}`,
      val_bpb: 1 - i / 1e4,
      memory_gb: 1,
      status: "discard" as const,
      description: `experiment number ${i} with a description long enough to cost tokens`,
    }));

  it("fits the budget by dropping the oldest history first, keeping the newest", () => {
    const ctx = context({ history: rows(2_000) });
    const budget = estimateTokens(RECIPE) + 4_000;
    const p = buildResearchPrompt(ctx, budget);
    expect(p.trim.historyDropped).toBeGreaterThan(0);
    expect(p.trim.historyShown).toBeGreaterThan(0);
    expect(p.trim.estimatedTokens).toBeLessThanOrEqual(budget);
    expect(p.user).toContain("c001999"); // newest kept
    expect(p.user).not.toContain("c000000\t"); // oldest dropped
    expect(p.user).toContain(`(${p.trim.historyDropped} older experiments not shown)`);
    expect(p.user).toContain(RECIPE); // train.ts whole
    expect(p.system).toContain("PROGRAM-MD-MARKER");
  });

  it("then cuts the crash log from its start, keeping the error at its end", () => {
    const log = `${"step 1 loss 4.0\n".repeat(5_000)}TypeError: x is not a function\n    at train (train.ts:42)\n`;
    const ctx = context({ history: rows(50), crashLog: log });
    const budget = estimateTokens(RECIPE) + 3_000;
    const p = buildResearchPrompt(ctx, budget);
    expect(p.trim.historyDropped).toBe(50);
    expect(p.trim.crashLogCutChars).toBeGreaterThan(0);
    expect(p.trim.estimatedTokens).toBeLessThanOrEqual(budget);
    expect(p.user).toContain("TypeError: x is not a function");
    expect(p.user).toMatch(/earlier characters cut/);
    expect(p.user).toContain("Fix the crash");
  });

  it("counts the history the loop left out with the rows the budget dropped", () => {
    const p = buildResearchPrompt(context({ history: rows(3), historyOmitted: 997 }), 32_000);
    expect(p.trim.historyDropped).toBe(0);
    expect(p.user).toContain("(997 older experiments not shown)");
    const tight = buildResearchPrompt(context({ history: rows(2_000), historyOmitted: 500 }), estimateTokens(RECIPE) + 4_000);
    expect(tight.user).toContain(`(${500 + tight.trim.historyDropped} older experiments not shown)`);
  });

  it("leaves a prompt under budget untouched", () => {
    const p = buildResearchPrompt(context(), 32_000);
    expect(p.trim).toMatchObject({ historyDropped: 0, crashLogCutChars: 0, readmeCutChars: 0, overBudget: false });
  });
});
