/**
 * The progress chart, autoresearch's progress.png: val_bpb of every experiment by its seq, with
 * the kept steps drawn as a staircase (the branch head over time), one staircase per org. With
 * one org the points are coloured by status; with several, by org (kept points solid, the rest
 * faint). Crashes, and experiments so far above the kept line that they would flatten it, are
 * drawn at the top edge with their own shape and counted, never dropped.
 *
 * Past MAX_POINTS finished experiments a point each would be megabytes of SVG that show nothing
 * more, so the chart summarises: the kept points and the staircase (the running best) as
 * before, and the rest as a band per org — the 10th to 90th percentile of their val_bpb in each
 * of at most BINS bins of consecutive experiments — with a mark at the top edge for each bin that
 * had failures. The summary line says what was binned.
 *
 * With a measured seed noise, the kept line carries a band of ±1 sd: a kept step inside it is
 * no larger than what a change of seed moves val_bpb, and the summary says so.
 */
import type { ChartSpec, ExperimentRow, SeedNoise } from "../types.ts";
import { SERIES_COLORS, STATUS_COLORS } from "./theme.ts";

export interface ProgressSeries {
  org: string;
  experiments: readonly ExperimentRow[];
}

export interface ProgressChart {
  chart: ChartSpec | null;
  offChart: number;
  summary: string;
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

/** The y range: the kept line fills the chart; outliers above it are clamped to the top. */
const min = (xs: readonly number[]) => xs.reduce((a, b) => (b < a ? b : a), Infinity);
const max = (xs: readonly number[]) => xs.reduce((a, b) => (b > a ? b : a), -Infinity);

function yDomain(measured: number[], kept: number[]): [number, number] {
  const lo = min(measured);
  const top = kept.length > 0 ? max(kept) : max(measured);
  const spread = Math.max(top - lo, 0.005);
  const hi = Math.min(max(measured), top + spread);
  const pad = Math.max((hi - lo) * 0.06, 0.001);
  return [lo - pad, hi + pad];
}

export function progressChart(id: string, series: readonly ProgressSeries[], noise: SeedNoise | null = null): ProgressChart {
  // One pass over what may be a week of experiments: counts and values, no object per row.
  const isFinished = (e: ExperimentRow) => (STATUSES as readonly string[]).includes(e.status);
  let finished = 0;
  let failures = 0;
  const measured: number[] = [];
  const kept: number[] = [];
  for (const s of series)
    for (const e of s.experiments) {
      if (!isFinished(e)) continue;
      finished++;
      if (e.valBpb === null) failures++;
      else {
        measured.push(e.valBpb);
        if (e.status === "keep") kept.push(e.valBpb);
      }
    }
  if (finished === 0) return { chart: null, offChart: 0, summary: "no experiment has finished yet" };
  let [lo, hi] = measured.length > 0 ? yDomain(measured, kept) : [0, 1];
  // The noise band around the kept line is drawn whole.
  if (noise && noise.sd > 0 && kept.length > 0) [lo, hi] = [Math.min(lo, min(kept) - noise.sd), Math.max(hi, max(kept) + noise.sd)];
  const top = hi - (hi - lo) * 0.02;

  let offChart = 0;
  const binned = finished > MAX_POINTS;
  const drawn: { s: ProgressSeries; e: ExperimentRow }[] = [];
  for (const s of series) for (const e of s.experiments) if (isFinished(e) && (!binned || e.status === "keep")) drawn.push({ s, e });
  const points = drawn.map(({ s, e }) => {
    let place: (typeof PLACES)[number] = "measured";
    let y = e.valBpb ?? top;
    if (e.valBpb === null) place = "no result"; // a crash, or an invalid model
    else if (e.valBpb > hi) {
      place = "above the chart";
      y = top;
      offChart++;
    }
    return { org: s.org, seq: e.seq, val_bpb: y, status: e.status, place, kept: e.status === "keep" };
  });

  // The staircase: each keep sets the level until the next one; the last level runs on to the
  // last experiment so the line shows where the branch head stands now.
  const stairs = series.flatMap((s) => {
    const keeps = s.experiments.filter((e) => e.status === "keep" && e.valBpb !== null).sort((a, b) => a.seq - b.seq);
    if (keeps.length === 0) return [];
    const last = max(s.experiments.map((e) => e.seq));
    const steps = keeps.map((e) => ({ org: s.org, seq: e.seq, val_bpb: e.valBpb! }));
    if (last > keeps.at(-1)!.seq) steps.push({ org: s.org, seq: last, val_bpb: keeps.at(-1)!.valBpb! });
    return steps;
  });

  // The band: per org, bins of consecutive experiments; in each, the spread of the val_bpb of
  // those not kept (clamped to the chart), and whether any failed.
  const band: { org: string; seq: number; low: number; high: number; n: number }[] = [];
  const failed: { org: string; seq: number; val_bpb: number; failures: number }[] = [];
  const binsPerOrg = Math.max(MIN_BINS, Math.floor((2 * BINS) / (series.length + 1)));
  if (binned)
    for (const s of series) {
      const rest = s.experiments.filter((e) => e.status !== "keep" && (STATUSES as readonly string[]).includes(e.status));
      if (rest.length === 0) continue;
      const first = min(rest.map((e) => e.seq));
      const last = max(rest.map((e) => e.seq));
      const width = Math.max(1, Math.ceil((last - first + 1) / binsPerOrg));
      const bins = new Map<number, { values: number[]; failures: number }>();
      for (const e of rest) {
        const k = Math.floor((e.seq - first) / width);
        let bin = bins.get(k);
        if (!bin) bins.set(k, (bin = { values: [], failures: 0 }));
        if (e.valBpb === null) bin.failures++;
        else {
          bin.values.push(Math.min(e.valBpb, hi));
          if (e.valBpb > hi) offChart++;
        }
      }
      for (const [k, bin] of [...bins].sort((a, b) => a[0] - b[0])) {
        const seq = first + k * width + (width - 1) / 2;
        if (bin.values.length > 0) {
          const sorted = bin.values.sort((a, b) => a - b);
          band.push({ org: s.org, seq, low: quantile(sorted, 0.1), high: quantile(sorted, 0.9), n: sorted.length });
        }
        if (bin.failures > 0) failed.push({ org: s.org, seq, val_bpb: top, failures: bin.failures });
      }
    }

  const multi = series.length > 1;
  const orgs = series.map((s) => s.org);
  const orgColor = { field: "org", type: "nominal", title: "org", scale: { domain: orgs, range: SERIES_COLORS } };
  const x = { field: "seq", type: "quantitative", title: "experiment", axis: { tickMinStep: 1, format: "d" } };
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
  const noiseBand = noise && noise.sd > 0 ? stairs.map((p) => ({ org: p.org, seq: p.seq, low: p.val_bpb - noise.sd, high: p.val_bpb + noise.sd })) : [];
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

  const keptCount = kept.length;
  const best = kept.length > 0 ? min(kept) : null;
  const first = stairs[0]?.val_bpb ?? null;
  const summary =
    `${finished} finished experiment${finished === 1 ? "" : "s"}, ${keptCount} kept` +
    (best !== null && first !== null ? `; the kept line goes from ${first.toFixed(6)} to ${best.toFixed(6)}` : "") +
    (binned
      ? `; the other ${finished - keptCount} are drawn as a band (10th to 90th percentile of val_bpb per bin of consecutive experiments), ` +
        `${failures} without a result marked at the top edge by bin` +
        (offChart > 0 ? `, ${offChart} far above the kept line clamped to the top` : "")
      : offChart > 0
        ? `; ${offChart} far above it drawn at the top edge`
        : "") +
    (noise
      ? `; the shaded band around the kept line is ±1 sd of seed noise (${noise.sd.toFixed(6)} over ${noise.seeds} seeds of the baseline): a step inside it may be luck`
      : "; no seed noise measured under these conditions (`nightshift noise` measures it), so no step can be told from luck here");
  return {
    chart: { id, title: multi ? "val_bpb per experiment, by org" : "val_bpb per experiment", description: summary, vegaLite },
    offChart,
    summary,
  };
}
