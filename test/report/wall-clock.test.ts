/**
 * The wall-clock chart on rows made here, where each answer is known: the unit follows the span,
 * a binned chart (past MAX_POINTS) bins time and keeps every kept point, and bad inputs — a
 * finished row without a finish time, an unparsable one, one before the start, a start that is
 * not a time, nothing finished — are left out and counted or refused with a reason, never drawn
 * at a guessed time. The progress chart (by seq) shares the drawing: the same rows give it the
 * same points in the same order.
 */
import { describe, expect, it } from "vitest";
import { progressChart } from "../../src/report/charts/progress.ts";
import { BINS, MAX_POINTS } from "../../src/report/charts/staircase.ts";
import { wallClockChart } from "../../src/report/charts/wall-clock.ts";
import type { ExperimentStatus } from "../../src/store/index.ts";
import type { ExperimentRow } from "../../src/report/types.ts";

const START = "2026-03-02T22:00:00.000Z";
const at = (seconds: number) => new Date(Date.parse(START) + seconds * 1000).toISOString();

function row(seq: number, status: ExperimentStatus, valBpb: number | null, finishedAt: string | null): ExperimentRow {
  return {
    id: seq,
    seq,
    slot: 0,
    commit: "abcdef0",
    status,
    outcome: status === "crash" ? "crash" : "ok",
    valBpb,
    delta: null,
    memoryGb: null,
    trainingSeconds: null,
    wallSeconds: null,
    finishedAt,
    steps: null,
    description: "",
    hypothesis: "",
    reason: null,
    isBaseline: seq === 1,
    fixOfSeq: null,
    costUsd: 0,
  };
}

type Layer = { mark: { type: string }; data: { values: Record<string, number | string | boolean>[] }; encoding: { x: { title: string } } };
const layersOf = (chart: { vegaLite: Record<string, unknown> } | null) => (chart!.vegaLite as { layer: Layer[] }).layer;
const layer = (chart: { vegaLite: Record<string, unknown> } | null, type: string) => layersOf(chart).find((l) => l.mark.type === type)!;

