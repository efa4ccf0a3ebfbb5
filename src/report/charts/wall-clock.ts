/**
 * val_bpb against wall-clock time: the progress chart's staircase (staircase.ts) with x = the
 * time each result landed (the experiment's recorded finish time in the store) since the run,
 * night or tournament started. Where the progress chart says how many tries a gain took, this
 * says how long: the hours a night spent before its best, the flat stretches where nothing was
 * kept, the gaps while an org waited for the device.
 *
 * The unit follows the span (seconds under two minutes, minutes under two hours, else hours).
 * A finished experiment without a usable finish time (none recorded, unparsable, or before the
 * start) is left out and counted in the summary, never placed at a guessed time.
 */
import { formatDuration } from "../format.ts";
import type { ChartSpec, ExperimentRow, SeedNoise } from "../types.ts";
import { binnedPhrase, countPhrase, noisePhrase, stairChartSpec, staircase, type ProgressSeries } from "./staircase.ts";

/** What the clock counts from, as the axis says it. */
export type ClockOrigin = "run" | "night" | "tournament";

export interface WallClockChart {
  chart: ChartSpec | null;
  summary: string;
}

const UNITS = [
  { name: "seconds", seconds: 1, upTo: 120 },
  { name: "minutes", seconds: 60, upTo: 2 * 3600 },
  { name: "hours", seconds: 3600, upTo: Infinity },
] as const;

/** Seconds from `originMs` to the experiment's finish; null without a usable finish time. */
function secondsSince(e: ExperimentRow, originMs: number): number | null {
  if (e.finishedAt === null) return null;
  const at = Date.parse(e.finishedAt);
  if (Number.isNaN(at) || at < originMs) return null;
  return (at - originMs) / 1000;
}

/**
 * The chart over `series`, its clock starting at `startedAt` (ISO 8601: the run's start, or the
 * earliest run's of a night or tournament).
 */
export function wallClockChart(id: string, series: readonly ProgressSeries[], startedAt: string, since: ClockOrigin, noise: SeedNoise | null = null): WallClockChart {
  const originMs = Date.parse(startedAt);
  if (Number.isNaN(originMs)) return { chart: null, summary: `the ${since}'s start time (${JSON.stringify(startedAt)}) is not a time, so nothing can be placed on a clock` };
  let span = 0;
  for (const s of series)
    for (const e of s.experiments) {
      const t = secondsSince(e, originMs);
      if (t !== null && t > span) span = t;
    }
  const unit = UNITS.find((u) => span < u.upTo)!;
  const stairs = staircase(
    series,
    {
      field: "time",
      title: `${unit.name} since the ${since} started`,
      x: (e) => {
        const t = secondsSince(e, originMs);
        return t === null ? null : t / unit.seconds;
      },
      discrete: false,
      scale: { domainMin: 0, nice: false },
    },
    noise,
  );
  const c = stairs.counts;
  if (c.finished === 0) return { chart: null, summary: "no experiment has finished yet" };
  const unplaced = c.unplaced > 0 ? `; ${c.unplaced} without a recorded finish time ${c.unplaced === 1 ? "is" : "are"} left out` : "";
  if (stairs.vegaLite === null) return { chart: null, summary: `${countPhrase(c)}${unplaced}` };
  const at = (x: number | null) => formatDuration((x ?? 0) * unit.seconds);
  const summary =
    `${countPhrase(c)} over ${at(c.lastX)} of wall clock` +
    (c.best !== null && c.first !== null ? `; the kept line goes from ${c.first.toFixed(6)} to ${c.best.toFixed(6)}, reached ${at(c.bestX)} after the start` : "") +
    unplaced +
    binnedPhrase(c, "time") +
    noisePhrase(noise);
  const title = series.length > 1 ? "val_bpb against wall-clock time, by org" : "val_bpb against wall-clock time";
  return { chart: stairChartSpec(id, title, stairs, summary), summary };
}
