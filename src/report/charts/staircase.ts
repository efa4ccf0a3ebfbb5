/**
 * The val_bpb staircase on any x axis: what the progress chart (x = experiment seq, progress.ts)
 * and the wall-clock chart (x = time since the start, wall-clock.ts) share. Every finished
 * experiment is a point at its x, and the kept steps are a staircase (the branch head as it
 * moved), one per org. With one org the points are coloured by status; with several, by org
 * (kept points solid, the rest faint). Crashes, and experiments so far above the kept line that
 * they would flatten it, are drawn at the top edge with their own shape and counted, never
 * dropped. An experiment the axis cannot place (a wall clock without its finish time) is left
 * out and counted.
 *
 * Past MAX_POINTS finished experiments a point each would be megabytes of SVG that show nothing
 * more, so the chart summarises: the kept points and the staircase (the running best) as
 * before, and the rest as a band per org — the 10th to 90th percentile of their val_bpb in each
 * of at most BINS bins along x — with a mark at the top edge for each bin that had failures.
 *
 * With a measured seed noise, the kept line carries a band of ±1 sd: a kept step inside it is
 * no larger than what a change of seed moves val_bpb.
 *
 * Only the chart's data and layers are built here; each axis's module words its own summary
 * from the counts this returns.
 */
import type { ChartSpec, ExperimentRow, SeedNoise } from "../types.ts";
import { SERIES_COLORS, STATUS_COLORS } from "./theme.ts";

export interface ProgressSeries {
  org: string;
  experiments: readonly ExperimentRow[];
}

/** Where an experiment goes along x, and how the axis reads. */
export interface StairAxis {
  /** The data field of x (the progress chart's is "seq"). */
  field: string;
  title: string;
  /** x of an experiment; null when this axis has no place for it (left out and counted). */
  x(e: ExperimentRow): number | null;
  /** Whole numbers (experiment seqs): a bin holds whole experiments, ticks are integers. */
  discrete: boolean;
  /** Extra Vega-Lite scale properties of x (e.g. a wall clock starts at zero). */
  scale?: Record<string, unknown>;
}

/** What a staircase drew, for its summary line. */
export interface StairCounts {
  /** Finished experiments (keep, discard, crash, invalid), placed or not. */
  finished: number;
  kept: number;
  /** Finished without a val_bpb (crashes, invalid models). */
  failures: number;
  /** Drawn at the top edge (or clamped into a bin) because far above the kept line. */
  offChart: number;
  /** Finished experiments the axis had no place for. */
  unplaced: number;
  binned: boolean;
  /** The first kept level and the best kept val_bpb, with the x where the best was reached. */
  first: number | null;
  best: number | null;
  bestX: number | null;
  /** The largest x of any experiment placed (where the staircases end). */
  lastX: number | null;
}

export interface Staircase {
  /** The Vega-Lite spec, null when no experiment has finished. */
  vegaLite: Record<string, unknown> | null;
  counts: StairCounts;
}

const STATUSES = ["keep", "discard", "crash", "invalid"] as const;
const PLACES = ["measured", "above the chart", "no result"] as const;

/** Finished experiments drawn one point each; above, the chart bins the ones not kept. */
export const MAX_POINTS = 600;
/** Bins of a binned chart with one org; with several, fewer each (at least MIN_BINS). */
export const BINS = 120;
export const MIN_BINS = 24;

function quantile(sorted: readonly number[], q: number): number {
  const at = (sorted.length - 1) * q;
  const lo = Math.floor(at);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (at - lo);
}

const min = (xs: readonly number[]) => xs.reduce((a, b) => (b < a ? b : a), Infinity);
const max = (xs: readonly number[]) => xs.reduce((a, b) => (b > a ? b : a), -Infinity);

/** The y range: the kept line fills the chart; outliers above it are clamped to the top. */
function yDomain(measured: number[], kept: number[]): [number, number] {
  const lo = min(measured);
  const top = kept.length > 0 ? max(kept) : max(measured);
  const spread = Math.max(top - lo, 0.005);
  const hi = Math.min(max(measured), top + spread);
  const pad = Math.max((hi - lo) * 0.06, 0.001);
  return [lo - pad, hi + pad];
}

const isFinished = (e: ExperimentRow) => (STATUSES as readonly string[]).includes(e.status);

/** Bins along x: whole experiments per bin on a discrete axis, equal spans of x otherwise. */
function binning(first: number, last: number, bins: number, discrete: boolean): { of: (x: number) => number; center: (k: number) => number } {
  if (discrete) {
    const width = Math.max(1, Math.ceil((last - first + 1) / bins));
    return { of: (x) => Math.floor((x - first) / width), center: (k) => first + k * width + (width - 1) / 2 };
  }
  const width = last > first ? (last - first) / bins : 1;
  return { of: (x) => Math.min(bins - 1, Math.floor((x - first) / width)), center: (k) => first + (k + 0.5) * width };
}

