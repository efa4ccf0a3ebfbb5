/**
 * A report past the size where it summarises (model/limits.ts: more than 500 experiments), on a
 * long run written through the store's API (test/support/long-run.ts) whose every summary has a
 * known answer: the running best, the counts, failures by cause, the best rows of the table, full
 * diffs on the champion chain only, charts with a bounded number of marks, and the TSV beside the
 * report with every experiment.
 */
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { parse as parseHtml } from "node-html-parser";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BINS as PROGRESS_BINS, MAX_POINTS } from "../../src/report/charts/progress.ts";
import { BINS as TIMELINE_BINS, MAX_BARS } from "../../src/report/charts/timeline.ts";
import { EXPERIMENTS_TSV_COLUMNS, LIMITS, buildRunReport, renderReport, writeRunReport, type ReportModel } from "../../src/report/index.ts";
import { CAUSES, buildLongRun, type LongRun } from "../support/long-run.ts";

const N = 900;
const NOW = () => new Date("2026-03-09T07:00:00.000Z");
let fx: LongRun;
let model: ReportModel;

beforeAll(() => {
  fx = buildLongRun(N);
  model = buildRunReport(fx.store, fx.store.getRun(fx.runId), { now: NOW });
});
afterAll(() => {
  fx?.store.close();
  if (fx) rmSync(fx.dir, { recursive: true, force: true });
});

const count = (status: string) => fx.written.filter((w) => w.status === status).length;
const chartValues = (id: string) => {
  const spec = model.charts.find((c) => c.id === id)!.vegaLite as { layer?: { data: { values: unknown[] } }[]; data?: { values: unknown[] } };
  return spec.layer ? spec.layer.map((l) => l.data.values.length) : [spec.data!.values.length];
};

describe("a long run's report model", () => {
  it("says it summarises, and counts every experiment by status", () => {
    expect(model.detail).toEqual({ summarised: true, experiments: N, allRowsUpTo: LIMITS.allRowsUpTo });
    expect(model.headline.counts).toEqual({ total: N, keep: count("keep"), discard: count("discard"), crash: count("crash"), invalid: 0, skipped: count("skipped"), inFlight: 0 });
  });

  it("shows the running best: the champion and the kept line from the baseline to it", () => {
    const keeps = fx.written.filter((w) => w.status === "keep");
    const best = Math.min(...keeps.map((w) => w.valBpb!));
    expect(model.headline.champion?.valBpb).toBe(best);
    expect(model.headline.baselineBpb).toBe(2);
    expect(model.progress.summary).toContain(`the kept line goes from ${(2).toFixed(6)} to ${best.toFixed(6)}`);
    expect(model.progress.summary).toContain(`${N - count("skipped")} finished experiments, ${count("keep")} kept`);
  });

  it("lists the best rows by val_bpb, best first, and says how many there are in all", () => {
    const run = model.runs[0]!;
    expect(run.table).toEqual({ total: N, shown: LIMITS.tableRows.report, truncated: true });
    const measured = fx.written.filter((w) => w.valBpb !== null).sort((a, b) => a.valBpb! - b.valBpb! || a.seq - b.seq);
    expect(run.experiments.map((r) => r.seq)).toEqual(measured.slice(0, LIMITS.tableRows.report).map((w) => w.seq));
    expect(run.experiments.every((r) => r.hypothesis === `hypothesis ${r.seq}`)).toBe(true);
  });

  it("sums the failures and skips by cause, and lists the latest failures with their log tails", () => {
    const run = model.runs[0]!;
    const byCause = new Map<string, number>();
    for (const w of fx.written) if (w.cause) byCause.set(w.cause, (byCause.get(w.cause) ?? 0) + 1);
    const got = new Map(run.failureCauses.map((c) => [c.outcome === "skipped" ? "skipped" : `${c.outcome}\u0000${c.reason}`, c.count]));
    expect(got).toEqual(byCause);
    expect(run.failureCauses.map((c) => c.outcome)).toEqual(expect.arrayContaining(CAUSES.map((c) => c.outcome)));
    expect(run.crashesTotal).toBe(count("crash"));
    const latest = fx.written.filter((w) => w.status === "crash").slice(-LIMITS.failures.report).map((w) => w.seq);
    expect(run.crashes.map((c) => c.seq)).toEqual(latest);
    for (const c of run.crashes) expect(c.logTail).toContain(`log end of ${c.seq}`);
    // Each crash's fix attempt is the next proposal that was not skipped.
    const fixOf = (seq: number) => fx.written.find((w) => w.seq > seq && w.status !== "skipped")?.seq;
    expect(run.crashes.map((c) => c.fixes.map((f) => f.seq))).toEqual(run.crashes.map((c) => (fixOf(c.seq) === undefined ? [] : [fixOf(c.seq)])));
    expect(run.skippedTotal).toBe(count("skipped"));
    expect(run.skipped.length).toBe(Math.min(count("skipped"), LIMITS.skipped.report));
  });

  it("shows full diffs on the champion chain only; a keep off the chain by its stat line", () => {
    const run = model.runs[0]!;
    const offChain = fx.written.find((w) => w.status === "keep" && !w.onChain)!;
    const kept = new Map(run.kept.map((k) => [k.seq, k]));
    expect(run.keptTotal).toBe(count("keep") - 1); // the baseline is no change
    expect(kept.get(offChain.seq)).toMatchObject({ onChain: false, diff: null, added: 1, removed: 1 });
    const withDiff = run.kept.filter((k) => k.diff !== null);
    expect(withDiff.length).toBe(run.keptTotal - 1);
    for (const k of withDiff) {
      expect(k.onChain).toBe(true);
      const added = k.diff!.files[0]!.hunks[0]!.lines.filter((l) => l.kind === "add").map((l) => l.text);
      expect(added).toEqual([`export const ${fx.written.find((w) => w.seq === k.seq)!.knob} = 2;`]);
    }
  });

  it("draws a bounded number of marks: kept points and a band, and a binned device timeline", () => {
    expect(N - count("skipped")).toBeGreaterThan(MAX_POINTS);
    const [band, failed, stairs, points] = chartValues("progress");
    expect(points).toBe(count("keep"));
    expect(band).toBeLessThanOrEqual(PROGRESS_BINS);
    expect(failed).toBeLessThanOrEqual(PROGRESS_BINS);
    expect(stairs).toBe(count("keep") + 1);
    // Against the wall clock, binned the same way: bins of time.
    const [wallBand, wallFailed, wallStairs, wallPoints] = chartValues("progress-wall-clock");
    expect(wallPoints).toBe(count("keep"));
    expect(wallBand).toBeLessThanOrEqual(PROGRESS_BINS);
    expect(wallFailed).toBeLessThanOrEqual(PROGRESS_BINS);
    expect(wallStairs).toBe(count("keep") + 1);
    expect(model.progress.wallClock.summary).toContain(`${N - count("skipped")} finished experiments, ${count("keep")} kept over `);
    expect(model.progress.wallClock.summary).toContain("per bin of time");
    expect(N).toBeGreaterThan(MAX_BARS);
    const [cells] = chartValues(`run-${fx.runId}-timeline`);
    expect(cells).toBeLessThanOrEqual(2 * TIMELINE_BINS);
    expect(model.charts.find((c) => c.id === `run-${fx.runId}-timeline`)!.description).toContain(`${TIMELINE_BINS} cells per slot`);
  });
});

