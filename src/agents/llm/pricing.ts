/**
 * What an agent's calls cost: USD per million input and output tokens for current Claude and
 * GPT models. Only used to report usage and enforce cost caps; it never changes what is sent.
 *
 * Prices are list prices for standard-tier, short-context requests, as published by the
 * vendors and collected in simonw/llm-prices (data/anthropic.json, data/openai.json) in
 * November 2026. Long-context surcharges (Sonnet above 200k input tokens, GPT-5.4/5.5 above
 * 272k), prompt-cache discounts and batch discounts are not modelled: a research prompt is far
 * below those thresholds and the agents do not request caching. Prices change: pass `pricing`
 * to an agent to override, and an unknown model costs 0 with a note saying so.
 */

export interface ModelPrice {
  /** USD per million input (prompt) tokens. */
  inputPerMTok: number;
  /** USD per million output (completion) tokens. */
  outputPerMTok: number;
}

const price = (inputPerMTok: number, outputPerMTok: number): ModelPrice => ({ inputPerMTok, outputPerMTok });

export const MODEL_PRICES: Readonly<Record<string, ModelPrice>> = Object.freeze({
  // Anthropic
  "claude-opus-5-5": price(4, 20),
  "claude-opus-5": price(5, 25),
  "claude-opus-4-8": price(5, 25),
  "claude-opus-4-7": price(5, 25),
  "claude-opus-4-6": price(5, 25),
  "claude-opus-4-5": price(5, 25),
  "claude-opus-4-1": price(15, 75),
  "claude-opus-4": price(15, 75),
  "claude-sonnet-5-5": price(2, 10),
  "claude-sonnet-5": price(2, 10),
  "claude-sonnet-4-6": price(3, 15),
  "claude-sonnet-4-5": price(3, 15),
  "claude-sonnet-4": price(3, 15),
  "claude-haiku-4-5": price(1, 5),
  "claude-3-5-haiku": price(0.8, 4),
  "claude-fable-5-1": price(10, 50),
  "claude-fable-5": price(10, 50),
  "claude-mythos-5": price(10, 50),
  // OpenAI
  "gpt-5.5": price(5, 30),
  "gpt-5.4": price(2.5, 15),
  "gpt-5.4-mini": price(0.75, 4.5),
  "gpt-5.4-nano": price(0.2, 1.25),
  "gpt-5.2": price(1.75, 14),
  "gpt-5.1": price(1.25, 10),
  "gpt-5": price(1.25, 10),
  "gpt-5-mini": price(0.25, 2),
  "gpt-5-nano": price(0.05, 0.4),
  "gpt-4.1": price(2, 8),
  "gpt-4.1-mini": price(0.4, 1.6),
  "gpt-4.1-nano": price(0.1, 0.4),
  "gpt-4o": price(2.5, 10),
  "gpt-4o-mini": price(0.15, 0.6),
  // o3 was cut from $10/$40 to $2/$8 in June 2025; llm-prices still lists the old price.
  o3: price(2, 8),
  "o4-mini": price(1.1, 4.4),
});

export interface PriceLookup {
  price: ModelPrice | null;
  /** Set when the model has no known price (its cost is recorded as 0). */
  note?: string;
}

/**
 * The price of `model`: the override if given, else the table entry for the exact name, else
 * for the name without a snapshot date ("claude-sonnet-4-5-20250929", "gpt-4o-2024-08-06").
 */
export function lookupPrice(model: string, override?: ModelPrice): PriceLookup {
  if (override) return { price: override };
  const exact = MODEL_PRICES[model];
  if (exact) return { price: exact };
  const undated = model.replace(/-(\d{8}|\d{4}-\d{2}-\d{2})$/, "");
  const dated = MODEL_PRICES[undated];
  if (dated) return { price: dated };
  return {
    price: null,
    note: `no price known for model '${model}': its cost is recorded as $0 (pass pricing: { inputPerMTok, outputPerMTok } to set one)`,
  };
}

/** USD for one call's tokens at `price` (0 when the price is unknown). */
export function costUsd(price: ModelPrice | null, inputTokens: number, outputTokens: number): number {
  if (!price) return 0;
  return (inputTokens * price.inputPerMTok + outputTokens * price.outputPerMTok) / 1e6;
}
