/**
 * A scripted LLM server for tests: plain node:http on 127.0.0.1 (random port) speaking the two
 * wire formats the agents use, so they can be driven through the real SDKs via `baseURL`:
 *
 *   POST /v1/messages           Anthropic Messages: JSON, or SSE when the body says stream:true
 *                               (message_start, content_block_start/delta/stop with text_delta and
 *                               input_json_delta, message_delta with usage and stop_reason,
 *                               message_stop; a ping between blocks)
 *   POST /v1/chat/completions   OpenAI Chat Completions: JSON, or SSE `data:` chunks (tool_calls
 *                               with arguments in pieces, a usage chunk when stream_options asks,
 *                               `data: [DONE]`)
 *
 * Usage is reported as the real APIs report it, prompt caching included. A prompt's tokens are
 * its characters / 4, counted over a canonical serialization of tools, system and messages.
 *   Anthropic  caches only where the request puts cache_control: a breakpoint's prefix (of at
 *              least 1024 tokens) is written, and a later request whose prefix is byte-identical
 *              up to a written breakpoint (looking back up to 20 blocks from each of its own
 *              breakpoints) reads it. input_tokens excludes cache_creation_input_tokens and
 *              cache_read_input_tokens; cache_creation splits the writes into 5-minute and 1-hour
 *              entries. More than 4 breakpoints, or a 1-hour one after a 5-minute one, is a 400,
 *              as in the real API. Entries never expire unless `clearCache()` is called.
 *   OpenAI     caches automatically: prompt_tokens includes prompt_tokens_details.cached_tokens,
 *              the longest prefix shared with an earlier request when it is at least 1024
 *              tokens, counted in 128-token steps.
 * A scripted `usage` replaces the numbers reported (input = the whole prompt, cached parts
 * included), never the cache's state.
 *
 * Each test queues replies (a tool call, text, an HTTP status with headers, a hang) that are
 * served in order to whichever endpoint asks; a fallback answers once the queue is empty (for
 * "500 forever"), else the server answers 500 "script exhausted" and counts it. Every request is
 * recorded (headers, parsed body) for assertions. Test support only: never used by src/.
 */
import { createHash, type Hash } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface TokenUsage {
  /** The whole prompt, cached parts included. */
  input: number;
  output: number;
  cacheRead?: number;
  cacheWrite?: number;
}

/** How the server counted a request's prompt: the whole, and the parts read from and written to its cache. */
export interface PromptCount {
  total: number;
  read: number;
  write: number;
  /** Part of `write` that went to 1-hour entries (Anthropic). */
  write1h: number;
}

export interface ScriptedToolCall {
  name: string;
  /** An object is sent as JSON; a string is sent verbatim (malformed JSON included). */
  args: Record<string, unknown> | string;
  id?: string;
}

export type ScriptedReply =
  | { type: "tools"; calls: ScriptedToolCall[]; text?: string; usage?: TokenUsage }
  | { type: "text"; text: string; usage?: TokenUsage; truncated?: boolean }
  | {
      type: "status";
      status: number;
      headers?: Record<string, string>;
      message?: string;
      /** Put the request's Authorization header into the error message, as a careless proxy might. */
      echoAuthorization?: boolean;
    }
  /** Never answers; with midStream, sends the status line and the first event, then stalls. */
  | { type: "hang"; midStream?: boolean };

export interface RecordedRequest {
  api: "anthropic" | "openai";
  path: string;
  headers: Record<string, string | string[] | undefined>;
  // The parsed JSON body of either wire format; `any` so that tests can reach into it directly.
  body: any;
  stream: boolean;
  /** The server's count of the prompt, cache parts included (not a scripted usage). */
  prompt: PromptCount;
}

/** Builders for the common replies. */
export const reply = {
  tool: (name: string, args: ScriptedToolCall["args"], usage?: TokenUsage): ScriptedReply =>
    usage ? { type: "tools", calls: [{ name, args }], usage } : { type: "tools", calls: [{ name, args }] },
  tools: (...calls: ScriptedToolCall[]): ScriptedReply => ({ type: "tools", calls }),
  text: (text: string): ScriptedReply => ({ type: "text", text }),
  status: (status: number, headers?: Record<string, string>): ScriptedReply =>
    headers ? { type: "status", status, headers } : { type: "status", status },
  hang: (): ScriptedReply => ({ type: "hang" }),
};

