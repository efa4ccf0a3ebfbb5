/**
 * The channel between the runner (parent) and its child: JSON lines on file descriptor 3.
 * train.ts owns stdout and stderr, so nothing the parent decides on is ever parsed from them.
 * This file defines the messages and their parsing; it does no I/O of its own.
 */
import type { Profile } from "../constants.ts";
import type { RunStatus, RunSummary } from "../types.ts";

/** The descriptor the child writes messages to (stdio index 3 of the spawn). */
export const RESULT_FD = 3;

/** What the parent hands the child (argv[2], JSON). */
export interface ChildConfig {
  /** Absolute path of the train.ts (bundled with the child; here for messages). */
  file: string;
  datasetDir: string;
  profile: Profile;
  seed: number;
  timeBudget: number;
  /** Seconds past the budget train() may return in before the run is over-budget. */
  overBudgetGrace: number;
  /** Minimum milliseconds between two live progress updates. */
  progressIntervalMs: number;
  /**
   * The runner's pid. The child dies when its parent is no longer this process: read from
   * process.ppid at start-up instead, a parent killed in the child's first moments would be
   * mistaken for init and the orphan would train on for its whole budget.
   */
  parentPid: number;
  /** Also score the trained model on the held-out test split (verification of a winner). */
  evalTest: boolean;
}

/** A live snapshot of training, sent (throttled) as train.ts reports steps. */
export interface ProgressSnapshot {
  /** Steps reported so far (logger.step calls). */
  steps: number;
  /** The step number train.ts reported last. */
  step: number;
  loss: number;
  lrm?: number;
  epoch?: number;
  /** Milliseconds between the last two step reports. */
  dtMs: number;
  tokensPerSecond: number;
  /** Known only when train.ts reports flopsPerToken with its steps. */
  mfuPercent?: number;
  /** Fraction of the budget spent, in [0, 1]. */
  progress: number;
  elapsedSeconds: number;
  remainingSeconds: number;
  /** The autoresearch-style progress line, as printed. */
  line: string;
}

/** How the child's run ended, as far as the child can tell. */
export interface ChildOutcome {
  status: RunStatus;
  summary?: RunSummary;
  /** bpb on the test split, when the config asked for it. */
  testBpb?: number;
  error?: string;
}

export type ChildMessage =
  | { type: "progress"; progress: ProgressSnapshot }
  | { type: "result"; outcome: ChildOutcome }
  /** The harness itself failed before train.ts ran: the run says nothing about train.ts. */
  | { type: "harness-error"; code: string; message: string };

const STATUSES: readonly RunStatus[] = ["ok", "crash", "timeout", "over-budget", "non-finite", "out-of-memory"];

/** Parses one line of the channel; null for anything that is not a well-formed message. */
export function parseChildMessage(line: string): ChildMessage | null {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return null;
  }
  if (typeof value !== "object" || value === null) return null;
  const msg = value as Record<string, unknown>;
  switch (msg.type) {
    case "progress":
      return typeof msg.progress === "object" && msg.progress !== null ? (msg as ChildMessage) : null;
    case "result": {
      const outcome = msg.outcome as Record<string, unknown> | undefined;
      if (!outcome || !STATUSES.includes(outcome.status as RunStatus)) return null;
      return msg as ChildMessage;
    }
    case "harness-error":
      return typeof msg.message === "string" ? (msg as ChildMessage) : null;
    default:
      return null;
  }
}
