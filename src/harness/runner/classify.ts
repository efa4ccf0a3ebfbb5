/**
 * The parent's verdict on a run: from what the child reported (if anything), how the process
 * ended and whether the hard limit fired, to one RunStatus. Only an "ok" verdict carries a
 * summary; every other one carries a one-line error instead. Pure: no processes, no I/O.
 */
import type { RunStatus, RunSummary } from "../types.ts";
import type { ChildOutcome } from "./protocol.ts";

export interface RunEnding {
  /** What the child sent on its result channel, if it got that far. */
  outcome: ChildOutcome | null;
  /** The hard wall-clock limit fired (the process group was killed by the runner). */
  timedOut: boolean;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  logTail: string;
  /** stderr carried V8's fatal heap-exhaustion message (seen as it streamed, not just in the tail). */
  heapOutOfMemory: boolean;
  timeBudget: number;
  overBudgetGrace: number;
  hardLimit: number;
}

export interface Verdict {
  status: RunStatus;
  summary?: RunSummary;
  testBpb?: number;
  error?: string;
}

/** V8's message when the JavaScript heap is exhausted (it then aborts the process). */
export const HEAP_OOM = /JavaScript heap out of memory|Reached heap limit|FATAL ERROR: .*Allocation failed/;

const SIGNAL_MEANING: Partial<Record<NodeJS.Signals, string>> = {
  SIGABRT: "a native abort",
  SIGSEGV: "a segmentation fault in native code",
  SIGBUS: "a bus error in native code",
  SIGILL: "an illegal instruction in native code",
  SIGFPE: "a floating-point exception in native code",
  SIGKILL: "killed from outside the runner, often by the kernel's out-of-memory killer",
  SIGTERM: "terminated from outside the runner",
};

function lastLine(text: string): string {
  const lines = text.split("\n").map((l) => l.trim()).filter((l) => l !== "");
  return lines[lines.length - 1] ?? "";
}

export function classifyRun(end: RunEnding): Verdict {
  if (end.outcome) return judgeOutcome(end.outcome, end);
  if (end.timedOut)
    return {
      status: "timeout",
      error:
        `the run did not finish within the hard limit of ${end.hardLimit}s (budget ${end.timeBudget}s): ` +
        "its process group was killed",
    };
  if (end.heapOutOfMemory || HEAP_OOM.test(end.logTail))
    return { status: "out-of-memory", error: "the training process ran out of JavaScript heap (JavaScript heap out of memory)" };
  if (end.signal) {
    const meaning = SIGNAL_MEANING[end.signal] ?? "killed by a signal";
    return { status: "crash", error: `the training process died of ${end.signal} (${meaning})` };
  }
  const last = lastLine(end.logTail);
  if (end.exitCode !== 0)
    return {
      status: "crash",
      error: `the training process exited with code ${end.exitCode} before reporting a result${last ? `: ${last}` : ""}`,
    };
  return {
    status: "crash",
    error: "the training process exited before reporting a result (did train.ts call process.exit()?)",
  };
}

function judgeOutcome(outcome: ChildOutcome, end: RunEnding): Verdict {
  if (outcome.status !== "ok") return { status: outcome.status, error: outcome.error ?? `the run ended ${outcome.status}` };
  const s = outcome.summary;
  if (!s) return { status: "crash", error: "the child reported ok without a summary (harness bug)" };
  // The child checks these too; the parent does not take a result on trust either.
  if (!Number.isFinite(s.val_bpb)) return { status: "non-finite", error: `val_bpb is ${s.val_bpb}` };
  if (s.training_seconds > end.timeBudget + end.overBudgetGrace)
    return {
      status: "over-budget",
      error:
        `train() took ${s.training_seconds.toFixed(1)}s; the budget is ${end.timeBudget}s ` +
        `(+${end.overBudgetGrace.toFixed(1)}s grace)`,
    };
  return { status: "ok", summary: s, ...(typeof outcome.testBpb === "number" ? { testBpb: outcome.testBpb } : {}) };
}
