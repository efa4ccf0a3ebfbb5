/**
 * The agent-call ledger: tokens and dollars per call (or per proposal, with `calls` > 1), the
 * source of runCost and of the per-run cost cap. A row tied to an experiment also adds to that
 * experiment's usage columns in the same transaction, so the two never disagree.
 */
import type { StoreContext } from "./context.ts";
import { StoreError, checkKeys, invalid } from "./errors.ts";
import { getRun } from "./runs.ts";
import type { AgentCallRecord, NewAgentCall, RunCost } from "./types.ts";
import { checkAmount, checkCount, checkId, checkText, optionalText } from "./validate.ts";

interface AgentCallRow {
  id: number;
  run_id: number | null;
  experiment_id: number | null;
  purpose: string;
  model: string;
  calls: number;
  input_tokens: number;
  output_tokens: number;
  cache_read_tokens: number;
  cache_write_tokens: number;
  cost_usd: number;
  ok: number;
  error: string | null;
  duration_ms: number | null;
  created_at: string;
}

const toRecord = (r: AgentCallRow): AgentCallRecord => ({
  id: r.id,
  runId: r.run_id,
  experimentId: r.experiment_id,
  purpose: r.purpose,
  model: r.model,
  calls: r.calls,
  inputTokens: r.input_tokens,
  outputTokens: r.output_tokens,
  cacheReadTokens: r.cache_read_tokens,
  cacheWriteTokens: r.cache_write_tokens,
  costUsd: r.cost_usd,
  ok: r.ok === 1,
  error: r.error,
  durationMs: r.duration_ms,
  createdAt: r.created_at,
});

const KEYS = [
  "runId",
  "experimentId",
  "purpose",
  "model",
  "calls",
  "inputTokens",
  "outputTokens",
  "cacheReadTokens",
  "cacheWriteTokens",
  "costUsd",
  "ok",
  "error",
  "durationMs",
] as const;

interface CheckedCall {
  /** null: a call that belongs to no run (the meta-agent's). */
  runId: number | null;
  experimentId: number | null;
  purpose: string;
  model: string;
  calls: number;
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  costUsd: number;
  ok: boolean;
  error: string | null;
  durationMs: number | null;
}

function checkCall(where: string, input: NewAgentCall): CheckedCall {
  checkKeys(where, input, KEYS);
  if (typeof input.ok !== "boolean") throw new StoreError("STORE_INVALID_ARGUMENT", `${where}: ok must be a boolean`);
  const runless = input.runId === undefined;
  if (runless && input.experimentId !== undefined) invalid(`${where}: a call without a run cannot belong to an experiment`);
  const purpose = input.purpose === undefined && !runless ? "propose" : checkText(where, "purpose", input.purpose ?? "", { nonEmpty: true });
  if (runless && purpose === "propose") invalid(`${where}: a proposal's call belongs to a run (runId)`);
  const inputTokens = checkCount(where, "inputTokens", input.inputTokens);
  const { cacheReadTokens, cacheWriteTokens } = checkCacheTokens(where, "", inputTokens, input.cacheReadTokens, input.cacheWriteTokens);
  return {
    runId: runless ? null : checkId(where, "runId", input.runId),
    experimentId: input.experimentId === undefined ? null : checkId(where, "experimentId", input.experimentId),
    purpose,
    model: checkText(where, "model", input.model),
    calls: input.calls === undefined ? 1 : checkCount(where, "calls", input.calls),
    inputTokens,
    outputTokens: checkCount(where, "outputTokens", input.outputTokens),
    cacheReadTokens,
    cacheWriteTokens,
    costUsd: checkAmount(where, "costUsd", input.costUsd),
    ok: input.ok,
    error: optionalText(where, "error", input.error),
    durationMs: input.durationMs === undefined ? null : checkCount(where, "durationMs", input.durationMs),
  };
}

/**
 * The cache parts of a call's input: counts, 0 when absent, and together no more than the
 * input they are parts of (the schema checks the same; this names the fields). `prefix`: "usage."
 * for an experiment's usage.
 */
export function checkCacheTokens(
  where: string,
  prefix: string,
  inputTokens: number,
  read: number | undefined,
  write: number | undefined,
): { cacheReadTokens: number; cacheWriteTokens: number } {
  const cacheReadTokens = read === undefined ? 0 : checkCount(where, `${prefix}cacheReadTokens`, read);
  const cacheWriteTokens = write === undefined ? 0 : checkCount(where, `${prefix}cacheWriteTokens`, write);
  if (cacheReadTokens + cacheWriteTokens > inputTokens)
    invalid(
      `${where}: ${prefix}cacheReadTokens + ${prefix}cacheWriteTokens (${cacheReadTokens} + ${cacheWriteTokens}) must not exceed ${prefix}inputTokens (${inputTokens}): they are parts of it`,
    );
  return { cacheReadTokens, cacheWriteTokens };
}

