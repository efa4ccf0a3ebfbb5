/**
 * How much a report shows, so that it tells the story at any size: a week on 8 GPUs is ~16,000
 * experiments, and a page with a row, a bar and a point per experiment (36 MB at 20,000) is a
 * page nobody opens. Up to ALL_ROWS_UP_TO experiments a report lists everything, as it always
 * did; above, it summarises (the full list is the TSV written beside the report). The charts
 * downsample on their own thresholds (charts/progress.ts, charts/timeline.ts).
 *
 * Only numbers and the plan derived from them live here; the builders apply them.
 */
import type { DetailNote } from "../types.ts";

export const LIMITS = {
  /** A report with at most this many experiments lists every row, failure and kept diff. */
  allRowsUpTo: 500,
  // Summarising, each list has a budget over the whole report, split evenly among its runs with
  // a floor per run: a run report gets it all, a week of 56 runs a few rows each.
  /** Experiment-table rows (each run's best by val_bpb). */
  tableRows: { report: 300, minPerRun: 10 },
  /** Kept changes listed (the champion chain first, then the largest gains). */
  kept: { report: 240, minPerRun: 5 },
  /** Failures listed with their log tails (the latest); all of them are summed by cause. */
  failures: { report: 40, minPerRun: 2 },
  /** Skipped proposals listed (the latest). */
  skipped: { report: 40, minPerRun: 2 },
  /** Champion-chain changes shown with their full diff (the latest). */
  chainDiffs: { report: 60, minPerRun: 10 },
  /** Causes listed in a run's failure summary (the most frequent). */
  causesPerRun: 25,
} as const;

/** How many of a list each run shows, when summarising. */
export interface PerRun {
  rows: number;
  kept: number;
  failures: number;
  skipped: number;
  chainDiffs: number;
}

export interface DetailPlan extends DetailNote {
  perRun: PerRun;
}

const share = (budget: { report: number; minPerRun: number }, runs: number) => Math.max(budget.minPerRun, Math.floor(budget.report / Math.max(runs, 1)));

/** The plan of a report over `experiments` experiments in `runs` runs. */
export function planDetail(experiments: number, runs: number): DetailPlan {
  return {
    summarised: experiments > LIMITS.allRowsUpTo,
    experiments,
    allRowsUpTo: LIMITS.allRowsUpTo,
    perRun: {
      rows: share(LIMITS.tableRows, runs),
      kept: share(LIMITS.kept, runs),
      failures: share(LIMITS.failures, runs),
      skipped: share(LIMITS.skipped, runs),
      chainDiffs: share(LIMITS.chainDiffs, runs),
    },
  };
}
