/**
 * The public types of the lab: options, the slot worktree handle and what the operations
 * return. Declarations only; the behaviour is in lab.ts.
 */
import type { LogEntry } from "./git.ts";

export type { LogEntry };

export interface LabInitOptions {
  /** Content of the baseline train.ts (committed on main when the lab is created). */
  trainTs: string;
  /** Content of README.md for the agents (see labReadme). */
  readme: string;
}

export interface StartBranchOptions {
  /** Reuse the branch when it already exists (after a restart); default false: that is an error. */
  resume?: boolean;
}

export interface RunBranch {
  /** nightshift/<tag>/<org> */
  branch: string;
  /** The commit the branch points at now. */
  head: string;
  /** False when an existing branch was resumed. */
  created: boolean;
}

/** A device slot's worktree: the directory where that slot's experiments are committed. */
export interface Worktree {
  readonly slot: number;
  /** Absolute path of the worktree (its train.ts is what the slot runs). */
  readonly path: string;
  readonly branch: string;
}

export interface WorktreeInfo extends Worktree {
  head: string | null;
  locked: boolean;
  /** Git lost the directory (deleted by hand): addWorktree recreates it. */
  prunable: boolean;
}

export interface ExperimentCommit {
  commit: string;
  parent: string;
  /** Unified diff parent → commit (git's format, a/ b/ prefixes, no colour). */
  diff: string;
}

export interface CommitExperimentOptions {
  /** Commit even when train.ts did not change (default false: LAB_NO_CHANGE). */
  allowEmpty?: boolean;
}

export interface BranchLogOptions {
  /** At most this many commits, newest first. */
  limit?: number;
  /** Stop at this commit (excluded): the run's base, to list only the run's own commits. */
  since?: string;
}

export interface RecoverOptions {
  /**
   * How long to wait for a git process still working in the worktree (the orphan of a killed
   * parent finishing its command) before giving up with LAB_BUSY. Default 10 000 ms.
   */
  waitMs?: number;
}

/** What recover found and fixed (all empty/false/null: the worktree was already clean). */
export interface Recovery {
  /** Stale lock files it deleted, relative to the lab directory. */
  removedLocks: string[];
  /** The head before recovery when it differed from expectedHead (e.g. an unrecorded commit). */
  resetFrom: string | null;
  /** Tracked files whose changes were reverted. */
  reverted: string[];
  /** Untracked (or ignored) paths that were deleted. */
  removed: string[];
  /** HEAD had left the slot's branch (detached or another branch) and was put back on it. */
  reattached: boolean;
}
