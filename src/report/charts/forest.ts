/**
 * The leaderboard's forest plot: one row per org, its verified gain as a point with the
 * interval as a line, a rule at zero (no gain). Intervals that cross zero are what the
 * statistics call inconclusive; the plot shows that at a glance.
 */
import type { ChartSpec, Interval } from "../types.ts";
import { INTERVAL_COLOR } from "./theme.ts";

export interface ForestRow {
  label: string;
  interval: Interval;
}

export function forestChart(id: string, rows: readonly ForestRow[], title = "verified gain per org"): ChartSpec | null {
  if (rows.length === 0) return null;
  const values = rows.map((r) => ({ label: r.label, estimate: r.interval.estimate, low: r.interval.low, high: r.interval.high }));
  const order = [...values].sort((a, b) => b.estimate - a.estimate).map((v) => v.label);
  const level = Math.round((rows[0]!.interval.level ?? 0.95) * 100);
  const y = { field: "label", type: "nominal", title: null, sort: order };
  // zero always in view (the "no gain" line), with room so no interval ends on the frame.
  const x = { type: "quantitative", title: `gain in val_bpb, ${level}% interval (right is better)`, scale: { zero: true, nice: true, padding: 14 } };
  return {
    id,
    title,
    description: `${rows.length} org${rows.length === 1 ? "" : "s"} by verified gain; ${values.filter((v) => v.low > 0).length} with an interval above zero`,
    vegaLite: {
      width: 560,
      height: Math.max(24 * rows.length, 40),
      layer: [
        { data: { values: [{ zero: 0 }] }, mark: { type: "rule", strokeDash: [4, 3], color: "#8c939d" }, encoding: { x: { field: "zero", ...x } } },
        { data: { values }, mark: { type: "rule", strokeWidth: 2, color: INTERVAL_COLOR }, encoding: { y, x: { field: "low", ...x }, x2: { field: "high" } } },
        { data: { values }, mark: { type: "point", filled: true, size: 80, color: INTERVAL_COLOR }, encoding: { y, x: { field: "estimate", ...x } } },
      ],
    },
  };
}
