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

const cell = (v: string | number | boolean | null | undefined): string => {
  if (v === null || v === undefined) return "";
  if (typeof v === "boolean") return v ? "1" : "";
  return String(v).replace(/[\t\r\n]+/g, " ");
};

const fixed = (v: number | null, digits: number) => (v === null ? null : v.toFixed(digits));

/** The TSV text (header and one line per experiment, each ending in "\n"). */
export function experimentsTsv(runs: readonly TableRun[]): string {
  const lines = [EXPERIMENTS_TSV_COLUMNS.join("\t")];
  for (const { section, rows, night } of runs)
    for (const r of rows)
      lines.push(
        [
          night ?? null,
          section.org.name,
          section.id,
          r.seq,
          r.slot,
          r.commit,
          r.status,
          r.outcome,
          fixed(r.valBpb, 6),
          fixed(r.delta, 6),
          fixed(r.memoryGb, 1),
          fixed(r.trainingSeconds, 1),
          fixed(r.wallSeconds, 1),
          r.steps,
          fixed(r.costUsd, 4),
          r.isBaseline,
          r.fixOfSeq,
          r.description,
          r.reason,
        ]
          .map(cell)
          .join("\t"),
      );
  return lines.join("\n") + "\n";
}

/** Experiments in the table. */
export const tableRows = (runs: readonly TableRun[]) => runs.reduce((s, r) => s + r.rows.length, 0);
