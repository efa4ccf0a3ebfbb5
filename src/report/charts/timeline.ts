/**
 * The device timeline: one row per device slot, one bar per experiment from its start to its
 * finish, coloured by how it ended — where the device time of a run went, and where it idled
 * (the gaps: waiting for an agent, committing, between runs).
 *
 * Past MAX_BARS experiments (a week is thousands per slot) the bars would be megabytes of SVG
 * thinner than a pixel, so the chart bins time: at most BINS cells per slot, each coloured by
 * the outcome that held the slot longest in it and shaded by how busy the slot was (in quarters);
 * neighbouring cells alike are drawn as one bar.
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

/** Bars drawn one per experiment; above, the chart bins time. */
export const MAX_BARS = 600;
/** Time cells per slot of a binned timeline. */
export const BINS = 160;

interface Cell {
  slot: number;
  status: string;
  start: number;
  end: number;
  /** Fraction of the cell the slot was busy, 0..1. */
  busy: number;
}

/** Busy time per slot, cell and status, the longest status naming each cell. */
function binBars(bars: readonly TimelineBar[], wallMinutes: number): Cell[] {
  const width = Math.max(wallMinutes, 1e-3) / BINS;
  const cells = new Map<string, { slot: number; k: number; byStatus: Map<string, number> }>();
  for (const b of bars) {
    const from = Math.max(0, b.start);
    const to = Math.min(Math.max(b.end, from), BINS * width);
    for (let k = Math.floor(from / width); k < BINS && k * width < to; k++) {
      const overlap = Math.min(to, (k + 1) * width) - Math.max(from, k * width);
      if (overlap <= 0) continue;
      const key = `${b.slot}:${k}`;
      let cell = cells.get(key);
      if (!cell) cells.set(key, (cell = { slot: b.slot, k, byStatus: new Map() }));
      cell.byStatus.set(b.status, (cell.byStatus.get(b.status) ?? 0) + overlap);
    }
  }
  const out: Cell[] = [];
  const ordered = [...cells.values()].sort((a, b) => a.slot - b.slot || a.k - b.k);
  for (const { slot, k, byStatus } of ordered) {
    const [status] = [...byStatus].reduce((a, b) => (b[1] > a[1] ? b : a));
    const time = [...byStatus.values()].reduce((s, v) => s + v, 0);
    const busy = Math.max(0.25, Math.round(Math.min(1, time / width) * 4) / 4);
    const prev = out.at(-1);
    if (prev && prev.slot === slot && prev.status === status && prev.busy === busy && Math.abs(prev.end - k * width) < width / 2) prev.end = (k + 1) * width;
    else out.push({ slot, status, start: k * width, end: (k + 1) * width, busy });
  }
  return out;
}

export function timelineChart(id: string, bars: readonly TimelineBar[], wallMinutes: number, description: string): ChartSpec | null {
  if (bars.length === 0) return null;
  const slots = [...new Set(bars.map((b) => b.slot))].sort((a, b) => a - b);
  const binned = bars.length > MAX_BARS;
  const values = binned
    ? binBars(bars, wallMinutes).map((c) => ({ ...c, slotName: `slot ${c.slot}` }))
    : bars.map((b) => ({ ...b, slotName: `slot ${b.slot}` }));
  return {
    id,
    title: "device timeline",
    description: binned
      ? `${description} (time in ${BINS} cells per slot, each coloured by the outcome that held the slot longest and shaded by how busy it was)`
      : description,
    vegaLite: {
      width: 640,
      height: Math.max(28 * slots.length, 40),
      data: { values },
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
        ...(binned ? { opacity: { field: "busy", type: "quantitative", legend: null, scale: { domain: [0, 1], range: [0.15, 1] } } } : {}),
      },
    },
  };
}
