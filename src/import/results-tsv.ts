/**
 * Reading an autoresearch results.tsv, strictly: the header autoresearch's program.md specifies
 * (commit, val_bpb, memory_gb, status, description, tab-separated), then one row per experiment.
 * Anything else is refused with the file and line and what was expected there, never guessed at:
 * a row read wrongly would become a wrong keep in every report after. Only the reading lives
 * here; what a row means for the store is autoresearch.ts's.
 */
import { ImportError } from "./errors.ts";

export const RESULTS_COLUMNS = ["commit", "val_bpb", "memory_gb", "status", "description"] as const;
export type ResultsStatus = "keep" | "discard" | "crash";
const STATUSES: readonly ResultsStatus[] = ["keep", "discard", "crash"];

export interface ResultsRow {
  /** 1-based line in the file (the header is line 1). */
  line: number;
  /** The abbreviated commit hash as written (lowercased). */
  commit: string;
  valBpb: number;
  memoryGb: number;
  status: ResultsStatus;
  description: string;
}

/** A plain decimal as autoresearch prints it (0.997900, 44.0, 12): no exponent, sign or NaN. */
const DECIMAL = /^\d+(\.\d+)?$/;
const COMMIT = /^[0-9a-f]{7,64}$/;

/** The rows of `text`; `file` names it in errors. */
export function parseResultsTsv(text: string, file: string): ResultsRow[] {
  const fail = (line: number, why: string): never => {
    throw new ImportError("IMPORT_BAD_RESULTS", `${file}:${line}: ${why}`);
  };
  if (text.includes("\0")) fail(1, "the file holds NUL bytes: it is not a results.tsv text file");
  // autoresearch writes "\n"; a file passed through an editor on Windows may end lines in "\r\n".
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  while (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  if (lines.length === 0) fail(1, `the file is empty: expected the header ${RESULTS_COLUMNS.join("\\t")}`);
  const header = lines[0]!.split("\t");
  if (header.length !== RESULTS_COLUMNS.length || header.some((h, i) => h.trim() !== RESULTS_COLUMNS[i]))
    fail(1, `the header must be ${RESULTS_COLUMNS.join(", ")} (tab-separated, as autoresearch writes it); got ${JSON.stringify(lines[0]!.slice(0, 80))}`);
  if (lines.length === 1) fail(1, "the file has a header but no rows: there is nothing to import");

  return lines.slice(1).map((raw, i): ResultsRow => {
    const line = i + 2;
    if (raw.trim() === "") fail(line, "an empty line among the rows: remove it (results.tsv has one line per experiment)");
    const fields = raw.split("\t");
    if (fields.length !== RESULTS_COLUMNS.length)
      fail(line, `${fields.length} tab-separated field${fields.length === 1 ? "" : "s"}, expected ${RESULTS_COLUMNS.length} (${RESULTS_COLUMNS.join(", ")})${fields.length > RESULTS_COLUMNS.length ? ": a tab inside the description?" : ""}`);
    const [commitText, bpbText, memText, statusText, description] = fields as [string, string, string, string, string];
    const commit = commitText.trim().toLowerCase();
    if (!COMMIT.test(commit)) fail(line, `commit ${JSON.stringify(commitText)} is not a commit hash (7 to 64 hex digits, as git log --oneline shows it)`);
    const status = statusText.trim();
    if (!(STATUSES as readonly string[]).includes(status)) fail(line, `status ${JSON.stringify(statusText)} is not one of ${STATUSES.join(", ")}`);
    const number = (name: string, text: string): number => {
      if (!DECIMAL.test(text.trim())) fail(line, `${name} ${JSON.stringify(text)} is not a plain non-negative decimal number (e.g. 0.997900)`);
      return Number(text.trim());
    };
    const valBpb = number("val_bpb", bpbText);
    const memoryGb = number("memory_gb", memText);
    if (status !== "crash" && valBpb === 0)
      fail(line, `a ${status} with val_bpb 0.000000: that is what autoresearch writes for a crash; a ${status} needs the val_bpb it measured`);
    return { line, commit, valBpb, memoryGb, status: status as ResultsStatus, description: description.trim() };
  });
}
