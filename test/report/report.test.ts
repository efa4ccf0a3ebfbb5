/**
 * The run report end to end on a real store and real git diffs (fixture.ts): what the model
 * computes, that the HTML page is self-contained with drawn charts and escaped agent text,
 * that the Markdown report renders the very same tables, that the optional (tournament and
 * statistics) sections appear exactly when their data is there, and that `--templates`
 * folders overlay the built-in templates or fail in one line.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import MarkdownIt from "markdown-it";
import { parse as parseHtml } from "node-html-parser";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatDuration } from "../../src/report/format.ts";
import { ReportError, assembleReport, buildRunReport, buildRunSection, renderReport, seedNoiseOf, type ReportModel } from "../../src/report/index.ts";
import {
  BUDGET,
  HOSTILE_COMMENT,
  HOSTILE_DESCRIPTION,
  HOSTILE_HYPOTHESIS,
  HOSTILE_PROGRAM,
  buildFixture,
  withOptionalSections,
  type Fixture,
} from "./fixture.ts";

const NOW = () => new Date("2025-03-06T07:00:00.000Z");
let dir: string;
let fx: Fixture;
let model: ReportModel;
let html: string;
let md: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ns-report-"));
  fx = await buildFixture(dir);
  model = buildRunReport(fx.store, fx.store.getRun(fx.runId), { now: NOW });
  html = await renderReport(model, { format: "html" });
  md = await renderReport(model, { format: "md" });
});
afterAll(() => {
  fx?.store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** node-html-parser keeps <pre> as raw text by default; the diffs inside must be parsed. */
const parse = (text: string) => parseHtml(text, { blockTextElements: { script: true, style: true } });

/** Every table of an HTML document as rows of cell texts (whitespace collapsed). */
function tables(htmlText: string): string[][][] {
  return parse(htmlText)
    .querySelectorAll("table")
    .map((t) => t.querySelectorAll("tr").map((tr) => tr.querySelectorAll("th, td").map((c) => c.text.replace(/\s+/g, " ").trim())));
}

describe("the run report model", () => {
  it("finds the baseline, the champion and the naive gain", () => {
    expect(model.kind).toBe("run");
    expect(model.generatedAt).toBe("2025-03-06T07:00:00.000Z");
    expect(model.headline.baselineBpb).toBe(1.88);
    expect(model.headline.champion).toMatchObject({ seq: 6, valBpb: 1.865, org: "default", description: "wider heads, shapes fixed" });
    expect(model.headline.naiveGain).toBeCloseTo(0.015, 9);
    expect(model.headline.counts).toEqual({ total: 7, keep: 3, discard: 2, crash: 1, invalid: 0, skipped: 1, inFlight: 0 });
    expect(model.headline.verifiedGain).toBeUndefined();
    expect(model.leaderboard).toBeUndefined();
  });

  it("measures every result against the head it was proposed on", () => {
    const rows = model.runs[0]!.experiments;
    expect(rows.map((r) => r.delta === null ? null : Number(r.delta.toFixed(6)))).toEqual([null, -0.0088, 0.0078, 1.6288, null, -0.0062, null]);
    expect(rows[0]!.isBaseline).toBe(true);
    expect(rows[5]!.fixOfSeq).toBe(5);
  });

  it("keeps the changes after the baseline with their real git diffs", () => {
    const kept = model.runs[0]!.kept;
    expect(kept.map((k) => k.seq)).toEqual([2, 6]);
    expect(kept[0]!.diff!.files[0]!.newPath).toBe("train.ts");
    expect(kept[0]!.diff!.files[0]!.hunks[0]!.lines.filter((l) => l.kind === "add").map((l) => l.text)).toEqual([
      "export const MATRIX_LR = 0.05; // matrix parameters (Muon)",
    ]);
    expect(kept[0]!.gain).toBeCloseTo(0.0088, 9);
  });

  it("lists crashes with their fix attempts and skips with their reasons", () => {
    const run = model.runs[0]!;
    expect(run.crashes).toEqual([
      expect.objectContaining({ seq: 5, outcome: "crash", reason: "RangeError: offset is out of bounds", fixes: [{ seq: 6, status: "keep" }] }),
    ]);
    expect(run.crashes[0]!.logTail).toContain("<b>RangeError</b>");
    expect(run.skipped).toEqual([{ seq: 7, description: "", reason: "malformed answer: no edit block after 3 attempts" }]);
  });

  it("computes device utilization from the store's timestamps", () => {
    const u = model.runs[0]!.utilization;
    // Six experiments ran 330 s each; five trained the full budget; the run lasted 2180 s.
    expect(u).toMatchObject({ slots: 1, wallSeconds: 2180, trainingSeconds: 5 * BUDGET, busySeconds: 6 * 330 });
    expect(u.utilization).toBeCloseTo(1500 / 2180, 9);
  });

  it("sums agent cost by purpose and model, failed calls included", () => {
    const cost = model.runs[0]!.cost;
    expect(cost.total.calls).toBe(8);
    expect(cost.total.costUsd).toBeCloseTo(7 * 0.042, 9);
    const propose = cost.rows.find((r) => r.purpose === "propose")!;
    expect(propose).toMatchObject({ calls: 7, failed: 2 });
    expect(cost.rows.find((r) => r.purpose === "fix")).toMatchObject({ calls: 1, failed: 0 });
    expect(cost.perKeepUsd).toBeCloseTo((7 * 0.042) / 2, 9);
    expect(cost.capUsd).toBe(5);
  });

  it("draws crashes and far outliers at the top edge of the progress chart, and counts them", () => {
    expect(model.progress.offChart).toBe(1);
    expect(model.progress.summary).toContain("6 finished experiments, 3 kept");
    expect(model.charts.map((c) => c.id)).toEqual(["progress", "progress-wall-clock", `run-${fx.runId}-timeline`]);
  });
});

