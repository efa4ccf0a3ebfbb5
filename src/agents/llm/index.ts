/**
 * The LLM research agents and what they share. Start here.
 *
 *   import { AnthropicAgent, OpenAIAgent, AgentError } from "./agents/llm/index.ts";
 *
 *   const agent = new AnthropicAgent({ model: "claude-sonnet-5-5", maxTurns: 8 });
 *   const agent = new OpenAIAgent({ model: "qwen3", baseURL: "http://localhost:8000/v1" });
 *   const r = await agent.propose(context);       // AgentContext, see ../types.ts
 *   // r.proposal: { edits, description, hypothesis } | null (skipped; r.error says why, one line)
 *   // r.usage: { model, calls, inputTokens, outputTokens, cacheReadTokens, cacheWriteTokens, costUsd };
 *   //   inputTokens: the whole prompts, cached parts included; costUsd prices each part at its rate
 *   // r.attempts: conversations
 *   // agent.costNote: set when the model has no known price (costUsd is then 0)
 *
 * Options (LlmAgentOptions, options.ts): model, apiKey (default $ANTHROPIC_API_KEY /
 * $OPENAI_API_KEY), baseURL, maxTurns, maxAttempts, maxTokens, temperature, timeoutMs,
 * maxRetries, contextTokenBudget, pricing, promptCache, stream, sleep, env, log.
 *
 * Throws AgentError (errors.ts) only for what no retry can fix: AGENT_NO_API_KEY,
 * AGENT_INVALID_OPTION (constructor), AGENT_AUTH_FAILED (401/403), AGENT_NOT_FOUND (404),
 * AGENT_ABORTED (context.signal). Everything else — malformed answers, edits that do not
 * apply, no submit, 429, 5xx, timeouts — ends in a skipped result, never a throw.
 * No message, result or log line carries the API key (redact.ts).
 *
 * Files: prompt.ts (what the model reads: the cacheable prefix, the shares of the budget, the
 * research memory's section), tools.ts (view/edit/submit on a scratch train.ts; line-diff.ts
 * for view_file after edits), research-loop.ts (turns, attempts, retries, usage), retry.ts
 * (what is retried, backoff, deadlines), usage.ts (the APIs' token and cache counts),
 * pricing.ts, redact.ts, options.ts; ../anthropic.ts and ../openai.ts hold only the two wire
 * formats (and Anthropic's cache breakpoints).
 */
export { AnthropicAgent, type AnthropicAgentOptions } from "../anthropic.ts";
export { OpenAIAgent, type OpenAIAgentOptions } from "../openai.ts";
export { AgentError, type AgentErrorCode } from "./errors.ts";
export { API_KEY_VARIABLES, DEFAULT_MODELS, type LlmAgentOptions, type LlmProvider } from "./options.ts";
export { CACHE_MULTIPLIERS, MODEL_PRICES, costUsd, lookupPrice, type FullPrice, type ModelPrice, type TokenCounts } from "./pricing.ts";
export { SHARES, buildResearchPrompt, estimateTokens, renderMemory, type PromptTrim, type ResearchPrompt } from "./prompt.ts";
export type { CallTokens } from "./usage.ts";
export { realSleep, type Sleep } from "./retry.ts";
