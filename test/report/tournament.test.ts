/**
 * Night and tournament reports of a tournament: two orgs, two nights driven in process with the
 * fake trainer (tournament-fixture.ts; two nights, so that a child is bred), then `nightshift report --night 1` and
 * `--tournament t1` in HTML and Markdown — every section present, the forest and allocation
 * charts drawn with marks, the lineage's child with its program.md diff, hostile program.md
 * text escaped — and in headless Chromium (skipped without one) the tournament page shows no
 * console error, every chart has marks and the `<script>` line never runs. Bad input (unknown
 * night or tournament, a workspace with no tournament, an empty tournament) is one line, exit 2.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ReportError, buildTournamentReport, openWorkspaceStore, resolveTournament, slug, writeTournamentReport } from "../../src/report/index.ts";
import { openStore } from "../../src/store/index.ts";
import { HOSTILE_PROGRAM_LINE, buildTournamentWorkspace } from "./tournament-fixture.ts";

const BIN = fileURLToPath(new URL("../../bin/nightshift.js", import.meta.url));
let root: string;
let ws: string;
const pages: Record<string, string> = {};
const paths: Record<string, string> = {};

const cli = (...args: string[]) => spawnSync(process.execPath, [BIN, "report", ...args], { encoding: "utf8", cwd: root, timeout: 60_000 });

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "ns-report-tournament-"));
  ws = await buildTournamentWorkspace(root);
  for (const format of ["html", "md"] as const) {
    const night = await writeTournamentReport({ workspace: ws, tournament: "t1", night: "1", format, cwd: root });
    const whole = await writeTournamentReport({ workspace: ws, tournament: "t1", format, cwd: root });
    paths[`night.${format}`] = night.path;
    paths[`tournament.${format}`] = whole.path;
    pages[`night.${format}`] = readFileSync(night.path, "utf8");
    pages[`tournament.${format}`] = readFileSync(whole.path, "utf8");
  }
}, 300_000);
afterAll(() => (process.env.NIGHTSHIFT_KEEP_TEST_DIR ? console.log(root) : rmSync(root, { recursive: true, force: true })));

/** The <section id=...> of an HTML page (up to the next top-level section). */
function section(html: string, id: string): string {
  const start = html.search(new RegExp(`<section[^>]* id="${id}"`));
  return start < 0 ? "" : html.slice(start, html.indexOf("</section>", start) + 10);
}