describe("a long run's written report", () => {
  it("writes every experiment to a TSV beside the report and links it", async () => {
    const out = join(fx.dir, "reports", "long.html");
    const written = await writeRunReport({ workspace: fx.dir, out, format: "html", now: NOW });
    expect(written.tsvPath).toBe(join(fx.dir, "reports", "long.experiments.tsv"));
    const lines = readFileSync(written.tsvPath, "utf8").split("\n");
    expect(lines.at(-1)).toBe("");
    expect(lines[0]).toBe(EXPERIMENTS_TSV_COLUMNS.join("\t"));
    const rows = lines.slice(1, -1).map((l) => l.split("\t"));
    expect(rows.length).toBe(N);
    const col = (name: (typeof EXPERIMENTS_TSV_COLUMNS)[number]) => EXPERIMENTS_TSV_COLUMNS.indexOf(name);
    expect(rows.map((r) => Number(r[col("seq")]))).toEqual(fx.written.map((w) => w.seq));
    expect(rows.map((r) => r[col("status")])).toEqual(fx.written.map((w) => w.status));
    expect(rows.map((r) => (r[col("val_bpb")] === "" ? null : Number(r[col("val_bpb")])))).toEqual(fx.written.map((w) => (w.valBpb === null ? null : Number(w.valBpb.toFixed(6)))));

    const html = readFileSync(out, "utf8");
    const links = parseHtml(html).querySelectorAll("a").map((a) => a.getAttribute("href"));
    expect(links.length).toBeGreaterThan(0);
    expect(new Set(links)).toEqual(new Set(["long.experiments.tsv"]));
    expect(html).toContain(`Every experiment is in <a href="long.experiments.tsv">long.experiments.tsv</a> (${N} rows)`);
    // A summary, not a dump: far from a row per experiment.
    expect(parseHtml(html).querySelectorAll("tr").length).toBeLessThan(N / 2);
  });

  it("renders the same tables in Markdown, with the TSV linked", async () => {
    const md = await renderReport({ ...model, experimentsFile: { name: "long.experiments.tsv", rows: N } }, { format: "md" });
    expect(md).toContain(`## Best experiments\n\nThe ${LIMITS.tableRows.report} best of ${N} experiments by val\\_bpb, best first. Every experiment is in [long.experiments.tsv](long.experiments.tsv).`);
    expect(md).toContain("| outcome | reason | count | first # | last # | fixed later |");
  });
});