describe("the wall-clock chart", () => {
  it("picks seconds, minutes or hours by the span of the results", () => {
    for (const [lastSeconds, unit] of [[90, "seconds"], [3 * 60, "minutes"], [100 * 60, "minutes"], [3 * 3600, "hours"]] as const) {
      const rows = [row(1, "keep", 2, at(lastSeconds / 3)), row(2, "discard", 2.1, at(lastSeconds))];
      const { chart } = wallClockChart("w", [{ org: "a", experiments: rows }], START, "run");
      const points = layer(chart, "point");
      expect(points.encoding.x.title).toBe(`${unit} since the run started`);
      const scale = { seconds: 1, minutes: 60, hours: 3600 }[unit];
      expect(points.data.values.map((v) => v.time)).toEqual([lastSeconds / 3 / scale, lastSeconds / scale]);
    }
  });

  it("names what the clock counts from", () => {
    const rows = [row(1, "keep", 2, at(60))];
    for (const since of ["night", "tournament"] as const)
      expect(layer(wallClockChart("w", [{ org: "a", experiments: rows }], START, since).chart, "point").encoding.x.title).toBe(`seconds since the ${since} started`);
  });

  it("draws one staircase per org on a shared clock", () => {
    const a = [row(1, "keep", 2, at(600)), row(2, "keep", 1.9, at(1200))];
    const b = [row(1, "keep", 2.05, at(1800)), row(2, "discard", 2.2, at(2400))];
    const { chart, summary } = wallClockChart("w", [{ org: "a", experiments: a }, { org: "b", experiments: b }], START, "night");
    expect(chart!.title).toBe("val_bpb against wall-clock time, by org");
    const stairs = layer(chart, "line").data.values.map((v) => [v.org, v.time, v.val_bpb]);
    expect(stairs).toEqual([["a", 10, 2], ["a", 20, 1.9], ["b", 30, 2.05], ["b", 40, 2.05]]);
    expect(summary).toContain("4 finished experiments, 3 kept over 40m 00s of wall clock; the kept line goes from 2.000000 to 1.900000, reached 20m 00s after the start");
  });

  it("leaves out finished rows without a usable finish time, and says how many", () => {
    const rows = [
      row(1, "keep", 2, at(60)),
      row(2, "discard", 2.1, null), // no time recorded
      row(3, "discard", 2.2, "yesterday"), // not a time
      row(4, "crash", null, at(-30)), // before the run started
      row(5, "keep", 1.95, at(240)),
      row(6, "running", null, null), // in flight: not finished, not counted
    ];
    const { chart, summary } = wallClockChart("w", [{ org: "a", experiments: rows }], START, "run");
    expect(layer(chart, "point").data.values.map((v) => v.seq)).toEqual([1, 5]);
    expect(summary).toContain("5 finished experiments, 2 kept over 4m 00s of wall clock");
    expect(summary).toContain("; 3 without a recorded finish time are left out");
    // By seq the same rows are all placed.
    expect(layer(progressChart("p", [{ org: "a", experiments: rows }]).chart, "point").data.values.map((v) => v.seq)).toEqual([1, 2, 3, 4, 5]);
  });

  it("draws nothing, with the reason, when nothing can be placed or the start is not a time", () => {
    const none = wallClockChart("w", [{ org: "a", experiments: [row(1, "running", null, null)] }], START, "run");
    expect(none).toEqual({ chart: null, summary: "no experiment has finished yet" });
    const unplaced = wallClockChart("w", [{ org: "a", experiments: [row(1, "keep", 2, null)] }], START, "run");
    expect(unplaced.chart).toBeNull();
    expect(unplaced.summary).toBe("1 finished experiment, 1 kept; 1 without a recorded finish time is left out");
    const badStart = wallClockChart("w", [{ org: "a", experiments: [row(1, "keep", 2, at(60))] }], "not a date", "run");
    expect(badStart.chart).toBeNull();
    expect(badStart.summary).toMatch(/the run's start time \("not a date"\) is not a time/);
    expect(wallClockChart("w", [], START, "run").chart).toBeNull();
  });

  it("bins time past MAX_POINTS: every kept point, a band per bin for the rest, failures marked by bin", () => {
    // 8 hours, a result every 30 s; every 50th kept and a little better, every 7th crashed.
    const n = MAX_POINTS + 300;
    const rows: ExperimentRow[] = [];
    let best = 2;
    for (let seq = 1; seq <= n; seq++) {
      const t = at(seq * 30);
      if (seq % 50 === 1) rows.push(row(seq, "keep", (best -= 0.001), t));
      else if (seq % 7 === 0) rows.push(row(seq, "crash", null, t));
      else rows.push(row(seq, "discard", best + 0.01 + (seq % 10) * 0.001, t));
    }
    const keeps = rows.filter((r) => r.status === "keep");
    const crashes = rows.filter((r) => r.status === "crash");
    const { chart, summary } = wallClockChart("w", [{ org: "a", experiments: rows }], START, "run");
    const points = layer(chart, "point").data.values;
    expect(points.map((v) => v.seq)).toEqual(keeps.map((r) => r.seq));
    expect(points.map((v) => v.time)).toEqual(keeps.map((r) => (r.seq * 30) / 3600));
    const [band, failed] = layersOf(chart).filter((l) => l.mark.type === "area" || l.mark.type === "tick").map((l) => l.data.values);
    expect(band!.length).toBeGreaterThan(BINS / 2);
    expect(band!.length).toBeLessThanOrEqual(BINS);
    // Bins cover the results' time span, in order, each band inside the discards' values.
    const times = band!.map((v) => v.time as number);
    expect(times).toEqual([...times].sort((x, y) => x - y));
    expect(times[0]).toBeGreaterThan(30 / 3600);
    expect(times.at(-1)).toBeLessThan((n * 30) / 3600);
    for (const v of band!) expect(v.low as number).toBeLessThanOrEqual(v.high as number);
    expect(failed!.reduce((s, v) => s + (v.failures as number), 0)).toBe(crashes.length);
    expect(summary).toContain(`the other ${n - keeps.length} are drawn as a band (10th to 90th percentile of val_bpb per bin of time), ${crashes.length} without a result marked at the top edge by bin`);
  });
});