export function staircase(series: readonly ProgressSeries[], axis: StairAxis, noise: SeedNoise | null): Staircase {
  // One pass over what may be a week of experiments: counts and values, no object per row.
  let finished = 0;
  let failures = 0;
  let unplaced = 0;
  const measured: number[] = [];
  const kept: number[] = [];
  for (const s of series)
    for (const e of s.experiments) {
      if (!isFinished(e)) continue;
      finished++;
      if (axis.x(e) === null) unplaced++;
      if (e.valBpb === null) failures++;
      else {
        measured.push(e.valBpb);
        if (e.status === "keep") kept.push(e.valBpb);
      }
    }
  if (finished === 0 || finished === unplaced)
    return { vegaLite: null, counts: { finished, kept: kept.length, failures, offChart: 0, unplaced, binned: false, first: null, best: null, bestX: null, lastX: null } };
  let [lo, hi] = measured.length > 0 ? yDomain(measured, kept) : [0, 1];
  // The noise band around the kept line is drawn whole.
  if (noise && noise.sd > 0 && kept.length > 0) [lo, hi] = [Math.min(lo, min(kept) - noise.sd), Math.max(hi, max(kept) + noise.sd)];
  const top = hi - (hi - lo) * 0.02;

  let offChart = 0;
  const binned = finished - unplaced > MAX_POINTS;
  const points: Record<string, unknown>[] = [];
  for (const s of series)
    for (const e of s.experiments) {
      if (!isFinished(e) || (binned && e.status !== "keep")) continue;
      const x = axis.x(e);
      if (x === null) continue;
      let place: (typeof PLACES)[number] = "measured";
      let y = e.valBpb ?? top;
      if (e.valBpb === null) place = "no result"; // a crash, or an invalid model
      else if (e.valBpb > hi) {
        place = "above the chart";
        y = top;
        offChart++;
      }
      points.push({ org: s.org, seq: e.seq, [axis.field]: x, val_bpb: y, status: e.status, place, kept: e.status === "keep" });
    }

  // The staircase: each keep sets the level until the next one; the last level runs on to the
  // last experiment so the line shows where the branch head stands now.
  let lastX: number | null = null;
  let best: { valBpb: number; x: number } | null = null;
  const stairs = series.flatMap((s) => {
    const keeps = s.experiments
      .filter((e) => e.status === "keep" && e.valBpb !== null && axis.x(e) !== null)
      .map((e) => ({ x: axis.x(e)!, valBpb: e.valBpb! }))
      .sort((a, b) => a.x - b.x);
    const xs = s.experiments.map((e) => axis.x(e)).filter((x): x is number => x !== null);
    if (xs.length > 0) lastX = Math.max(lastX ?? -Infinity, max(xs));
    for (const k of keeps) if (best === null || k.valBpb < best.valBpb || (k.valBpb === best.valBpb && k.x < best.x)) best = k;
    if (keeps.length === 0) return [];
    const last = max(xs);
    const steps = keeps.map((k) => ({ org: s.org, [axis.field]: k.x, val_bpb: k.valBpb }));
    if (last > keeps.at(-1)!.x) steps.push({ org: s.org, [axis.field]: last, val_bpb: keeps.at(-1)!.valBpb });
    return steps;
  });

  // The band: per org, bins along x; in each, the spread of the val_bpb of those not kept
  // (clamped to the chart), and whether any failed.
  const band: Record<string, unknown>[] = [];
  const failed: Record<string, unknown>[] = [];
  const binsPerOrg = Math.max(MIN_BINS, Math.floor((2 * BINS) / (series.length + 1)));
  if (binned)
    for (const s of series) {
      const rest: { x: number; valBpb: number | null }[] = [];
      for (const e of s.experiments) {
        if (e.status === "keep" || !isFinished(e)) continue;
        const x = axis.x(e);
        if (x !== null) rest.push({ x, valBpb: e.valBpb });
      }
      if (rest.length === 0) continue;
      const bin = binning(min(rest.map((r) => r.x)), max(rest.map((r) => r.x)), binsPerOrg, axis.discrete);
      const bins = new Map<number, { values: number[]; failures: number }>();
      for (const r of rest) {
        const k = bin.of(r.x);
        let b = bins.get(k);
        if (!b) bins.set(k, (b = { values: [], failures: 0 }));
        if (r.valBpb === null) b.failures++;
        else {
          b.values.push(Math.min(r.valBpb, hi));
          if (r.valBpb > hi) offChart++;
        }
      }
      for (const [k, b] of [...bins].sort((a, c) => a[0] - c[0])) {
        const x = bin.center(k);
        if (b.values.length > 0) {
          const sorted = b.values.sort((a, c) => a - c);
          band.push({ org: s.org, [axis.field]: x, low: quantile(sorted, 0.1), high: quantile(sorted, 0.9), n: sorted.length });
        }
        if (b.failures > 0) failed.push({ org: s.org, [axis.field]: x, val_bpb: top, failures: b.failures });
      }
    }

  const multi = series.length > 1;
  const orgs = series.map((s) => s.org);
  const orgColor = { field: "org", type: "nominal", title: "org", scale: { domain: orgs, range: SERIES_COLORS } };
  const x = {
    field: axis.field,
    type: "quantitative",
    title: axis.title,
    ...(axis.discrete ? { axis: { tickMinStep: 1, format: "d" } } : {}),
    ...(axis.scale ? { scale: axis.scale } : {}),
  };
  const y = { field: "val_bpb", type: "quantitative", title: "val_bpb (lower is better)", scale: { domain: [lo, hi], zero: false, nice: false } };

  const bandLayers = binned
    ? [
        {
          data: { values: band },
          mark: { type: "area", opacity: multi ? 0.18 : 0.3, ...(multi ? {} : { color: STATUS_COLORS.discard }) },
          encoding: { x, y: { ...y, field: "low" }, y2: { field: "high" }, detail: { field: "org" }, ...(multi ? { color: orgColor } : {}) },
        },
        {
          data: { values: failed },
          mark: { type: "tick", thickness: 1, size: 8, ...(multi ? {} : { color: STATUS_COLORS.crash }) },
          encoding: { x, y, ...(multi ? { color: orgColor } : {}) },
        },
      ]
    : [];
  const noiseBand =
    noise && noise.sd > 0 ? stairs.map((p) => ({ org: p.org, [axis.field]: p[axis.field], low: (p.val_bpb as number) - noise.sd, high: (p.val_bpb as number) + noise.sd })) : [];
  const noiseLayers =
    noiseBand.length > 0
      ? [
          {
            data: { values: noiseBand },
            mark: { type: "area", interpolate: "step-after", opacity: 0.15, ...(multi ? {} : { color: STATUS_COLORS.keep }) },
            encoding: { x, y: { ...y, field: "low" }, y2: { field: "high" }, detail: { field: "org" }, ...(multi ? { color: orgColor } : {}) },
          },
        ]
      : [];
  const vegaLite = {
    width: 640,
    height: 300,
    layer: [
      ...noiseLayers,
      ...bandLayers,
      {
        data: { values: stairs },
        mark: { type: "line", interpolate: "step-after", strokeWidth: 2, ...(multi ? {} : { color: STATUS_COLORS.keep }) },
        encoding: { x, y, detail: { field: "org" }, ...(multi ? { color: orgColor } : {}) },
      },
      {
        data: { values: points },
        mark: { type: "point", filled: true, size: 70 },
        encoding: {
          x,
          y,
          color: multi
            ? orgColor
            : { field: "status", type: "nominal", title: "status", scale: { domain: [...STATUSES], range: STATUSES.map((s) => STATUS_COLORS[s]) } },
          shape: {
            field: "place",
            type: "nominal",
            title: "drawn",
            scale: { domain: [...PLACES], range: ["circle", "triangle-up", "cross"] },
          },
          ...(multi ? { opacity: { field: "kept", type: "ordinal", legend: null, scale: { domain: [true, false], range: [1, 0.35] } } } : {}),
        },
      },
    ],
    resolve: { scale: { color: "shared" } },
  };

  const firstLevel = stairs[0]?.val_bpb;
  const reached = best as { valBpb: number; x: number } | null; // assigned in the closure above
  return {
    vegaLite,
    counts: {
      finished,
      kept: kept.length,
      failures,
      offChart,
      unplaced,
      binned,
      first: typeof firstLevel === "number" ? firstLevel : null,
      best: kept.length > 0 ? min(kept) : null,
      bestX: reached?.x ?? null,
      lastX,
    },
  };
}

