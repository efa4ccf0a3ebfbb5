/**
 * The provider-independent turn loop of an LLM research agent: open a conversation with the
 * research prompt, call the model, run its tool calls against an EditSession, send the results
 * back, until it submits or runs out of turns; retry failed calls with backoff; add up usage.
 *
 *   attempt   one conversation from the opening prompt; a conversation that ends without a
 *             usable submit (maxTurns reached) is started afresh, up to maxAttempts
 *   turn      one model answer within a conversation (tool calls or text)
 *   retry     one more try of the same HTTP call after 429 / 5xx / timeout, up to maxRetries
 *
 * Malformed arguments, failing edits and text-only answers cost a turn (the model reads why and
 * corrects itself); exhausted retries or a non-retryable HTTP error end the proposal as skipped
 * at once; 401/403/404 and the caller's abort throw AgentError (every later call would fail too).
 * Provider wire formats live behind the Conversation interface (anthropic.ts, openai.ts).
 */
import type { AgentContext, ProposalResult } from "../types.ts";
import { AgentError } from "./errors.ts";
import { costUsd, type FullPrice } from "./pricing.ts";
import { buildResearchPrompt, type ResearchPrompt } from "./prompt.ts";
import type { Redactor } from "./redact.ts";
import { abortedError, backoffMs, withDeadline, type ApiFailure, type Sleep } from "./retry.ts";
import { EditSession, type ToolCall, type ToolOutcome } from "./tools.ts";
import { addTokens, NO_TOKENS, type CallTokens } from "./usage.ts";

/** One model answer, provider-neutral. */
export interface ModelTurn {
  text: string;
  toolCalls: ToolCall[];
  /** inputTokens is the whole prompt of the call, cached parts included (usage.ts). */
  tokens: CallTokens;
  /** The answer stopped at maxTokens (a tool call in it may be cut short). */
  truncated: boolean;
}

export interface ToolReply {
  call: ToolCall;
  outcome: ToolOutcome;
}

/** A conversation in one provider's wire format. */
export interface Conversation {
  /** Calls the model with the conversation so far; throws the SDK's errors. */
  next(signal: AbortSignal): Promise<ModelTurn>;
  /** Appends the model's turn, a reply to each of its tool calls, and an optional note from us. */
  reply(turn: ModelTurn, replies: ToolReply[], note: string | undefined): void;
}

export interface ProviderBackend {
  readonly provider: "anthropic" | "openai";
  readonly model: string;
  open(prompt: ResearchPrompt): Conversation;
  classify(err: unknown, signal: AbortSignal | undefined): ApiFailure;
}

export interface LoopSettings {
  maxTurns: number;
  maxAttempts: number;
  maxRetries: number;
  timeoutMs: number;
  contextTokenBudget: number;
  price: FullPrice | null;
  sleep: Sleep;
  redactor: Redactor;
  log: ((line: string) => void) | undefined;
}

const NO_TOOL_NOTE = "Your answer called no tool. Change train.ts with edit_file, then call submit.";
const TRUNCATED_NOTE =
  "Your answer was cut off at the output token limit. Keep answers short: smaller edits, one at a time, then submit.";

/** Raised inside the loop when a call's retries are spent or it cannot be retried; becomes the result's error. */
class SkipProposal extends Error {}

