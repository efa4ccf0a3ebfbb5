/**
 * The LLM agents' flags that `run` and `tournament` share: a price for a model the pricing
 * table lacks (any local model) and the prompt-cache switch.
 */
import type { ModelPrice } from "../agents/llm/pricing.ts";
import { UsageError } from "./common.ts";

export const PRICE_OPTION = {
  type: "string",
  describe:
    "USD per million tokens: IN,OUT[,CACHE_READ[,CACHE_WRITE[,CACHE_WRITE_1H]]] for a model the pricing table lacks (e.g. 3,15); " +
    "cache rates left out: Anthropic 0.1×/1.25×/2× IN, OpenAI 0.5×/1×/1× IN",
} as const;

export const PROMPT_CACHE_OPTION = {
  type: "boolean",
  default: true,
  describe:
    "mark the prompt's stable prefix for Anthropic's prompt cache (--no-prompt-cache: no cache_control, for servers that refuse it; OpenAI caches on its own either way)",
} as const;

/** --price IN,OUT[,CACHE_READ[,CACHE_WRITE[,CACHE_WRITE_1H]]] as a price, or UsageError. */
export function parsePriceFlag(flag: string): ModelPrice {
  const parts = flag.split(",").map((p) => (p.trim() === "" ? Number.NaN : Number(p)));
  if (parts.length < 2 || parts.length > 5 || parts.some((v) => !Number.isFinite(v) || v < 0))
    throw new UsageError(
      `--price must be two to five non-negative numbers, USD per million input,output[,cache read[,cache write[,1-hour cache write]]] tokens (e.g. 3,15 or 3,15,0.3,3.75,6), got ${flag}`,
    );
  const [inputPerMTok, outputPerMTok, cacheReadPerMTok, cacheWritePerMTok, cacheWrite1hPerMTok] = parts as [number, number, number?, number?, number?];
  return {
    inputPerMTok,
    outputPerMTok,
    ...(cacheReadPerMTok !== undefined ? { cacheReadPerMTok } : {}),
    ...(cacheWritePerMTok !== undefined ? { cacheWritePerMTok } : {}),
    ...(cacheWrite1hPerMTok !== undefined ? { cacheWrite1hPerMTok } : {}),
  };
}
