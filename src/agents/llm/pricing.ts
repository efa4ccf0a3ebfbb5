/**
 * What an agent's calls cost: USD per million input, output and prompt-cache tokens for current
 * Claude and GPT models. Only used to report usage and enforce cost caps; it never changes what
 * is sent.
 *
 * Prices are list prices for standard-tier, short-context requests, as published by the
 * vendors and collected in simonw/llm-prices (data/anthropic.json, data/openai.json) in
 * November 2026. Long-context surcharges (Sonnet above 200k input tokens, GPT-5.4/5.5 above
 * 272k) and batch discounts are not modelled: a research prompt is far below those thresholds.
 *
 * Prompt caching splits a call's input into tokens read from the cache, tokens written to it
 * and the rest, priced as multiples of the input price:
 *   Anthropic  read 0.1×, write 1.25× (5-minute entries) or 2× (1-hour entries), for every model
 *   OpenAI     read per model (llm-prices' input_cached): 0.1× for the GPT-5 family, 0.25× for
 *              GPT-4.1, o3 and o4-mini, 0.5× for GPT-4o; no write surcharge (writes cost 1×)
 * Prices change: pass `pricing` to an agent to override (its cache prices default to the
 * provider's multipliers above), and an unknown model costs 0 with a note saying so.
 */

export interface ModelPrice {
  /** USD per million input (prompt) tokens not read from or written to the cache. */
  inputPerMTok: number;
  /** USD per million output (completion) tokens. */
  outputPerMTok: number;
  /** USD per million input tokens read from the prompt cache. Default: the provider's multiplier × inputPerMTok. */
  cacheReadPerMTok?: number;
  /** USD per million input tokens written to a 5-minute cache entry. Default: the provider's multiplier × inputPerMTok. */
  cacheWritePerMTok?: number;
  /** USD per million input tokens written to a 1-hour cache entry (Anthropic). Default: the provider's multiplier × inputPerMTok. */
  cacheWrite1hPerMTok?: number;
}

/** A price with every cache rate filled in. */
export type FullPrice = Required<ModelPrice>;

/** The provider's cache multipliers of the input price, used where a price does not name its own. */
export const CACHE_MULTIPLIERS: Readonly<Record<"anthropic" | "openai", { read: number; write: number; write1h: number }>> = Object.freeze({
  anthropic: { read: 0.1, write: 1.25, write1h: 2 },
  // OpenAI's most common cached-input discount among current models (GPT-4o's is 0.5×, the
  // GPT-5 family's 0.1×): an unlisted model priced with --price is assumed to be a GPT-4o-like one,
  // which prices cached tokens high rather than low. OpenAI charges nothing extra for writes.
  openai: { read: 0.5, write: 1, write1h: 1 },
});

const anthropic = (inputPerMTok: number, outputPerMTok: number): FullPrice => withCacheRates("anthropic", { inputPerMTok, outputPerMTok });
const openai = (inputPerMTok: number, outputPerMTok: number, readMultiplier: number): FullPrice =>
  withCacheRates("openai", { inputPerMTok, outputPerMTok, cacheReadPerMTok: inputPerMTok * readMultiplier });

