/**
 * Experiments through their life: proposed → running → keep | discard | crash | invalid, or
 * skipped.
 * Each transition is one transaction that moves the row only from the state it expects
 * (UPDATE ... WHERE status = ...), so a retried or duplicated call fails loudly instead of
 * overwriting a result, and a kill -9 leaves every row in exactly one complete state.
 */
import type { AgentUsage } from "../agents/types.ts";
import type { RunResult, RunStatus, RunSummary } from "../harness/types.ts";
import { checkCacheTokens, insertAgentCall } from "./agent-calls.ts";
import type { StoreContext } from "./context.ts";
import { StoreError, checkKeys, invalid } from "./errors.ts";
import { getRun } from "./runs.ts";
import type {
  Decision,
  Experiment,
  ExperimentFinish,
  ExperimentStart,
  ExperimentStatus,
  NewExperiment,
  SkippedProposal,
} from "./types.ts";
import { checkCommit, checkCount, checkId, checkOneOf, checkSeed, checkText, optionalText, show } from "./validate.ts";

export const RUN_OUTCOMES: readonly RunStatus[] = ["ok", "crash", "timeout", "over-budget", "non-finite", "out-of-memory", "invalid"];
const DECISIONS: readonly Decision[] = ["keep", "discard", "crash", "invalid"];

export interface ExperimentRow {
  id: number;
  run_id: number;
  seq: number;
  slot: number;
  parent_commit: string;
  commit_hash: string | null;
  diff: string | null;
  description: string;
  hypothesis: string;
  status: ExperimentStatus;
  outcome: RunStatus | null;
  reason: string | null;
  val_bpb: number | null;
  training_seconds: number | null;
  total_seconds: number | null;
  peak_vram_mb: number | null;
  mfu_percent: number | null;
  total_tokens_m: number | null;
  num_steps: number | null;
  num_params_m: number | null;
  depth: number | null;
  seed: number | null;
  log_path: string | null;
  log_tail: string | null;
  fix_attempt: number;
  fix_of: number | null;
  agent_calls: number;
  input_tokens: number;
  output_tokens: number;
  cache_read_tokens: number;
  cache_write_tokens: number;
  cost_usd: number;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  /** 1: train.ts ran in the sandbox, 0: it did not, null: unknown (finished before v5) or not finished. */
  sandboxed: number | null;
  /** 1: a row of an imported run (v9). */
  imported: number;
}

function toSummary(r: ExperimentRow): RunSummary | null {
  // An imported result has val_bpb and memory only: not a summary (Experiment.valBpb has it).
  if (r.val_bpb === null || r.imported === 1) return null;
  return {
    val_bpb: r.val_bpb,
    training_seconds: r.training_seconds!,
    total_seconds: r.total_seconds!,
    peak_vram_mb: r.peak_vram_mb!,
    mfu_percent: r.mfu_percent!,
    total_tokens_M: r.total_tokens_m!,
    num_steps: r.num_steps!,
    num_params_M: r.num_params_m!,
    depth: r.depth!,
  };
}

export const toExperiment = (r: ExperimentRow): Experiment => ({
  id: r.id,
  runId: r.run_id,
  seq: r.seq,
  slot: r.slot,
  parentCommit: r.parent_commit,
  commit: r.commit_hash,
  diff: r.diff,
  description: r.description,
  hypothesis: r.hypothesis,
  status: r.status,
  outcome: r.outcome,
  reason: r.reason,
  summary: toSummary(r),
  seed: r.seed,
  logPath: r.log_path,
  logTail: r.log_tail,
  fixAttempt: r.fix_attempt,
  fixOf: r.fix_of,
  usage: {
    calls: r.agent_calls,
    inputTokens: r.input_tokens,
    outputTokens: r.output_tokens,
    cacheReadTokens: r.cache_read_tokens,
    cacheWriteTokens: r.cache_write_tokens,
    costUsd: r.cost_usd,
  },
  createdAt: r.created_at,
  startedAt: r.started_at,
  finishedAt: r.finished_at,
  sandboxed: r.sandboxed === null ? null : r.sandboxed === 1,
  imported: r.imported === 1,
  valBpb: r.val_bpb,
});

function row(ctx: StoreContext, id: number): ExperimentRow | undefined {
  return ctx.stmt("SELECT * FROM experiments WHERE id = ?").get(id) as ExperimentRow | undefined;
}

export function getExperiment(ctx: StoreContext, id: number): Experiment {
  checkId("getExperiment", "id", id);
  const r = row(ctx, id);
  if (!r) throw new StoreError("STORE_UNKNOWN_EXPERIMENT", `no experiment with id ${id}`);
  return toExperiment(r);
}

