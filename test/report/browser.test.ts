/**
 * The HTML report in a real browser: headless Chromium (Debian's package, driven by
 * playwright-core through its executablePath — nothing is downloaded) opens the page from disk
 * in the light and the dark scheme and checks what a reader would see: no console errors, every
 * chart drawn with marks, the hostile `<script>` description shown as text and never run, and a
 * screenshot that is not blank. Skips with a one-line reason where no chromium binary is found
 * (CI has none): set NIGHTSHIFT_CHROMIUM to point at one.
 */
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildRunReport, renderReport } from "../../src/report/index.ts";
import { HOSTILE_DESCRIPTION, buildFixture, withOptionalSections } from "./fixture.ts";

function findChromium(): string | null {
  const candidates = [process.env.NIGHTSHIFT_CHROMIUM, "/usr/bin/chromium", "/usr/bin/chromium-browser"];
  return candidates.find((p): p is string => typeof p === "string" && p !== "" && existsSync(p)) ?? null;
}

const executablePath = findChromium();
const SKIP_REASON = "skipped: no chromium binary (/usr/bin/chromium, /usr/bin/chromium-browser or $NIGHTSHIFT_CHROMIUM)";
if (executablePath === null) console.warn(`test/report/browser.test.ts ${SKIP_REASON}`);

