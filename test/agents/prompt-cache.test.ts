/**
 * Bounded, cached research prompts (issue 20): the stable prefix, the cache breakpoints, the
 * cache usage the agents read and price, the research memory's section, view_file's brevity,
 * and input tokens per proposal that do not grow with the run's history. Driven through the
 * real SDKs against the loopback server (test/support/llm-server.ts), which reports usage and
 * cache fields as the real APIs do.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { AnthropicAgent } from "../../src/agents/anthropic.ts";
import type { LlmAgentOptions } from "../../src/agents/llm/options.ts";
import { unifiedDiff } from "../../src/agents/llm/line-diff.ts";
import { costUsd, lookupPrice, MODEL_PRICES } from "../../src/agents/llm/pricing.ts";
import { buildResearchPrompt, formatMemoryEntry, renderMemory, SHARES } from "../../src/agents/llm/prompt.ts";
import { EditSession } from "../../src/agents/llm/tools.ts";
import { OpenAIAgent } from "../../src/agents/openai.ts";
import type { Agent, AgentContext, ProposalResult } from "../../src/agents/types.ts";
import { openStore } from "../../src/store/index.ts";
import { reply, startLlmServer, type LlmServer, type RecordedRequest, type ScriptedReply } from "../support/llm-server.ts";
import { seededRandom } from "../support/random.ts";
import { RECIPE_TRAIN_TS, researchContext, syntheticMemory } from "../support/research-context.ts";

const KEY = "sk-test-cache";
const LR_EDIT = { search: "export const MATRIX_LR = 0.04;", replace: "export const MATRIX_LR = 0.05;" };
const WD_EDIT = { search: "export const WARMDOWN_RATIO = 0.5;", replace: "export const WARMDOWN_RATIO = 0.6;" };
const SUBMIT = { description: "raise Muon LR to 0.05", hypothesis: "the baseline LR is conservative" };
/** The proposal the issue measured: view train.ts, edit it, submit (three calls, no scripted usage). */
const VIEW_EDIT_SUBMIT = (): ScriptedReply[] => [reply.tool("view_file", { path: "train.ts" }), reply.tool("edit_file", LR_EDIT), reply.tool("submit", SUBMIT)];

type Provider = "anthropic" | "openai";
const VARIANTS = [
  { provider: "anthropic" as Provider, stream: false },
  { provider: "anthropic" as Provider, stream: true },
  { provider: "openai" as Provider, stream: false },
  { provider: "openai" as Provider, stream: true },
];