/** Every experiment of a run, in seq order. */
export function listExperiments(ctx: StoreContext, runId: number): Experiment[] {
  getRun(ctx, runId);
  return (ctx.stmt("SELECT * FROM experiments WHERE run_id = ? ORDER BY seq").all(runId) as ExperimentRow[]).map(
    toExperiment,
  );
}

/** What a kill left proposed or running: the experiments `--resume` must redo, in seq order. */
export function inFlight(ctx: StoreContext, runId: number): Experiment[] {
  getRun(ctx, runId);
  return (
    ctx
      .stmt("SELECT * FROM experiments WHERE run_id = ? AND status IN ('proposed', 'running') ORDER BY seq")
      .all(runId) as ExperimentRow[]
  ).map(toExperiment);
}

// ---- creating rows -------------------------------------------------------------------------

interface ProposalFields {
  runId: number;
  slot: number;
  parentCommit: string;
  description: string;
  hypothesis: string;
  fixAttempt: number;
  fixOf: number | null;
  usage: AgentUsage | undefined;
}

function checkProposal(where: string, input: NewExperiment | SkippedProposal, requireText: boolean): ProposalFields {
  const runId = checkId(where, "runId", input.runId);
  const slot = input.slot === undefined ? 0 : checkCount(where, "slot", input.slot);
  const parentCommit = checkCommit(where, "parentCommit", input.parentCommit);
  const description = requireText
    ? checkText(where, "description", input.description)
    : (optionalText(where, "description", input.description) ?? "");
  const hypothesis = requireText
    ? checkText(where, "hypothesis", input.hypothesis)
    : (optionalText(where, "hypothesis", input.hypothesis) ?? "");
  const fixAttempt = input.fixAttempt === undefined ? 0 : checkCount(where, "fixAttempt", input.fixAttempt);
  const fixOf = input.fixOf === undefined ? null : checkId(where, "fixOf", input.fixOf);
  if (fixOf !== null && fixAttempt === 0) invalid(`${where}: fixOf needs fixAttempt >= 1`);
  if (input.usage !== undefined) checkUsage(where, input.usage);
  return { runId, slot, parentCommit, description, hypothesis, fixAttempt, fixOf, usage: input.usage };
}

function checkUsage(where: string, usage: AgentUsage): void {
  checkKeys(`${where}: usage`, usage, ["model", "calls", "inputTokens", "outputTokens", "cacheReadTokens", "cacheWriteTokens", "costUsd"]);
  checkText(where, "usage.model", usage.model);
  checkCount(where, "usage.calls", usage.calls);
  checkCount(where, "usage.inputTokens", usage.inputTokens);
  checkCount(where, "usage.outputTokens", usage.outputTokens);
  checkCacheTokens(where, "usage.", usage.inputTokens, usage.cacheReadTokens, usage.cacheWriteTokens);
  if (typeof usage.costUsd !== "number" || !Number.isFinite(usage.costUsd) || usage.costUsd < 0)
    invalid(`${where}: usage.costUsd must be a finite number >= 0, got ${show(usage.costUsd)}`);
}

