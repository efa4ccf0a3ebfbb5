/**
 * ImportError: what stops `nightshift import` — a results.tsv it cannot read as autoresearch
 * writes it (with the file and line), or a repository that does not hold the run the file
 * describes. One line each, saying what to fix; the CLI prints it and exits 2.
 */
import { CodedError } from "../util/errors.ts";

export type ImportErrorCode =
  | "IMPORT_BAD_RESULTS" // results.tsv is missing, unreadable, or not in autoresearch's format (file:line)
  | "IMPORT_BAD_SOURCE" // the repository, branch or commits do not match the results.tsv
  | "IMPORT_INVALID_ARGUMENT"; // a bad tag, name or org

export class ImportError extends CodedError<ImportErrorCode> {}
