/**
 * Draws the report's charts: Vega-Lite → Vega → SVG text, on the server, with no canvas and no
 * network (data is inline). The SVG goes into the page as is; its colours for text, axes and
 * grid are restyled by the page's CSS, so one drawing serves the light and the dark scheme.
 */
import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";
import { ReportError, firstLine } from "../errors.ts";
import type { ChartSpec } from "../types.ts";
import { CHART_CONFIG } from "./theme.ts";

/** A loader that loads nothing: a chart that asks for a URL fails instead of reaching out. */
const NO_NETWORK = {
  load: () => Promise.reject(new Error("charts load no external data")),
  sanitize: () => Promise.reject(new Error("charts load no external data")),
  http: () => Promise.reject(new Error("charts load no external data")),
  file: () => Promise.reject(new Error("charts load no external data")),
} as unknown as vega.Loader;

export async function renderChartSvg(chart: ChartSpec): Promise<string> {
  let view: vega.View | undefined;
  try {
    const spec = { ...chart.vegaLite, config: { ...CHART_CONFIG, ...(chart.vegaLite.config as object | undefined) } };
    const compiled = compile(spec as unknown as TopLevelSpec).spec;
    view = new vega.View(vega.parse(compiled), { renderer: "none", loader: NO_NETWORK, logLevel: vega.Error });
    const svg = await view.toSVG();
    // A label for assistive technology, in place of vega's generic one.
    return svg.replace(/^<svg /, `<svg role="img" aria-label="${escapeAttribute(chart.title)}" `);
  } catch (err) {
    throw new ReportError("REPORT_CHART", `chart ${chart.id} could not be drawn: ${firstLine(err)}`, { cause: err });
  } finally {
    view?.finalize();
  }
}

/** SVG text for every chart, by id; charts draw one after another (Vega views are not free). */
export async function renderCharts(charts: readonly ChartSpec[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const chart of charts) out.set(chart.id, await renderChartSvg(chart));
  return out;
}

function escapeAttribute(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}