/** Inserts the row with the run's next seq; the caller is inside a write transaction. */
function insertProposal(ctx: StoreContext, where: string, p: ProposalFields, skippedReason: string | null): number {
  getRun(ctx, p.runId);
  if (p.fixOf !== null) {
    const crashed = row(ctx, p.fixOf);
    if (!crashed || crashed.run_id !== p.runId)
      throw new StoreError("STORE_UNKNOWN_EXPERIMENT", `${where}: fixOf ${p.fixOf} is no experiment of run ${p.runId}`);
  }
  const now = ctx.now();
  const { seq } = ctx.stmt("SELECT coalesce(max(seq), 0) + 1 AS seq FROM experiments WHERE run_id = ?").get(p.runId) as {
    seq: number;
  };
  const info = ctx
    .stmt(
      `INSERT INTO experiments (run_id, seq, slot, parent_commit, description, hypothesis, status, reason,
                                fix_attempt, fix_of, created_at, finished_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    .run(
      p.runId,
      seq,
      p.slot,
      p.parentCommit,
      ctx.redactor.text(p.description),
      ctx.redactor.text(p.hypothesis),
      skippedReason === null ? "proposed" : "skipped",
      skippedReason,
      p.fixAttempt,
      p.fixOf,
      now,
      skippedReason === null ? null : now,
    );
  const id = Number(info.lastInsertRowid);
  if (p.usage && p.usage.calls > 0) {
    insertAgentCall(ctx, {
      runId: p.runId,
      experimentId: id,
      purpose: p.fixAttempt > 0 ? "fix" : "propose",
      model: p.usage.model,
      calls: p.usage.calls,
      inputTokens: p.usage.inputTokens,
      outputTokens: p.usage.outputTokens,
      cacheReadTokens: p.usage.cacheReadTokens ?? 0,
      cacheWriteTokens: p.usage.cacheWriteTokens ?? 0,
      costUsd: p.usage.costUsd,
      ok: skippedReason === null,
      error: skippedReason ?? undefined,
    });
  }
  return id;
}

const PROPOSAL_KEYS = ["runId", "slot", "parentCommit", "description", "hypothesis", "fixAttempt", "fixOf", "usage"];

/** Records a proposal (status proposed) with the run's next seq and the agent usage behind it. */
export function proposeExperiment(ctx: StoreContext, input: NewExperiment): Experiment {
  const where = "proposeExperiment";
  checkKeys(where, input, PROPOSAL_KEYS);
  const p = checkProposal(where, input, true);
  return ctx.write(where, () => toExperiment(row(ctx, insertProposal(ctx, where, p, null))!));
}

/** Records a proposal that never ran (the agent gave up, the edit was refused) as skipped. */
export function recordSkipped(ctx: StoreContext, input: SkippedProposal): Experiment {
  const where = "recordSkipped";
  checkKeys(where, input, [...PROPOSAL_KEYS, "reason"]);
  const p = checkProposal(where, input, false);
  const reason = ctx.redactor.text(checkText(where, "reason", input.reason, { nonEmpty: true }));
  return ctx.write(where, () => toExperiment(row(ctx, insertProposal(ctx, where, p, reason))!));
}

// ---- transitions ---------------------------------------------------------------------------

function transitionError(where: string, id: number, expected: string): StoreError {
  return new StoreError("STORE_BAD_TRANSITION", `${where}: experiment ${id} is not ${expected}`);
}

/** Within a write transaction: the row, or UNKNOWN_EXPERIMENT / BAD_TRANSITION. */
function expect(ctx: StoreContext, where: string, id: number, statuses: readonly ExperimentStatus[]): ExperimentRow {
  const r = row(ctx, id);
  if (!r) throw new StoreError("STORE_UNKNOWN_EXPERIMENT", `${where}: no experiment with id ${id}`);
  if (!statuses.includes(r.status))
    throw new StoreError(
      "STORE_BAD_TRANSITION",
      `${where}: experiment ${id} is ${r.status}, not ${statuses.join(" or ")}`,
    );
  return r;
}

/** proposed → running, with the commit it runs, its diff against the parent and its seed. */
export function startExperiment(ctx: StoreContext, id: number, input: ExperimentStart): Experiment {
  const where = "startExperiment";
  checkId(where, "id", id);
  checkKeys(where, input, ["commit", "diff", "seed", "logPath"]);
  const commit = checkCommit(where, "commit", input.commit);
  const diff = ctx.redactor.text(checkText(where, "diff", input.diff));
  const seed = checkSeed(where, input.seed);
  const logPath = optionalText(where, "logPath", input.logPath);
  return ctx.write(where, () => {
    expect(ctx, where, id, ["proposed"]);
    const r = ctx
      .stmt(
        `UPDATE experiments SET status = 'running', commit_hash = ?, diff = ?, seed = ?, log_path = ?, started_at = ?
         WHERE id = ? AND status = 'proposed' RETURNING *`,
      )
      .get(commit, diff, seed, logPath, ctx.now(), id) as ExperimentRow | undefined;
    if (!r) throw transitionError(where, id, "proposed");
    return toExperiment(r);
  });
}

function checkSummary(where: string, summary: RunSummary | undefined): RunSummary {
  if (summary === undefined || summary === null || typeof summary !== "object")
    invalid(`${where}: a result with status ok needs its summary`);
  const fields = [
    "val_bpb",
    "training_seconds",
    "total_seconds",
    "peak_vram_mb",
    "mfu_percent",
    "total_tokens_M",
    "num_steps",
    "num_params_M",
    "depth",
  ] as const;
  for (const f of fields) {
    const v = summary[f];
    if (typeof v !== "number" || !Number.isFinite(v)) invalid(`${where}: summary.${f} must be a finite number, got ${show(v)}`);
  }
  if (summary.val_bpb < 0) invalid(`${where}: summary.val_bpb must be >= 0, got ${summary.val_bpb}`);
  if (!Number.isInteger(summary.num_steps) || !Number.isInteger(summary.depth))
    invalid(`${where}: summary.num_steps and summary.depth must be integers`);
  return summary;
}

/**
 * running → keep | discard | crash | invalid, with the run's result. The rules (also CHECKs in
 * the schema): keep needs an ok result; crash needs a failed one (its reason defaults to
 * result.error, then to the outcome); invalid is exactly the outcome "invalid" (the evaluator's
 * probes caught the model cheating; its reason defaults to the probe's evidence in
 * result.error); discard takes the other outcomes, and a failed one needs a reason. The result
 * must have been produced under the run's profile and budget, with the seed the experiment
 * started with, and say whether it ran sandboxed.
 */
export function finishExperiment(ctx: StoreContext, id: number, input: ExperimentFinish): Experiment {
  const where = "finishExperiment";
  checkId(where, "id", id);
  checkKeys(where, input, ["status", "result", "reason", "logPath"]);
  const status = checkOneOf(where, "status", input.status, DECISIONS);
  const result: RunResult = input.result;
  if (typeof result !== "object" || result === null) invalid(`${where}: result must be a RunResult`);
  const outcome = checkOneOf(where, "result.status", result.status, RUN_OUTCOMES);
  const summary = outcome === "ok" ? checkSummary(where, result.summary) : null;
  const resultSeed = checkSeed(`${where}: result`, result.seed);
  const logTail = ctx.redactor.text(optionalText(where, "result.logTail", result.logTail));
  let reason = ctx.redactor.text(optionalText(where, "reason", input.reason));
  const error = ctx.redactor.text(optionalText(where, "result.error", result.error));
  const logPath = optionalText(where, "logPath", input.logPath);
  if (status === "keep" && outcome !== "ok") invalid(`${where}: cannot keep experiment ${id}: its run ended ${outcome}`);
  if (status === "crash" && outcome === "ok")
    invalid(`${where}: experiment ${id} ran ok; record it as keep or discard, not crash`);
  if ((status === "invalid") !== (outcome === "invalid"))
    invalid(
      status === "invalid"
        ? `${where}: experiment ${id} ended ${outcome}; only a run the evaluator found invalid is recorded as invalid`
        : `${where}: experiment ${id}'s run was found invalid by the evaluator; record it as invalid, not ${status}`,
    );
  if (typeof result.sandboxed !== "boolean")
    invalid(`${where}: result.sandboxed must be a boolean (whether train.ts ran in the sandbox), got ${show(result.sandboxed)}`);
  if (outcome !== "ok")
    reason = reason ?? error ?? (status === "crash" || status === "invalid" ? `run ended ${outcome}` : null);
  if (status === "discard" && outcome !== "ok" && !reason)
    invalid(`${where}: discarding experiment ${id} whose run ended ${outcome} needs a reason`);

  return ctx.write(where, () => {
    const current = expect(ctx, where, id, ["running"]);
    const run = getRun(ctx, current.run_id);
    if (result.profile !== run.profile || result.timeBudget !== run.timeBudget)
      invalid(
        `${where}: the result was produced under profile ${show(result.profile)} with budget ${show(result.timeBudget)} s; run ${run.id} uses ${run.profile} with ${run.timeBudget} s`,
      );
    if (current.seed !== null && current.seed !== resultSeed)
      invalid(`${where}: experiment ${id} started with seed ${current.seed} but the result has seed ${resultSeed}`);
    const r = ctx
      .stmt(
        `UPDATE experiments SET status = ?, outcome = ?, reason = ?,
           val_bpb = ?, training_seconds = ?, total_seconds = ?, peak_vram_mb = ?, mfu_percent = ?,
           total_tokens_m = ?, num_steps = ?, num_params_m = ?, depth = ?,
           seed = ?, log_tail = ?, log_path = coalesce(?, log_path), finished_at = ?, sandboxed = ?
         WHERE id = ? AND status = 'running' RETURNING *`,
      )
      .get(
        status,
        outcome,
        reason,
        summary?.val_bpb ?? null,
        summary?.training_seconds ?? null,
        summary?.total_seconds ?? null,
        summary?.peak_vram_mb ?? null,
        summary?.mfu_percent ?? null,
        summary?.total_tokens_M ?? null,
        summary?.num_steps ?? null,
        summary?.num_params_M ?? null,
        summary?.depth ?? null,
        resultSeed,
        logTail,
        logPath,
        ctx.now(),
        result.sandboxed ? 1 : 0,
        id,
      ) as ExperimentRow | undefined;
    if (!r) throw transitionError(where, id, "running");
    return toExperiment(r);
  });
}

/** proposed | running → skipped: a proposal refused before it ran, or a run abandoned. */
export function skipExperiment(ctx: StoreContext, id: number, reason: string): Experiment {
  const where = "skipExperiment";
  checkId(where, "id", id);
  const why = ctx.redactor.text(checkText(where, "reason", reason, { nonEmpty: true }));
  return ctx.write(where, () => {
    expect(ctx, where, id, ["proposed", "running"]);
    const r = ctx
      .stmt(
        `UPDATE experiments SET status = 'skipped', reason = ?, finished_at = ?
         WHERE id = ? AND status IN ('proposed', 'running') RETURNING *`,
      )
      .get(why, ctx.now(), id) as ExperimentRow | undefined;
    if (!r) throw transitionError(where, id, "proposed or running");
    return toExperiment(r);
  });
}
