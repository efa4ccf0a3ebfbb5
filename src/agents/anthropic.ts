/**
 * AnthropicAgent: a research agent on the Anthropic Messages API through the official SDK
 * (@anthropic-ai/sdk), with tool use (view_file, edit_file, submit; see llm/tools.ts).
 * Only the wire format lives here: the prompt, the tools, retries, pricing and redaction are
 * shared with OpenAIAgent under llm/. It never touches git, the store or the disk.
 *
 * Prompt caching (promptCache, default on): three cache_control breakpoints, in prefix order
 *   1. the system block (role + program.md + README: the same bytes all run)      1-hour entry
 *   2. the opening message's stable block (memory + train.ts: until a keep)        1-hour entry
 *   3. the last block of the newest message (the conversation so far)              5-minute entry
 * Proposals are a training run apart (the time budget, 300 s by default, plus start-up and
 * evaluation), longer than a 5-minute entry lives, so 1 and 2 take 1-hour entries (written at
 * 2× the input price, read at 0.1×); 3 only has to live from one turn to the next. Longer-lived
 * breakpoints come first, as the API requires; 3 of its 4 allowed breakpoints are used.
 *
 *   const agent = new AnthropicAgent({ model: "claude-sonnet-5-5" });   // key: $ANTHROPIC_API_KEY
 *   const { proposal, usage, error } = await agent.propose(context);
 */
