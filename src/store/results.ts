/**
 * A run's results as autoresearch has them: the history the agents see (HistoryEntry) and the
 * exact results.tsv text. Both list the finished experiments (keep, discard, crash, and invalid:
 * a model the evaluator caught cheating, a status autoresearch's program.md lacks) in seq order;
 * skipped proposals and experiments still in flight are not results.
 *
 * results.tsv, as program.md specifies it: header `commit\tval_bpb\tmemory_gb\tstatus\tdescription`,
 * the 7-character short hash, val_bpb with 6 decimals, memory_gb = peak_vram_mb / 1024 with 1
 * decimal, 0.000000 and 0.0 for a run without a result, every line ending in "\n".
 */
import type { HistoryEntry } from "../agents/types.ts";
import type { StoreContext } from "./context.ts";
import type { ExperimentRow } from "./experiments.ts";
import { getRun } from "./runs.ts";

export const RESULTS_TSV_HEADER = "commit\tval_bpb\tmemory_gb\tstatus\tdescription";

const FINISHED = "status IN ('keep', 'discard', 'crash', 'invalid')";
/** The columns a history entry reads: never the diff or the log tail, which dwarf the rest. */
const ENTRY_COLUMNS = "commit_hash, val_bpb, peak_vram_mb, status, description";
type EntryRow = Pick<ExperimentRow, "commit_hash" | "val_bpb" | "peak_vram_mb" | "status" | "description">;

function finishedRows(ctx: StoreContext, runId: number): EntryRow[] {
  getRun(ctx, runId);
  return ctx.stmt(`SELECT ${ENTRY_COLUMNS} FROM experiments WHERE run_id = ? AND ${FINISHED} ORDER BY seq`).all(runId) as EntryRow[];
}

function toEntry(r: EntryRow): HistoryEntry {
  return {
    commit: r.commit_hash!.slice(0, 7),
    val_bpb: r.val_bpb,
    // Rounded as the TSV prints it, so the history and the TSV say the same thing.
    memory_gb: r.peak_vram_mb === null ? 0 : Number((r.peak_vram_mb / 1024).toFixed(1)),
    status: r.status as HistoryEntry["status"],
    // A TSV cell cannot hold a tab or a line break; descriptions are one line by contract.
    description: r.description.replace(/[\t\r\n]+/g, " ").trim(),
  };
}

export function runHistory(ctx: StoreContext, runId: number): HistoryEntry[] {
  return finishedRows(ctx, runId).map(toEntry);
}

export interface RecentHistory {
  /** The newest `limit` finished experiments, oldest of them first. */
  entries: HistoryEntry[];
  /** Finished experiments of the run, shown or not. */
  total: number;
}

/**
 * The end of a run's history: what a proposal shows its agent. Reads the newest rows through
 * the (run_id, seq) index, so its cost follows `limit`, not the length of the run.
 */
export function recentHistory(ctx: StoreContext, runId: number, limit: number): RecentHistory {
  getRun(ctx, runId);
  const newest = ctx
    .stmt(`SELECT ${ENTRY_COLUMNS} FROM experiments WHERE run_id = ? AND ${FINISHED} ORDER BY seq DESC LIMIT ?`)
    .all(runId, limit) as EntryRow[];
  const { n } = ctx.stmt(`SELECT COUNT(*) AS n FROM experiments WHERE run_id = ? AND ${FINISHED}`).get(runId) as { n: number };
  return { entries: newest.reverse().map(toEntry), total: n };
}

/** One results.tsv line (with its "\n") for a history entry. */
export function tsvLine(e: HistoryEntry): string {
  return `${e.commit}\t${(e.val_bpb ?? 0).toFixed(6)}\t${e.memory_gb.toFixed(1)}\t${e.status}\t${e.description}\n`;
}

export function resultsTsv(ctx: StoreContext, runId: number): string {
  return RESULTS_TSV_HEADER + "\n" + runHistory(ctx, runId).map(tsvLine).join("");
}

/**
 * The commit the run's branch should sit at: the last kept experiment's commit (by finish
 * time, then seq), or the run's base commit when nothing was kept. What lab.recover expects.
 */
export function runHead(ctx: StoreContext, runId: number): string {
  const run = getRun(ctx, runId);
  const r = ctx
    .stmt(
      `SELECT commit_hash FROM experiments WHERE run_id = ? AND status = 'keep'
       ORDER BY finished_at DESC, seq DESC LIMIT 1`,
    )
    .get(runId) as { commit_hash: string } | undefined;
  return r?.commit_hash ?? run.baseCommit;
}
