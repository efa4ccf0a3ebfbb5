/** Builds the research agent `nightshift run --agent` names. */
import { AnthropicAgent } from "./anthropic.ts";
import { BuiltinAgent, checkBuiltinSetup } from "./builtin/index.ts";
import { OpenAIAgent } from "./openai.ts";
import type { LlmAgentOptions } from "./llm/options.ts";
import type { Agent } from "./types.ts";

export const AGENT_KINDS = ["builtin", "anthropic", "openai"] as const;
export type AgentKind = (typeof AGENT_KINDS)[number];

/** The LLM agents' limits a user may set (see LlmAgentOptions for their meaning and defaults). */
export type LlmLimits = Pick<LlmAgentOptions, "maxTurns" | "maxAttempts" | "maxTokens" | "temperature" | "timeoutMs" | "maxRetries" | "contextTokenBudget" | "pricing" | "promptCache" | "stream" | "log">;

export interface AgentChoice {
  kind: AgentKind;
  model?: string;
  baseURL?: string;
  limits?: LlmLimits;
}

/** Throws the agent's own configuration errors (missing key, bad strategy block) at once. */
export function createAgent(choice: AgentChoice, programMd: string, trainTs: string): Agent {
  switch (choice.kind) {
    case "builtin":
      checkBuiltinSetup(programMd, trainTs);
      return new BuiltinAgent();
    case "anthropic":
      return new AnthropicAgent({ ...llmOptions(choice) });
    case "openai":
      return new OpenAIAgent({ ...llmOptions(choice) });
  }
}

function llmOptions(choice: AgentChoice): LlmAgentOptions {
  return { ...(choice.model ? { model: choice.model } : {}), ...(choice.baseURL ? { baseURL: choice.baseURL } : {}), ...choice.limits };
}