export async function proposeWithTools(
  backend: ProviderBackend,
  ctx: AgentContext,
  settings: LoopSettings,
): Promise<ProposalResult> {
  const { provider } = backend;
  let calls = 0;
  const tokens: CallTokens = { ...NO_TOKENS };
  const log = (line: string) => settings.log?.(settings.redactor.text(`${provider}: ${line}`));
  const result = (proposal: ProposalResult["proposal"], attempts: number, error?: string): ProposalResult => {
    const usage = {
      model: backend.model,
      calls,
      inputTokens: tokens.inputTokens,
      outputTokens: tokens.outputTokens,
      cacheReadTokens: tokens.cacheReadTokens,
      cacheWriteTokens: tokens.cacheWriteTokens,
      costUsd: costUsd(settings.price, tokens),
    };
    const r: ProposalResult = { proposal, usage, attempts };
    if (error !== undefined) r.error = settings.redactor.text(error);
    return r;
  };

  const prompt = buildResearchPrompt(ctx, settings.contextTokenBudget);
  // History and memory beyond their shares are left out by design, not logged each proposal.
  if (prompt.trim.crashLogCutChars || prompt.trim.readmeCutChars || prompt.trim.overBudget)
    log(`prompt trimmed to ~${prompt.trim.estimatedTokens} of ${prompt.trim.budgetTokens} tokens: ${describeTrim(prompt)}`);

  /** One model call with retries; throws SkipProposal when it gives up, AgentError for config/abort. */
  const callModel = async (conversation: Conversation): Promise<ModelTurn> => {
    for (let retry = 0; ; retry++) {
      if (ctx.signal?.aborted) throw abortedError(provider);
      calls++;
      let failure: ApiFailure;
      try {
        return await withDeadline(settings.timeoutMs, ctx.signal, (signal) => conversation.next(signal));
      } catch (err) {
        failure = backend.classify(err, ctx.signal);
      }
      if (failure.kind === "aborted") throw abortedError(provider);
      const message = settings.redactor.text(oneLine(failure.message));
      if (failure.kind === "config") {
        const hint = failure.code === "AGENT_AUTH_FAILED" ? "check the API key" : "check the model name and baseURL";
        throw new AgentError(failure.code, `${provider} API (model '${backend.model}'): ${message} — ${hint}`);
      }
      if (failure.kind === "fatal") throw new SkipProposal(`${provider} API: ${message} (not retried)`);
      if (retry >= settings.maxRetries)
        throw new SkipProposal(`${provider} API: ${message}; gave up after ${retry + 1} tries`);
      const wait = failure.retryAfterMs ?? backoffMs(retry + 1);
      log(`${message}; retry ${retry + 1} of ${settings.maxRetries} in ${(wait / 1000).toFixed(1)} s`);
      try {
        await settings.sleep(wait, ctx.signal);
      } catch (err) {
        if (ctx.signal?.aborted) throw abortedError(provider);
        throw err;
      }
    }
  };

  let lastProblem = "";
  for (let attempt = 1; attempt <= settings.maxAttempts; attempt++) {
    const session = new EditSession(ctx, { readmeInPrompt: prompt.trim.readmeCutChars === 0 });
    const conversation = backend.open(prompt);
    for (let turn = 1; turn <= settings.maxTurns; turn++) {
      let answer: ModelTurn;
      try {
        answer = await callModel(conversation);
      } catch (err) {
        if (err instanceof SkipProposal) return result(null, attempt, err.message);
        throw err;
      }
      addTokens(tokens, answer.tokens);

      const replies: ToolReply[] = [];
      for (const call of answer.toolCalls) {
        const outcome = session.handle(call);
        replies.push({ call, outcome });
        if (outcome.isError) lastProblem = outcome.content;
        if (session.submission) break;
      }
      if (session.submission) {
        try {
          return result(session.proposal(), attempt);
        } catch (err) {
          // Cannot happen when the edits applied one by one; kept as a guard, not a crash.
          return result(null, attempt, `the submitted edits do not replay on train.ts: ${oneLine(String(err))}`);
        }
      }
      let note: string | undefined;
      if (answer.truncated) note = TRUNCATED_NOTE;
      else if (answer.toolCalls.length === 0) note = NO_TOOL_NOTE;
      if (note) lastProblem = answer.truncated ? "answer cut off at max tokens" : "answer without a tool call";
      conversation.reply(answer, replies, note);
    }
    log(`attempt ${attempt}: no submit within ${settings.maxTurns} turns (edits applied ${session.stats.appliedEdits}, rejected ${session.stats.rejectedEdits}, malformed calls ${session.stats.malformedArguments})`);
  }
  const last = lastProblem ? `; last problem: ${oneLine(lastProblem)}` : "";
  return result(
    null,
    settings.maxAttempts,
    `no submitted proposal within ${settings.maxTurns} turns in ${settings.maxAttempts} attempt(s)${last}`,
  );
}

function describeTrim(p: ResearchPrompt): string {
  const t = p.trim;
  const parts: string[] = [];
  if (t.historyDropped) parts.push(`${t.historyDropped} oldest history rows dropped`);
  if (t.crashLogCutChars) parts.push(`crash log cut by ${t.crashLogCutChars} chars`);
  if (t.readmeCutChars) parts.push(`README cut by ${t.readmeCutChars} chars`);
  if (t.overBudget) parts.push("program.md + train.ts alone exceed the budget");
  return parts.join(", ");
}

function oneLine(text: string): string {
  const line = text.split("\n").find((l) => l.trim() !== "")?.trim() ?? "(no message)";
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}