describe.skipIf(executablePath === null)(`the HTML report in headless Chromium${executablePath === null ? ` — ${SKIP_REASON}` : ""}`, () => {
  let dir: string;
  let browser: Browser;
  let pageUrl: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "ns-report-browser-"));
    const fx = await buildFixture(dir);
    // The run report with every optional section, so every kind of chart is drawn.
    const model = withOptionalSections(buildRunReport(fx.store, fx.store.getRun(fx.runId)));
    fx.store.close();
    const file = join(dir, "report.html");
    writeFileSync(file, await renderReport(model, { format: "html" }));
    pageUrl = pathToFileURL(file).href;
    // --no-sandbox: the test may run as root in a container, where Chromium's sandbox cannot start.
    browser = await chromium.launch({ executablePath: executablePath!, args: ["--no-sandbox"] });
  });
  afterAll(async () => {
    await browser?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Opens the report, collecting console errors, page errors and failed requests. */
  async function open(colorScheme: "light" | "dark"): Promise<{ page: Page; problems: string[] }> {
    const page = await browser.newPage({ colorScheme, viewport: { width: 1100, height: 900 } });
    const problems: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error") problems.push(`console: ${m.text()}`);
    });
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    page.on("requestfailed", (r) => problems.push(`request failed: ${r.url()}`));
    page.on("request", (r) => {
      if (r.url() !== pageUrl) problems.push(`request: ${r.url()}`); // self-contained: nothing else loads
    });
    await page.goto(pageUrl, { waitUntil: "load" });
    return { page, problems };
  }

  /** Pixel standard deviation of a PNG, measured by decoding it in the browser's canvas. */
  async function pixelSpread(png: Buffer): Promise<number> {
    const blank = await browser.newPage();
    try {
      return (await blank.evaluate(`(async () => {
        const img = new Image();
        img.src = "data:image/png;base64,${png.toString("base64")}";
        await img.decode();
        const canvas = document.createElement("canvas");
        canvas.width = img.width; canvas.height = img.height;
        const ctx = canvas.getContext("2d");
        ctx.drawImage(img, 0, 0);
        const { data } = ctx.getImageData(0, 0, img.width, img.height);
        let sum = 0, sumSq = 0, n = 0;
        for (let i = 0; i < data.length; i += 4) {
          const y = 0.299 * data[i] + 0.587 * data[i + 1] + 0.114 * data[i + 2];
          sum += y; sumSq += y * y; n++;
        }
        const mean = sum / n;
        return Math.sqrt(sumSq / n - mean * mean);
      })()`)) as number;
    } finally {
      await blank.close();
    }
  }

  for (const scheme of ["light", "dark"] as const) {
    it(`shows the ${scheme} page without errors, with every chart drawn and a non-blank screenshot`, async () => {
      const { page, problems } = await open(scheme);
      try {
        const charts = (await page.evaluate(`[...document.querySelectorAll("figure.chart")].map((f) => {
          const svg = f.querySelector("svg");
          const box = svg ? svg.getBoundingClientRect() : { width: 0, height: 0 };
          return {
            id: f.id,
            marks: svg ? svg.querySelectorAll(".role-mark path, .role-mark rect, .role-mark line").length : 0,
            width: box.width,
            height: box.height,
          };
        })`)) as { id: string; marks: number; width: number; height: number }[];
        expect(charts.map((c) => c.id).sort()).toEqual(["chart-allocation", "chart-leaderboard", "chart-lineage", "chart-progress", "chart-progress-wall-clock", "chart-run-1-timeline"]);
        for (const c of charts) {
          expect(c.marks, c.id).toBeGreaterThan(0);
          expect(c.width, c.id).toBeGreaterThan(100);
          expect(c.height, c.id).toBeGreaterThan(20);
        }

        // The page follows the scheme, and chart text follows the page (readable on either).
        const colours = (await page.evaluate(`(() => {
          const label = document.querySelector("#chart-progress .role-axis-label text");
          return { page: getComputedStyle(document.body).backgroundColor, label: getComputedStyle(label).fill };
        })()`)) as { page: string; label: string };
        const lum = (rgb: string) => {
          const [r, g, b] = (rgb.match(/\d+/g) ?? ["0", "0", "0"]).map(Number) as [number, number, number];
          return 0.299 * r + 0.587 * g + 0.114 * b;
        };
        const contrast = Math.abs(lum(colours.page) - lum(colours.label));
        expect(scheme === "dark" ? lum(colours.page) < 60 : lum(colours.page) > 200, colours.page).toBe(true);
        expect(contrast, JSON.stringify(colours)).toBeGreaterThan(80);

        const shot = join(dir, `report-${scheme}.png`);
        const png = await page.screenshot({ path: shot, fullPage: true });
        expect(statSync(shot).size).toBeGreaterThan(10_000);
        expect(await pixelSpread(png)).toBeGreaterThan(10);
        expect(problems).toEqual([]);
      } finally {
        await page.close();
      }
    });
  }

  it("shows every column of every table in a 1280 px window", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    try {
      await page.goto(pageUrl, { waitUntil: "load" });
      const clipped = (await page.evaluate(
        `[...document.querySelectorAll(".table-wrap")].filter((w) => w.scrollWidth > w.clientWidth + 1).map((w) => w.querySelector("table").dataset.table)`,
      )) as string[];
      expect(clipped).toEqual([]);
      // At 700 px the wide tables scroll inside their box instead of widening the page.
      await page.setViewportSize({ width: 700, height: 900 });
      const narrow = (await page.evaluate(`({
        page: document.documentElement.scrollWidth,
        scrolling: [...document.querySelectorAll(".table-wrap")].filter((w) => w.scrollWidth > w.clientWidth + 1).length,
      })`)) as { page: number; scrolling: number };
      expect(narrow.scrolling).toBeGreaterThan(0);
      expect(narrow.page).toBeLessThanOrEqual(700);
    } finally {
      await page.close();
    }
  });

  it("shows the <script> description as text and never runs it", async () => {
    const { page, problems } = await open("light");
    try {
      const state = (await page.evaluate(`({
        pwned: window.__pwned ?? null,
        scripts: document.querySelectorAll("script").length,
        images: document.querySelectorAll("img").length,
        cells: [...document.querySelectorAll("td")].map((td) => td.textContent),
      })`)) as { pwned: unknown; scripts: number; images: number; cells: string[] };
      expect(state.pwned).toBeNull();
      expect(state.scripts).toBe(0);
      expect(state.images).toBe(0);
      expect(state.cells).toContain(HOSTILE_DESCRIPTION);
      expect(await page.getByText(HOSTILE_DESCRIPTION).first().isVisible()).toBe(true);
      expect(problems).toEqual([]);
    } finally {
      await page.close();
    }
  });
});
