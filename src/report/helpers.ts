/**
 * The Handlebars helpers templates may use. Formatting helpers (bpb, signed, pct, usd, ...) are
 * the same for HTML and Markdown; `diff` and `chart` draw HTML; `fence` draws Markdown code
 * blocks and `md` is the Markdown escape every `{{...}}` of a Markdown template goes through.
 * A helper that returns markup returns a SafeString built only from escaped text.
 */
import Handlebars from "handlebars";
import {
  formatBpb,
  formatDuration,
  formatFixed,
  formatInt,
  formatInterval,
  formatPercent,
  formatRange,
  formatSigned,
  formatTime,
  formatUsd,
  plural,
} from "./format.ts";
import { diffToHtml, escapeHtml } from "./highlight.ts";
import { escapeMarkdown, fence } from "./markdown.ts";
import type { ChartSpec, DiffView, ReportFormat } from "./types.ts";

/** What render.ts adds to the model for the templates (never from the store). */
export interface RenderExtras {
  /** The stylesheet (style.css of the templates). */
  styles: string;
  /** SVG per chart id (HTML only). */
  chartSvgs: Record<string, string>;
  format: ReportFormat;
}

type Options = Handlebars.HelperOptions;

/** Handlebars passes its options object last; a helper given fewer arguments sees it instead. */
const given = (x: unknown): unknown => (x !== null && typeof x === "object" && "hash" in x && "data" in x ? undefined : x);

function digitsArg(x: unknown, fallback: number): number {
  const d = given(x);
  return typeof d === "number" && Number.isInteger(d) && d >= 0 && d <= 12 ? d : fallback;
}

const FORMATTERS: Record<string, Handlebars.HelperDelegate> = {
  bpb: (x: unknown) => formatBpb(x),
  signed: (x: unknown, digits: unknown) => formatSigned(x, digitsArg(digits, 6)),
  fixed: (x: unknown, digits: unknown) => formatFixed(x, digitsArg(digits, 1)),
  pct: (x: unknown) => formatPercent(x),
  int: (x: unknown) => formatInt(x),
  usd: (x: unknown) => formatUsd(x),
  duration: (x: unknown) => formatDuration(x),
  time: (x: unknown) => formatTime(x),
  interval: (x: unknown, digits: unknown) => formatInterval(x, digitsArg(digits, 6)),
  range: (x: unknown, digits: unknown) => formatRange(x, digitsArg(digits, 6)),
  plural: (n: unknown, word: unknown) => plural(n, String(given(word) ?? "")),
  eq: (a: unknown, b: unknown) => a === b,
  ne: (a: unknown, b: unknown) => a !== b,
  gt: (a: unknown, b: unknown) => typeof a === "number" && typeof b === "number" && a > b,
  or: (...args: unknown[]) => args.slice(0, -1).some(Boolean),
  and: (...args: unknown[]) => args.slice(0, -1).every(Boolean),
  not: (a: unknown) => !a,
  len: (a: unknown) => (Array.isArray(a) ? a.length : 0),
  /** Indentation for a tree (lineage): `depth` levels of `unit`. */
  indent: (depth: unknown, unit: unknown) => {
    const d = typeof depth === "number" && depth > 0 ? Math.min(depth, 32) : 0;
    return String(given(unit) ?? "  ").repeat(d);
  },
};

/**
 * `{{#heading 2}}Kept changes{{/heading}}`: a heading of a run's part, one level deeper in a
 * report of several runs, where each run is itself an <h2> (the Markdown partials do the same
 * with their `#`s).
 */
function headingHelper(this: unknown, level: unknown, options: Options): Handlebars.SafeString {
  const base = typeof level === "number" && Number.isInteger(level) ? level : 2;
  const n = Math.min(6, Math.max(1, base + ((options.data.root as { multiRun?: boolean }).multiRun ? 1 : 0)));
  return new Handlebars.SafeString(`<h${n}>${options.fn(this)}</h${n}>`);
}

/** Escaped text with its `backticked` commands as <code>, as the Markdown report shows them. */
const codeSpans = (escaped: string) => escaped.replace(/`([^`]+)`/g, "<code>$1</code>");

function chartHelper(this: unknown, id: unknown, options: Options): Handlebars.SafeString {
  const root = options.data.root as { charts?: ChartSpec[]; chartSvgs?: Record<string, string> };
  const chart = root.charts?.find((c) => c.id === id);
  const svg = typeof id === "string" ? root.chartSvgs?.[id] : undefined;
  if (!chart || !svg) return new Handlebars.SafeString("");
  return new Handlebars.SafeString(
    `<figure class="chart" id="chart-${escapeHtml(chart.id)}"><figcaption>${escapeHtml(chart.title)}</figcaption>` +
      `<div class="chart-svg">${svg}</div><p class="chart-note">${codeSpans(escapeHtml(chart.description))}</p></figure>`,
  );
}

export function registerHelpers(env: typeof Handlebars, format: ReportFormat): void {
  for (const [name, fn] of Object.entries(FORMATTERS)) env.registerHelper(name, fn);
  if (format === "html") {
    // An interval's bracket stays on one line when a narrow column wraps the cell (the text is the same).
    env.registerHelper("interval", (x: unknown, digits: unknown) => bracketsOnOneLine(formatInterval(x, digitsArg(digits, 6))));
    env.registerHelper("range", (x: unknown, digits: unknown) => bracketsOnOneLine(formatRange(x, digitsArg(digits, 6))));
    env.registerHelper("diff", (view: unknown) => new Handlebars.SafeString(isDiffView(view) ? diffToHtml(view) : ""));
    env.registerHelper("chart", chartHelper);
    env.registerHelper("heading", headingHelper);
  } else {
    env.registerHelper("md", (value: unknown) => escapeMarkdown(value));
    env.registerHelper("fence", (text: unknown, language: unknown) => new Handlebars.SafeString(fence(text, typeof given(language) === "string" ? (language as string) : "")));
    // The Markdown report has no SVG: a chart stands as its caption and description.
    env.registerHelper("chart", function (id: unknown, options: Options) {
      const root = options.data.root as { charts?: ChartSpec[] };
      const chart = root.charts?.find((c) => c.id === id);
      return new Handlebars.SafeString(chart ? `*${escapeMarkdown(chart.title)}: ${escapeMarkdown(chart.description)} (drawn in the HTML report).*` : "");
    });
  }
}

/** "+0.1 [+0.05, +0.15] (90%)" with the bracket in a span that does not wrap; escaped text only. */
function bracketsOnOneLine(text: string): Handlebars.SafeString {
  return new Handlebars.SafeString(escapeHtml(text).replace(/\[[^\]]*\]/g, (bracket) => `<span class="nowrap">${bracket}</span>`));
}

function isDiffView(x: unknown): x is DiffView {
  return typeof x === "object" && x !== null && Array.isArray((x as DiffView).files);
}

/** Names of the helpers of a format, for the Markdown rewrite (bare helper calls vs lookups). */
export function helperNames(format: ReportFormat): Set<string> {
  const names = new Set(Object.keys(FORMATTERS));
  for (const n of format === "html" ? ["diff", "chart", "heading"] : ["md", "fence", "chart"]) names.add(n);
  return names;
}
