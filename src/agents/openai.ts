/**
 * OpenAIAgent: a research agent on the Chat Completions API through the official SDK (openai),
 * with function tools (view_file, edit_file, submit; see llm/tools.ts). With `baseURL` it
 * drives any OpenAI-compatible server: vLLM, llama.cpp's server, Ollama ("http://host:port/v1").
 * Only the wire format lives here; prompt, tools, retries, pricing and redaction are in llm/.
 *
 * Prompt caching is the server's: OpenAI caches any prefix of 1024 tokens or more that it saw
 * recently and reports the cached part as usage.prompt_tokens_details.cached_tokens (read at a
 * discount, see llm/pricing.ts). The research prompt keeps its stable parts first and
 * byte-identical for that (llm/prompt.ts); nothing cache-related is sent.
 *
 * Every request says tool_choice "required": the research loop only advances through tool
 * calls, and small local models asked with "auto" often answer in prose instead. A server that
 * refuses "required" (a 400 naming tool_choice) is asked again with "auto", and so is every
 * later request of this agent.
 *
 *   const agent = new OpenAIAgent({ model: "gpt-5.5" });                       // $OPENAI_API_KEY
 *   const local = new OpenAIAgent({ model: "qwen3-coder", baseURL: "http://localhost:8000/v1" });
 */
import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from "openai";
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
import { openaiTokens, NO_TOKENS, type CallTokens } from "./llm/usage.ts";

export type OpenAIAgentOptions = LlmAgentOptions;

const SDK_ERRORS = { APIError, APIConnectionError, APIConnectionTimeoutError, APIUserAbortError };

/** What the agent asks of the server's tool choice; shared by its conversations. */
interface ToolChoice {
  value: "required" | "auto";
}

const TOOLS: OpenAI.ChatCompletionFunctionTool[] = RESEARCH_TOOLS.map((t) => ({
  type: "function",
  function: { name: t.name, description: t.description, parameters: t.parameters },
}));

export class OpenAIAgent implements Agent {
  readonly name = "openai";
  readonly model: string;
  /** Set when the model has no known price (any local model): its usage is recorded at $0. */
  readonly costNote: string | undefined;
  readonly #setup: LlmAgentSetup;
  readonly #client: OpenAI;
  /**
   * OpenAI's own API wants max_completion_tokens (its reasoning models reject max_tokens);
   * compatible servers have long accepted max_tokens and not all know the newer name.
   */
  readonly #maxTokensField: "max_completion_tokens" | "max_tokens";
  readonly #toolChoice: ToolChoice = { value: "required" };

  /** Throws AgentError AGENT_NO_API_KEY / AGENT_INVALID_OPTION; nothing is sent before propose(). */
  constructor(options?: OpenAIAgentOptions) {
    this.#setup = setUpLlmAgent("openai", options);
    const o = this.#setup.options;
    this.model = o.model;
    this.costNote = this.#setup.price.note;
    this.#maxTokensField =
      o.baseURL === undefined || new URL(o.baseURL).hostname === "api.openai.com" ? "max_completion_tokens" : "max_tokens";
    this.#client = new OpenAI({
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
      provider: "openai",
      model: this.model,
      open: (prompt) => new OpenAIConversation(this.#client, this.#setup, this.#maxTokensField, this.#toolChoice, prompt),
      classify: (err, signal): ApiFailure => classifyApiFailure(err, SDK_ERRORS, signal),
    };
    return proposeWithTools(backend, context, this.#setup.settings);
  }
}

class OpenAIConversation implements Conversation {
  readonly #client: OpenAI;
  readonly #setup: LlmAgentSetup;
  readonly #maxTokensField: "max_completion_tokens" | "max_tokens";
  readonly #toolChoice: ToolChoice;
  readonly #messages: OpenAI.ChatCompletionMessageParam[];

  constructor(
    client: OpenAI,
    setup: LlmAgentSetup,
    maxTokensField: "max_completion_tokens" | "max_tokens",
    toolChoice: ToolChoice,
    prompt: ResearchPrompt,
  ) {
    this.#client = client;
    this.#setup = setup;
    this.#maxTokensField = maxTokensField;
    this.#toolChoice = toolChoice;
    this.#messages = [
      { role: "system", content: prompt.system },
      { role: "user", content: prompt.user },
    ];
  }

  async next(signal: AbortSignal): Promise<ModelTurn> {
    const asked = this.#toolChoice.value;
    try {
      return await this.#request(signal);
    } catch (err) {
      if (asked !== "required" || !refusesToolChoice(err)) throw err;
      if (this.#toolChoice.value === "required") {
        this.#toolChoice.value = "auto";
        this.#setup.settings.log?.(`openai: the server refused tool_choice "required"; asking with "auto" from now on`);
      }
      return this.#request(signal);
    }
  }