describe("the wall-clock chart of a run", () => {
  type Layer = { mark: { type: string }; data: { values: Record<string, number | string>[] }; encoding: { x: { title: string } } };
  const layers = () => (model.charts.find((c) => c.id === "progress-wall-clock")!.vegaLite as { layer: Layer[] }).layer;
  /** Minutes from the run's start to each finished experiment's recorded finish, read from the store. */
  const finishMinutes = () => {
    const run = fx.store.getRun(fx.runId);
    const finished = fx.store.listExperiments(fx.runId).filter((e) => ["keep", "discard", "crash"].includes(e.status));
    return new Map(finished.map((e) => [e.seq, (Date.parse(e.finishedAt!) - Date.parse(run.startedAt)) / 60_000]));
  };
  /** Minutes from the run's start to its last recorded result of any kind (the skipped proposal's too). */
  const lastMinutes = () =>
    (Math.max(...fx.store.listExperiments(fx.runId).map((e) => Date.parse(e.finishedAt!))) - Date.parse(fx.store.getRun(fx.runId).startedAt)) / 60_000;

  it("places every finished experiment at its finish time in the store, in minutes since the run started", () => {
    const points = layers().find((l) => l.mark.type === "point")!;
    expect(points.encoding.x.title).toBe("minutes since the run started");
    const expected = finishMinutes();
    expect(points.data.values.map((v) => v.seq)).toEqual([...expected.keys()]);
    for (const v of points.data.values) expect(v.time, `#${v.seq}`).toBeCloseTo(expected.get(v.seq as number)!, 9);
    // The fixture's clock: proposed at the start, started 10 s later, finished after 330 s.
    expect(expected.get(1)).toBeCloseTo(340 / 60, 9);
  });

  it("steps the kept line at the keeps' finish times and runs it on to the last result", () => {
    const stairs = layers().find((l) => l.mark.type === "line")!.data.values;
    const at = finishMinutes();
    const keeps = model.runs[0]!.experiments.filter((e) => e.status === "keep");
    const last = lastMinutes();
    expect(stairs.map((v) => v.val_bpb)).toEqual([...keeps.map((e) => e.valBpb), keeps.at(-1)!.valBpb]);
    expect(stairs.map((v) => v.time)).toEqual([...keeps.map((e) => at.get(e.seq)), last]);
    expect(last).toBeGreaterThan(Math.max(...at.values())); // the skipped proposal came last
  });

  it("says how long the run took and when the best landed, in both formats", () => {
    const best = finishMinutes().get(model.headline.champion!.seq)!;
    const summary = model.progress.wallClock.summary;
    expect(summary).toContain(`6 finished experiments, 3 kept over ${formatDuration(lastMinutes() * 60)} of wall clock`);
    expect(summary).toContain(`the kept line goes from 1.880000 to 1.865000, reached ${formatDuration(best * 60)} after the start`);
    expect(md).toContain(`*val_bpb against wall-clock time: 6 finished experiments, 3 kept over ${formatDuration(lastMinutes() * 60)} of wall clock`);
  });
});

