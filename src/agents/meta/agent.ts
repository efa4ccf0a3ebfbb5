/**
 * MetaAgent: one forced tool call to an LLM through the official SDK (Anthropic Messages or
 * OpenAI Chat Completions), used to rewrite an org's program.md (`submit_program`) or the meta
 * prompt itself (`submit_prompt`). Single-shot by design: the caller validates the answer and
 * asks again with the reason, so each answer is one ledger row. Retries of failed HTTP calls,
 * deadlines, pricing and key redaction are the research agents' (../llm/).
 */
import Anthropic, * as anthropicSdk from "@anthropic-ai/sdk";
import OpenAI, * as openaiSdk from "openai";
import { AgentError } from "../llm/errors.ts";
import { type LlmAgentOptions, type LlmProvider, resolveLlmOptions, type ResolvedLlmOptions } from "../llm/options.ts";
import { costUsd, lookupPrice, type PriceLookup } from "../llm/pricing.ts";
import { Redactor, redactingConsole } from "../llm/redact.ts";
import { abortedError, backoffMs, classifyApiFailure, MalformedResponseError, withDeadline } from "../llm/retry.ts";
import { addTokens, anthropicTokens, NO_TOKENS, openaiTokens, type CallTokens } from "../llm/usage.ts";

export type MetaTool = "submit_program" | "submit_prompt";

/** The tools' fields: the new text and a one-line note saying what changed and why. */
const TOOLS: Record<MetaTool, { description: string; text: string; textDescription: string }> = {
  submit_program: {
    description: "Submit the child org's complete new program.md and a one-line mutation note.",
    text: "program_md",
    textDescription: "The complete new program.md, including its ```nightshift-strategy block.",
  },
  submit_prompt: {
    description: "Submit the complete new meta prompt and a one-line note.",
    text: "prompt",
    textDescription: "The complete new meta prompt (the instructions a meta-agent breeds orgs with).",
  },
};

function schema(tool: MetaTool) {
  const t = TOOLS[tool];
  return {
    type: "object" as const,
    properties: {
      [t.text]: { type: "string", description: t.textDescription },
      note: { type: "string", description: "One line: what changed and why." },
    },
    required: [t.text, "note"],
    additionalProperties: false,
  };
}

export interface MetaRequest {
  tool: MetaTool;
  system: string;
  user: string;
  signal?: AbortSignal;
}

export interface MetaUsage {
  model: string;
  calls: number;
  /** The whole prompt, cached parts included (the meta-agent marks no cache; OpenAI may still read one). */
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  costUsd: number;
  durationMs: number;
}

/** The answer: the submitted text and note, or why there is none (one line, redacted). */
export type MetaAnswer = ({ ok: true; text: string; note: string } | { ok: false; error: string }) & { usage: MetaUsage };

export type MetaAgentOptions = Pick<LlmAgentOptions, "model" | "apiKey" | "baseURL" | "maxTokens" | "temperature" | "timeoutMs" | "maxRetries" | "pricing" | "sleep" | "env" | "log">;

export interface MetaAgent {
  readonly provider: LlmProvider;
  readonly model: string;
  /** Set when the model has no known price: its calls are recorded at $0. */
  readonly costNote: string | undefined;
  ask(request: MetaRequest): Promise<MetaAnswer>;
}

/** Throws AgentError AGENT_NO_API_KEY / AGENT_INVALID_OPTION at once; nothing is sent before ask(). */
export function createMetaAgent(provider: LlmProvider, options: MetaAgentOptions = {}): MetaAgent {
  // A whole program.md comes back in one answer: more room than a research proposal needs.
  const o = resolveLlmOptions(provider, { maxTokens: 16_000, ...options });
  return provider === "anthropic" ? new AnthropicMeta(o) : new OpenAIMeta(o);
}

interface RawAnswer {
  args: string | undefined;
  toolName: string | undefined;
  tokens: CallTokens;
  truncated: boolean;
}