import Anthropic, { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from "@anthropic-ai/sdk";
import type { Agent, AgentContext, ProposalResult } from "./types.ts";
import { setUpLlmAgent, type LlmAgentSetup } from "./llm/agent-setup.ts";
import type { LlmAgentOptions } from "./llm/options.ts";
import type { ResearchPrompt } from "./llm/prompt.ts";
import { classifyApiFailure, MalformedResponseError, type ApiFailure } from "./llm/retry.ts";
import {
  proposeWithTools,
  type Conversation,
  type ModelTurn,
  type ProviderBackend,
  type ToolReply,
} from "./llm/research-loop.ts";
import { RESEARCH_TOOLS, type ToolCall } from "./llm/tools.ts";
import { anthropicTokens } from "./llm/usage.ts";

export type AnthropicAgentOptions = LlmAgentOptions;

const SDK_ERRORS = { APIError, APIConnectionError, APIConnectionTimeoutError, APIUserAbortError };

const TOOLS: Anthropic.Tool[] = RESEARCH_TOOLS.map((t) => ({
  name: t.name,
  description: t.description,
  input_schema: t.parameters,
}));

export class AnthropicAgent implements Agent {
  readonly name = "anthropic";
  readonly model: string;
  /** Set when the model has no known price: its usage is recorded at $0. */
  readonly costNote: string | undefined;
  readonly #setup: LlmAgentSetup;
  readonly #client: Anthropic;

  /** Throws AgentError AGENT_NO_API_KEY / AGENT_INVALID_OPTION; nothing is sent before propose(). */
  constructor(options?: AnthropicAgentOptions) {
    this.#setup = setUpLlmAgent("anthropic", options);
    const o = this.#setup.options;
    this.model = o.model;
    this.costNote = this.#setup.price.note;
    this.#client = new Anthropic({
      apiKey: o.apiKey,
      ...(o.baseURL !== undefined ? { baseURL: o.baseURL } : {}),
      // Retries are llm/retry.ts's job (injectable sleep, counted, retry-after honoured).
      maxRetries: 0,
      timeout: o.timeoutMs,
      logger: this.#setup.sdkLogger,
    });
  }

  propose(context: AgentContext): Promise<ProposalResult> {
    const backend: ProviderBackend = {
      provider: "anthropic",
      model: this.model,
      open: (prompt) => new AnthropicConversation(this.#client, this.#setup, prompt),
      classify: (err, signal): ApiFailure => classifyApiFailure(err, SDK_ERRORS, signal),
    };
    return proposeWithTools(backend, context, this.#setup.settings);
  }
}

const LONG_LIVED: Anthropic.CacheControlEphemeral = { type: "ephemeral", ttl: "1h" };
const TURN_TO_TURN: Anthropic.CacheControlEphemeral = { type: "ephemeral", ttl: "5m" };

class AnthropicConversation implements Conversation {
  readonly #client: Anthropic;
  readonly #setup: LlmAgentSetup;
  readonly #cache: boolean;
  readonly #system: string | Anthropic.TextBlockParam[];
  readonly #messages: Anthropic.MessageParam[];

  constructor(client: Anthropic, setup: LlmAgentSetup, prompt: ResearchPrompt) {
    this.#client = client;
    this.#setup = setup;
    this.#cache = setup.options.promptCache;
    if (this.#cache) {
      this.#system = [{ type: "text", text: prompt.system, cache_control: LONG_LIVED }];
      this.#messages = [
        {
          role: "user",
          content: [
            { type: "text", text: prompt.userStable, cache_control: LONG_LIVED },
            { type: "text", text: prompt.userVarying },
          ],
        },
      ];
    } else {
      this.#system = prompt.system;
      this.#messages = [{ role: "user", content: prompt.user }];
    }
  }

  async next(signal: AbortSignal): Promise<ModelTurn> {
    const o = this.#setup.options;
    const body: Anthropic.MessageCreateParamsNonStreaming = {
      model: o.model,
      max_tokens: o.maxTokens,
      system: this.#system,
      messages: this.#cache ? withTurnBreakpoint(this.#messages) : this.#messages,
      tools: TOOLS,
      ...(o.temperature !== undefined ? { temperature: o.temperature } : {}),
    };
    const requestOptions = { signal, timeout: o.timeoutMs };
    if (!o.stream) return turnFromMessage(await this.#client.messages.create(body, requestOptions), this.#cache);
    const events = await this.#client.messages.create({ ...body, stream: true }, requestOptions);
    return turnFromEvents(events, this.#cache);
  }

  reply(turn: ModelTurn, replies: ToolReply[], note: string | undefined): void {
    const assistant: Anthropic.ContentBlockParam[] = [];
    if (turn.text !== "") assistant.push({ type: "text", text: turn.text });
    for (const call of turn.toolCalls)
      assistant.push({ type: "tool_use", id: call.id, name: call.name, input: echoInput(call) });
    if (assistant.length === 0) assistant.push({ type: "text", text: "(empty answer)" });
    this.#messages.push({ role: "assistant", content: assistant });

    const user: Anthropic.ContentBlockParam[] = replies.map(
      (r): Anthropic.ToolResultBlockParam => ({
        type: "tool_result",
        tool_use_id: r.call.id,
        content: r.outcome.content,
        ...(r.outcome.isError ? { is_error: true } : {}),
      }),
    );
    if (note !== undefined || user.length === 0) user.push({ type: "text", text: note ?? "Continue." });
    this.#messages.push({ role: "user", content: user });
  }
}

/**
 * The messages with a 5-minute breakpoint on the newest message's last block, so that the next
 * turn reads the whole conversation so far from the cache. A copy: the stored messages keep no
 * breakpoint, so there are never more than three (the API allows four).
 */
function withTurnBreakpoint(messages: Anthropic.MessageParam[]): Anthropic.MessageParam[] {
  const last = messages[messages.length - 1]!;
  const blocks: Anthropic.ContentBlockParam[] =
    typeof last.content === "string" ? [{ type: "text", text: last.content }] : [...last.content];
  const end = blocks[blocks.length - 1]!;
  // A block that already carries a breakpoint (the opening message's stable part) keeps its own.
  if (!("cache_control" in end && end.cache_control)) blocks[blocks.length - 1] = { ...end, cache_control: TURN_TO_TURN } as Anthropic.ContentBlockParam;
  return [...messages.slice(0, -1), { ...last, content: blocks } as Anthropic.MessageParam];
}

/**
 * The tool input to echo back in the assistant turn: the parsed object, or {} when the model's
 * JSON was malformed (the API requires an object there; the tool result explains the error).
 */
function echoInput(call: ToolCall): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(call.arguments);
    if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
  } catch {
    // falls through to {}
  }
  return {};
}