describe("the HTML report", () => {
  it("is one self-contained page: no script, no external resource, a CSP that forbids both", () => {
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/<(link|img|iframe|object|embed)\b/i);
    expect(html).not.toMatch(/\b(src|href)\s*=/i);
    expect(html).not.toMatch(/@import|url\(/i);
    expect(html).toContain(`content="default-src 'none'; style-src 'unsafe-inline'; img-src data:"`);
    expect(html).toContain("@media (prefers-color-scheme: dark)");
  });

  it("escapes every agent-written text: descriptions, hypotheses, diffs, program.md, log tails", () => {
    const doc = parse(html);
    const cellTexts = doc.querySelectorAll("td").map((td) => td.text);
    expect(cellTexts).toContain(HOSTILE_DESCRIPTION);
    expect(doc.querySelectorAll("td[title]").map((td) => td.getAttribute("title"))).toContain(HOSTILE_HYPOTHESIS);
    expect(doc.querySelector("section.program pre")!.text).toBe(HOSTILE_PROGRAM);
    expect(html).toContain("&lt;b&gt;RangeError&lt;/b&gt;");
    expect(html).not.toContain(HOSTILE_COMMENT); // the discarded diff is not shown, and if it were, escaped
  });

  it("draws every chart as inline SVG with marks", () => {
    const doc = parse(html);
    const figures = doc.querySelectorAll("figure.chart");
    expect(figures.map((f) => f.id)).toEqual(["chart-progress", "chart-progress-wall-clock", `chart-run-${fx.runId}-timeline`]);
    for (const f of figures) {
      const svg = f.querySelector("svg")!;
      expect(svg.getAttribute("role")).toBe("img");
      expect(svg.querySelectorAll(".role-mark path, .role-mark rect").length).toBeGreaterThan(0);
    }
    // Progress: one symbol per finished experiment, and the staircase line.
    const progress = doc.querySelector("#chart-progress")!;
    expect(progress.querySelectorAll(".mark-symbol.role-mark path").length).toBe(6);
    expect(progress.querySelectorAll(".mark-line path").length).toBe(1);
    // Against the wall clock: the same points and staircase.
    const wall = doc.querySelector("#chart-progress-wall-clock")!;
    expect(wall.querySelectorAll(".mark-symbol.role-mark path").length).toBe(6);
    expect(wall.querySelectorAll(".mark-line path").length).toBe(1);
    expect(wall.querySelector("figcaption")!.text).toBe("val_bpb against wall-clock time");
    // The command in the note reads as code, not as backticks.
    expect(wall.querySelector(".chart-note code")!.text).toBe("nightshift noise");
    expect(wall.querySelector(".chart-note")!.text).not.toContain("`");
  });

  it("colours the kept diffs by syntax and change", () => {
    const doc = parse(html);
    const change = doc.querySelector(`#change-${fx.runId}-2`)!;
    expect(change.querySelectorAll(".dl-add").length).toBe(1);
    expect(change.querySelectorAll(".dl-del").length).toBe(1);
    expect(change.querySelectorAll(".hljs-keyword").length).toBeGreaterThan(0);
  });
});

describe("the Markdown report", () => {
  it("renders the same tables as the HTML report, cell for cell", () => {
    const fromMd = tables(new MarkdownIt({ html: true }).render(md));
    const fromHtml = tables(html);
    expect(fromHtml.length).toBe(6); // kept, experiments, crashes, skipped, utilization, cost
    expect(fromMd).toEqual(fromHtml);
  });

  it("keeps agent text inert even in a renderer that passes raw HTML through", () => {
    const rendered = new MarkdownIt({ html: true }).render(md);
    expect(rendered).not.toMatch(/<script|<img|<b>RangeError/i);
    expect(md).toContain("```diff\ndiff --git a/train.ts b/train.ts");
    expect(md).toContain("````markdown\n" + HOSTILE_PROGRAM.trimEnd() + "\n````"); // the program's own fence stays inside
  });
});

