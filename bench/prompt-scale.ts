/**
 * Benchmark: input tokens and priced input cost of one research proposal (issue 20), through the
 * real agents and SDKs against the loopback LLM server of the tests (test/support/llm-server.ts,
 * which counts a prompt as its characters / 4 and models both providers' prompt caches). Each
 * proposal is the one the issue measured: view_file("train.ts"), edit_file, submit (three calls).
 * The context is the default lab's: the root program.md, the cpu profile's README, the recipe
 * train.ts, a synthetic history of N rows (the loop passes the newest 300 and counts the rest)
 * and a research memory of --memory entries.
 *
 *   node --import tsx bench/prompt-scale.ts                      # 10, 100, 1,000, 10,000 rows; memory 50
 *   node --import tsx bench/prompt-scale.ts --memory 200
 *   node --import tsx bench/prompt-scale.ts --baseline-src /tmp/ns-before/src   # also today's code
 *
 * Prints, per provider: input tokens per proposal at each history length and the ratio 10,000 :
 * 100 rows (goal ≤ 1.1); the priced input cost of a proposal at 100 rows with caching, against the
 * same tokens without it (goal ≤ 0.35×), in three cache states: warm (the previous proposal,
 * with the same train.ts, was within the cache's life: a discard), after a keep (train.ts
 * changed) and cold (nothing cached: the first proposal of a run, or after an hour without one).
 * With --baseline-src (a checkout's src/ of the code before this change, whose node_modules
 * resolve), the same proposal through that code is measured too ("today").
 * Output tokens are left out of every cost: caching changes only the input's price.
 */
import { parseArgs } from "node:util";
import { AnthropicAgent } from "../src/agents/anthropic.ts";
import { costUsd, MODEL_PRICES } from "../src/agents/llm/pricing.ts";
import { OpenAIAgent } from "../src/agents/openai.ts";
import type { Agent, AgentContext, ProposalResult } from "../src/agents/types.ts";
import { reply, startLlmServer, type LlmServer } from "../test/support/llm-server.ts";
import { researchContext } from "../test/support/research-context.ts";

const { values: args } = parseArgs({
  options: {
    memory: { type: "string", default: "50" },
    "baseline-src": { type: "string" },
  },
});
const memoryEntries = Number(args.memory);
const ROWS = [10, 100, 1_000, 10_000];
const MODELS = { anthropic: "claude-sonnet-5-5", openai: "gpt-5.5" } as const;
type Provider = keyof typeof MODELS;
const LR_EDIT = { search: "export const MATRIX_LR = 0.04;", replace: "export const MATRIX_LR = 0.05;" };

const server: LlmServer = await startLlmServer();

type AgentClass = new (options: Record<string, unknown>) => Agent;
async function agentClasses(src: string | undefined): Promise<Record<Provider, AgentClass>> {
  if (!src) return { anthropic: AnthropicAgent as unknown as AgentClass, openai: OpenAIAgent as unknown as AgentClass };
  const a = (await import(`${src}/agents/anthropic.ts`)) as { AnthropicAgent: AgentClass };
  const o = (await import(`${src}/agents/openai.ts`)) as { OpenAIAgent: AgentClass };
  return { anthropic: a.AnthropicAgent, openai: o.OpenAIAgent };
}

function makeAgent(classes: Record<Provider, AgentClass>, provider: Provider): Agent {
  const baseURL = provider === "anthropic" ? server.anthropicBaseURL : server.openaiBaseURL;
  return new classes[provider]({ apiKey: "sk-bench", model: MODELS[provider], baseURL, maxRetries: 0, timeoutMs: 30_000 });
}

async function proposal(agent: Agent, ctx: AgentContext): Promise<ProposalResult> {
  server.push(reply.tool("view_file", { path: "train.ts" }), reply.tool("edit_file", LR_EDIT), reply.tool("submit", { description: "raise MATRIX_LR", hypothesis: "bench" }));
  const r = await agent.propose(ctx);
  if (!r.proposal) throw new Error(`the proposal failed: ${r.error}`);
  return r;
}