let server: LlmServer;
const root = mkdtempSync(join(tmpdir(), "ns-prompt-cache-"));
beforeEach(async () => {
  server = await startLlmServer();
});
afterEach(async () => {
  await server.close();
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

function makeAgent(provider: Provider, extra: LlmAgentOptions = {}): Agent {
  const common: LlmAgentOptions = { apiKey: KEY, sleep: async () => {}, timeoutMs: 5_000, maxRetries: 0, ...extra };
  return provider === "anthropic"
    ? new AnthropicAgent({ model: "claude-sonnet-5-5", baseURL: server.anthropicBaseURL, ...common })
    : new OpenAIAgent({ model: "gpt-5.5", baseURL: server.openaiBaseURL, ...common });
}

async function propose(agent: Agent, ctx: AgentContext): Promise<ProposalResult> {
  server.push(...VIEW_EDIT_SUBMIT());
  const r = await agent.propose(ctx);
  expect(r.error).toBeUndefined();
  return r;
}

const systemText = (r: RecordedRequest): string =>
  r.api === "anthropic" ? (typeof r.body.system === "string" ? r.body.system : r.body.system.map((b: { text: string }) => b.text).join("")) : r.body.messages[0].content;

/** Every block of an Anthropic request that carries cache_control, as [where, ttl]. */
function breakpoints(r: RecordedRequest): [string, string][] {
  const out: [string, string][] = [];
  const visit = (where: string, blocks: unknown) => {
    if (!Array.isArray(blocks)) return;
    blocks.forEach((b: { cache_control?: { ttl?: string } }, i) => {
      if (b.cache_control) out.push([`${where}[${i}]`, b.cache_control.ttl ?? "5m"]);
    });
  };
  visit("system", r.body.system);
  visit("tools", r.body.tools);
  (r.body.messages as { content: unknown }[]).forEach((m, i) => visit(`messages[${i}]`, m.content));
  return out;
}

describe("the stable prefix", () => {
  it.each(VARIANTS)("is byte-identical across proposals and turns whatever the history, seed or edits ($provider stream=$stream)", async ({ provider, stream }) => {
    const agent = makeAgent(provider, { stream });
    await propose(agent, researchContext(10, 50));
    await propose(agent, researchContext(137, 50, { crashLog: "TypeError: boom\n" }));
    expect(server.requests).toHaveLength(6);
    const systems = new Set(server.requests.map(systemText));
    expect(systems.size).toBe(1);
    const system = [...systems][0]!;
    expect(system).toContain("<program.md>");
    expect(system).toContain("<README.md>");
    // Nothing that varies per call is in it.
    expect(system).not.toMatch(/results\.tsv>|<train\.ts>|<memory>|crash-log/);
    expect(system).not.toMatch(/\d{4}-\d{2}-\d{2}T/);
  });

  it("puts the memory and train.ts before the history, so a discard keeps them in the cached prefix", () => {
    const a = buildResearchPrompt(researchContext(10, 50), 32_000);
    const b = buildResearchPrompt(researchContext(11, 50), 32_000);
    expect(a.userStable).toBe(b.userStable);
    expect(a.userVarying).not.toBe(b.userVarying);
    expect(a.user).toBe(a.userStable + a.userVarying);
    expect(a.userStable.indexOf("<memory>")).toBeLessThan(a.userStable.indexOf("<train.ts>"));
    expect(a.userVarying).toContain("<results.tsv>");
  });

  it("cuts an oversized README to the system's share the same way every call", () => {
    const ctx = researchContext(5, 0, { labReadme: "# README\n" + "reference line\n".repeat(20_000) });
    const p1 = buildResearchPrompt(ctx, 32_000);
    const p2 = buildResearchPrompt({ ...ctx, ...researchContext(400, 50), labReadme: ctx.labReadme, crashLog: "x".repeat(50_000) }, 32_000);
    expect(p1.trim.readmeCutChars).toBeGreaterThan(0);
    expect(p1.system.length).toBeLessThanOrEqual(32_000 * 4 * SHARES.system);
    expect(p2.system).toBe(p1.system);
  });
});

describe("Anthropic cache breakpoints", () => {
  it.each([false, true])("marks the system, the stable user block (1 h) and the newest message (5 min) (stream=%s)", async (stream) => {
    const agent = makeAgent("anthropic", { stream });
    await propose(agent, researchContext(10, 50));
    const [first, second, third] = server.requests;
    expect(breakpoints(first!)).toEqual([
      ["system[0]", "1h"],
      ["messages[0][0]", "1h"],
      ["messages[0][1]", "5m"],
    ]);
    expect(breakpoints(second!)).toEqual([
      ["system[0]", "1h"],
      ["messages[0][0]", "1h"],
      ["messages[2][0]", "5m"],
    ]);
    expect(breakpoints(third!)).toHaveLength(3);
    expect(breakpoints(third!).at(-1)![0]).toBe("messages[4][0]");
  });

  it("first call writes the marked prefix; later calls and the next proposal read it", async () => {
    const agent = makeAgent("anthropic");
    const first = await propose(agent, researchContext(100, 50));
    const [r1, r2, r3] = server.requests;
    // Call 1 writes everything up to its last breakpoint; nothing was cached before.
    expect(r1!.prompt.read).toBe(0);
    expect(r1!.prompt.write).toBeGreaterThan(0.9 * r1!.prompt.total);
    // Calls 2 and 3 read the conversation so far and write only the new turn.
    for (const r of [r2!, r3!]) {
      expect(r.prompt.read).toBeGreaterThan(0.9 * r.prompt.total);
      expect(r.prompt.write).toBeLessThan(0.1 * r.prompt.total);
    }
    const sum = (k: "total" | "read" | "write") => server.requests.reduce((n, r) => n + r.prompt[k], 0);
    expect(first.usage).toMatchObject({ calls: 3, inputTokens: sum("total"), cacheReadTokens: sum("read"), cacheWriteTokens: sum("write") });

    // The next proposal (a discard: same train.ts, one more history row) reads system + memory + train.ts.
    const second = await propose(agent, researchContext(101, 50));
    const r4 = server.requests[3]!;
    const stable = buildResearchPrompt(researchContext(101, 50), 32_000);
    expect(r4.prompt.read * 4).toBeGreaterThan(stable.system.length + stable.userStable.length);
    expect(second.usage.cacheReadTokens).toBeGreaterThan(first.usage.cacheReadTokens!);
    expect(second.usage.costUsd).toBeLessThan(first.usage.costUsd);
  });

  it("prices reads at 0.1×, 5-minute writes at 1.25× and 1-hour writes at 2× the input price", async () => {
    const agent = makeAgent("anthropic", { pricing: { inputPerMTok: 10, outputPerMTok: 0 } });
    const r = await propose(agent, researchContext(100, 50));
    let expected = 0;
    for (const q of server.requests) {
      const plain = q.prompt.total - q.prompt.read - q.prompt.write;
      expected += (plain * 10 + q.prompt.read * 1 + (q.prompt.write - q.prompt.write1h) * 12.5 + q.prompt.write1h * 20) / 1e6;
    }
    expect(server.requests.some((q) => q.prompt.write1h > 0 && q.prompt.write > q.prompt.write1h)).toBe(true);
    expect(r.usage.costUsd).toBeCloseTo(expected, 12);
  });

  it("promptCache: false sends no breakpoint, and nothing is cached or priced as cached", async () => {
    const agent = makeAgent("anthropic", { promptCache: false });
    const r1 = await propose(agent, researchContext(100, 50));
    const r2 = await propose(agent, researchContext(101, 50));
    for (const q of server.requests) {
      expect(breakpoints(q)).toEqual([]);
      expect(typeof q.body.system).toBe("string");
      expect(q.prompt).toMatchObject({ read: 0, write: 0 });
    }
    expect(r1.usage).toMatchObject({ cacheReadTokens: 0, cacheWriteTokens: 0 });
    const price = MODEL_PRICES["claude-sonnet-5-5"]!;
    expect(r2.usage.costUsd).toBeCloseTo((r2.usage.inputTokens * price.inputPerMTok + r2.usage.outputTokens * price.outputPerMTok) / 1e6, 12);
  });

  it("refuses more breakpoints than the API allows, as the real API does (the loopback server models it)", async () => {
    const body = { model: "m", max_tokens: 1, messages: [{ role: "user", content: [1, 2, 3, 4, 5].map((i) => ({ type: "text", text: `b${i}`, cache_control: { type: "ephemeral" } })) }] };
    const res = await fetch(`${server.anthropicBaseURL}/v1/messages`, { method: "POST", body: JSON.stringify(body), headers: { "content-type": "application/json" } });
    expect(res.status).toBe(400);
    expect(await res.text()).toMatch(/maximum of 4 blocks with cache_control/);
  });
});

describe("OpenAI automatic caching", () => {
  it.each([false, true])("reads cached_tokens for a repeated prefix and prices them at the model's cached rate (stream=%s)", async (stream) => {
    const agent = makeAgent("openai", { stream });
    const r = await propose(agent, researchContext(100, 50));
    const [r1, r2, r3] = server.requests;
    expect(r1!.prompt.read).toBe(0);
    expect(r2!.prompt.read).toBeGreaterThan(0.9 * r2!.prompt.total);
    // The third request reads all of the second's prompt (to the cache's 128-token steps).
    expect(r3!.prompt.read).toBeGreaterThan(r2!.prompt.total - 128);
    expect(r2!.prompt.read % 128).toBe(1024 % 128);
    const read = r2!.prompt.read + r3!.prompt.read;
    expect(r.usage).toMatchObject({ cacheReadTokens: read, cacheWriteTokens: 0 });
    const price = MODEL_PRICES["gpt-5.5"]!;
    expect(price.cacheReadPerMTok).toBeCloseTo(0.5, 12); // $5 input, cached 0.1×
    const expected = ((r.usage.inputTokens - read) * 5 + read * 0.5 + r.usage.outputTokens * 30) / 1e6;
    expect(r.usage.costUsd).toBeCloseTo(expected, 12);
  });

  it("a prefix under 1024 tokens is not cached", async () => {
    const agent = makeAgent("openai");
    const tiny: AgentContext = { programMd: "# p\n", trainTs: "export const MATRIX_LR = 0.04;\n", labReadme: "# r\n", history: [], seed: 1 };
    await propose(agent, tiny);
    expect(server.requests.every((q) => q.prompt.read === 0)).toBe(true);
  });
});

describe("pricing", () => {
  it("fills the cache rates an override lacks from the provider's multipliers", () => {
    expect(lookupPrice("any", { inputPerMTok: 4, outputPerMTok: 20 }, "anthropic").price).toEqual({
      inputPerMTok: 4,
      outputPerMTok: 20,
      cacheReadPerMTok: 0.4,
      cacheWritePerMTok: 5,
      cacheWrite1hPerMTok: 8,
    });
    expect(lookupPrice("local", { inputPerMTok: 2, outputPerMTok: 8, cacheReadPerMTok: 0.2 }, "openai").price).toEqual({
      inputPerMTok: 2,
      outputPerMTok: 8,
      cacheReadPerMTok: 0.2,
      cacheWritePerMTok: 2,
      cacheWrite1hPerMTok: 2,
    });
    expect(MODEL_PRICES["gpt-4o"]!.cacheReadPerMTok).toBeCloseTo(1.25, 12);
    expect(MODEL_PRICES["gpt-4.1"]!.cacheReadPerMTok).toBeCloseTo(0.5, 12);
  });

  it("prices the cached parts of the input, never more tokens than were sent", () => {
    const p = lookupPrice("x", { inputPerMTok: 10, outputPerMTok: 0 }, "anthropic").price;
    expect(costUsd(p, { inputTokens: 1_000_000, outputTokens: 0 })).toBeCloseTo(10, 9);
    expect(costUsd(p, { inputTokens: 1_000_000, outputTokens: 0, cacheReadTokens: 1_000_000 })).toBeCloseTo(1, 9);
    expect(costUsd(p, { inputTokens: 1_000_000, outputTokens: 0, cacheWriteTokens: 1_000_000, cacheWrite1hTokens: 250_000 })).toBeCloseTo(12.5 * 0.75 + 20 * 0.25, 9);
    expect(costUsd(null, { inputTokens: 5, outputTokens: 5, cacheReadTokens: 5 })).toBe(0);
  });

  it("rejects a bad cache price by name", () => {
    expect(() => new AnthropicAgent({ apiKey: KEY, pricing: { inputPerMTok: 1, outputPerMTok: 1, cacheReadPerMTok: -1 } })).toThrow(/pricing\.cacheReadPerMTok must be a number ≥ 0/);
    expect(() => new AnthropicAgent({ apiKey: KEY, pricing: { inputPerMTok: 1, outputPerMTok: 1, cacheRead: 1 } as never })).toThrow(/pricing: unknown option 'cacheRead'/);
    expect(() => new AnthropicAgent({ apiKey: KEY, promptCache: "yes" as never })).toThrow(/promptCache must be true or false/);
  });
});

describe("cost accounting in the store", () => {
  it("records the cache parts and the real (cached) cost; a cap between cached and uncached cost is not reached", async () => {
    const agent = makeAgent("anthropic");
    const store = openStore(join(root, "cost.db"));
    const org = store.createOrg({ name: "default", programMd: "# org\n" });
    const run = store.createRun({ tag: "c", branch: "nightshift/c/default", profile: "cpu", timeBudget: 300, deviceKind: "cpu", agent: "anthropic", model: "claude-sonnet-5-5", baseCommit: "a".repeat(40), orgId: org.id });
    const results: ProposalResult[] = [];
    for (const rows of [100, 101, 102]) {
      const r = await propose(agent, researchContext(rows, 50));
      store.proposeExperiment({ runId: run.id, parentCommit: "a".repeat(40), description: r.proposal!.description, hypothesis: r.proposal!.hypothesis, usage: r.usage });
      results.push(r);
    }
    const cost = store.runCost(run.id);
    const sum = (f: (r: ProposalResult) => number) => results.reduce((n, r) => n + f(r), 0);
    expect(cost).toMatchObject({ calls: 9, inputTokens: sum((r) => r.usage.inputTokens), cacheReadTokens: sum((r) => r.usage.cacheReadTokens!), cacheWriteTokens: sum((r) => r.usage.cacheWriteTokens!) });
    expect(cost.cacheReadTokens).toBeGreaterThan(cost.inputTokens / 2);
    expect(cost.costUsd).toBeCloseTo(sum((r) => r.usage.costUsd), 12);
    const uncached = costUsd(MODEL_PRICES["claude-sonnet-5-5"]!, { inputTokens: cost.inputTokens, outputTokens: cost.outputTokens });
    expect(cost.costUsd).toBeLessThan(0.6 * uncached);
    // The loop stops at runCost(run).costUsd >= cap (src/loop/loop.ts): a cap the uncached price would hit is not hit.
    const cap = (cost.costUsd + uncached) / 2;
    expect(cost.costUsd >= cap).toBe(false);
    store.close();
  });
});

describe("view_file", () => {
  const ctx = researchContext(3, 0);
  const call = (s: EditSession, name: string, args: object) => s.handle({ id: "1", name, arguments: JSON.stringify(args) });

  it("points to the prompt's copy of train.ts before any edit", () => {
    const s = new EditSession(ctx, { readmeInPrompt: true });
    const out = call(s, "view_file", { path: "train.ts" });
    expect(out.isError).toBe(false);
    expect(out.content).toMatch(/train\.ts is unchanged since the prompt/);
    expect(out.content.length).toBeLessThan(300);
  });

  it("after edits, answers with the changed regions only", () => {
    const s = new EditSession(ctx, { readmeInPrompt: true });
    call(s, "edit_file", LR_EDIT);
    call(s, "edit_file", WD_EDIT);
    const out = call(s, "view_file", { path: "./train.ts" }).content;
    expect(out).toMatch(/with your 2 applied edits/);
    expect(out).toContain("-export const MATRIX_LR = 0.04;");
    expect(out).toContain("+export const MATRIX_LR = 0.05;");
    expect(out).toContain("+export const WARMDOWN_RATIO = 0.6;");
    const line = RECIPE_TRAIN_TS.split("\n").findIndex((l) => l.startsWith("export const MATRIX_LR")) + 1;
    expect(out).toMatch(new RegExp(`@@ -${line - 2},\\d+ \\+${line - 2},\\d+ @@`));
    expect(out.length).toBeLessThan(RECIPE_TRAIN_TS.length / 10);
  });

  it("sends the whole file when the diff would not be shorter", () => {
    const small = { ...ctx, trainTs: "export const A = 1;\nexport const B = 2;\n" };
    const s = new EditSession(small, { readmeInPrompt: true });
    call(s, "edit_file", { search: "export const A = 1;\nexport const B = 2;", replace: "export const A = 3;\nexport const B = 4;" });
    const out = call(s, "view_file", { path: "train.ts" }).content;
    expect(out).toMatch(/whole/);
    expect(out).toContain("export const A = 3;\nexport const B = 4;");
  });

  it("points to program.md and the README in the prompt, and sends a README the prompt had to cut", () => {
    const whole = new EditSession(ctx, { readmeInPrompt: true });
    expect(call(whole, "view_file", { path: "program.md" }).content).toMatch(/in full in the system prompt/);
    expect(call(whole, "view_file", { path: "README.md" }).content).toMatch(/in full in the system prompt/);
    const cut = new EditSession(ctx, { readmeInPrompt: false });
    expect(call(cut, "view_file", { path: "readme.md" }).content).toBe(ctx.labReadme);
    // Without knowledge of the prompt (a caller outside the research loop), files are sent whole.
    expect(call(new EditSession(ctx), "view_file", { path: "train.ts" }).content).toBe(ctx.trainTs);
  });

  it("still rejects files outside the lab", () => {
    const out = call(new EditSession(ctx, { readmeInPrompt: true }), "view_file", { path: "../harness/evaluate.ts" });
    expect(out.isError).toBe(true);
  });
});

describe("the diff view_file sends", () => {
  /** Applies a unified diff's hunks to `before`, checking each hunk's header and context: the reference the diff must satisfy. */
  function applyDiff(before: string, diff: string): string {
    const a = before.split("\n");
    const out: string[] = [];
    let at = 0; // next line of `a` not yet copied
    const hunks = diff.split(/^(?=@@ )/m).filter((h) => h !== "");
    for (const hunk of hunks) {
      const [header, ...lines] = hunk.replace(/\n$/, "").split("\n");
      const m = /^@@ -(\d+),(\d+) \+(\d+),(\d+) @@$/.exec(header!);
      expect(m, header).not.toBeNull();
      const [startA, countA, startB, countB] = m!.slice(1).map(Number) as [number, number, number, number];
      const from = countA === 0 ? startA : startA - 1;
      expect(from).toBeGreaterThanOrEqual(at);
      out.push(...a.slice(at, from));
      expect(out.length + 1).toBe(countB === 0 ? startB + 1 : startB);
      at = from;
      let seenA = 0;
      let seenB = 0;
      for (const line of lines) {
        const kind = line[0];
        const text = line.slice(1);
        if (kind === " " || kind === "-") {
          expect(a[at], `context or removed line ${at + 1}`).toBe(text);
          at++;
          seenA++;
        }
        if (kind === " " || kind === "+") {
          out.push(text);
          seenB++;
        }
      }
      expect([seenA, seenB]).toEqual([countA, countB]);
    }
    out.push(...a.slice(at));
    return out.join("\n");
  }

  it("rebuilds the edited file from the original on random edits of random files", () => {
    const rand = seededRandom(20);
    for (let trial = 0; trial < 300; trial++) {
      const n = Math.floor(rand() * 40);
      const lines = Array.from({ length: n }, () => `line ${Math.floor(rand() * 6)}`);
      const edited = [...lines];
      for (let e = Math.floor(rand() * 4); e >= 0; e--) {
        const at = Math.floor(rand() * (edited.length + 1));
        const remove = Math.floor(rand() * 3);
        const add = Array.from({ length: Math.floor(rand() * 3) }, () => `new ${Math.floor(rand() * 4)}`);
        edited.splice(at, remove, ...add);
      }
      const before = lines.join("\n");
      const after = edited.join("\n");
      const diff = unifiedDiff(before, after);
      if (before === after) expect(diff).toBe("");
      else expect(applyDiff(before, diff)).toBe(after);
    }
  });

  it("shows a change at the first and the last line, and an empty file", () => {
    expect(applyDiff("a\nb\nc", unifiedDiff("a\nb\nc", "x\nb\ny"))).toBe("x\nb\ny");
    expect(applyDiff("", unifiedDiff("", "a\nb"))).toBe("a\nb");
    expect(applyDiff("a\nb", unifiedDiff("a\nb", ""))).toBe("");
  });
});

describe("research memory", () => {
  it("renders groups, each line with night, org, gain, description and touched knobs", () => {
    const m = renderMemory(syntheticMemory(10), 10_000);
    expect(m.shown).toBe(10);
    expect(m.omitted).toBe(0);
    const real = m.text.indexOf("Verified real (keep building on these):");
    const refuted = m.text.indexOf("Refuted by reruns (do not retry):");
    const crashed = m.text.indexOf("Crashed");
    expect(real).toBeGreaterThan(0);
    expect(refuted).toBeGreaterThan(real);
    expect(crashed).toBeGreaterThan(refuted);
    expect(m.text).toContain("- night 1, steady: gain +0.0040 — move MATRIX_LR and retune the schedule to match (memory entry 0); touched: MATRIX_LR 0.04 -> 0.05, WARMDOWN_RATIO 0.5 -> 0.6");
    expect(m.text).toMatch(/EMBEDDING_LR.*\(ancestor\)|\(ancestor\).*EMBEDDING_LR/);
    expect(m.text).toMatch(/\(noise\)/);
    expect(m.text).toMatch(/cause: out of memory at step 12/);
  });

  it("trims to its share and says how many entries were left out, the builder's included", () => {
    const m = renderMemory(syntheticMemory(500, 40), 4_000);
    expect(m.text.length).toBeLessThanOrEqual(4_000);
    expect(m.shown).toBeGreaterThan(0);
    expect(m.omitted).toBe(540 - m.shown);
    expect(m.text).toContain(`(${m.omitted} more entries not shown)`);
    const p = buildResearchPrompt(researchContext(10, 0, { memory: syntheticMemory(2_000, 7) }), 32_000);
    expect(p.userStable.indexOf("</memory>") - p.userStable.indexOf("Research memory")).toBeLessThanOrEqual(32_000 * 4 * SHARES.memory);
    expect(p.trim.memoryOmitted).toBe(2_007 - p.trim.memoryShown);
  });

  it("no memory or an empty one adds no section", () => {
    expect(buildResearchPrompt(researchContext(10, 0), 32_000).user).not.toContain("<memory>");
    expect(buildResearchPrompt(researchContext(10, 0, { memory: { entries: [], omitted: 0 } }), 32_000).user).not.toContain("<memory>");
    const onlyOmitted = renderMemory({ entries: [], omitted: 3 }, 4_000);
    expect(onlyOmitted.text).toContain("(3 more entries not shown)");
  });

  it("clips one huge entry instead of letting it take the share, and survives odd values", () => {
    const [base] = syntheticMemory(1).entries;
    const huge = { ...base!, description: "x".repeat(50_000), touched: Array.from({ length: 1_000 }, (_, i) => `K${i} 1 -> 2`), gain: Number.NaN, night: null };
    const line = formatMemoryEntry(huge);
    expect(line.length).toBeLessThan(500);
    expect(line).not.toContain("NaN");
    expect(line.startsWith("- steady:")).toBe(true);
    expect(renderMemory({ entries: [huge], omitted: 0 }, 100).text).toBe("");
  });
});

describe("input tokens per proposal", () => {
  it.each(["anthropic", "openai"] as Provider[])("do not grow with the history: 10,000 rows cost at most 1.1× what 10 do (%s)", async (provider) => {
    const agent = makeAgent(provider);
    const small = await propose(agent, researchContext(10, 50));
    const large = await propose(agent, researchContext(10_000, 50));
    expect(large.usage.inputTokens).toBeGreaterThan(small.usage.inputTokens);
    expect(large.usage.inputTokens / small.usage.inputTokens).toBeLessThanOrEqual(1.1);
    const p = buildResearchPrompt(researchContext(10_000, 50), 32_000);
    expect(p.trim.historyShown).toBeGreaterThan(50);
    expect(p.user).toContain(`(${10_000 - p.trim.historyShown} older experiments not shown)`);
  });
});