abstract class BaseMeta implements MetaAgent {
  abstract readonly provider: LlmProvider;
  readonly model: string;
  readonly costNote: string | undefined;
  protected readonly o: ResolvedLlmOptions;
  protected readonly redactor: Redactor;
  readonly #price: PriceLookup;

  constructor(o: ResolvedLlmOptions, provider: LlmProvider) {
    this.o = o;
    this.model = o.model;
    this.redactor = new Redactor([o.apiKey]);
    this.#price = lookupPrice(o.model, o.pricing, provider);
    this.costNote = this.#price.note;
  }

  protected abstract call(request: MetaRequest, signal: AbortSignal): Promise<RawAnswer>;
  protected abstract classify(err: unknown, signal: AbortSignal | undefined): ReturnType<typeof classifyApiFailure>;

  async ask(request: MetaRequest): Promise<MetaAnswer> {
    const started = Date.now();
    const usage: MetaUsage = { model: this.model, calls: 0, inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0, costUsd: 0, durationMs: 0 };
    const tokens: CallTokens = { ...NO_TOKENS };
    const done = (a: { ok: true; text: string; note: string } | { ok: false; error: string }): MetaAnswer => {
      Object.assign(usage, { inputTokens: tokens.inputTokens, outputTokens: tokens.outputTokens, cacheReadTokens: tokens.cacheReadTokens, cacheWriteTokens: tokens.cacheWriteTokens });
      usage.costUsd = costUsd(this.#price.price, tokens);
      usage.durationMs = Date.now() - started;
      return a.ok ? { ...a, usage } : { ok: false, error: this.redactor.text(a.error), usage };
    };
    let raw: RawAnswer | undefined;
    for (let retry = 0; raw === undefined; retry++) {
      if (request.signal?.aborted) throw abortedError(`${this.provider} meta-agent`);
      usage.calls++;
      try {
        raw = await withDeadline(this.o.timeoutMs, request.signal, (signal) => this.call(request, signal));
      } catch (err) {
        const failure = this.classify(err, request.signal);
        if (failure.kind === "aborted") throw abortedError(`${this.provider} meta-agent`);
        const message = this.redactor.text(oneLine(failure.message));
        if (failure.kind === "config") throw new AgentError(failure.code, `${this.provider} meta-agent (model '${this.model}'): ${message}`);
        if (failure.kind === "fatal" || retry >= this.o.maxRetries) return done({ ok: false, error: `${this.provider} API: ${message}${failure.kind === "fatal" ? " (not retried)" : `; gave up after ${retry + 1} tries`}` });
        const wait = failure.retryAfterMs ?? backoffMs(retry + 1);
        this.o.log?.(this.redactor.text(`${this.provider} meta-agent: ${message}; retry ${retry + 1} of ${this.o.maxRetries} in ${(wait / 1000).toFixed(1)} s`));
        await this.o.sleep(wait, request.signal);
      }
    }
    addTokens(tokens, raw.tokens);
    if (raw.truncated) return done({ ok: false, error: "the answer was cut off at the output token limit" });
    if (raw.toolName !== request.tool || raw.args === undefined) return done({ ok: false, error: `the answer did not call ${request.tool}` });
    let args: unknown;
    try {
      args = JSON.parse(raw.args);
    } catch {
      return done({ ok: false, error: `${request.tool}'s arguments are not JSON` });
    }
    const field = TOOLS[request.tool].text;
    const a = args as Record<string, unknown> | null;
    if (typeof a !== "object" || a === null || typeof a[field] !== "string" || (a[field] as string).trim() === "")
      return done({ ok: false, error: `${request.tool} needs a non-empty string ${field}` });
    const note = typeof a.note === "string" ? oneLine(a.note) : "";
    return done({ ok: true, text: a[field] as string, note });
  }
}

class AnthropicMeta extends BaseMeta {
  readonly provider = "anthropic" as const;
  readonly #client: Anthropic;

