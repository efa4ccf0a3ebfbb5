/**
 * The raw material of an org's research memory (src/loop/memory.ts builds it): the verified
 * and crashed experiments of earlier runs, and the memory a run's agent was given.
 *
 *   lineageResults: runs of the given orgs (an org and its ancestors) other than the current
 *     one: the latest verification of each verified experiment whose verdict settled it (real,
 *     noise, negligible), and its crashes; newest first, each list capped. An imported run's
 *     crashes are left out: they crashed a train.py, with no log to say why.
 *   sharedResults: the same verified results from other orgs' runs of one tournament; never a
 *     crash, nor an unverified keep (shared memory holds only what reruns settled).
 *   setRunMemory / runMemory / runMemories: what the run's agent was shown, kept for the report.
 *
 * Each read is bounded by its limit and walks indexes (runs_org, experiments_run_status,
 * verifications_experiment), so building a memory costs the same on night 1 and on night 7.
 */
import type { StoreContext } from "./context.ts";
import { invalid } from "./errors.ts";
import { getRun } from "./runs.ts";
import type { JsonValue } from "./secrets.ts";
import { checkCount, checkId } from "./validate.ts";

export type MemoryOutcome = "real" | "noise" | "negligible" | "crash";

export interface MemorySource {
  experimentId: number;
  runId: number;
  orgId: number;
  org: string;
  /** The tournament night of the experiment's run; null for a run outside a tournament. */
  night: number | null;
  outcome: MemoryOutcome;
  /** The verified mean gain (bpb); null for a crash. */
  gain: number | null;
  description: string;
  diff: string | null;
  /** A crash's reason; null otherwise. */
  reason: string | null;
}

interface SourceRow {
  experiment_id: number;
  run_id: number;
  org_id: number;
  org: string;
  night: number | null;
  outcome: string;
  gain: number | null;
  description: string;
  diff: string | null;
  reason: string | null;
}

const toSource = (r: SourceRow): MemorySource => ({
  experimentId: r.experiment_id,
  runId: r.run_id,
  orgId: r.org_id,
  org: r.org,
  night: r.night,
  outcome: r.outcome as MemoryOutcome,
  gain: r.gain,
  description: r.description,
  diff: r.diff,
  reason: r.reason,
});

const NIGHT_OF_RUN = `(SELECT n.number FROM allocations a JOIN nights n ON n.id = a.night_id WHERE a.run_id = r.id ORDER BY n.number LIMIT 1)`;

/** A verification settles an experiment when its latest one says real, noise or negligible. */
const SETTLED = `v.verdict IN ('real', 'noise', 'negligible')
  AND v.id = (SELECT max(id) FROM verifications WHERE experiment_id = v.experiment_id)`;

const VERIFIED_COLUMNS = `e.id AS experiment_id, r.id AS run_id, r.org_id, o.name AS org, ${NIGHT_OF_RUN} AS night,
  v.verdict AS outcome, v.mean_gain AS gain, e.description, e.diff, NULL AS reason`;

export interface LineageLimits {
  verified: number;
  crashes: number;
}

export function lineageResults(
  ctx: StoreContext,
  orgIds: readonly number[],
  currentRunId: number,
  limits: LineageLimits,
): { verified: MemorySource[]; crashes: MemorySource[] } {
  const where = "lineageResults";
  for (const id of orgIds) checkId(where, "orgIds[]", id);
  getRun(ctx, currentRunId);
  const orgs = JSON.stringify(orgIds);
  const verified = ctx
    .stmt(
      `SELECT ${VERIFIED_COLUMNS}
       FROM runs r JOIN orgs o ON o.id = r.org_id
       JOIN experiments e ON e.run_id = r.id
       JOIN verifications v ON v.experiment_id = e.id
       WHERE r.org_id IN (SELECT value FROM json_each(?)) AND r.id <> ? AND ${SETTLED}
       ORDER BY v.id DESC LIMIT ?`,
    )
    .all(orgs, currentRunId, checkCount(where, "limits.verified", limits.verified)) as SourceRow[];
  const crashes = ctx
    .stmt(
      `SELECT e.id AS experiment_id, r.id AS run_id, r.org_id, o.name AS org, ${NIGHT_OF_RUN} AS night,
         'crash' AS outcome, NULL AS gain, e.description, e.diff, e.reason
       FROM runs r JOIN orgs o ON o.id = r.org_id
       JOIN experiments e ON e.run_id = r.id AND e.status = 'crash' AND e.imported = 0
       WHERE r.org_id IN (SELECT value FROM json_each(?)) AND r.id <> ?
       ORDER BY e.id DESC LIMIT ?`,
    )
    .all(orgs, currentRunId, checkCount(where, "limits.crashes", limits.crashes)) as SourceRow[];
  return { verified: verified.map(toSource), crashes: crashes.map(toSource) };
}

/** Settled verifications of the tournament's runs by orgs outside `lineage`, newest first. */
export function sharedResults(ctx: StoreContext, tournamentId: number, lineage: readonly number[], limit: number): MemorySource[] {
  const where = "sharedResults";
  checkId(where, "tournamentId", tournamentId);
  for (const id of lineage) checkId(where, "lineage[]", id);
  return (
    ctx
      .stmt(
        `SELECT ${VERIFIED_COLUMNS}
         FROM runs r JOIN orgs o ON o.id = r.org_id
         JOIN experiments e ON e.run_id = r.id
         JOIN verifications v ON v.experiment_id = e.id
         WHERE r.id IN (SELECT a.run_id FROM allocations a JOIN nights n ON n.id = a.night_id
                        WHERE n.tournament_id = ? AND a.run_id IS NOT NULL)
           AND r.org_id NOT IN (SELECT value FROM json_each(?)) AND ${SETTLED}
         ORDER BY v.id DESC LIMIT ?`,
      )
      .all(tournamentId, JSON.stringify(lineage), checkCount(where, "limit", limit)) as SourceRow[]
  ).map(toSource);
}

export function setRunMemory(ctx: StoreContext, runId: number, memory: JsonValue): void {
  const where = "setRunMemory";
  getRun(ctx, runId);
  if (typeof memory !== "object" || memory === null || Array.isArray(memory)) invalid(`${where}: memory must be a plain object`);
  const json = ctx.redactor.text(JSON.stringify(memory));
  ctx.write(where, () => ctx.stmt("UPDATE runs SET memory_json = ? WHERE id = ?").run(json, runId));
}

/** The memory the run's agent was given; null when none was recorded (runs before schema v7). */
export function runMemory(ctx: StoreContext, runId: number): JsonValue | null {
  getRun(ctx, runId);
  const row = ctx.stmt("SELECT memory_json FROM runs WHERE id = ?").get(runId) as { memory_json: string | null };
  return row.memory_json === null ? null : (JSON.parse(row.memory_json) as JsonValue);
}

/** The memories of several runs in one read, by run id (runs without one are absent). */
export function runMemories(ctx: StoreContext, runIds: readonly number[]): Map<number, JsonValue> {
  for (const id of runIds) checkId("runMemories", "runIds[]", id);
  const rows = ctx
    .stmt("SELECT id, memory_json FROM runs WHERE id IN (SELECT value FROM json_each(?)) AND memory_json IS NOT NULL")
    .all(JSON.stringify(runIds)) as { id: number; memory_json: string }[];
  return new Map(rows.map((r) => [r.id, JSON.parse(r.memory_json) as JsonValue]));
}
