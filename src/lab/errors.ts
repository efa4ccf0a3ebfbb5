/**
 * LabError: every failure of the lab (the git workspace of train.ts variants) surfaces as this
 * class with a stable `code` and a one-line message. Git's own failures are wrapped as LAB_GIT
 * with git's first error line; nothing here ever prints or exits.
 */
import { unknownOption } from "../util/suggest.ts";
import { CodedError } from "../util/errors.ts";

export type LabErrorCode =
  | "LAB_INVALID_ARGUMENT" // a bad tag, org, slot, commit hash, message or option
  | "LAB_NOT_A_LAB" // the directory is not a nightshift lab (no git repo, or no train.ts on main)
  | "LAB_NOT_A_REPO" // a foreign repository to read (import) is missing or no git repository
  | "LAB_DIR_NOT_EMPTY" // init was asked to create a lab in a non-empty directory that is no repo
  | "LAB_BRANCH_EXISTS" // startBranch without resume on a branch that already exists
  | "LAB_NO_BRANCH" // a branch that does not exist
  | "LAB_BRANCH_BUSY" // the branch is already checked out in another worktree
  | "LAB_SLOT_BUSY" // the slot's worktree holds another branch
  | "LAB_UNKNOWN_COMMIT" // a hash that names no commit in the lab
  | "LAB_FOREIGN_CHANGE" // something other than train.ts changed in a worktree (it was reverted)
  | "LAB_NO_CHANGE" // the new train.ts is identical to the head's
  | "LAB_UNEXPECTED_HEAD" // a worktree's head is not the commit the caller expected
  | "LAB_NOT_ANCESTOR" // discard to a commit that is not an ancestor of the head
  | "LAB_BUSY" // recover found a git process still working in the worktree
  | "LAB_README" // the README generator could not read the sources it documents
  | "LAB_GIT"; // any other git failure

export class LabError extends CodedError<LabErrorCode> {}

export function invalid(message: string): never {
  throw new LabError("LAB_INVALID_ARGUMENT", message);
}

/** Rejects option keys a method does not know, suggesting the closest known one. */
export function checkOptions(where: string, options: unknown, known: readonly string[]): void {
  if (options === undefined) return;
  if (typeof options !== "object" || options === null || Array.isArray(options))
    invalid(`${where}: options must be an object`);
  const problem = unknownOption(options, known);
  if (problem) invalid(`${where}: ${problem}`);
}

/** A line GIT_TRACE wrote to stderr: "12:00:00.123456 git.c:455   trace: built-in: git ...". */
const TRACE_LINE = /^\d\d:\d\d:\d\d\.\d+ \S+\s+trace: /;

/** git's stderr without the GIT_TRACE lines (git.ts explains why tracing is on). */
export function withoutTrace(text: string): string {
  return text
    .split("\n")
    .filter((line) => !TRACE_LINE.test(line))
    .join("\n");
}

/** Wraps a git failure as LAB_GIT with the command and git's first meaningful stderr line. */
export function gitFailure(args: readonly string[], err: unknown): LabError {
  if (err instanceof LabError) return err;
  // Drop the exit-status tag that git.ts adds for tryRun.
  const raw = withoutTrace((err instanceof Error ? err.message : String(err)).replace(/^\[git exit \d+\] /, ""));
  const line =
    raw
      .split("\n")
      .map((l) => l.trim())
      .find((l) => /^(fatal|error):/.test(l)) ??
    raw.split("\n").find((l) => l.trim() !== "") ??
    "unknown error";
  return new LabError("LAB_GIT", `git ${args.slice(0, 2).join(" ")} failed: ${line.trim()}`, { cause: err });
}
