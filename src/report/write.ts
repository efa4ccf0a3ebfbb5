/**
 * Where a report goes and how it gets there: by default reports/<name>.<ext> under the current
 * folder; `--out` names a file, or a folder (existing, or written with a trailing slash) to put
 * the default name in. The file is written to a temporary sibling and renamed into place, so a
 * failure never leaves half a report where a reader would open it.
 */
import { mkdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { ReportError, firstLine } from "./errors.ts";
import type { ReportFormat } from "./types.ts";

export const DEFAULT_REPORTS_DIR = "reports";

const EXTENSIONS: Record<ReportFormat, string> = { html: "html", md: "md" };

/** A file name from a branch or title: letters, digits, dot, dash; nothing a shell or URL minds. */
export function slug(text: string): string {
  return (
    text
      .replace(/[^A-Za-z0-9._-]+/g, "-")
      .replace(/-{2,}/g, "-")
      .replace(/^[-.]+|[-.]+$/g, "")
      .slice(0, 80) || "report"
  );
}

/** The absolute path a report of `name` in `format` is written to, for `--out` (or none). */
export function reportPath(name: string, format: ReportFormat, out?: string, cwd = process.cwd()): string {
  const file = `${slug(name)}.${EXTENSIONS[format]}`;
  if (out === undefined || out === "") return resolve(cwd, DEFAULT_REPORTS_DIR, file);
  const target = resolve(cwd, out);
  let isDir = /[/\\]$/.test(out);
  try {
    isDir ||= statSync(target).isDirectory();
  } catch {
    // Not there yet: a file path, written below.
  }
  return isDir ? join(target, file) : target;
}

/**
 * Where the full experiment list of the report at `reportPath` goes: beside it, named after it
 * (reports/x.html → reports/x.experiments.tsv), so the HTML and the Markdown report of one run
 * share it.
 */
export function experimentsTsvPath(reportPath: string): string {
  return join(dirname(reportPath), `${basename(reportPath).replace(/\.(html|md)$/, "")}.experiments.tsv`);
}

/** Writes `text` to `path` (creating its folder); REPORT_CANNOT_WRITE with the reason otherwise. */
export function writeReportFile(path: string, text: string): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  try {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(tmp, text);
    renameSync(tmp, path);
  } catch (err) {
    try {
      rmSync(tmp, { force: true });
    } catch {
      // The folder itself is unusable: there is no temporary file to remove.
    }
    // Node says "ENOENT: no such file or directory, open '<the temporary file>'": the file
    // named is ours, not the user's, so the reason stops before it.
    const why = firstLine(err).replace(/, \w+ '[^']*'$/, "");
    throw new ReportError("REPORT_CANNOT_WRITE", `cannot write the report to ${path}: ${why}`, { cause: err });
  }
}
