/**
 * Device time per org over a night: one bar per org, split by allocation round, so successive
 * halving (or a bandit) shows where the hours went as the night went on; over a tournament,
 * split by night and round.
 */
import type { AllocationSection, ChartSpec } from "../types.ts";

export function allocationChart(id: string, rows: AllocationSection["rows"]): ChartSpec | null {
  if (rows.length === 0) return null;
  const orgs = [...new Set(rows.map((r) => r.org))];
  // Over several nights (a tournament) a bar's pieces are night and round.
  const nights = new Set(rows.map((r) => r.night)).size > 1;
  const hours = rows.reduce((s, r) => s + r.deviceSeconds, 0) / 3600;
  return {
    id,
    title: "device time per org",
    description: `${hours >= 1 ? `${hours.toFixed(2)} device hours` : `${(hours * 60).toFixed(1)} device minutes`} over ${orgs.length} org${orgs.length === 1 ? "" : "s"}`,
    vegaLite: {
      width: 560,
      height: Math.max(24 * orgs.length, 40),
      data: { values: rows.map((r) => ({ org: r.org, round: nights ? `night ${r.night} · round ${r.round}` : `round ${r.round}`, hours: r.deviceSeconds / 3600 })) },
      mark: "bar",
      encoding: {
        y: { field: "org", type: "nominal", title: null, sort: orgs },
        x: { field: "hours", type: "quantitative", aggregate: "sum", stack: "zero", title: "device hours" },
        color: { field: "round", type: "ordinal", title: nights ? "night and round" : "allocation round", scale: { scheme: { name: "blues", extent: [0.35, 0.95] } } },
      },
    },
  };
}