// ---- the summary's shared phrases --------------------------------------------------------------

/** "; the other N are drawn as a band (…per bin of <binOf>), …" when binned; the outliers otherwise. */
export function binnedPhrase(c: StairCounts, binOf: string): string {
  if (c.binned)
    return (
      `; the other ${c.finished - c.unplaced - c.kept} are drawn as a band (10th to 90th percentile of val_bpb per bin of ${binOf}), ` +
      `${c.failures} without a result marked at the top edge by bin` +
      (c.offChart > 0 ? `, ${c.offChart} far above the kept line clamped to the top` : "")
    );
  return c.offChart > 0 ? `; ${c.offChart} far above it drawn at the top edge` : "";
}

/** What the band around the kept line is, or that no noise was measured. */
export function noisePhrase(noise: SeedNoise | null): string {
  return noise
    ? `; the shaded band around the kept line is ±1 sd of seed noise (${noise.sd.toFixed(6)} over ${noise.seeds} seeds of the baseline): a step inside it may be luck`
    : "; no seed noise measured under these conditions (`nightshift noise` measures it for a run nightshift trained, not for an imported one), so no step can be told from luck here";
}

/** "N finished experiments, K kept". */
export function countPhrase(c: StairCounts): string {
  return `${c.finished} finished experiment${c.finished === 1 ? "" : "s"}, ${c.kept} kept`;
}

/** A chart spec from a staircase, or null when it drew nothing. */
export function stairChartSpec(id: string, title: string, stairs: Staircase, description: string): ChartSpec | null {
  return stairs.vegaLite ? { id, title, description, vegaLite: stairs.vegaLite } : null;
}
