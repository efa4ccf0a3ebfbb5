/**
 * The child's side of a run's interface to train.ts: the budget clock, the logger with its
 * live progress line, and the TrainContext assembled from them. It owns stdout only to keep the
 * progress line tidy (a train.ts print first ends the line); it never decides an outcome.
 */
import type { BatchLoader, BudgetClock, StepReport, TrainContext, TrainLogger } from "../types.ts";
import type { ProgressSnapshot } from "./protocol.ts";
import { StepTracker, formatProgressLine } from "./progress.ts";

/** A budget clock that starts now. train.ts gets it frozen: it can read it, not reset it. */
export function startBudgetClock(budgetSeconds: number, now: () => number = () => performance.now()): BudgetClock {
  const startedAt = now();
  const elapsed = (): number => (now() - startedAt) / 1000;
  return Object.freeze({
    budgetSeconds,
    elapsed,
    progress: () => Math.min(1, Math.max(0, elapsed() / budgetSeconds)),
    expired: () => elapsed() >= budgetSeconds,
  });
}

/**
 * The `\r`-rewritten progress line on stdout. Anything else written to stdout or stderr while
 * the line is open first gets a newline, so train.ts prints never land mid-line.
 */
export class ConsoleProgress {
  #open = false;
  readonly #writeOut: (text: string) => void;

  constructor() {
    const patch = (stream: NodeJS.WriteStream): ((text: string) => boolean) => {
      const original = stream.write.bind(stream);
      stream.write = ((...args: Parameters<typeof original>) => {
        this.end();
        return original(...args);
      }) as typeof stream.write;
      return (text) => original(text);
    };
    const writeOut = patch(process.stdout);
    patch(process.stderr);
    this.#writeOut = (text) => void writeOut(text);
  }

  show(line: string): void {
    // Trailing spaces wipe the rest of a longer previous line, as autoresearch does.
    this.#writeOut(`\r${line}    `);
    this.#open = true;
  }

  /** Ends the open progress line, if any. */
  end(): void {
    if (!this.#open) return;
    this.#open = false;
    this.#writeOut("\n");
  }
}

export interface NonFiniteLoss {
  step: number;
  loss: number;
}

export interface LoggerHooks {
  clock: BudgetClock;
  tracker: StepTracker;
  console: ConsoleProgress;
  progressIntervalMs: number;
  /** A snapshot to send to the parent (throttled like the printed line). */
  onProgress(snapshot: ProgressSnapshot): void;
  /** train.ts reported a NaN or infinite loss: the run is over. */
  onNonFiniteLoss(bad: NonFiniteLoss): void;
}

export interface RunLogger extends TrainLogger {
  /** Shows the last step's line if the throttle held it back, then ends the line. */
  flush(): void;
}

function checkReport(report: StepReport): void {
  if (typeof report !== "object" || report === null)
    throw new TypeError(`logger.step: expected a StepReport object { step, loss, tokens }, got ${String(report)}`);
  for (const key of ["step", "loss", "tokens"] as const)
    if (typeof report[key] !== "number")
      throw new TypeError(`logger.step: '${key}' must be a number, got ${typeof report[key]} (${String(report[key])})`);
  if (!Number.isFinite(report.tokens) || report.tokens < 0)
    throw new TypeError(`logger.step: 'tokens' must be a non-negative number of tokens in this step, got ${report.tokens}`);
}

export function createLogger(hooks: LoggerHooks): RunLogger {
  const { clock, tracker, console: progressLine } = hooks;
  let lastShownAt = -Infinity;
  let pending: ProgressSnapshot | null = null;

  const show = (snapshot: ProgressSnapshot): void => {
    progressLine.show(snapshot.line);
    hooks.onProgress(snapshot);
    pending = null;
  };

  return {
    info(message: string): void {
      progressLine.end();
      process.stdout.write(`${String(message)}\n`);
    },
    step(report: StepReport): void {
      checkReport(report);
      if (!Number.isFinite(report.loss)) {
        hooks.onNonFiniteLoss({ step: report.step, loss: report.loss });
        return;
      }
      const elapsedSeconds = clock.elapsed();
      const stats = tracker.record(report, elapsedSeconds);
      const remainingSeconds = Math.max(0, clock.budgetSeconds - elapsedSeconds);
      const fields = {
        step: report.step,
        progress: clock.progress(),
        loss: report.loss,
        ...(report.lrm === undefined ? {} : { lrm: report.lrm }),
        dtSeconds: stats.dtSeconds,
        tokensPerSecond: stats.tokensPerSecond,
        ...(stats.mfuPercent === undefined ? {} : { mfuPercent: stats.mfuPercent }),
        ...(report.epoch === undefined ? {} : { epoch: report.epoch }),
        remainingSeconds,
      };
      const snapshot: ProgressSnapshot = {
        steps: stats.steps,
        step: report.step,
        loss: report.loss,
        ...(report.lrm === undefined ? {} : { lrm: report.lrm }),
        ...(report.epoch === undefined ? {} : { epoch: report.epoch }),
        dtMs: stats.dtSeconds * 1000,
        tokensPerSecond: stats.tokensPerSecond,
        ...(stats.mfuPercent === undefined ? {} : { mfuPercent: stats.mfuPercent }),
        progress: fields.progress,
        elapsedSeconds,
        remainingSeconds,
        line: formatProgressLine(fields),
      };
      // Throttled: a bigram model reports thousands of steps a second; the first always shows.
      const now = performance.now();
      if (stats.steps === 1 || now - lastShownAt >= hooks.progressIntervalMs) {
        lastShownAt = now;
        show(snapshot);
      } else pending = snapshot;
    },
    flush(): void {
      if (pending) show(pending);
      progressLine.end();
    },
  };
}

/** A TrainContext's parts, with the loader's sequence length not yet defaulted. */
export type ContextParts = Omit<TrainContext, "trainLoader"> & {
  trainLoader(batchSize: number, seqLen: number): BatchLoader;
};

export function buildTrainContext(parts: ContextParts): TrainContext {
  const { constants } = parts;
  return {
    profile: parts.profile,
    constants: Object.freeze({ ...constants }),
    device: Object.freeze({ ...parts.device }),
    seed: parts.seed,
    clock: parts.clock,
    vocabSize: parts.vocabSize,
    bosId: parts.bosId,
    trainLoader: (batchSize: number, seqLen: number = constants.maxSeqLen) => parts.trainLoader(batchSize, seqLen),
    logger: parts.logger,
  };
}