describe("night and tournament reports of a real tournament", () => {
  it("writes them under reports/ with default names", () => {
    expect(paths["night.html"]).toBe(join(root, "reports", "t1-night-1.html"));
    expect(paths["tournament.md"]).toBe(join(root, "reports", "tournament-t1.md"));
  });

  it("has every section in HTML, with the forest and allocation charts drawn", () => {
    for (const kind of ["night", "tournament"]) {
      const html = pages[`${kind}.html`]!;
      for (const id of ["headline", "champions", "progress", "allocation", "verdicts", "lineage"]) expect(html, `${kind}: ${id}`).toContain(`<section id="${id}"`);
      expect(html).toContain(kind === "night" ? `<section class="leaderboard" id="leaderboard">` : `<section id="nights">`);
      expect(html).toMatch(/verified gain/);
      expect(html).toMatch(/keeps expected from noise alone/);
      // One run per org with its kept changes, device utilization and agent cost.
      expect(html.match(/<section class="run"/g)).toHaveLength(kind === "night" ? 2 : 4);
      // Each run is an <h2>, its parts <h3> under it.
      expect(html).toMatch(/<section class="run" id="run-\d+">\n<h2>(lr|wd) · run \d+ /);
      expect(html).toContain("<h3>Device utilization</h3>");
      expect(html).toContain("<h3>Agent cost</h3>");
      expect(html).not.toContain("<h2>Agent cost</h2>");
      // Forest plot (intervals as rules + points) and allocation bars are drawn with marks.
      const forest = html.match(/<figure class="chart" id="chart-night-1-forest">[\s\S]*?<\/figure>/)?.[0] ?? "";
      const alloc = html.match(/<figure class="chart" id="chart-(night-1|tournament)-allocation">[\s\S]*?<\/figure>/)?.[0] ?? "";
      expect(forest, `${kind}: forest`).toMatch(/role-mark[\s\S]*<path/);
      expect(alloc, `${kind}: allocation`).toMatch(/role-mark[\s\S]*<path/);
      // The progress chart has one staircase per org.
      expect(html).toMatch(/id="chart-progress"/);
      // Leaderboard rows: both orgs, with a verdict or "no claim".
      const board = kind === "night" ? section(html, "leaderboard") : html.slice(html.indexOf('<section id="nights"'));
      for (const org of ["lr", "wd"]) expect(board).toMatch(new RegExp(`<td class="text">${org}</td>`));
    }
  });

  it("shows the lineage: a child bred after the night with its program.md diff from the parent", () => {
    for (const kind of ["night", "tournament"]) {
      const lineage = section(pages[`${kind}.html`]!, "lineage");
      expect(lineage).toMatch(/generation 1 · child of (lr|wd) · joined night 2/);
      expect(lineage).toMatch(/program\.md diff from (lr|wd) \(\d+ added, \d+ removed lines\)/);
      expect(lineage).toContain("Tournament lineage:");
      expect(lineage).toMatch(/class="d-add"|diff-add|<ins|\+/);
    }
    const md = pages["tournament.md"]!;
    expect(md).toMatch(/### program\.md: (lr|wd) → \S+/);
    expect(md).toMatch(/```diff\n[\s\S]*\+[^\n]*Tournament lineage:/);
  });

  it("draws the lineage as a tree: a row per member, a retired org's line ending at its night, each child branching off its parent", () => {
    const store = openWorkspaceStore(ws);
    try {
      const t = resolveTournament(store, "t1");
      const members = store.listMembers(t.id);
      const model = buildTournamentReport(store, t);
      const chart = model.charts.find((c) => c.id === model.lineage!.chartId)!;
      type Values = Record<string, string | number>[];
      const [branches, lines] = (chart.vegaLite as { layer: { data: { values: Values } }[] }).layer.map((l) => l.data.values) as [Values, Values];
      const label = (orgId: number) => {
        const org = members.find((m) => m.org.id === orgId)!.org;
        return `${org.name} · gen ${org.generation}`;
      };
      const children = members.filter((m) => m.org.parentId !== null);
      expect(children.length).toBeGreaterThan(0);
      expect(members.some((m) => m.retiredNight !== null)).toBe(true);
      expect(lines.map((l) => l.label).sort()).toEqual(members.map((m) => label(m.org.id)).sort());
      for (const m of members)
        expect(lines.find((l) => l.label === label(m.org.id)), m.org.name).toMatchObject({
          from: m.joinedNight - 0.5,
          to: (m.retiredNight ?? t.nights) + 0.5,
          mark: m.retiredNight === null ? "playing" : "retired",
        });
      expect(new Set(branches.map((b) => JSON.stringify(b)))).toEqual(
        new Set(children.map((c) => JSON.stringify({ parent: label(c.org.parentId!), child: label(c.org.id), at: c.joinedNight - 0.5 }))),
      );
    } finally {
      store.close();
    }
    for (const kind of ["night", "tournament"]) {
      const lineage = section(pages[`${kind}.html`]!, "lineage");
      expect(lineage, kind).toMatch(/<figure class="chart" id="chart-lineage">[\s\S]*role-mark[\s\S]*<\/figure>/);
      expect(lineage, kind).toMatch(/retired after night 1/);
    }
    // Markdown keeps the tree as an indented list.
    expect(pages["tournament.md"]).toMatch(/^ {2}- \*\*(lr|wd)-g1n1a\*\* · generation 1 · child of (lr|wd) · joined night 2/m);
  });

  it("escapes the agent-written program.md text", () => {
    for (const kind of ["night", "tournament"]) {
      const html = pages[`${kind}.html`]!;
      expect(html).not.toContain("<script>window.__pwned");
      expect(html).toContain("&lt;script&gt;window.__pwned &#x3D; 5&lt;/script&gt;");
      expect(html).not.toMatch(/<script/i);
    }
    // Markdown: inside a fenced block it stays literal; nowhere is it live HTML outside one.
    const md = pages["tournament.md"]!;
    const outside = md.replace(/```[\s\S]*?```/g, "");
    expect(outside).not.toContain("<script>");
    expect(md).toContain(HOSTILE_PROGRAM_LINE);
  });

  it("renders the same tables in Markdown", () => {
    for (const kind of ["night", "tournament"]) {
      const md = pages[`${kind}.md`]!;
      for (const heading of ["## Headline", "## Champion chain", "## Progress", "## Allocation of device time", "## Verification", "## Lineage of program.md", "## Device utilization", "## Agent cost"])
        expect(md, `${kind}: ${heading}`).toContain(heading);
      expect(md).toContain(kind === "night" ? "## Leaderboard" : "### Night 1");
      expect(md).toMatch(/\| rank \| org \| generation \| nights \| best val\\_bpb \| verdict \|/);
      expect(md).toMatch(/\| \d+ \| (lr|wd) \| 0 \| 1 \|/); // night 1's row of a seed org
      // Every org's run measured the same baseline: its spread is shown beside it.
      expect(md).toMatch(/\*\*baseline val\\_bpb:\*\* \d\.\d+ — the unchanged train\.ts; measured once per run, it ranged \d\.\d+–\d\.\d+ over \d+ runs/);
      // 1 s trainings: the report says it is a demo budget, and how many steps that was.
      expect(md).toMatch(/\*\*Demo budget:\*\* experiments trained for 1(\.0)? ?s each \(\d+(–\d+)? steps\), where a real night trains each for 5m 00s/);
      // What the reruns measured, and what the score credits: nothing unless the verdict is real.
      // (Leaderboard rows: the 12-column tables, split into 14 parts by their 13 bars.)
      const board = md
        .split("\n")
        .filter((l) => /^\| \d+ \| (lr|wd) \| /.test(l))
        .map((l) => l.split("|").map((c) => c.trim()))
        .filter((cells) => cells.length === 14);
      expect(board.length).toBeGreaterThan(0);
      for (const cells of board) if (cells[6] !== "real") expect(Number(cells[9]), cells.join("|")).toBe(0);
      // Several runs: each is a ## section, and its parts are ### under it, not ## beside it.
      expect(md).toMatch(/^## (lr|wd) · run \d+ /m);
      for (const part of ["Kept changes", "All experiments", "Device utilization", "Agent cost"]) {
        expect(md, `${kind}: ${part}`).toMatch(new RegExp(`^### ${part}$`, "m"));
        expect(md, `${kind}: ${part}`).not.toMatch(new RegExp(`^## ${part}$`, "m"));
      }
    }
    expect(pages["tournament.md"]).toMatch(/\| night \| org \| round \| device time \| experiments \|/);
  });

  it("heads the tournament report with the champion and its verified gain, or says why there is none", () => {
    const store = openWorkspaceStore(ws);
    try {
      const t = resolveTournament(store, undefined);
      expect(t.name).toBe("empty"); // the latest
      const model = buildTournamentReport(store, resolveTournament(store, "t1"));
      expect(model.nights!.map((n) => n.number)).toEqual([1, 2]);
      expect(model.champions!.rows[0]!.org).toBeNull();
      const moved = model.champions!.rows.length > 1;
      if (moved) {
        expect(model.headline.verifiedGain!.low).toBeLessThanOrEqual(model.headline.verifiedGain!.estimate);
        expect(model.headline.testBpb).toBeGreaterThan(0);
      } else expect(model.headline.verifiedNote).toMatch(/no gain verified/);
      // Every org's allocation rows add up to what the store granted.
      const granted = model.allocation!.rows.reduce((s, r) => s + r.experiments, 0);
      expect(granted).toBe(8);
      expect(model.allocation!.totalDeviceSeconds).toBeGreaterThan(0);
    } finally {
      store.close();
    }
  });

  it("refuses bad input in one line with exit code 2", () => {
    const bare = join(root, "bare");
    mkdirSync(bare);
    openStore(join(bare, "nightshift.db")).close();
    const cases: [string[], RegExp][] = [
      [["--tournament", "nope", "--workspace", ws], /no tournament 'nope' in this workspace; tournaments: t1, empty/],
      [["--night", "3", "--tournament", "t1", "--workspace", ws], /no night '3' in tournament 't1' \(2 planned\): it has nights 1, 2/],
      [["--night", "x", "--tournament", "t1", "--workspace", ws], /no night 'x'/],
      [["--tournament", "empty", "--workspace", ws], /tournament 'empty' has no finished night yet/],
      [["--night", "1", "--workspace", ws], /night 1 of tournament 'empty' has no run yet/],
      [["--night", "1", "--workspace", bare], /this workspace has no tournament/],
      [["--tournament", "t1", "--workspace", join(root, "nowhere")], /no nightshift workspace at/],
      [["--tournament", "t1", "--run", "1", "--workspace", ws], /mutually exclusive|conflict/i],
    ];
    for (const [args, message] of cases) {
      const r = cli(...args);
      expect(r.status, `${args.join(" ")}: ${r.stderr}`).toBe(2);
      expect(r.stderr.trim().split("\n"), r.stderr).toHaveLength(1);
      expect(r.stderr).toMatch(message);
    }
    // The path is printed on success.
    const ok = cli("--night", "1", "--tournament", "t1", "--format", "md", "--workspace", ws);
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout.trim()).toBe(join("reports", "t1-night-1.md"));
  }, 120_000);

  it("writes the tournament's page for a plain `report` after a tournament, and a run's page for --run", () => {
    const plain = cli("--format", "md", "--workspace", ws);
    expect(plain.status, plain.stderr).toBe(0);
    expect(plain.stdout.trim()).toBe(join("reports", "tournament-t1.md"));
    const store = openStore(join(ws, "nightshift.db"), { readonly: true });
    const latest = store.listRuns().at(-1)!;
    store.close();
    const run = cli("--run", String(latest.id), "--format", "md", "--workspace", ws);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout.trim()).toBe(join("reports", `${slug(latest.branch)}.md`));
  }, 120_000);

  it("raises coded ReportErrors in process", async () => {
    const err = await writeTournamentReport({ workspace: ws, tournament: "empty", format: "html", cwd: root }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ReportError);
    expect((err as ReportError).code).toBe("REPORT_EMPTY_TOURNAMENT");
  });
});