  async #request(signal: AbortSignal): Promise<ModelTurn> {
    const o = this.#setup.options;
    const body: OpenAI.ChatCompletionCreateParamsNonStreaming = {
      model: o.model,
      messages: this.#messages,
      tools: TOOLS,
      tool_choice: this.#toolChoice.value,
      ...(this.#maxTokensField === "max_tokens" ? { max_tokens: o.maxTokens } : { max_completion_tokens: o.maxTokens }),
      ...(o.temperature !== undefined ? { temperature: o.temperature } : {}),
    };
    const requestOptions = { signal, timeout: o.timeoutMs };
    if (!o.stream) return turnFromCompletion(await this.#client.chat.completions.create(body, requestOptions));
    const chunks = await this.#client.chat.completions.create(
      { ...body, stream: true, stream_options: { include_usage: true } },
      requestOptions,
    );
    return turnFromChunks(chunks);
  }

  reply(turn: ModelTurn, replies: ToolReply[], note: string | undefined): void {
    const toolCalls = turn.toolCalls.map(
      (c): OpenAI.ChatCompletionMessageFunctionToolCall => ({
        id: c.id,
        type: "function",
        function: { name: c.name, arguments: echoArguments(c) },
      }),
    );
    this.#messages.push({
      role: "assistant",
      content: turn.text !== "" ? turn.text : toolCalls.length === 0 ? "(empty answer)" : null,
      ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
    });
    for (const r of replies) this.#messages.push({ role: "tool", tool_call_id: r.call.id, content: r.outcome.content });
    if (note !== undefined) this.#messages.push({ role: "user", content: note });
  }
}

/** A 400 that names tool_choice: the server does not take the value asked. */
function refusesToolChoice(err: unknown): boolean {
  return err instanceof APIError && err.status === 400 && /tool_choice/i.test(err.message);
}

/**
 * Arguments to echo back in the assistant turn: as sent when they are valid JSON, else "{}".
 * Compatible servers re-render the history through chat templates that parse the arguments,
 * and malformed JSON there turns one bad answer into a 400 for the whole conversation.
 */
function echoArguments(call: ToolCall): string {
  try {
    JSON.parse(call.arguments);
    return call.arguments;
  } catch {
    return "{}";
  }
}

function turnFromCompletion(completion: OpenAI.ChatCompletion): ModelTurn {
  const choice = completion?.choices?.[0];
  if (!choice?.message) throw new MalformedResponseError("a completion without choices");
  const toolCalls: ToolCall[] = [];
  (choice.message.tool_calls ?? []).forEach((c, i) => {
    if (c.type === "function")
      toolCalls.push({ id: c.id || `call_${i}`, name: c.function.name, arguments: c.function.arguments ?? "" });
  });
  return {
    text: choice.message.content ?? "",
    toolCalls,
    tokens: openaiTokens(completion.usage),
    truncated: choice.finish_reason === "length",
  };
}

/** Rebuilds a turn from chunks: tool calls arrive by index, their arguments in pieces. */
async function turnFromChunks(chunks: AsyncIterable<OpenAI.ChatCompletionChunk>): Promise<ModelTurn> {
  let text = "";
  const calls: ToolCall[] = [];
  let tokens: CallTokens = { ...NO_TOKENS };
  let finishReason: string | null = null;
  for await (const chunk of chunks) {
    if (chunk.usage) tokens = openaiTokens(chunk.usage);
    const choice = chunk.choices?.[0];
    if (!choice) continue;
    if (choice.delta?.content) text += choice.delta.content;
    for (const piece of choice.delta?.tool_calls ?? []) {
      const call = (calls[piece.index] ??= { id: "", name: "", arguments: "" });
      if (piece.id) call.id = piece.id;
      // Some servers repeat the name in every chunk: take it once rather than concatenating.
      if (piece.function?.name && call.name === "") call.name = piece.function.name;
      if (piece.function?.arguments) call.arguments += piece.function.arguments;
    }
    if (choice.finish_reason) finishReason = choice.finish_reason;
  }
  if (finishReason === null) throw new MalformedResponseError("the stream ended without a finish_reason");
  const toolCalls = calls.filter(Boolean).map((c, i) => ({ ...c, id: c.id || `call_${i}` }));
  return { text, toolCalls, tokens, truncated: finishReason === "length" };
}
