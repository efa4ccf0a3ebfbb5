/**
 * ReportError: what `nightshift report` and the report API raise on purpose — no workspace, no
 * runs, an unknown or ambiguous run, a bad templates folder, an output path that cannot be
 * written, an unknown tournament or night, a tournament with no finished night. Each has a stable
 * `code` and a one-line message that says what to do; the CLI prints it and exits 2.
 */
import { CodedError } from "../util/errors.ts";

export type ReportErrorCode =
  | "REPORT_NO_WORKSPACE" // no nightshift.db in the workspace folder
  | "REPORT_NO_RUNS" // the workspace has no run yet
  | "REPORT_UNKNOWN_RUN" // no run with that id, branch or tag
  | "REPORT_AMBIGUOUS_RUN" // a tag that names several runs
  | "REPORT_NO_TOURNAMENT" // --night / --tournament in a workspace with no tournament
  | "REPORT_UNKNOWN_TOURNAMENT" // no tournament of that name
  | "REPORT_UNKNOWN_NIGHT" // no such night in the tournament
  | "REPORT_EMPTY_TOURNAMENT" // a tournament report before any night has finished
  | "REPORT_EMPTY_NIGHT" // a night with no run yet
  | "REPORT_BAD_TEMPLATES" // a templates folder that is missing, empty, or holds a broken template
  | "REPORT_BAD_FORMAT" // a format other than html or md
  | "REPORT_CANNOT_WRITE" // the output path cannot be written
  | "REPORT_CHART"; // a chart failed to draw (a bug in a chart spec, or in a custom template's data)

export class ReportError extends CodedError<ReportErrorCode> {}

/** The first line of an error's message: report errors are one line even when a cause is not. */
export function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split("\n")[0]!.trim();
}
