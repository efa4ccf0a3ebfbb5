/**
 * AnthropicAgent: a research agent on the Anthropic Messages API through the official SDK
 * (@anthropic-ai/sdk), with tool use (view_file, edit_file, submit; see llm/tools.ts).
 * Only the wire format lives here: the prompt, the tools, retries, pricing and redaction are
 * shared with OpenAIAgent under llm/. It never touches git, the store or the disk.
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

class AnthropicConversation implements Conversation {
  readonly #client: Anthropic;
  readonly #setup: LlmAgentSetup;
  readonly #system: string;
  readonly #messages: Anthropic.MessageParam[];

  constructor(client: Anthropic, setup: LlmAgentSetup, prompt: ResearchPrompt) {
    this.#client = client;
    this.#setup = setup;
    this.#system = prompt.system;
    this.#messages = [{ role: "user", content: prompt.user }];
  }

  async next(signal: AbortSignal): Promise<ModelTurn> {
    const o = this.#setup.options;
    const body: Anthropic.MessageCreateParamsNonStreaming = {
      model: o.model,
      max_tokens: o.maxTokens,
      system: this.#system,
      messages: this.#messages,
      tools: TOOLS,
      ...(o.temperature !== undefined ? { temperature: o.temperature } : {}),
    };
    const requestOptions = { signal, timeout: o.timeoutMs };
    if (!o.stream) return turnFromMessage(await this.#client.messages.create(body, requestOptions));
    const events = await this.#client.messages.create({ ...body, stream: true }, requestOptions);
    return turnFromEvents(events);
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

function turnFromMessage(message: Anthropic.Message): ModelTurn {
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
    inputTokens: message.usage?.input_tokens ?? 0,
    outputTokens: message.usage?.output_tokens ?? 0,
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
async function turnFromEvents(events: AsyncIterable<Anthropic.RawMessageStreamEvent>): Promise<ModelTurn> {
  const blocks: StreamedBlock[] = [];
  let inputTokens = 0;
  let outputTokens = 0;
  let stopReason: string | null = null;
  let stopped = false;
  for await (const event of events) {
    switch (event.type) {
      case "message_start":
        inputTokens = event.message.usage?.input_tokens ?? 0;
        outputTokens = event.message.usage?.output_tokens ?? 0;
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
        if (typeof event.usage?.output_tokens === "number") outputTokens = event.usage.output_tokens;
        if (typeof event.usage?.input_tokens === "number") inputTokens = event.usage.input_tokens;
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
  return { text, toolCalls, inputTokens, outputTokens, truncated: stopReason === "max_tokens" };
}
