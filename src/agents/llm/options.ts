/**
 * Options of the LLM agents (AnthropicAgent, OpenAIAgent): one documented type, checked and
 * defaulted at construction so that a wrong option fails before the night starts, with a
 * one-line AgentError naming it. The API key is read here and held only in memory.
 */
import { unknownOption } from "../../util/suggest.ts";
import { AgentError } from "./errors.ts";
import type { ModelPrice } from "./pricing.ts";
import { realSleep, type Sleep } from "./retry.ts";

export interface LlmAgentOptions {
  /** Model name sent to the API. Default: "claude-sonnet-5-5" (anthropic), "gpt-5.5" (openai). */
  model?: string;
  /** Default: $ANTHROPIC_API_KEY / $OPENAI_API_KEY. Held in memory only; redacted from every message. */
  apiKey?: string;
  /** API root, for proxies and OpenAI-compatible servers (vLLM, llama.cpp, Ollama: "http://host:port/v1"). */
  baseURL?: string;
  /** Model answers per conversation before it is abandoned without a submit. Default 10. */
  maxTurns?: number;
  /** Conversations per proposal when one ends without a submit. Default 2. */
  maxAttempts?: number;
  /** Output token limit of one answer. Default 4096. */
  maxTokens?: number;
  /** Sampling temperature; unset leaves the provider's default (some reasoning models accept no other). */
  temperature?: number;
  /** Limit on one API call, streamed body included, in ms. Default 120000. */
  timeoutMs?: number;
  /** Extra tries of one call after 429 / 408 / 409 / 5xx / timeout / dropped connection. Default 4. */
  maxRetries?: number;
  /** Token budget of the opening prompt (estimated as characters / 4; see prompt.ts). Default 32000. */
  contextTokenBudget?: number;
  /** USD per million tokens, replacing the built-in table (pricing.ts) for this model; cache rates left out follow the provider's multipliers. */
  pricing?: ModelPrice;
  /**
   * Mark the prompt's stable prefix and the conversation for the provider's prompt cache
   * (Anthropic cache_control breakpoints; see prompt.ts). OpenAI caches repeated prefixes on its
   * own, so there it changes nothing sent. Default true; false sends no breakpoints, for servers
   * that refuse them.
   */
  promptCache?: boolean;
  /** Stream answers (SSE) instead of waiting for whole responses. Default false. */
  stream?: boolean;
  /** How to wait between retries; tests inject one that does not wait. Default: setTimeout. */
  sleep?: Sleep;
  /** Where the API key variable is read from. Default: process.env. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Receives one-line notes (retries, trimming, unknown price), API keys redacted. Default: none. */
  log?: (line: string) => void;
}

export interface ResolvedLlmOptions {
  model: string;
  apiKey: string;
  baseURL: string | undefined;
  maxTurns: number;
  maxAttempts: number;
  maxTokens: number;
  temperature: number | undefined;
  timeoutMs: number;
  maxRetries: number;
  contextTokenBudget: number;
  pricing: ModelPrice | undefined;
  promptCache: boolean;
  stream: boolean;
  sleep: Sleep;
  log: ((line: string) => void) | undefined;
}

export type LlmProvider = "anthropic" | "openai";

export const DEFAULT_MODELS: Readonly<Record<LlmProvider, string>> = { anthropic: "claude-sonnet-5-5", openai: "gpt-5.5" };
export const API_KEY_VARIABLES: Readonly<Record<LlmProvider, string>> = {
  anthropic: "ANTHROPIC_API_KEY",
  openai: "OPENAI_API_KEY",
};

const OPTION_NAMES: readonly (keyof LlmAgentOptions)[] = [
  "model",
  "apiKey",
  "baseURL",
  "maxTurns",
  "maxAttempts",
  "maxTokens",
  "temperature",
  "timeoutMs",
  "maxRetries",
  "contextTokenBudget",
  "pricing",
  "promptCache",
  "stream",
  "sleep",
  "env",
  "log",
];

const PRICE_NAMES: readonly (keyof ModelPrice)[] = ["inputPerMTok", "outputPerMTok", "cacheReadPerMTok", "cacheWritePerMTok", "cacheWrite1hPerMTok"];