/** Inserts one ledger row; the caller is inside a write transaction. */
export function insertAgentCall(ctx: StoreContext, input: NewAgentCall): AgentCallRecord {
  const where = "recordAgentCall";
  const c = checkCall(where, input);
  if (c.runId !== null) getRun(ctx, c.runId);
  if (c.experimentId !== null) {
    const owner = ctx.stmt("SELECT run_id FROM experiments WHERE id = ?").get(c.experimentId) as
      | { run_id: number }
      | undefined;
    if (!owner || owner.run_id !== c.runId)
      throw new StoreError("STORE_UNKNOWN_EXPERIMENT", `${where}: experiment ${c.experimentId} is no experiment of run ${c.runId}`);
    ctx
      .stmt(
        `UPDATE experiments SET agent_calls = agent_calls + ?, input_tokens = input_tokens + ?,
           output_tokens = output_tokens + ?, cache_read_tokens = cache_read_tokens + ?,
           cache_write_tokens = cache_write_tokens + ?, cost_usd = cost_usd + ? WHERE id = ?`,
      )
      .run(c.calls, c.inputTokens, c.outputTokens, c.cacheReadTokens, c.cacheWriteTokens, c.costUsd, c.experimentId);
  }
  const row = ctx
    .stmt(
      `INSERT INTO agent_calls (run_id, experiment_id, purpose, model, calls, input_tokens, output_tokens,
                                cache_read_tokens, cache_write_tokens, cost_usd, ok, error, duration_ms, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *`,
    )
    .get(
      c.runId,
      c.experimentId,
      c.purpose,
      c.model,
      c.calls,
      c.inputTokens,
      c.outputTokens,
      c.cacheReadTokens,
      c.cacheWriteTokens,
      c.costUsd,
      c.ok ? 1 : 0,
      ctx.redactor.text(c.error),
      c.durationMs,
      ctx.now(),
    ) as AgentCallRow;
  return toRecord(row);
}

export function recordAgentCall(ctx: StoreContext, input: NewAgentCall): AgentCallRecord {
  checkCall("recordAgentCall", input); // fail on bad input before taking the write lock
  return ctx.write("recordAgentCall", () => insertAgentCall(ctx, input));
}

/** The ledger rows without a run, oldest first, optionally of one purpose ("meta"). */
export function listRunlessCalls(ctx: StoreContext, purpose?: string): AgentCallRecord[] {
  const rows =
    purpose === undefined
      ? ctx.stmt("SELECT * FROM agent_calls WHERE run_id IS NULL ORDER BY id").all()
      : ctx.stmt("SELECT * FROM agent_calls WHERE run_id IS NULL AND purpose = ? ORDER BY id").all(checkText("listRunlessCalls", "purpose", purpose));
  return (rows as AgentCallRow[]).map(toRecord);
}

export function listAgentCalls(ctx: StoreContext, runId: number): AgentCallRecord[] {
  getRun(ctx, runId);
  return (ctx.stmt("SELECT * FROM agent_calls WHERE run_id = ? ORDER BY id").all(runId) as AgentCallRow[]).map(toRecord);
}

/** Total agent usage of a run, failed calls included (they cost too); costUsd is what was priced per call, cache rates included. */
export function runCost(ctx: StoreContext, runId: number): RunCost {
  getRun(ctx, runId);
  const r = ctx
    .stmt(
      `SELECT coalesce(sum(calls), 0) AS calls, coalesce(sum(input_tokens), 0) AS input_tokens,
              coalesce(sum(output_tokens), 0) AS output_tokens, coalesce(sum(cache_read_tokens), 0) AS cache_read_tokens,
              coalesce(sum(cache_write_tokens), 0) AS cache_write_tokens, coalesce(sum(cost_usd), 0) AS cost_usd
       FROM agent_calls WHERE run_id = ?`,
    )
    .get(runId) as {
    calls: number;
    input_tokens: number;
    output_tokens: number;
    cache_read_tokens: number;
    cache_write_tokens: number;
    cost_usd: number;
  };
  return {
    calls: r.calls,
    inputTokens: r.input_tokens,
    outputTokens: r.output_tokens,
    cacheReadTokens: r.cache_read_tokens,
    cacheWriteTokens: r.cache_write_tokens,
    costUsd: r.cost_usd,
  };
}