/** Input cost only: what the proposal's prompts cost at their (cached or plain) rates. */
const inputCost = (provider: Provider, r: ProposalResult, cached: boolean) => {
  const price = MODEL_PRICES[MODELS[provider]]!;
  const input = r.usage.costUsd - costUsd(price, { inputTokens: 0, outputTokens: r.usage.outputTokens });
  return cached ? input : costUsd(price, { inputTokens: r.usage.inputTokens, outputTokens: 0 });
};
const fmtUsd = (usd: number) => `$${usd.toFixed(5)}`;
const fmtTokens = (n: number) => n.toLocaleString("en-US");

const current = await agentClasses(undefined);
const baseline = args["baseline-src"] ? await agentClasses(args["baseline-src"]) : undefined;
console.log(`prompt-scale: memory ${memoryEntries} entries; tokens = characters / 4 as the loopback server counts them`);

for (const provider of ["anthropic", "openai"] as Provider[]) {
  console.log(`\n${provider} (${MODELS[provider]}; input $${MODEL_PRICES[MODELS[provider]]!.inputPerMTok}/MTok, cache read $${MODEL_PRICES[MODELS[provider]]!.cacheReadPerMTok}/MTok)`);

  // Input tokens per proposal at each history length: fresh cache each time (tokens do not depend on it).
  const tokens = new Map<number, number>();
  const todayTokens = new Map<number, number>();
  for (const rows of ROWS) {
    server.clearCache();
    tokens.set(rows, (await proposal(makeAgent(current, provider), researchContext(rows, memoryEntries))).usage.inputTokens);
    if (baseline) {
      // Today's code knows no memory; its context is otherwise the same.
      server.clearCache();
      todayTokens.set(rows, (await proposal(makeAgent(baseline, provider), researchContext(rows, 0))).usage.inputTokens);
    }
  }
  console.log("  rows      input tokens / proposal" + (baseline ? "   today's code" : ""));
  for (const rows of ROWS)
    console.log(`  ${String(rows).padStart(6)}    ${fmtTokens(tokens.get(rows)!).padStart(10)}` + (baseline ? `              ${fmtTokens(todayTokens.get(rows)!).padStart(10)}` : ""));
  console.log(`  ratio 10,000 : 100 rows = ${(tokens.get(10_000)! / tokens.get(100)!).toFixed(3)} (goal ≤ 1.1)` + (baseline ? `; today's code: ${(todayTokens.get(10_000)! / todayTokens.get(100)!).toFixed(3)}` : ""));

  // Priced input cost of a proposal at 100 rows.
  // warm: the proposal before it saw 99 rows and the same train.ts (a discard came between).
  const agent = makeAgent(current, provider);
  server.clearCache();
  const cold = await proposal(agent, researchContext(100, memoryEntries));
  server.clearCache();
  await proposal(agent, researchContext(99, memoryEntries));
  const warm = await proposal(agent, researchContext(100, memoryEntries));
  const kept = researchContext(101, memoryEntries);
  kept.trainTs = kept.trainTs.replace("export const MATRIX_LR = 0.04;", "export const MATRIX_LR = 0.04;\nexport const UNUSED_KNOB = 1;");
  const afterKeep = await proposal(agent, kept);
  const uncached = inputCost(provider, warm, false);
  console.log(`  input cost of a proposal at 100 rows (${fmtTokens(warm.usage.inputTokens)} input tokens; after a keep: 101 rows):`);
  console.log(`    without caching                 ${fmtUsd(uncached)}`);
  for (const [label, r] of [["warm (after a discard)", warm], ["after a keep (train.ts changed)", afterKeep], ["cold (nothing cached)", cold]] as const)
    console.log(
      `    ${label.padEnd(32)}${fmtUsd(inputCost(provider, r, true))}  = ${(inputCost(provider, r, true) / uncached).toFixed(3)}× (read ${fmtTokens(r.usage.cacheReadTokens ?? 0)}, written ${fmtTokens(r.usage.cacheWriteTokens ?? 0)})`,
    );
  if (baseline) {
    server.clearCache();
    const today = await proposal(makeAgent(baseline, provider), researchContext(100, 0));
    const todayCost = costUsd(MODEL_PRICES[MODELS[provider]]!, { inputTokens: today.usage.inputTokens, outputTokens: 0 });
    console.log(`    today's code (no cache, no memory) ${fmtUsd(todayCost)} (${fmtTokens(today.usage.inputTokens)} input tokens); warm = ${(inputCost(provider, warm, true) / todayCost).toFixed(3)}× of it`);
  }
}
await server.close();
