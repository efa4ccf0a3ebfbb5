/**
 * Loading the report templates. The built-in set lives in src/report/templates/:
 *
 *   report.html.hbs, report.md.hbs     the page of each format
 *   partials/<name>.html.hbs / .md.hbs  partials, used as {{> name}} in the same format
 *   style.css                           the HTML report's stylesheet (inlined)
 *
 * `--templates DIR` lays a folder of the same shape over the built-in set: a file there
 * replaces the built-in file of the same name, so a team can restyle the page or rewrite one
 * section without copying the rest. Templates are parsed when loaded, so a syntax error is a
 * one-line REPORT_BAD_TEMPLATES naming the file, not a failure half-way through a render.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import Handlebars from "handlebars";
import { ReportError, firstLine } from "./errors.ts";
import { helperNames, registerHelpers } from "./helpers.ts";
import { escapeMustachesForMarkdown } from "./markdown.ts";
import type { ReportFormat } from "./types.ts";

export const BUILTIN_TEMPLATES_DIR = fileURLToPath(new URL("./templates/", import.meta.url));

export interface TemplateSet {
  format: ReportFormat;
  render: Handlebars.TemplateDelegate;
  styles: string;
  /** Where each file came from (built-in or the custom folder), by relative name. */
  sources: Map<string, string>;
}

/** Relative names of the template files of a folder that matter for `format`. */
function templateFiles(dir: string, format: ReportFormat): Map<string, string> {
  const files = new Map<string, string>();
  const page = `report.${format}.hbs`;
  if (existsSync(join(dir, page))) files.set(page, join(dir, page));
  if (format === "html" && existsSync(join(dir, "style.css"))) files.set("style.css", join(dir, "style.css"));
  const partials = join(dir, "partials");
  if (existsSync(partials) && statSync(partials).isDirectory())
    for (const name of readdirSync(partials).sort())
      if (name.endsWith(`.${format}.hbs`)) files.set(`partials/${name}`, join(partials, name));
  return files;
}

function checkCustomDir(dir: string): void {
  if (!existsSync(dir)) throw new ReportError("REPORT_BAD_TEMPLATES", `templates folder ${dir} does not exist`);
  if (!statSync(dir).isDirectory()) throw new ReportError("REPORT_BAD_TEMPLATES", `templates folder ${dir} is not a folder`);
  const any = templateFiles(dir, "html").size + templateFiles(dir, "md").size;
  if (any === 0)
    throw new ReportError(
      "REPORT_BAD_TEMPLATES",
      `templates folder ${dir} holds no templates (report.html.hbs, report.md.hbs, partials/<name>.html.hbs or .md.hbs, style.css)`,
    );
}

function read(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    throw new ReportError("REPORT_BAD_TEMPLATES", `cannot read template ${path}: ${firstLine(err)}`, { cause: err });
  }
}

function compile(env: typeof Handlebars, format: ReportFormat, path: string, text: string): Handlebars.TemplateDelegate {
  let ast: hbs.AST.Program;
  try {
    ast = Handlebars.parse(text);
  } catch (err) {
    throw new ReportError("REPORT_BAD_TEMPLATES", `template ${path}: ${firstLine(err)}`, { cause: err });
  }
  if (format === "md") ast = escapeMustachesForMarkdown(ast, helperNames(format));
  // Handlebars compiles on first use; the parse above has caught syntax errors, and render.ts
  // reports what fails later (a missing partial or helper) as REPORT_BAD_TEMPLATES too.
  return env.compile(ast, { strict: false });
}

const builtinCache = new Map<ReportFormat, TemplateSet>();

/** The template set for `format`: the built-in one, with `customDir`'s files laid over it. */
export function loadTemplates(format: ReportFormat, customDir?: string): TemplateSet {
  if (customDir === undefined) {
    const cached = builtinCache.get(format);
    if (cached) return cached;
  }
  const files = templateFiles(BUILTIN_TEMPLATES_DIR, format);
  if (customDir !== undefined) {
    const dir = resolve(customDir);
    checkCustomDir(dir);
    for (const [name, path] of templateFiles(dir, format)) files.set(name, path);
  }
  const page = `report.${format}.hbs`;
  if (!files.has(page)) throw new ReportError("REPORT_BAD_TEMPLATES", `no ${page} among the templates`);

  const env = Handlebars.create();
  registerHelpers(env, format);
  const sources = new Map<string, string>();
  let render: Handlebars.TemplateDelegate | undefined;
  let styles = "";
  for (const [name, path] of files) {
    sources.set(name, path);
    const text = read(path);
    if (name === "style.css") styles = text;
    else if (name === page) render = compile(env, format, path, text);
    else {
      const partial = relative("partials", name).slice(0, -`.${format}.hbs`.length);
      env.registerPartial(partial, compile(env, format, path, text));
    }
  }
  const set: TemplateSet = { format, render: render!, styles, sources };
  if (customDir === undefined) builtinCache.set(format, set);
  return set;
}