export const MODEL_PRICES: Readonly<Record<string, FullPrice>> = Object.freeze({
  // Anthropic
  "claude-opus-5-5": anthropic(4, 20),
  "claude-opus-5": anthropic(5, 25),
  "claude-opus-4-8": anthropic(5, 25),
  "claude-opus-4-7": anthropic(5, 25),
  "claude-opus-4-6": anthropic(5, 25),
  "claude-opus-4-5": anthropic(5, 25),
  "claude-opus-4-1": anthropic(15, 75),
  "claude-opus-4": anthropic(15, 75),
  "claude-sonnet-5-5": anthropic(2, 10),
  "claude-sonnet-5": anthropic(2, 10),
  "claude-sonnet-4-6": anthropic(3, 15),
  "claude-sonnet-4-5": anthropic(3, 15),
  "claude-sonnet-4": anthropic(3, 15),
  "claude-haiku-4-5": anthropic(1, 5),
  "claude-3-5-haiku": anthropic(0.8, 4),
  "claude-fable-5-1": anthropic(10, 50),
  "claude-fable-5": anthropic(10, 50),
  "claude-mythos-5": anthropic(10, 50),
  // OpenAI
  "gpt-5.5": openai(5, 30, 0.1),
  "gpt-5.4": openai(2.5, 15, 0.1),
  "gpt-5.4-mini": openai(0.75, 4.5, 0.1),
  "gpt-5.4-nano": openai(0.2, 1.25, 0.1),
  "gpt-5.2": openai(1.75, 14, 0.1),
  "gpt-5.1": openai(1.25, 10, 0.1),
  "gpt-5": openai(1.25, 10, 0.1),
  "gpt-5-mini": openai(0.25, 2, 0.1),
  "gpt-5-nano": openai(0.05, 0.4, 0.1),
  "gpt-4.1": openai(2, 8, 0.25),
  "gpt-4.1-mini": openai(0.4, 1.6, 0.25),
  "gpt-4.1-nano": openai(0.1, 0.4, 0.25),
  "gpt-4o": openai(2.5, 10, 0.5),
  "gpt-4o-mini": openai(0.15, 0.6, 0.5),
  // o3 was cut from $10/$40 to $2/$8 in June 2025; llm-prices still lists the old price
  // (its cached price, $0.50, is the new one's).
  o3: openai(2, 8, 0.25),
  "o4-mini": openai(1.1, 4.4, 0.25),
});

/** `price` with the cache rates it lacks filled in from the provider's multipliers. */
export function withCacheRates(provider: "anthropic" | "openai", price: ModelPrice): FullPrice {
  const m = CACHE_MULTIPLIERS[provider];
  return {
    inputPerMTok: price.inputPerMTok,
    outputPerMTok: price.outputPerMTok,
    cacheReadPerMTok: price.cacheReadPerMTok ?? price.inputPerMTok * m.read,
    cacheWritePerMTok: price.cacheWritePerMTok ?? price.inputPerMTok * m.write,
    cacheWrite1hPerMTok: price.cacheWrite1hPerMTok ?? price.inputPerMTok * m.write1h,
  };
}

export interface PriceLookup {
  price: FullPrice | null;
  /** Set when the model has no known price (its cost is recorded as 0). */
  note?: string;
}

/**
 * The price of `model`: the override if given (cache rates it lacks from `provider`'s
 * multipliers), else the table entry for the exact name, else for the name without a snapshot
 * date ("claude-sonnet-4-5-20250929", "gpt-4o-2024-08-06").
 */
export function lookupPrice(model: string, override: ModelPrice | undefined, provider: "anthropic" | "openai"): PriceLookup {
  if (override) return { price: withCacheRates(provider, override) };
  const exact = MODEL_PRICES[model];
  if (exact) return { price: exact };
  const undated = model.replace(/-(\d{8}|\d{4}-\d{2}-\d{2})$/, "");
  const dated = MODEL_PRICES[undated];
  if (dated) return { price: dated };
  return {
    price: null,
    note: `no price known for model '${model}': its cost is recorded as $0 (set one with --price IN,OUT in USD per million tokens, e.g. --price 3,15; in code, pricing: { inputPerMTok, outputPerMTok })`,
  };
}

/**
 * The tokens of one or more calls. `inputTokens` is the whole prompt: the cached parts
 * (`cacheReadTokens`, `cacheWriteTokens`) are parts of it, and `cacheWrite1hTokens` is the part
 * of `cacheWriteTokens` written to 1-hour entries.
 */
export interface TokenCounts {
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens?: number;
  cacheWriteTokens?: number;
  cacheWrite1hTokens?: number;
}

/** USD for `tokens` at `price` (0 when the price is unknown). */
export function costUsd(price: FullPrice | null, tokens: TokenCounts): number {
  if (!price) return 0;
  const read = tokens.cacheReadTokens ?? 0;
  const write = tokens.cacheWriteTokens ?? 0;
  const write1h = Math.min(tokens.cacheWrite1hTokens ?? 0, write);
  const plain = Math.max(0, tokens.inputTokens - read - write);
  return (
    (plain * price.inputPerMTok +
      read * price.cacheReadPerMTok +
      (write - write1h) * price.cacheWritePerMTok +
      write1h * price.cacheWrite1hPerMTok +
      tokens.outputTokens * price.outputPerMTok) /
    1e6
  );
}