  constructor(o: ResolvedLlmOptions) {
    super(o, "anthropic");
    this.#client = new Anthropic({
      apiKey: o.apiKey,
      ...(o.baseURL !== undefined ? { baseURL: o.baseURL } : {}),
      maxRetries: 0, // retries are ask()'s
      timeout: o.timeoutMs,
      logger: redactingConsole(this.redactor),
    });
  }

  protected classify(err: unknown, signal: AbortSignal | undefined) {
    return classifyApiFailure(err, anthropicSdk, signal);
  }

  protected async call(r: MetaRequest, signal: AbortSignal): Promise<RawAnswer> {
    const m = await this.#client.messages.create(
      {
        model: this.o.model,
        max_tokens: this.o.maxTokens,
        system: r.system,
        messages: [{ role: "user", content: r.user }],
        tools: [{ name: r.tool, description: TOOLS[r.tool].description, input_schema: schema(r.tool) }],
        tool_choice: { type: "tool", name: r.tool },
        ...(this.o.temperature !== undefined ? { temperature: this.o.temperature } : {}),
      },
      { signal, timeout: this.o.timeoutMs },
    );
    if (!m || !Array.isArray(m.content)) throw new MalformedResponseError("a message without content");
    const use = m.content.find((b) => b.type === "tool_use");
    return {
      toolName: use?.type === "tool_use" ? use.name : undefined,
      args: use?.type === "tool_use" ? (typeof use.input === "string" ? use.input : JSON.stringify(use.input ?? {})) : undefined,
      tokens: anthropicTokens(m.usage, false),
      truncated: m.stop_reason === "max_tokens",
    };
  }
}

class OpenAIMeta extends BaseMeta {
  readonly provider = "openai" as const;
  readonly #client: OpenAI;
  /** OpenAI's own API wants max_completion_tokens; compatible servers know max_tokens. */
  readonly #maxTokensField: "max_completion_tokens" | "max_tokens";

  constructor(o: ResolvedLlmOptions) {
    super(o, "openai");
    this.#maxTokensField = o.baseURL === undefined || new URL(o.baseURL).hostname === "api.openai.com" ? "max_completion_tokens" : "max_tokens";
    this.#client = new OpenAI({
      apiKey: o.apiKey,
      ...(o.baseURL !== undefined ? { baseURL: o.baseURL } : {}),
      maxRetries: 0,
      timeout: o.timeoutMs,
      logger: redactingConsole(this.redactor),
    });
  }

  protected classify(err: unknown, signal: AbortSignal | undefined) {
    return classifyApiFailure(err, openaiSdk, signal);
  }

  protected async call(r: MetaRequest, signal: AbortSignal): Promise<RawAnswer> {
    const c = await this.#client.chat.completions.create(
      {
        model: this.o.model,
        messages: [
          { role: "system", content: r.system },
          { role: "user", content: r.user },
        ],
        tools: [{ type: "function", function: { name: r.tool, description: TOOLS[r.tool].description, parameters: schema(r.tool) } }],
        tool_choice: { type: "function", function: { name: r.tool } },
        ...(this.#maxTokensField === "max_tokens" ? { max_tokens: this.o.maxTokens } : { max_completion_tokens: this.o.maxTokens }),
        ...(this.o.temperature !== undefined ? { temperature: this.o.temperature } : {}),
      },
      { signal, timeout: this.o.timeoutMs },
    );
    const choice = c?.choices?.[0];
    if (!choice?.message) throw new MalformedResponseError("a completion without choices");
    const call = choice.message.tool_calls?.find((t) => t.type === "function");
    return {
      toolName: call?.type === "function" ? call.function.name : undefined,
      args: call?.type === "function" ? call.function.arguments : undefined,
      tokens: openaiTokens(c.usage),
      truncated: choice.finish_reason === "length",
    };
  }
}

function oneLine(text: string): string {
  const line = text.split("\n").find((l) => l.trim() !== "")?.trim() ?? "";
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}
