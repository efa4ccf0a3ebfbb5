/**
 * The progress chart, autoresearch's progress.png: val_bpb of every experiment by its seq, with
 * the kept steps drawn as a staircase (the branch head over time), one staircase per org. With
 * one org the points are coloured by status; with several, by org (kept points solid, the rest
 * faint). Crashes, and experiments so far above the kept line that they would flatten it, are
 * drawn at the top edge with their own shape and counted, never dropped.
 */
import type { ChartSpec, ExperimentRow } from "../types.ts";
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

/** The y range: the kept line fills the chart; outliers above it are clamped to the top. */
function yDomain(measured: number[], kept: number[]): [number, number] {
  const lo = Math.min(...measured);
  const top = kept.length > 0 ? Math.max(...kept) : Math.max(...measured);
  const spread = Math.max(top - lo, 0.005);
  const hi = Math.min(Math.max(...measured), top + spread);
  const pad = Math.max((hi - lo) * 0.06, 0.001);
  return [lo - pad, hi + pad];
}

export function progressChart(id: string, series: readonly ProgressSeries[]): ProgressChart {
  const finished = series.flatMap((s) =>
    s.experiments.filter((e) => (STATUSES as readonly string[]).includes(e.status)).map((e) => ({ s, e })),
  );
  if (finished.length === 0) return { chart: null, offChart: 0, summary: "no experiment has finished yet" };
  const measured = finished.filter(({ e }) => e.valBpb !== null).map(({ e }) => e.valBpb!);
  const kept = finished.filter(({ e }) => e.status === "keep").map(({ e }) => e.valBpb!);
  const [lo, hi] = measured.length > 0 ? yDomain(measured, kept) : [0, 1];
  const top = hi - (hi - lo) * 0.02;

  let offChart = 0;
  const points = finished.map(({ s, e }) => {
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
    const last = Math.max(...s.experiments.map((e) => e.seq));
    const steps = keeps.map((e) => ({ org: s.org, seq: e.seq, val_bpb: e.valBpb! }));
    if (last > keeps.at(-1)!.seq) steps.push({ org: s.org, seq: last, val_bpb: keeps.at(-1)!.valBpb! });
    return steps;
  });

  const multi = series.length > 1;
  const orgs = series.map((s) => s.org);
  const orgColor = { field: "org", type: "nominal", title: "org", scale: { domain: orgs, range: SERIES_COLORS } };
  const x = { field: "seq", type: "quantitative", title: "experiment", axis: { tickMinStep: 1, format: "d" } };
  const y = { field: "val_bpb", type: "quantitative", title: "val_bpb (lower is better)", scale: { domain: [lo, hi], zero: false, nice: false } };

  const vegaLite = {
    width: 640,
    height: 300,
    layer: [
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

  const keptCount = points.filter((p) => p.kept).length;
  const best = kept.length > 0 ? Math.min(...kept) : null;
  const first = stairs[0]?.val_bpb ?? null;
  const summary =
    `${points.length} finished experiment${points.length === 1 ? "" : "s"}, ${keptCount} kept` +
    (best !== null && first !== null ? `; the kept line goes from ${first.toFixed(6)} to ${best.toFixed(6)}` : "") +
    (offChart > 0 ? `; ${offChart} far above it drawn at the top edge` : "");
  return {
    chart: { id, title: multi ? "val_bpb per experiment, by org" : "val_bpb per experiment", description: summary, vegaLite },
    offChart,
    summary,
  };
}