describe("optional sections", () => {
  it("appear when a builder provides their data, in both formats", async () => {
    const second = await buildFixture(dir, { tag: "mar6", org: "bold", slot: 1 });
    try {
      const runs = [fx.runId, second.runId].map((id) => buildRunSection(fx.store, fx.store.getRun(id)));
      const night = assembleReport(
        { kind: "night", title: "Night 1", runs: runs.map((r) => r.section), charts: runs.flatMap((r) => r.charts) },
        { now: NOW },
      );
      const full = withOptionalSections(night);
      const fullHtml = await renderReport(full, { format: "html" });
      const fullMd = await renderReport(full, { format: "md" });
      const doc = parse(fullHtml);
      for (const id of ["leaderboard", "allocation", "verdicts", "lineage"]) expect(doc.querySelector(`#${id}`), id).not.toBeNull();
      expect(doc.querySelectorAll("section.run").length).toBe(2);
      // Each run is an <h2>; its parts are <h3> under it (alone, a run's parts are <h2>).
      expect(doc.querySelectorAll("section.run > h2").map((h) => h.text)).toEqual(runs.map((r) => `${r.section.org.name} · run ${r.section.id} ${r.section.branch}`));
      expect(doc.querySelectorAll("section.run h3").map((h) => h.text)).toEqual(expect.arrayContaining(["Kept changes", "All experiments", "Device utilization", "Agent cost"]));
      expect(doc.querySelectorAll("section.run h2").map((h) => h.text)).not.toContain("Kept changes");
      expect(parse(html).querySelectorAll("section.run h2").map((h) => h.text)).toEqual(expect.arrayContaining(["Kept changes", "All experiments", "Device utilization", "Agent cost"]));
      expect(doc.querySelectorAll("#chart-leaderboard .role-mark path").length).toBeGreaterThan(0);
      expect(doc.querySelectorAll("#chart-allocation .role-mark path").length).toBeGreaterThan(0);
      // The lineage drawn: two lines, and the child's branch off its parent.
      expect(doc.querySelectorAll("#chart-lineage .role-mark line").length).toBe(3);
      expect(doc.querySelector("#chart-lineage")!.text).toContain("bold · gen 1");
      // With two orgs, the progress chart draws one staircase per org.
      expect(doc.querySelectorAll("#chart-progress .mark-line path").length).toBe(2);
      expect(fullHtml).not.toMatch(/<script|<em>bolder|<i>/);
      expect(fullHtml).toContain("verified gain");
      expect(fullHtml).toContain("1.901200");
      expect(tables(new MarkdownIt({ html: true }).render(fullMd))).toEqual(tables(fullHtml));
      expect(fullMd).toContain("## Lineage of program.md");
      expect(fullMd).toContain("  - **bold** · generation 1 · child of default — be \\<em\\>bolder\\</em\\>");
    } finally {
      second.store.close();
    }
  });

  it("stay absent from a run report", () => {
    expect(html).not.toContain('id="leaderboard"');
    expect(html).not.toContain('id="verdicts"');
    expect(md).not.toContain("## Leaderboard");
  });
});

