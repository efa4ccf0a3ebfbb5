/**
 * Model → text. HTML: the charts are drawn to SVG first, then the page template runs with the
 * model, the stylesheet and the SVGs; the result is one self-contained file (inline CSS and
 * SVG, no script, a Content-Security-Policy that would block one anyway). Markdown: the same
 * templates' Markdown twins, tables cell for cell the same, charts as their descriptions.
 */
import { renderCharts } from "./charts/render.ts";
import { ReportError, firstLine } from "./errors.ts";
import type { RenderExtras } from "./helpers.ts";
import { tidyMarkdown } from "./markdown.ts";
import { loadTemplates } from "./templates.ts";
import { REPORT_FORMATS, type ReportFormat, type ReportModel } from "./types.ts";

export interface RenderOptions {
  format: ReportFormat;
  /** A folder of templates laid over the built-in ones (see templates.ts). */
  templatesDir?: string;
}

export function checkFormat(format: unknown): ReportFormat {
  if (!REPORT_FORMATS.includes(format as ReportFormat))
    throw new ReportError("REPORT_BAD_FORMAT", `unknown report format ${JSON.stringify(format)}: use ${REPORT_FORMATS.join(" or ")}`);
  return format as ReportFormat;
}

export async function renderReport(model: ReportModel, options: RenderOptions): Promise<string> {
  const format = checkFormat(options.format);
  const templates = loadTemplates(format, options.templatesDir);
  const chartSvgs = format === "html" ? Object.fromEntries(await renderCharts(model.charts)) : {};
  const extras: RenderExtras = { styles: templates.styles, chartSvgs, format };
  try {
    const text = templates.render({ ...model, ...extras, multiRun: model.runs.length > 1 }, { allowProtoPropertiesByDefault: false });
    return format === "md" ? tidyMarkdown(text) : text;
  } catch (err) {
    const where = options.templatesDir ? `the templates in ${options.templatesDir}` : "the built-in templates";
    throw new ReportError("REPORT_BAD_TEMPLATES", `rendering the ${format} report with ${where} failed: ${firstLine(err)}`, { cause: err });
  }
}