export function resolveLlmOptions(provider: LlmProvider, options: LlmAgentOptions = {}): ResolvedLlmOptions {
  const bad = (message: string) => new AgentError("AGENT_INVALID_OPTION", `${provider} agent: ${message}`);
  if (typeof options !== "object" || options === null) throw bad("options must be an object");
  const problem = unknownOption(options, OPTION_NAMES);
  if (problem) throw bad(problem);
  const int = (name: keyof LlmAgentOptions, fallback: number, min: number): number => {
    const v = options[name];
    if (v === undefined) return fallback;
    if (typeof v !== "number" || !Number.isInteger(v) || v < min) throw bad(`${name} must be an integer ≥ ${min}, got ${String(v)}`);
    return v;
  };

  const model = options.model ?? DEFAULT_MODELS[provider];
  if (typeof model !== "string" || model.trim() === "") throw bad("model must be a non-empty string");

  let baseURL: string | undefined;
  if (options.baseURL !== undefined) {
    if (typeof options.baseURL !== "string" || !/^https?:\/\//.test(options.baseURL) || !URL.canParse(options.baseURL))
      throw bad(`baseURL must be an http(s) URL, got ${JSON.stringify(options.baseURL)}`);
    baseURL = options.baseURL;
  }

  const temperature = options.temperature;
  if (temperature !== undefined && (typeof temperature !== "number" || !(temperature >= 0 && temperature <= 2)))
    throw bad(`temperature must be a number in [0, 2], got ${String(temperature)}`);

  const pricing = options.pricing;
  if (pricing !== undefined) {
    const okPrice = (v: unknown) => typeof v === "number" && Number.isFinite(v) && v >= 0;
    if (typeof pricing !== "object" || pricing === null || !okPrice(pricing.inputPerMTok) || !okPrice(pricing.outputPerMTok))
      throw bad("pricing must be { inputPerMTok, outputPerMTok }, both numbers ≥ 0 (USD per million tokens)");
    const problem = unknownOption(pricing, PRICE_NAMES);
    if (problem) throw bad(`pricing: ${problem}`);
    for (const name of ["cacheReadPerMTok", "cacheWritePerMTok", "cacheWrite1hPerMTok"] as const)
      if (pricing[name] !== undefined && !okPrice(pricing[name])) throw bad(`pricing.${name} must be a number ≥ 0 (USD per million tokens), got ${String(pricing[name])}`);
  }
  if (options.stream !== undefined && typeof options.stream !== "boolean") throw bad("stream must be true or false");
  if (options.promptCache !== undefined && typeof options.promptCache !== "boolean") throw bad("promptCache must be true or false");
  if (options.sleep !== undefined && typeof options.sleep !== "function") throw bad("sleep must be a function");
  if (options.log !== undefined && typeof options.log !== "function") throw bad("log must be a function");

  const resolved = {
    model,
    baseURL,
    maxTurns: int("maxTurns", 10, 1),
    maxAttempts: int("maxAttempts", 2, 1),
    maxTokens: int("maxTokens", 4096, 1),
    temperature,
    timeoutMs: int("timeoutMs", 120_000, 1),
    maxRetries: int("maxRetries", 4, 0),
    contextTokenBudget: int("contextTokenBudget", 32_000, 1_000),
    pricing,
    promptCache: options.promptCache ?? true,
    stream: options.stream ?? false,
    sleep: options.sleep ?? realSleep,
    log: options.log,
  };

  // The key last: every other mistake is reported even on a machine without one.
  const variable = API_KEY_VARIABLES[provider];
  if (options.apiKey !== undefined && typeof options.apiKey !== "string") throw bad("apiKey must be a string");
  const apiKey = options.apiKey || (options.env ?? process.env)[variable];
  if (!apiKey)
    throw new AgentError(
      "AGENT_NO_API_KEY",
      `${provider} agent: no API key; set ${variable}${provider === "openai" ? " (any non-empty value for a local server that needs none)" : ""} or pass apiKey`,
    );
  return { ...resolved, apiKey };
}
