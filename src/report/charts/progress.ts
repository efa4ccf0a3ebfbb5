/**
 * The progress chart, autoresearch's progress.png: val_bpb of every experiment by its seq, with
 * the kept steps drawn as a staircase (the branch head over time), one staircase per org. The
 * drawing — points by status or org, outliers at the top edge, the binned band past MAX_POINTS,
 * the ±1 sd seed-noise band — is the staircase's (staircase.ts), shared with the wall-clock chart;
 * here are the axis (experiment seq) and the summary line.
 */
import type { ChartSpec, SeedNoise } from "../types.ts";
import { binnedPhrase, countPhrase, noisePhrase, stairChartSpec, staircase, type ProgressSeries, type StairAxis } from "./staircase.ts";

export { BINS, MAX_POINTS, MIN_BINS, type ProgressSeries } from "./staircase.ts";

export interface ProgressChart {
  chart: ChartSpec | null;
  offChart: number;
  summary: string;
}

const BY_SEQ: StairAxis = { field: "seq", title: "experiment", x: (e) => e.seq, discrete: true };

export function progressChart(id: string, series: readonly ProgressSeries[], noise: SeedNoise | null = null): ProgressChart {
  const stairs = staircase(series, BY_SEQ, noise);
  const c = stairs.counts;
  if (c.finished === 0) return { chart: null, offChart: 0, summary: "no experiment has finished yet" };
  const summary =
    countPhrase(c) +
    (c.best !== null && c.first !== null ? `; the kept line goes from ${c.first.toFixed(6)} to ${c.best.toFixed(6)}` : "") +
    binnedPhrase(c, "consecutive experiments") +
    noisePhrase(noise);
  const title = series.length > 1 ? "val_bpb per experiment, by org" : "val_bpb per experiment";
  return { chart: stairChartSpec(id, title, stairs, summary), offChart: c.offChart, summary };
}
