/**
 * Retrying API calls: which failures are worth another try (429, 408/409, 5xx, timeouts,
 * dropped connections, a broken stream), how long to wait (the server's retry-after when it
 * sends one, else exponential backoff), and a deadline that covers a whole call, streamed body
 * included. The SDKs' own retries are switched off (maxRetries: 0) so that this is the only
 * retry policy, the waits go through an injectable sleep, and every failure is counted.
 */
import { AgentError, type AgentErrorCode } from "./errors.ts";

export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

/** setTimeout as a promise; rejects with the signal's reason when it aborts. */
export const realSleep: Sleep = (ms, signal) =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });

export const BACKOFF_BASE_MS = 1_000;
export const BACKOFF_MAX_MS = 60_000;
/** A retry-after longer than this is cut to it: a night should not stall on one server's hint. */
export const RETRY_AFTER_MAX_MS = 120_000;

/** Wait before retry number `retry` (1-based): 1 s, 2 s, 4 s … up to a minute, plus up to 20% jitter. */
export function backoffMs(retry: number, random: () => number = Math.random): number {
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (retry - 1));
  return Math.round(base * (1 + 0.2 * random()));
}

/** The error classes both Stainless-generated SDKs export under the same names. */
export interface SdkErrorClasses {
  APIError: abstract new (...args: never[]) => Error;
  APIConnectionError: abstract new (...args: never[]) => Error;
  APIConnectionTimeoutError: abstract new (...args: never[]) => Error;
  APIUserAbortError: abstract new (...args: never[]) => Error;
}

/** What to do about a failed call. `message` is raw server/SDK text: redact before surfacing. */
export type ApiFailure =
  | { kind: "retry"; message: string; retryAfterMs?: number }
  | { kind: "fatal"; message: string } // skip this proposal, retrying would not help (400, 413, 422)
  | { kind: "config"; code: AgentErrorCode; message: string } // throw: every later call would fail too
  | { kind: "aborted" };

/** The server's answer broke its wire format (a stream that ends early, a response without choices). */
export class MalformedResponseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MalformedResponseError";
  }
}

/** The whole call, streamed body included, did not finish within the agent's timeoutMs. */
export class DeadlineError extends Error {
  constructor(ms: number) {
    super(`timed out: no complete answer within ${ms} ms`);
    this.name = "DeadlineError";
  }
}

export function classifyApiFailure(err: unknown, sdk: SdkErrorClasses, signal?: AbortSignal): ApiFailure {
  if (signal?.aborted) return { kind: "aborted" };
  if (err instanceof DeadlineError) return { kind: "retry", message: err.message };
  if (err instanceof sdk.APIUserAbortError) return { kind: "aborted" };
  if (err instanceof sdk.APIConnectionTimeoutError) return { kind: "retry", message: "timed out waiting for the server" };
  if (err instanceof sdk.APIConnectionError) {
    const cause = (err as Error & { cause?: unknown }).cause;
    const why = cause instanceof Error ? `: ${cause.message}` : "";
    return { kind: "retry", message: `connection failed${why}` };
  }
  if (err instanceof sdk.APIError) {
    const { status, headers } = err as Error & { status?: number; headers?: Headers };
    const detail = describeErrorBody(err);
    // No status: an `error` event inside a stream (Anthropic sends overloaded_error this way).
    if (status === undefined) return { kind: "retry", message: `stream error: ${detail}` };
    const message = `HTTP ${status} ${detail}`;
    if (status === 401 || status === 403) return { kind: "config", code: "AGENT_AUTH_FAILED", message };
    if (status === 404) return { kind: "config", code: "AGENT_NOT_FOUND", message };
    if (status === 408 || status === 409 || status === 429 || status >= 500) {
      const retryAfterMs = parseRetryAfter(headers);
      return retryAfterMs === undefined ? { kind: "retry", message } : { kind: "retry", message, retryAfterMs };
    }
    return { kind: "fatal", message };
  }
  // A stream whose data is not JSON: the server broke the wire format mid-answer.
  if (err instanceof SyntaxError || err instanceof MalformedResponseError)
    return { kind: "retry", message: `malformed response: ${err.message}` };
  return { kind: "fatal", message: err instanceof Error ? err.message : String(err) };
}

/**
 * "type: message" from an API error's body — Anthropic nests it ({type:"error", error:{type,
 * message}}), OpenAI does not ({message, type}) — else the SDK's own message.
 */
function describeErrorBody(err: Error): string {
  const body = (err as Error & { error?: unknown }).error as { error?: unknown; message?: unknown; type?: unknown } | undefined;
  const inner = (typeof body?.error === "object" && body.error !== null ? body.error : body) as
    | { message?: unknown; type?: unknown }
    | undefined;
  if (typeof inner?.message !== "string") return err.message;
  return typeof inner.type === "string" && inner.type !== "" ? `${inner.type}: ${inner.message}` : inner.message;
}

/** retry-after-ms, else retry-after in seconds or as an HTTP date; undefined when absent or unusable. */
export function parseRetryAfter(headers: Headers | undefined): number | undefined {
  if (!headers || typeof headers.get !== "function") return undefined;
  const ms = Number.parseFloat(headers.get("retry-after-ms") ?? "");
  let wait: number | undefined = Number.isFinite(ms) ? ms : undefined;
  const after = headers.get("retry-after");
  if (wait === undefined && after) {
    const seconds = Number(after.trim());
    wait = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(after) - Date.now();
  }
  if (wait === undefined || !Number.isFinite(wait) || wait < 0) return undefined;
  return Math.min(wait, RETRY_AFTER_MAX_MS);
}

/**
 * Runs `fn` under a deadline of `ms` that covers everything it awaits (the SDK's own timeout
 * stops at the response headers, so a stream that stalls mid-body would otherwise hang), and
 * aborts it when `outer` aborts. The Anthropic SDK's stream ends quietly when its request is
 * aborted, so a fired deadline is checked after `fn` returns, not only when it throws.
 */
export async function withDeadline<T>(
  ms: number,
  outer: AbortSignal | undefined,
  fn: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new DeadlineError(ms));
  }, ms);
  const onOuterAbort = () => controller.abort(outer!.reason);
  if (outer?.aborted) controller.abort(outer.reason);
  else outer?.addEventListener("abort", onOuterAbort, { once: true });
  try {
    const value = await fn(controller.signal);
    if (timedOut) throw new DeadlineError(ms);
    return value;
  } catch (err) {
    if (timedOut && !outer?.aborted) throw new DeadlineError(ms);
    throw err;
  } finally {
    clearTimeout(timer);
    outer?.removeEventListener("abort", onOuterAbort);
  }
}

export function abortedError(provider: string): AgentError {
  return new AgentError("AGENT_ABORTED", `${provider} agent: aborted by the caller`);
}
