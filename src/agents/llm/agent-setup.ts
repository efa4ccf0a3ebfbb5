/**
 * What AnthropicAgent and OpenAIAgent share at construction: resolved options, the redactor
 * built from the key, the model's price, and the loop settings handed to proposeWithTools.
 */
import { resolveLlmOptions, type LlmAgentOptions, type LlmProvider, type ResolvedLlmOptions } from "./options.ts";
import { lookupPrice, type PriceLookup } from "./pricing.ts";
import { Redactor, redactingConsole, type SdkLogger } from "./redact.ts";
import type { LoopSettings } from "./research-loop.ts";

export interface LlmAgentSetup {
  options: ResolvedLlmOptions;
  redactor: Redactor;
  price: PriceLookup;
  settings: LoopSettings;
  sdkLogger: SdkLogger;
}

export function setUpLlmAgent(provider: LlmProvider, raw: LlmAgentOptions | undefined): LlmAgentSetup {
  const options = resolveLlmOptions(provider, raw);
  const redactor = new Redactor([options.apiKey]);
  const price = lookupPrice(options.model, options.pricing, provider);
  const log = options.log;
  if (price.note) log?.(redactor.text(`${provider}: ${price.note}`));
  return {
    options,
    redactor,
    price,
    sdkLogger: redactingConsole(redactor),
    settings: {
      maxTurns: options.maxTurns,
      maxAttempts: options.maxAttempts,
      maxRetries: options.maxRetries,
      timeoutMs: options.timeoutMs,
      contextTokenBudget: options.contextTokenBudget,
      price: price.price,
      sleep: options.sleep,
      redactor,
      log,
    },
  };
}
