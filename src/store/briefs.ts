/**
 * Narrow reads for what grows with a week of experiments (reports, listings, the tournament's
 * bookkeeping): the columns a caller uses and aggregates, never a diff, a log tail or a
 * hypothesis unless it names the rows it will show. A 20,000-experiment store holds some 60 MB
 * of diffs and log tails; listExperiments reads them all, these read none of them.
 *
 * Must not write, and must not encode a caller's policy (which rows a report shows): callers
 * pick the rows, these functions fetch them.
 */
import type { StoreContext } from "./context.ts";
import { StoreError, invalid } from "./errors.ts";
import { toExperiment, type ExperimentRow } from "./experiments.ts";
import { getRun } from "./runs.ts";
import type { AgentCostGroup, Experiment, ExperimentBrief, ExperimentCounts, ExperimentStatus, ExperimentText, ExperimentTextField } from "./types.ts";
import { checkId, show } from "./validate.ts";

/** `(SELECT value FROM json_each(?))`: a list of ids as one bound parameter. */
const IDS = "(SELECT value FROM json_each(?))";

function checkIds(where: string, name: string, ids: unknown): number[] {
  if (!Array.isArray(ids)) invalid(`${where}: ${name} must be an array of ids, got ${show(ids)}`);
  return ids.map((id, i) => checkId(where, `${name}[${i}]`, id));
}

/** The runs must exist: an unknown id is STORE_UNKNOWN_RUN, as getRun says it. */
function checkRuns(ctx: StoreContext, where: string, runIds: readonly number[]): void {
  const wanted = [...new Set(runIds)];
  if (wanted.length === 1) {
    getRun(ctx, wanted[0]!);
    return;
  }
  const found = new Set((ctx.stmt(`SELECT id FROM runs WHERE id IN ${IDS}`).all(JSON.stringify(wanted)) as { id: number }[]).map((r) => r.id));
  const missing = wanted.find((id) => !found.has(id));
  if (missing !== undefined) throw new StoreError("STORE_UNKNOWN_RUN", `${where}: no run with id ${missing}`);
}

/**
 * Lines a unified diff adds and removes, counted in SQL without sending the text: "+" and "-"
 * at a line start, less the "+++ " and "--- " file headers. Only for kept experiments (the only
 * diffs a report describes); null for the others.
 */
const lineStarts = (prefix: string) => `(length(char(10) || diff) - length(replace(char(10) || diff, char(10) || '${prefix}', ''))) / ${prefix.length + 1}`;
const DIFF_STAT = `CASE WHEN status = 'keep' AND diff IS NOT NULL THEN ${lineStarts("+")} - ${lineStarts("+++ ")} END AS diffAdded,
  CASE WHEN status = 'keep' AND diff IS NOT NULL THEN ${lineStarts("-")} - ${lineStarts("--- ")} END AS diffRemoved`;

// Named as ExperimentBrief names them, so a row needs only its last two fields turned into
// shape: a week's 20,000 rows are read without a second object each.
const BRIEF_COLUMNS = `id, run_id AS runId, seq, slot, parent_commit AS parentCommit, commit_hash AS "commit", description, status, outcome,
  reason, val_bpb AS valBpb, training_seconds AS trainingSeconds, peak_vram_mb AS peakVramMb, num_steps AS numSteps,
  fix_attempt AS fixAttempt, fix_of AS fixOf, cost_usd AS costUsd, created_at AS createdAt, started_at AS startedAt,
  finished_at AS finishedAt, sandboxed, imported, ${DIFF_STAT}`;

type BriefRow = Omit<ExperimentBrief, "sandboxed" | "imported"> & { sandboxed: number | null | boolean; imported: number | boolean };

function toBrief(r: BriefRow): ExperimentBrief {
  r.sandboxed = r.sandboxed === null ? null : r.sandboxed === 1;
  r.imported = r.imported === 1;
  return r as ExperimentBrief;
}

/** Every experiment of the runs without its large texts, by run (in the order given), then seq. */
export function listExperimentBriefs(ctx: StoreContext, runIds: readonly number[]): ExperimentBrief[] {
  const where = "listExperimentBriefs";
  const ids = checkIds(where, "runIds", runIds);
  if (ids.length === 0) return [];
  checkRuns(ctx, where, ids);
  const sql = `SELECT ${BRIEF_COLUMNS} FROM experiments WHERE run_id = ? ORDER BY seq`;
  // One run at a time through the (run_id, seq) index: rows come sorted without a sort step.
  return [...new Set(ids)].flatMap((id) => (ctx.stmt(sql).all(id) as BriefRow[]).map(toBrief));
}

const TEXT_COLUMNS: Record<ExperimentTextField, string> = { hypothesis: "hypothesis", diff: "diff", logTail: "log_tail" };

/**
 * The large texts of the experiments a caller will show (the rows of a report's tables, the
 * diffs of a champion chain): only the fields asked for, by id. Unknown ids are left out.
 */
