/** Builds the research agent `nightshift run --agent` names. */
import { AnthropicAgent } from "../agents/anthropic.ts";
import { BuiltinAgent, checkBuiltinSetup } from "../agents/builtin/index.ts";
import { OpenAIAgent } from "../agents/openai.ts";
import type { Agent } from "../agents/types.ts";

export const AGENT_KINDS = ["builtin", "anthropic", "openai"] as const;
export type AgentKind = (typeof AGENT_KINDS)[number];

export interface AgentChoice {
  kind: AgentKind;
  model?: string;
  baseURL?: string;
}

/** Throws the agent's own configuration errors (missing key, bad strategy block) at once. */
export function createAgent(choice: AgentChoice, programMd: string, trainTs: string): Agent {
  switch (choice.kind) {
    case "builtin":
      checkBuiltinSetup(programMd, trainTs);
      return new BuiltinAgent();
    case "anthropic":
      return new AnthropicAgent({ ...(choice.model ? { model: choice.model } : {}), ...(choice.baseURL ? { baseURL: choice.baseURL } : {}) });
    case "openai":
      return new OpenAIAgent({ ...(choice.model ? { model: choice.model } : {}), ...(choice.baseURL ? { baseURL: choice.baseURL } : {}) });
  }
}