export interface LlmServer {
  /** http://127.0.0.1:PORT — the Anthropic SDK's baseURL. */
  readonly anthropicBaseURL: string;
  /** http://127.0.0.1:PORT/v1 — the OpenAI SDK's baseURL. */
  readonly openaiBaseURL: string;
  readonly requests: RecordedRequest[];
  /** Requests answered with "script exhausted" (a test that expected fewer calls). */
  readonly exhausted: number;
  /** Replies still queued. */
  readonly pending: number;
  push(...replies: ScriptedReply[]): void;
  /** Forgets every cached prefix, as if the entries had expired. */
  clearCache(): void;
  /** What to answer once the queue is empty; undefined: 500 "script exhausted". */
  setFallback(reply: ScriptedReply | undefined): void;
  close(): Promise<void>;
}

export interface LlmServerOptions {
  /**
   * OpenAI tool_choice values answered with a 400 naming tool_choice, before the queue is
   * touched, as servers that support only some values do.
   */
  refusedToolChoices?: string[];
}

export async function startLlmServer(options: LlmServerOptions = {}): Promise<LlmServer> {
  const queue: ScriptedReply[] = [];
  const requests: RecordedRequest[] = [];
  let fallback: ScriptedReply | undefined;
  let exhausted = 0;
  let ids = 0;
  const hung = new Set<ServerResponse>();
  const anthropicCache = new Set<string>();
  const openaiSeen: string[] = [];

  const server = createServer((req, res) => {
    void handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
      res.end(`llm-server bug: ${String(err)}`);
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    const path = (req.url ?? "").split("?")[0]!;
    const api = path === "/v1/messages" ? "anthropic" : path === "/v1/chat/completions" ? "openai" : undefined;
    if (req.method !== "POST" || !api) return sendJson(res, 404, { error: { message: `no route ${req.method} ${path}` } });
    let body: any;
    try {
      body = JSON.parse(raw);
    } catch {
      return sendJson(res, 400, { error: { message: "request body is not JSON" } });
    }
    const stream = body?.stream === true;
    let prompt: PromptCount;
    if (api === "anthropic") {
      const counted = countAnthropicPrompt(body, anthropicCache);
      if ("error" in counted) return sendError(api, res, { type: "status", status: 400, message: counted.error }, undefined);
      prompt = counted;
    } else prompt = countOpenaiPrompt(body, openaiSeen);
    requests.push({ api, path, headers: { ...req.headers }, body, stream, prompt });
    if (api === "openai" && options.refusedToolChoices?.includes(body?.tool_choice))
      return sendError(api, res, { type: "status", status: 400, message: `tool_choice "${body.tool_choice}" is not supported by this server` }, undefined);

    let next = queue.shift() ?? fallback;
    if (!next) {
      exhausted++;
      next = { type: "status", status: 500, message: "llm-server: script exhausted" };
    }
    const id = ++ids;
    switch (next.type) {
      case "status":
        return sendError(api, res, next, req.headers.authorization);
      case "hang":
        hung.add(res);
        res.on("close", () => hung.delete(res));
        if (next.midStream) {
          res.writeHead(200, sseHeaders);
          if (api === "anthropic") sse(res, "message_start", messageStart(id, body.model, anthropicUsage(prompt, 1)));
          else data(res, chunk(id, body.model, { role: "assistant", content: "" }, null));
        }
        return;
      case "text":
      case "tools": {
        const answer = toAnswer(next, prompt);
        if (api === "anthropic") return stream ? anthropicStream(res, id, body.model, answer) : anthropicJson(res, id, body.model, answer);
        const usageChunk = body?.stream_options?.include_usage === true;
        return stream ? openaiStream(res, id, body.model, answer, usageChunk) : openaiJson(res, id, body.model, answer);
      }
    }
  }

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const root = `http://127.0.0.1:${port}`;
  return {
    anthropicBaseURL: root,
    openaiBaseURL: `${root}/v1`,
    requests,
    get exhausted() {
      return exhausted;
    },
    get pending() {
      return queue.length;
    },
    push: (...replies) => void queue.push(...replies),
    clearCache: () => {
      anthropicCache.clear();
      openaiSeen.length = 0;
    },
    setFallback: (r) => {
      fallback = r;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of hung) res.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// ---------------------------------------------------------------------------------------------
// Answers, provider-neutral
// ---------------------------------------------------------------------------------------------

interface Answer {
  text: string;
  calls: { id: string; name: string; json: string; object: Record<string, unknown> | string }[];
  prompt: PromptCount;
  output: number;
  stop: "tool_use" | "end_turn" | "max_tokens";
}

let callIds = 0;

function toAnswer(r: Extract<ScriptedReply, { type: "text" | "tools" }>, counted: PromptCount): Answer {
  const text = r.type === "text" ? r.text : (r.text ?? "");
  const calls =
    r.type === "tools"
      ? r.calls.map((c) => ({
          id: c.id ?? `call_${++callIds}`,
          name: c.name,
          json: typeof c.args === "string" ? c.args : JSON.stringify(c.args),
          object: c.args,
        }))
      : [];
  const outChars = text.length + calls.reduce((n, c) => n + c.json.length, 0);
  const prompt = r.usage
    ? { total: r.usage.input, read: r.usage.cacheRead ?? 0, write: r.usage.cacheWrite ?? 0, write1h: 0 }
    : counted;
  const output = r.usage?.output ?? Math.max(1, Math.ceil(outChars / 4));
  const stop = r.type === "text" && r.truncated ? "max_tokens" : calls.length > 0 ? "tool_use" : "end_turn";
  return { text, calls, prompt, output, stop };
}

// ---------------------------------------------------------------------------------------------
// Prompt caches
// ---------------------------------------------------------------------------------------------

const tokensOf = (chars: number) => Math.ceil(chars / 4);
const MIN_CACHED_TOKENS = 1024;
const LOOKBACK_BLOCKS = 20;
const MAX_BREAKPOINTS = 4;

/** A block as the cache sees it: its serialization without the breakpoint marker. */
function blockText(block: unknown): string {
  if (typeof block !== "object" || block === null) return JSON.stringify(block);
  const { cache_control: _, ...rest } = block as Record<string, unknown>;
  return JSON.stringify(rest);
}

/**
 * Anthropic's cache, modelled: the prompt is a list of blocks in prefix order (tools, system,
 * each message's content); a block with cache_control is a breakpoint.
 */
function countAnthropicPrompt(body: any, cache: Set<string>): PromptCount | { error: string } {
  const blocks: { text: string; ttl: "5m" | "1h" | null }[] = [];
  const add = (block: unknown, marker = "") => {
    const cc = typeof block === "object" && block !== null ? (block as { cache_control?: { ttl?: string } }).cache_control : undefined;
    blocks.push({ text: marker + blockText(block), ttl: cc ? (cc.ttl === "1h" ? "1h" : "5m") : null });
  };
  for (const tool of body?.tools ?? []) add(tool);
  if (typeof body?.system === "string") add({ type: "text", text: body.system }, "system:");
  else for (const b of body?.system ?? []) add(b, "system:");
  for (const m of body?.messages ?? []) {
    const content = typeof m.content === "string" ? [{ type: "text", text: m.content }] : m.content;
    content.forEach((b: unknown, i: number) => add(b, i === 0 ? `${m.role}:` : ""));
  }
  const breakpoints = blocks.flatMap((b, i) => (b.ttl ? [i] : []));
  if (breakpoints.length > MAX_BREAKPOINTS)
    return { error: `A maximum of ${MAX_BREAKPOINTS} blocks with cache_control may be provided. Found ${breakpoints.length}.` };
  for (let k = 1; k < breakpoints.length; k++)
    if (blocks[breakpoints[k - 1]!]!.ttl === "5m" && blocks[breakpoints[k]!]!.ttl === "1h")
      return { error: "a ttl='1h' cache_control block must not come after a ttl='5m' cache_control block" };

  // Each prefix's key and length, block by block.
  const keys: string[] = [];
  const ends: number[] = [];
  const hash: Hash = createHash("sha256");
  let chars = 0;
  for (const b of blocks) {
    hash.update(b.text);
    chars += b.text.length;
    keys.push(hash.copy().digest("hex"));
    ends.push(chars);
  }
  const total = tokensOf(chars);
  let readEnd = -1;
  for (const bp of breakpoints)
    for (let i = bp; i >= Math.max(0, bp - LOOKBACK_BLOCKS); i--)
      if (cache.has(keys[i]!)) {
        readEnd = Math.max(readEnd, i);
        break;
      }
  const read = readEnd < 0 ? 0 : tokensOf(ends[readEnd]!);
  let write = 0;
  let write1h = 0;
  let writtenTo = read;
  for (const bp of breakpoints) {
    const upTo = tokensOf(ends[bp]!);
    if (upTo < MIN_CACHED_TOKENS) continue;
    cache.add(keys[bp]!);
    if (bp <= readEnd) continue;
    const segment = upTo - writtenTo;
    write += segment;
    if (blocks[bp]!.ttl === "1h") write1h += segment;
    writtenTo = upTo;
  }
  return { total, read, write, write1h };
}

/** OpenAI's automatic cache, modelled: the longest prefix shared with an earlier request, in 128-token steps from 1024. */
function countOpenaiPrompt(body: any, seen: string[]): PromptCount {
  const text = [...(body?.tools ?? []), ...(body?.messages ?? [])].map((x: unknown) => JSON.stringify(x)).join("\n");
  let common = 0;
  for (const earlier of seen) {
    const n = Math.min(earlier.length, text.length);
    let i = 0;
    while (i < n && earlier.charCodeAt(i) === text.charCodeAt(i)) i++;
    common = Math.max(common, i);
  }
  seen.push(text);
  const total = tokensOf(text.length);
  const shared = Math.min(Math.floor(common / 4), total);
  const read = shared < MIN_CACHED_TOKENS ? 0 : MIN_CACHED_TOKENS + Math.floor((shared - MIN_CACHED_TOKENS) / 128) * 128;
  return { total, read, write: 0, write1h: 0 };
}

/** Splits text into pieces of `size` characters, as streaming servers deliver it. */
function pieces(text: string, size = 7): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Anthropic Messages
// ---------------------------------------------------------------------------------------------

function anthropicUsage(p: PromptCount, output: number) {
  return {
    input_tokens: p.total - p.read - p.write,
    output_tokens: output,
    cache_creation_input_tokens: p.write,
    cache_read_input_tokens: p.read,
    cache_creation: { ephemeral_5m_input_tokens: p.write - p.write1h, ephemeral_1h_input_tokens: p.write1h },
    service_tier: "standard",
  };
}

function messageStart(id: number, model: string, usage: ReturnType<typeof anthropicUsage>) {
  return {
    type: "message_start",
    message: {
      id: `msg_${id}`,
      type: "message",
      role: "assistant",
      model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage,
    },
  };
}

function anthropicJson(res: ServerResponse, id: number, model: string, a: Answer): void {
  const content: unknown[] = [];
  if (a.text) content.push({ type: "text", text: a.text, citations: null });
  // A string input stands for arguments a broken proxy passed through unparsed.
  for (const c of a.calls) content.push({ type: "tool_use", id: c.id, name: c.name, input: c.object });
  sendJson(res, 200, {
    id: `msg_${id}`,
    type: "message",
    role: "assistant",
    model,
    content,
    stop_reason: a.stop,
    stop_sequence: null,
    usage: anthropicUsage(a.prompt, a.output),
  });
}

function anthropicStream(res: ServerResponse, id: number, model: string, a: Answer): void {
  res.writeHead(200, sseHeaders);
  sse(res, "message_start", messageStart(id, model, anthropicUsage(a.prompt, 1)));
  let index = 0;
  if (a.text) {
    sse(res, "content_block_start", { type: "content_block_start", index, content_block: { type: "text", text: "", citations: null } });
    sse(res, "ping", { type: "ping" });
    for (const p of pieces(a.text))
      sse(res, "content_block_delta", { type: "content_block_delta", index, delta: { type: "text_delta", text: p } });
    sse(res, "content_block_stop", { type: "content_block_stop", index });
    index++;
  }
  for (const c of a.calls) {
    sse(res, "content_block_start", {
      type: "content_block_start",
      index,
      content_block: { type: "tool_use", id: c.id, name: c.name, input: {} },
    });
    for (const p of pieces(c.json))
      sse(res, "content_block_delta", { type: "content_block_delta", index, delta: { type: "input_json_delta", partial_json: p } });
    sse(res, "content_block_stop", { type: "content_block_stop", index });
    index++;
  }
  sse(res, "message_delta", {
    type: "message_delta",
    delta: { stop_reason: a.stop, stop_sequence: null },
    // The current API repeats the input side here, cumulative; older servers sent output_tokens only.
    usage: (({ service_tier: _, cache_creation: __, ...u }) => u)(anthropicUsage(a.prompt, a.output)),
  });
  sse(res, "message_stop", { type: "message_stop" });
  res.end();
}

// ---------------------------------------------------------------------------------------------
// OpenAI Chat Completions
// ---------------------------------------------------------------------------------------------

const finishReason = (a: Answer) => (a.stop === "tool_use" ? "tool_calls" : a.stop === "max_tokens" ? "length" : "stop");

function openaiUsage(a: Answer) {
  return {
    prompt_tokens: a.prompt.total,
    completion_tokens: a.output,
    total_tokens: a.prompt.total + a.output,
    prompt_tokens_details: { cached_tokens: a.prompt.read, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  };
}

function openaiJson(res: ServerResponse, id: number, model: string, a: Answer): void {
  const message: Record<string, unknown> = { role: "assistant", content: a.text || null, refusal: null };
  if (a.calls.length > 0)
    message.tool_calls = a.calls.map((c) => ({ id: c.id, type: "function", function: { name: c.name, arguments: c.json } }));
  sendJson(res, 200, {
    id: `chatcmpl-${id}`,
    object: "chat.completion",
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [{ index: 0, message, finish_reason: finishReason(a), logprobs: null }],
    usage: openaiUsage(a),
  });
}

function chunk(id: number, model: string, delta: Record<string, unknown>, finish: string | null) {
  return {
    id: `chatcmpl-${id}`,
    object: "chat.completion.chunk",
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }],
  };
}

function openaiStream(res: ServerResponse, id: number, model: string, a: Answer, usageChunk: boolean): void {
  res.writeHead(200, sseHeaders);
  data(res, chunk(id, model, { role: "assistant", content: "" }, null));
  for (const p of pieces(a.text)) data(res, chunk(id, model, { content: p }, null));
  a.calls.forEach((c, index) => {
    data(res, chunk(id, model, { tool_calls: [{ index, id: c.id, type: "function", function: { name: c.name, arguments: "" } }] }, null));
    for (const p of pieces(c.json)) data(res, chunk(id, model, { tool_calls: [{ index, function: { arguments: p } }] }, null));
  });
  data(res, chunk(id, model, {}, finishReason(a)));
  if (usageChunk)
    data(res, { id: `chatcmpl-${id}`, object: "chat.completion.chunk", created: 0, model, choices: [], usage: openaiUsage(a) });
  res.write("data: [DONE]\n\n");
  res.end();
}

// ---------------------------------------------------------------------------------------------
// Errors and plumbing
// ---------------------------------------------------------------------------------------------

const ANTHROPIC_ERROR_TYPES: Record<number, string> = {
  400: "invalid_request_error",
  401: "authentication_error",
  403: "permission_error",
  404: "not_found_error",
  429: "rate_limit_error",
  500: "api_error",
  529: "overloaded_error",
};

function sendError(
  api: "anthropic" | "openai",
  res: ServerResponse,
  r: Extract<ScriptedReply, { type: "status" }>,
  authorization: string | undefined,
): void {
  let message = r.message ?? `scripted HTTP ${r.status}`;
  if (r.echoAuthorization) message += ` (request had authorization: ${authorization ?? "none"})`;
  const type = ANTHROPIC_ERROR_TYPES[r.status] ?? "api_error";
  const body =
    api === "anthropic" ? { type: "error", error: { type, message } } : { error: { message, type, param: null, code: null } };
  sendJson(res, r.status, body, r.headers);
}

const sseHeaders = { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" };

function sse(res: ServerResponse, event: string, payload: unknown): void {
  res.write(`event: ${event}\ndata: ${JSON.stringify(payload)}\n\n`);
}

function data(res: ServerResponse, payload: unknown): void {
  res.write(`data: ${JSON.stringify(payload)}\n\n`);
}

function sendJson(res: ServerResponse, status: number, payload: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(payload);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers });
  res.end(text);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    req.on("data", (b: Buffer) => parts.push(b));
    req.on("end", () => resolve(Buffer.concat(parts).toString("utf8")));
    req.on("error", reject);
  });
}