const chromiumPath = [process.env.NIGHTSHIFT_CHROMIUM, "/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p): p is string => !!p && existsSync(p)) ?? null;
if (chromiumPath === null) console.warn("test/report/tournament.test.ts: the browser check is skipped (no chromium binary; set NIGHTSHIFT_CHROMIUM)");

describe.skipIf(chromiumPath === null)("the tournament report in headless Chromium", () => {
  it("shows no console error, draws every chart with marks, runs no script, and screenshots non-blank", async () => {
    const browser = await chromium.launch({ executablePath: chromiumPath!, args: ["--no-sandbox"] });
    try {
      for (const kind of ["tournament", "night"]) {
        const url = pathToFileURL(paths[`${kind}.html`]!).href;
        const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
        const problems: string[] = [];
        page.on("console", (m) => m.type() === "error" && problems.push(m.text()));
        page.on("pageerror", (e) => problems.push(e.message));
        page.on("request", (r) => r.url() !== url && problems.push(`request: ${r.url()}`));
        await page.goto(url, { waitUntil: "load" });
        const state = (await page.evaluate(`({
          pwned: window.__pwned ?? null,
          charts: [...document.querySelectorAll("figure.chart")].map((f) => ({ id: f.id, marks: f.querySelectorAll(".role-mark path, .role-mark rect, .role-mark line").length })),
        })`)) as { pwned: unknown; charts: { id: string; marks: number }[] };
        expect(state.pwned).toBeNull();
        expect(state.charts.map((c) => c.id)).toEqual(expect.arrayContaining(["chart-progress", "chart-night-1-forest"]));
        for (const c of state.charts) expect(c.marks, c.id).toBeGreaterThan(0);
        expect(await page.getByText(HOSTILE_PROGRAM_LINE).first().count()).toBeGreaterThan(0);
        const png = await page.screenshot({ path: join(root, `${kind}.png`), fullPage: true });
        expect(png.length).toBeGreaterThan(10_000);
        expect(problems).toEqual([]);
        await page.close();
      }
    } finally {
      await browser.close();
    }
  }, 120_000);

  it("shows every column of every table in a 1280 px window, and the lineage tree with a line per org", async () => {
    const browser = await chromium.launch({ executablePath: chromiumPath!, args: ["--no-sandbox"] });
    try {
      for (const kind of ["tournament", "night"]) {
        const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
        await page.goto(pathToFileURL(paths[`${kind}.html`]!).href, { waitUntil: "load" });
        const state = (await page.evaluate(`({
          clipped: [...document.querySelectorAll(".table-wrap")].filter((w) => w.scrollWidth > w.clientWidth + 1).map((w) => w.querySelector("table").dataset.table + ": " + w.scrollWidth + " > " + w.clientWidth),
          tables: document.querySelectorAll(".table-wrap").length,
          lines: document.querySelectorAll("#chart-lineage .role-mark line").length,
          lineage: document.querySelectorAll("#lineage .lineage-list > li").length,
        })`)) as { clipped: string[]; tables: number; lines: number; lineage: number };
        expect(state.tables, kind).toBeGreaterThan(5);
        expect(state.clipped, kind).toEqual([]);
        // A line per org and a branch per child (at least one): more rule lines than orgs.
        expect(state.lineage, kind).toBeGreaterThan(1);
        expect(state.lines, kind).toBeGreaterThan(state.lineage);
        await page.close();
      }
    } finally {
      await browser.close();
    }
  }, 120_000);
});
