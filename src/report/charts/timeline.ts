/**
 * The device timeline: one row per device slot, one bar per experiment from its start to its
 * finish, coloured by how it ended — where the device time of a run went, and where it idled
 * (the gaps: waiting for an agent, committing, between runs).
 */
import type { ChartSpec } from "../types.ts";
import { STATUS_COLORS } from "./theme.ts";

export interface TimelineBar {
  slot: number;
  seq: number;
  status: string;
  /** Minutes since the run started. */
  start: number;
  end: number;
}

const STATUSES = ["keep", "discard", "crash", "invalid", "skipped", "running"] as const;

export function timelineChart(id: string, bars: readonly TimelineBar[], wallMinutes: number, description: string): ChartSpec | null {
  if (bars.length === 0) return null;
  const slots = [...new Set(bars.map((b) => b.slot))].sort((a, b) => a - b);
  return {
    id,
    title: "device timeline",
    description,
    vegaLite: {
      width: 640,
      height: Math.max(28 * slots.length, 40),
      data: { values: bars.map((b) => ({ ...b, slotName: `slot ${b.slot}` })) },
      mark: { type: "bar", cornerRadius: 1 },
      encoding: {
        x: { field: "start", type: "quantitative", title: "minutes since the run started", scale: { domain: [0, Math.max(wallMinutes, 1e-3)], nice: false } },
        x2: { field: "end" },
        y: { field: "slotName", type: "nominal", title: null, sort: slots.map((s) => `slot ${s}`) },
        color: {
          field: "status",
          type: "nominal",
          title: "experiment",
          scale: { domain: [...STATUSES], range: STATUSES.map((s) => STATUS_COLORS[s]) },
        },
      },
    },
  };
}