export function experimentTexts(ctx: StoreContext, ids: readonly number[], fields: readonly ExperimentTextField[]): Map<number, ExperimentText> {
  const where = "experimentTexts";
  const wanted = checkIds(where, "ids", ids);
  if (!Array.isArray(fields) || fields.length === 0) invalid(`${where}: fields must name at least one of ${Object.keys(TEXT_COLUMNS).join(", ")}`);
  for (const f of fields as unknown[]) if (typeof f !== "string" || !Object.hasOwn(TEXT_COLUMNS, f)) invalid(`${where}: unknown field ${show(f)}: use ${Object.keys(TEXT_COLUMNS).join(", ")}`);
  const out = new Map<number, ExperimentText>();
  if (wanted.length === 0) return out;
  const unique = [...new Set(fields as readonly ExperimentTextField[])];
  const rows = ctx
    .stmt(`SELECT id, ${unique.map((f) => `${TEXT_COLUMNS[f]} AS ${f}`).join(", ")} FROM experiments WHERE id IN ${IDS}`)
    .all(JSON.stringify([...new Set(wanted)])) as ({ id: number } & ExperimentText)[];
  for (const { id, ...texts } of rows) out.set(id, texts);
  return out;
}

/**
 * Experiments whose commit starts with `prefix` (4 to 40 lowercase hex digits), through the
 * commit index; optionally of one run only. What `verify <commit>` looks up.
 */
export function findExperimentsByCommit(ctx: StoreContext, prefix: string, runId?: number): Experiment[] {
  const where = "findExperimentsByCommit";
  if (typeof prefix !== "string" || !/^[0-9a-f]{4,40}$/.test(prefix)) invalid(`${where}: prefix must be 4 to 40 lowercase hex digits, got ${show(prefix)}`);
  // A range on the index: every hash with this prefix sorts between the prefix and prefix + "g".
  const range = "commit_hash >= ? AND commit_hash < ?";
  if (runId === undefined)
    return (ctx.stmt(`SELECT * FROM experiments WHERE ${range} ORDER BY id`).all(prefix, `${prefix}g`) as ExperimentRow[]).map(toExperiment);
  checkId(where, "runId", runId);
  getRun(ctx, runId);
  return (ctx.stmt(`SELECT * FROM experiments WHERE ${range} AND run_id = ? ORDER BY id`).all(prefix, `${prefix}g`, runId) as ExperimentRow[]).map(toExperiment);
}

const STATUSES: readonly ExperimentStatus[] = ["proposed", "running", "keep", "discard", "crash", "invalid", "skipped"];

/**
 * How many experiments of a run are in each status, and how many skipped ones have a reason that
 * starts with `skippedReasonPrefix` (the tournament's "interrupted": not counted against a grant).
 */
export function experimentCounts(ctx: StoreContext, runId: number, skippedReasonPrefix = ""): ExperimentCounts {
  const where = "experimentCounts";
  checkId(where, "runId", runId);
  if (typeof skippedReasonPrefix !== "string") invalid(`${where}: skippedReasonPrefix must be a string, got ${show(skippedReasonPrefix)}`);
  getRun(ctx, runId);
  const counts = Object.fromEntries(STATUSES.map((s) => [s, 0])) as ExperimentCounts;
  counts.total = 0;
  counts.skippedWithPrefix = 0;
  const rows = ctx
    .stmt(
      `SELECT status, count(*) AS n,
              sum(CASE WHEN status = 'skipped' AND substr(coalesce(reason, ''), 1, length(?)) = ? THEN 1 ELSE 0 END) AS prefixed
       FROM experiments WHERE run_id = ? GROUP BY status`,
    )
    .all(skippedReasonPrefix, skippedReasonPrefix, runId) as { status: ExperimentStatus; n: number; prefixed: number }[];
  for (const r of rows) {
    counts[r.status] = r.n;
    counts.total += r.n;
    counts.skippedWithPrefix += r.prefixed;
  }
  return counts;
}

/** The agent-call ledger of the runs summed by run, purpose and model (what a report's cost table shows). */
export function agentCostGroups(ctx: StoreContext, runIds: readonly number[]): AgentCostGroup[] {
  const where = "agentCostGroups";
  const ids = checkIds(where, "runIds", runIds);
  if (ids.length === 0) return [];
  checkRuns(ctx, where, ids);
  return (
    ctx
      .stmt(
        `SELECT run_id AS runId, purpose, model, sum(calls) AS calls, sum(input_tokens) AS inputTokens,
                sum(output_tokens) AS outputTokens, sum(cost_usd) AS costUsd, sum(CASE WHEN ok THEN 0 ELSE calls END) AS failed
         FROM agent_calls WHERE run_id IN ${IDS} GROUP BY run_id, purpose, model ORDER BY run_id, purpose, model`,
      )
      .all(JSON.stringify([...new Set(ids)])) as AgentCostGroup[]
  );
}