describe("seed noise", () => {
  it("says nothing of a demo budget for a run at the full 300 s, nor of a baseline spread with one run", () => {
    expect(model.headline.demoBudget).toBeNull();
    expect(md).not.toContain("Demo budget");
    expect(model.headline.baselineSpread).toBeNull();
    expect(md).not.toContain("measured once per run");
  });

  it("says when none was measured, in the headline and under the progress chart", () => {
    expect(model.headline.noise).toBeNull();
    expect(md).toMatch(/\*\*seed noise:\*\* not measured — `nightshift noise` measures it/);
    expect(model.progress.summary).toMatch(/no seed noise measured under these conditions/);
  });

  it("reads the noise floor of the run's conditions, and draws ±1 sd around the kept line", async () => {
    const run = fx.store.getRun(fx.runId);
    const conditions = { profile: run.profile, timeBudget: run.timeBudget, deviceKind: run.deviceKind, dataset: "tiny" };
    fx.store.recordNoiseFloor({ ...conditions, commit: "a".repeat(40), seeds: 5, mean: 2.1, sd: 0.004, mde: 0.006 });
    // Another dataset's floor is not this run's.
    expect(seedNoiseOf(fx.store, { ...run, settings: { ...run.settings, dataset: "/data/other" } })).toBeNull();
    const noise = seedNoiseOf(fx.store, { ...run, settings: { ...run.settings, dataset: "/data/tiny" } });
    expect(noise).toEqual({ sd: 0.004, seeds: 5, mean: 2.1 });

    const section = model.runs[0]!;
    const withNoise = assembleReport({ kind: "run", title: "t", runs: [section], charts: [], noise }, { now: NOW });
    expect(withNoise.headline.noise).toEqual(noise);
    expect(withNoise.progress.summary).toMatch(/±1 sd of seed noise \(0\.004000 over 5 seeds/);
    const spec = withNoise.charts.find((c) => c.id === "progress")!.vegaLite as { layer: { mark: { type: string; interpolate?: string }; data: { values: { low: number; high: number; seq: number }[] } }[] };
    const band = spec.layer.find((l) => l.mark.type === "area" && l.mark.interpolate === "step-after")!;
    const kept = section.experiments.filter((e) => e.status === "keep" && e.valBpb !== null);
    expect(band.data.values.length).toBeGreaterThanOrEqual(kept.length);
    for (const e of kept) {
      const at = band.data.values.find((v) => v.seq === e.seq)!;
      expect(at.high - e.valBpb!).toBeCloseTo(0.004, 9);
      expect(e.valBpb! - at.low).toBeCloseTo(0.004, 9);
    }
    const page = await renderReport(withNoise, { format: "md" });
    expect(page).toMatch(/\*\*seed noise:\*\* ±0\.004000 — sd of the baseline over 5 seeds/);
    expect(await renderReport(withNoise, { format: "html" })).toMatch(/<div class="label">seed noise<\/div><div class="value">±0\.004000<\/div>/);
  });
});

describe("verification verdicts from the store", () => {
  it("appear beside the naive rule once the run's claims were verified, with the champion's test bpb", async () => {
    const store = fx.store;
    const rows = store.listExperiments(fx.runId);
    const claim = (seq: number) => rows.find((e) => e.seq === seq)!;
    store.recordVerification({
      experimentId: claim(2).id,
      parentCommit: claim(2).parentCommit,
      commit: claim(2).commit!,
      verdict: "noise",
      seeds: 6,
      meanGain: 0.0004,
      pAdjusted: 0.41,
      reason: "the interval covers zero <b>after</b> 6 seeds",
      details: { interval: [-0.0011, 0.0019], alpha: 0.05 },
    });
    store.recordVerification({
      experimentId: claim(6).id,
      parentCommit: claim(6).parentCommit,
      commit: claim(6).commit!,
      verdict: "real",
      seeds: 4,
      meanGain: 0.0061,
      pAdjusted: 0.003,
      testBpb: 1.8702,
      reason: "lower bound above zero",
      details: { interval: [0.004, 0.0082], alpha: 0.05, margin: 0.0015 },
    });
    const verified = buildRunReport(store, store.getRun(fx.runId), { now: NOW });
    expect(verified.verdicts).toMatchObject({ naiveKeeps: 2, verifiedKeeps: 1, noiseSd: null });
    expect(verified.verdicts!.expectedFalseKeeps).toBeCloseTo(1 / 2 + 1 / 3 + 1 / 4 + 1 / 5 + 1 / 6, 9);
    expect(verified.verdicts!.rows.map((r) => [r.seq, r.verdict, r.reruns])).toEqual([[2, "noise", 6], [6, "real", 4]]);
    expect(verified.verdicts!.rows[1]!.gain).toEqual({ estimate: 0.0061, low: 0.004, high: 0.0082, level: 0.9 });
    // δ_min as the verification recorded it; none before margins existed.
    expect(verified.verdicts!.rows.map((r) => r.margin)).toEqual([null, 0.0015]);
    expect(verified.headline.testBpb).toBe(1.8702);

    const page = await renderReport(verified, { format: "html" });
    const section = parse(page).querySelector("#verdicts")!;
    expect(section.text).toContain("2 naive keeps · 1 verified as real · 1.5 keeps expected from noise alone");
    expect(section.querySelectorAll("tbody tr")[1]!.querySelectorAll("td").map((td) => td.text)).toEqual([
      "default", "6", fx.commits.get(5)!.slice(0, 7), "keep", "real", "+0.006100", "0.001500", "[+0.004000, +0.008200] (90%)", "0.0030", "4", "lower bound above zero", "wider heads, shapes fixed",
    ]);
    expect(page).toContain("the interval covers zero &lt;b&gt;after&lt;/b&gt; 6 seeds");
    // A narrow column wraps an interval's cell, never inside its bracket.
    expect(section.querySelectorAll("td .nowrap").map((s) => s.text)).toEqual(["[−0.001100, +0.001900]", "[+0.004000, +0.008200]"]);
    expect(page).toContain("1.870200"); // the test-split card
    const text = await renderReport(verified, { format: "md" });
    expect(tables(new MarkdownIt({ html: true }).render(text))).toEqual(tables(page));
  });
});

describe("the research memory", () => {
  it("is absent when the run recorded none, and shows what the agent was given, escaped, in both formats", async () => {
    expect(model.runs[0]!.memory).toBeNull();
    expect(html).not.toContain("What the agent remembered");
    const store = fx.store;
    store.setRunMemory(fx.runId, {
      entries: [
        { source: "ancestor", org: "lr", night: 1, outcome: "noise", gain: 0.0002, description: "raise <i>MATRIX_LR</i>", touched: ["MATRIX_LR 0.04 -> 0.06"] },
        { source: "own", org: "default", night: null, outcome: "crash", gain: null, description: "swap the activation", touched: ["+ x = x.gelu();"], reason: "TypeError: x.gelu is not a function" },
        { source: "shared", org: "arch", night: 2, outcome: "real", gain: 0.012, description: "deeper", touched: ["DEPTH 4 -> 6"] },
      ],
      omitted: 3,
    });
    const withMemory = buildRunReport(store, store.getRun(fx.runId), { now: NOW });
    const memory = withMemory.runs[0]!.memory!;
    expect([memory.real.length, memory.refuted.length, memory.crashed.length, memory.shared.length, memory.omitted, memory.total]).toEqual([0, 1, 1, 1, 3, 3]);
    const page = await renderReport(withMemory, { format: "html" });
    const section = parse(page).querySelector("section.memory")!;
    expect(section.text).toContain("3 results of earlier runs, given to every proposal of this run (3 more left out");
    expect(section.querySelectorAll("h3").map((h) => h.text)).toEqual(["Refuted by reruns", "Crashed", "Shared by other orgs (verified)"]);
    expect(section.text).toContain("MATRIX_LR 0.04 -> 0.06");
    expect(section.text).toContain("TypeError: x.gelu is not a function");
    expect(page).toContain("raise &lt;i&gt;MATRIX_LR&lt;/i&gt;");
    const text = await renderReport(withMemory, { format: "md" });
    expect(text).toContain("## What the agent remembered");
    expect(text).toContain("- night 2 · arch (shared) · gain +0.01200 · real: deeper (DEPTH 4 -\\> 6)");
    expect(new MarkdownIt().render(text)).toContain("<li>night 2 · arch (shared) · gain +0.01200 · real: deeper (DEPTH 4 -&gt; 6)</li>");
  });
});

describe("custom templates", () => {
  it("lay a folder over the built-in templates: a replaced partial, the rest unchanged", async () => {
    const custom = join(dir, "tpl");
    mkdirSync(join(custom, "partials"), { recursive: true });
    writeFileSync(join(custom, "partials", "footer.html.hbs"), `<footer>Team footer for {{title}}</footer>`);
    writeFileSync(join(custom, "style.css"), "body { font-size: 20px; }");
    const out = await renderReport(model, { format: "html", templatesDir: custom });
    expect(out).toContain("<footer>Team footer for Run nightshift/mar5/default</footer>");
    expect(out).toContain("body { font-size: 20px; }");
    expect(out).toContain('id="chart-progress"');
  });

  it("fail in one line for a missing folder, an empty one, or a broken template", async () => {
    const bad = async (templatesDir: string) => {
      const err = await renderReport(model, { format: "html", templatesDir }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ReportError);
      expect((err as ReportError).code).toBe("REPORT_BAD_TEMPLATES");
      expect((err as Error).message).not.toContain("\n");
      return (err as Error).message;
    };
    expect(await bad(join(dir, "nope"))).toMatch(/does not exist/);
    mkdirSync(join(dir, "empty"));
    expect(await bad(join(dir, "empty"))).toMatch(/holds no templates/);
    const broken = join(dir, "broken");
    mkdirSync(broken);
    writeFileSync(join(broken, "report.html.hbs"), "{{#each runs}}unclosed");
    expect(await bad(broken)).toMatch(/report\.html\.hbs/);
    const missing = join(dir, "missing-partial");
    mkdirSync(missing);
    writeFileSync(join(missing, "report.html.hbs"), "{{> nowhere}}");
    expect(await bad(missing)).toMatch(/nowhere/);
  });
});
