/**
 * The meta-agent: an LLM that breeds tournament orgs. Start here.
 *
 *   import { createMetaAgent, DEFAULT_META_PROMPT } from "./agents/meta/index.ts";
 *
 *   const meta = createMetaAgent("anthropic", { model: "claude-sonnet-5-5" }); // key: $ANTHROPIC_API_KEY
 *   const a = await meta.ask({ tool: "submit_program", system: prompt, user: breedingMessage(facts, []) });
 *   // a.ok ? a.text (the new program.md), a.note (one line) : a.error (one line, redacted)
 *   // a.usage: { model, calls, inputTokens, outputTokens, costUsd, durationMs } (one ledger row)
 *
 * One forced tool call per ask (`submit_program` for a child's program.md, `submit_prompt` for
 * a hyper-mutation of the meta prompt); HTTP retries, deadlines, prices and redaction are the
 * research agents' (../llm/). It throws AgentError only for what no retry fixes (no key, a bad
 * option, 401/403/404, an abort); a bad answer is `ok: false`. Validating the child, retrying
 * with the reason, the builtin fallback, the ledger and the stored prompts are the
 * tournament's (src/tournament/evolve.ts).
 */
export { createMetaAgent, type MetaAgent, type MetaAgentOptions, type MetaAnswer, type MetaRequest, type MetaTool, type MetaUsage } from "./agent.ts";
export {
  DEFAULT_META_PROMPT,
  HYPER_MUTATION_PROMPT,
  MAX_PROGRAM_MD_CHARS,
  breedingMessage,
  hyperMutationMessage,
  leaderboardText,
  programMdTooLong,
  type BreedingFacts,
  type LeaderboardRow,
} from "./prompt.ts";
