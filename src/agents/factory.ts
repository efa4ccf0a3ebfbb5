/**
 * Builds the research agent `nightshift run --agent` names. The LLM agents' modules (and their
 * SDKs: some 470 files, most of a second of start-up) load only when one is chosen.
 */
import { BuiltinAgent, checkBuiltinSetup } from "./builtin/index.ts";
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
export async function createAgent(choice: AgentChoice, programMd: string, trainTs: string): Promise<Agent> {
  switch (choice.kind) {
    case "builtin":
      checkBuiltinSetup(programMd, trainTs);
      return new BuiltinAgent();
    case "anthropic": {
      const { AnthropicAgent } = await import("./anthropic.ts");
      return new AnthropicAgent({ ...llmOptions(choice) });
    }
    case "openai": {
      const { OpenAIAgent } = await import("./openai.ts");
      return new OpenAIAgent({ ...llmOptions(choice) });
    }
  }
}

function llmOptions(choice: AgentChoice): LlmAgentOptions {
  return { ...(choice.model ? { model: choice.model } : {}), ...(choice.baseURL ? { baseURL: choice.baseURL } : {}), ...choice.limits };
}
