/**
 * The parent's verdict on a run, from what it measured itself: its own clock, how the process
 * ended, and the trusted evaluation. The child's word counts only when it admits a failure.
 * Only an "ok" verdict carries a summary; every other one carries a one-line error instead.
 * Pure: no processes, no I/O.
 */
import { constants } from "node:os";
import type { TrustedEvaluation } from "../evaluation/trusted.ts";
import type { RunStatus, RunSummary } from "../types.ts";
import type { Grace } from "./grace.ts";
import type { ChildFailure, DeclaredStats } from "./protocol.ts";

export interface RunEnding {
  /** A failure the child reported (its own crash, a non-finite loss, out of memory). */
  failure: { status: ChildFailure; error: string } | null;
  /** Parent-clock seconds from "started" to "ready", when the child got that far. */
  trainingSeconds: number | null;
  /** The parent killed the run because train() had not returned by the training deadline. */
  trainingDeadline: number | null;
  /** Seconds the model's first batch of logits was allowed, when it missed them; else null. */
  firstAnswerLate: number | null;
  /** What train.ts declared when it returned its model. */
  stats: DeclaredStats | null;
  /** The trusted evaluation's outcome, or why it could not finish (the server went away). */
  evaluation: TrustedEvaluation | null;
  /** Parent-clock seconds from spawn to the end of the evaluation. */
  totalSeconds: number;
  /** The hard wall-clock limit fired (the process group was killed by the runner). */
  timedOut: boolean;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  logTail: string;
  /** stderr carried V8's fatal heap-exhaustion message (seen as it streamed, not just in the tail). */
  heapOutOfMemory: boolean;
  timeBudget: number;
  /** The grace the run had (grace.ts): the floor, or scaled by its measured step time. */
  grace: Grace;
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

function describeGrace(grace: Grace): string {
  const seconds = `${grace.seconds.toFixed(1)}s grace`;
  return grace.scaledBy === null ? seconds : `${seconds}, for steps of ${grace.scaledBy.toFixed(2)}s`;
}

export function classifyRun(end: RunEnding): Verdict {
  if (end.failure) return { status: end.failure.status, error: end.failure.error || `the run ended ${end.failure.status}` };
  const allowed = end.timeBudget + end.grace.seconds;
  if (end.trainingDeadline !== null)
    return {
      status: "over-budget",
      error:
        `train() had not returned ${end.trainingDeadline.toFixed(1)}s after the run started (budget ${end.timeBudget}s ` +
        `+ ${describeGrace(end.grace)} + start-up): stop when ctx.clock.expired()`,
    };
  if (end.trainingSeconds !== null && end.trainingSeconds > allowed)
    return {
      status: "over-budget",
      error:
        `train() returned after ${end.trainingSeconds.toFixed(1)}s; the budget is ${end.timeBudget}s ` +
        `(+${describeGrace(end.grace)}): stop when ctx.clock.expired()`,
    };
  if (end.firstAnswerLate !== null)
    return {
      status: "over-budget",
      error:
        `the model took more than ${end.firstAnswerLate}s for its first batch of logits: ` +
        "work after train() returned (training in logits()) is past the budget",
    };
  const evaluation = end.evaluation;
  if (evaluation && end.stats && end.trainingSeconds !== null) {
    if (evaluation.status !== "ok") return { status: evaluation.status, error: evaluation.error };
    const s = end.stats;
    const summary: RunSummary = {
      val_bpb: evaluation.val.bpb,
      training_seconds: end.trainingSeconds,
      total_seconds: end.totalSeconds,
      peak_vram_mb: s.peakBytes / 1024 / 1024,
      mfu_percent: s.mfuPercent,
      total_tokens_M: s.totalTokens / 1e6,
      num_steps: s.steps,
      num_params_M: s.numParams / 1e6,
      depth: s.depth,
    };
    return { status: "ok", summary, ...(evaluation.test ? { testBpb: evaluation.test.bpb } : {}) };
  }
  if (end.timedOut)
    return {
      status: "timeout",
      error:
        `the run did not finish within the hard limit of ${end.hardLimit}s (budget ${end.timeBudget}s): ` +
        "its process group was killed",
    };
  if (end.heapOutOfMemory || HEAP_OOM.test(end.logTail))
    return { status: "out-of-memory", error: "the training process ran out of JavaScript heap (JavaScript heap out of memory)" };
  const when = end.stats ? "before its evaluation finished" : "before train() returned";
  const signal = end.signal ?? signalOfExitCode(end.exitCode);
  if (signal) {
    const meaning = SIGNAL_MEANING[signal] ?? "killed by a signal";
    return { status: "crash", error: `the training process died of ${signal} (${meaning}) ${when}` };
  }
  const last = lastLine(end.logTail);
  if (end.exitCode !== 0 && end.exitCode !== null)
    return { status: "crash", error: `the training process exited with code ${end.exitCode} ${when}${last ? `: ${last}` : ""}` };
  return { status: "crash", error: `the training process exited ${when} (did train.ts call process.exit()?)` };
}

/**
 * The signal behind an exit code of 128 + n. Inside the sandbox the process that dies is not
 * the one the runner started: bubblewrap reports its command's death by signal n this way.
 */
function signalOfExitCode(code: number | null): NodeJS.Signals | null {
  if (code === null || code <= 128) return null;
  const entry = Object.entries(constants.signals).find(([, n]) => n === code - 128);
  return entry ? (entry[0] as NodeJS.Signals) : null;
}
