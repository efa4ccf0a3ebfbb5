/**
 * The full experiment list of a report as TSV: one line per experiment of every run the report
 * covers, whatever its tables show. The report writer puts it beside the report
 * (`<report>.experiments.tsv`) and the report links it; a summarised report's tables point
 * here for the rows they leave out. Plain text, one header line, tab-separated, no quoting: a
 * tab or line break inside a text becomes a space.
 */
import type { ExperimentRow, RunSection } from "../types.ts";

/** One run's rows in the table, with the night they belong to in a tournament. */
export interface TableRun {
  section: RunSection;
  rows: readonly ExperimentRow[];
  night?: number;
}

export const EXPERIMENTS_TSV_COLUMNS = [
  "night",
  "org",
  "run",
  "seq",
  "slot",
  "commit",
  "status",
  "outcome",
  "val_bpb",
  "delta",
  "memory_gb",
  "training_s",
  "wall_s",
  "steps",
  "cost_usd",
  "baseline",
  "fix_of",
  "description",
  "reason",
] as const;

/** A text cell: a tab or line break inside becomes a space. */
const text = (v: string | null): string => (v === null ? "" : /[\t\r\n]/.test(v) ? v.replace(/[\t\r\n]+/g, " ") : v);
const num = (v: number | null | undefined): string => (v === null || v === undefined ? "" : String(v));
const fixed = (v: number | null, digits: number) => (v === null ? "" : v.toFixed(digits));

/** The TSV text (header and one line per experiment, each ending in "\n"). */
export function experimentsTsv(runs: readonly TableRun[]): string {
  // One template string per line: a week is 20,000 lines, and an array of cells per line would
  // be 20,000 arrays more for the collector.
  let out = EXPERIMENTS_TSV_COLUMNS.join("\t") + "\n";
  for (const { section, rows, night } of runs) {
    const prefix = `${num(night)}\t${text(section.org.name)}\t${section.id}\t`;
    for (const r of rows)
      out +=
        `${prefix}${r.seq}\t${r.slot}\t${r.commit}\t${r.status}\t${r.outcome ?? ""}\t${fixed(r.valBpb, 6)}\t${fixed(r.delta, 6)}\t` +
        `${fixed(r.memoryGb, 1)}\t${fixed(r.trainingSeconds, 1)}\t${fixed(r.wallSeconds, 1)}\t${num(r.steps)}\t${fixed(r.costUsd, 4)}\t` +
        `${r.isBaseline ? "1" : ""}\t${num(r.fixOfSeq)}\t${text(r.description)}\t${text(r.reason)}\n`;
  }
  return out;
}

/** Experiments in the table. */
export const tableRows = (runs: readonly TableRun[]) => runs.reduce((s, r) => s + r.rows.length, 0);
