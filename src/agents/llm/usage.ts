/**
 * Token counts from the two APIs' usage objects, as one provider-neutral shape in which
 * `inputTokens` is always the whole prompt and the cache counts are parts of it.
 *
 *   Anthropic  input_tokens EXCLUDES the cached parts: whole = input_tokens
 *              + cache_creation_input_tokens + cache_read_input_tokens; cache_creation splits
 *              the writes into 5-minute and 1-hour entries (priced 1.25× and 2×)
 *   OpenAI     prompt_tokens INCLUDES prompt_tokens_details.cached_tokens (reads); writes are
 *              not reported and cost nothing extra
 *
 * Missing or malformed fields count as 0: a compatible server that reports no cache fields
 * reads as uncached. Nothing here knows prices (pricing.ts) or wire formats beyond usage.
 */

export interface CallTokens {
  /** The whole prompt, cached parts included. */
  inputTokens: number;
  outputTokens: number;
  /** Part of inputTokens read from the prompt cache. */
  cacheReadTokens: number;
  /** Part of inputTokens written to the prompt cache. */
  cacheWriteTokens: number;
  /** Part of cacheWriteTokens written to 1-hour entries (Anthropic). */
  cacheWrite1hTokens: number;
}

export const NO_TOKENS: Readonly<CallTokens> = Object.freeze({
  inputTokens: 0,
  outputTokens: 0,
  cacheReadTokens: 0,
  cacheWriteTokens: 0,
  cacheWrite1hTokens: 0,
});

const count = (v: unknown): number => (typeof v === "number" && Number.isFinite(v) && v > 0 ? Math.floor(v) : 0);
const field = (o: unknown, key: string): unknown => (typeof o === "object" && o !== null ? (o as Record<string, unknown>)[key] : undefined);

/**
 * An Anthropic usage object (a message's, or message_start's / message_delta's in a stream).
 * `writesAre1h`: how to split writes when the server sends no cache_creation breakdown; the
 * caller says whether its request marked 1-hour entries (then all writes are priced as 1-hour,
 * the higher rate, so that a cost cap is never undercounted).
 */
export function anthropicTokens(usage: unknown, writesAre1h: boolean): CallTokens {
  const uncached = count(field(usage, "input_tokens"));
  const read = count(field(usage, "cache_read_input_tokens"));
  const write = count(field(usage, "cache_creation_input_tokens"));
  const breakdown = field(usage, "cache_creation");
  const oneHour = breakdown === undefined || breakdown === null ? (writesAre1h ? write : 0) : Math.min(write, count(field(breakdown, "ephemeral_1h_input_tokens")));
  return {
    inputTokens: uncached + read + write,
    outputTokens: count(field(usage, "output_tokens")),
    cacheReadTokens: read,
    cacheWriteTokens: write,
    cacheWrite1hTokens: oneHour,
  };
}

/** An OpenAI Chat Completions usage object (a completion's, or a stream's usage chunk). */
export function openaiTokens(usage: unknown): CallTokens {
  const input = count(field(usage, "prompt_tokens"));
  return {
    inputTokens: input,
    outputTokens: count(field(usage, "completion_tokens")),
    cacheReadTokens: Math.min(input, count(field(field(usage, "prompt_tokens_details"), "cached_tokens"))),
    cacheWriteTokens: 0,
    cacheWrite1hTokens: 0,
  };
}

/** `into` += `add`, field by field. */
export function addTokens(into: CallTokens, add: CallTokens): void {
  into.inputTokens += add.inputTokens;
  into.outputTokens += add.outputTokens;
  into.cacheReadTokens += add.cacheReadTokens;
  into.cacheWriteTokens += add.cacheWriteTokens;
  into.cacheWrite1hTokens += add.cacheWrite1hTokens;
}