/** A tool_use input as raw JSON text: the object serialized, or the string a server sent instead. */
const inputText = (input: unknown): string => (typeof input === "string" ? input : JSON.stringify(input ?? {}));

/** `cached`: the request marked 1-hour entries (how to price writes a server does not split by lifetime). */
function turnFromMessage(message: Anthropic.Message, cached: boolean): ModelTurn {
  if (!message || !Array.isArray(message.content)) throw new MalformedResponseError("a message without content");
  let text = "";
  const toolCalls: ToolCall[] = [];
  for (const block of message.content) {
    if (block.type === "text") text += block.text;
    else if (block.type === "tool_use") toolCalls.push({ id: block.id, name: block.name, arguments: inputText(block.input) });
  }
  return {
    text,
    toolCalls,
    tokens: anthropicTokens(message.usage, cached),
    truncated: message.stop_reason === "max_tokens",
  };
}

interface StreamedBlock {
  kind: "text" | "tool_use" | "other";
  text: string;
  id: string;
  name: string;
  json: string;
  /** The input given in content_block_start, used when no input_json_delta follows. */
  startInput: unknown;
}

/**
 * Rebuilds a turn from raw stream events. The SDK's MessageStream would do this too, but it
 * parses tool input with a lenient partial-JSON parser; here the concatenated input_json_delta
 * text is kept verbatim, so malformed arguments are seen (and reported) as such.
 */
async function turnFromEvents(events: AsyncIterable<Anthropic.RawMessageStreamEvent>, cached: boolean): Promise<ModelTurn> {
  const blocks: StreamedBlock[] = [];
  // message_start carries the input side of usage; message_delta's usage is cumulative and may
  // repeat (or complete) any of its fields, so the two are merged field by field.
  let usage: Record<string, unknown> = {};
  let stopReason: string | null = null;
  let stopped = false;
  for await (const event of events) {
    switch (event.type) {
      case "message_start":
        usage = { ...(event.message.usage ?? {}) };
        break;
      case "content_block_start": {
        const b = event.content_block;
        blocks[event.index] =
          b.type === "text"
            ? { kind: "text", text: b.text ?? "", id: "", name: "", json: "", startInput: undefined }
            : b.type === "tool_use"
              ? { kind: "tool_use", text: "", id: b.id, name: b.name, json: "", startInput: b.input }
              : { kind: "other", text: "", id: "", name: "", json: "", startInput: undefined };
        break;
      }
      case "content_block_delta": {
        const block = blocks[event.index];
        if (!block) throw new MalformedResponseError(`content_block_delta for block ${event.index} before its start`);
        if (event.delta.type === "text_delta") block.text += event.delta.text;
        else if (event.delta.type === "input_json_delta") block.json += event.delta.partial_json;
        break;
      }
      case "message_delta":
        stopReason = event.delta.stop_reason ?? stopReason;
        for (const [key, value] of Object.entries(event.usage ?? {})) if (value !== null && value !== undefined) usage[key] = value;
        break;
      case "message_stop":
        stopped = true;
        break;
      default:
        break;
    }
  }
  if (!stopped) throw new MalformedResponseError("the stream ended before message_stop");
  let text = "";
  const toolCalls: ToolCall[] = [];
  for (const b of blocks) {
    if (!b) continue;
    if (b.kind === "text") text += b.text;
    if (b.kind === "tool_use") {
      const startedWithInput =
        typeof b.startInput === "object" && b.startInput !== null && Object.keys(b.startInput).length > 0;
      const json = b.json !== "" ? b.json : startedWithInput ? JSON.stringify(b.startInput) : "{}";
      toolCalls.push({ id: b.id, name: b.name, arguments: json });
    }
  }
  return { text, toolCalls, tokens: anthropicTokens(usage, cached), truncated: stopReason === "max_tokens" };
}
