/**
 * Step accounting for a run: what train.ts reports through logger.step, turned into the live
 * progress line (autoresearch's format) and the totals the summary needs (steps, tokens,
 * steady-state throughput). Pure bookkeeping: no I/O, no clock of its own.
 */
import type { StepReport } from "../types.ts";

/** Steps excluded from steady-state throughput, as autoresearch (warm-up, first allocations). */
export const WARMUP_STEPS = 10;

export interface StepStats {
  /** Steps reported so far, this one included. */
  steps: number;
  /** Seconds since the previous report (since train() started, for the first). */
  dtSeconds: number;
  tokensPerSecond: number;
  mfuPercent?: number;
}

export class StepTracker {
  steps = 0;
  totalTokens = 0;
  #lastAt = 0;
  #warmupEndAt: number | null = null;
  #tokensAfterWarmup = 0;
  #lastAtAfterWarmup = 0;
  readonly #peakFlops: number;

  constructor(peakFlops: number) {
    this.#peakFlops = peakFlops;
  }

  /** Records one report made `elapsedSeconds` after train() started. */
  record(report: StepReport, elapsedSeconds: number): StepStats {
    this.steps += 1;
    this.totalTokens += report.tokens;
    const dtSeconds = Math.max(elapsedSeconds - this.#lastAt, 1e-9);
    this.#lastAt = elapsedSeconds;
    if (this.steps === WARMUP_STEPS) this.#warmupEndAt = elapsedSeconds;
    else if (this.steps > WARMUP_STEPS) {
      this.#tokensAfterWarmup += report.tokens;
      this.#lastAtAfterWarmup = elapsedSeconds;
    }
    const tokensPerSecond = report.tokens / dtSeconds;
    const flops = report.flopsPerToken;
    const mfuPercent =
      typeof flops === "number" && flops > 0 && this.#peakFlops > 0
        ? (100 * flops * tokensPerSecond) / this.#peakFlops
        : undefined;
    return { steps: this.steps, dtSeconds, tokensPerSecond, ...(mfuPercent === undefined ? {} : { mfuPercent }) };
  }

  /**
   * Model FLOP utilisation over the run, in percent: after the warm-up steps when there were
   * more than WARMUP_STEPS (autoresearch's steady state), else over the whole training time.
   */
  mfuPercent(flopsPerToken: number, trainingSeconds: number): number {
    if (!(this.#peakFlops > 0) || !(flopsPerToken > 0)) return 0;
    const steady = this.#warmupEndAt !== null && this.steps > WARMUP_STEPS;
    const tokens = steady ? this.#tokensAfterWarmup : this.totalTokens;
    const seconds = steady ? this.#lastAtAfterWarmup - this.#warmupEndAt! : trainingSeconds;
    if (!(seconds > 0)) return 0;
    return (100 * flopsPerToken * tokens) / seconds / this.#peakFlops;
  }
}

export interface ProgressLineFields {
  step: number;
  /** Fraction of the budget spent, [0, 1]. */
  progress: number;
  loss: number;
  lrm?: number;
  dtSeconds: number;
  tokensPerSecond: number;
  mfuPercent?: number;
  epoch?: number;
  remainingSeconds: number;
}

/**
 * `step 00042 (13.9%) | loss: 3.123456 | lrm: 1.00 | dt: 412ms | tok/sec: 4,970 | mfu: 12.3% |
 * epoch: 1 | remaining: 258s` — fields train.ts did not report are left out.
 */
export function formatProgressLine(f: ProgressLineFields): string {
  const parts = [
    `step ${String(f.step).padStart(5, "0")} (${(100 * f.progress).toFixed(1)}%)`,
    `loss: ${f.loss.toFixed(6)}`,
  ];
  if (f.lrm !== undefined) parts.push(`lrm: ${f.lrm.toFixed(2)}`);
  parts.push(`dt: ${(f.dtSeconds * 1000).toFixed(0)}ms`);
  parts.push(`tok/sec: ${Math.round(f.tokensPerSecond).toLocaleString("en-US")}`);
  if (f.mfuPercent !== undefined) parts.push(`mfu: ${f.mfuPercent.toFixed(1)}%`);
  if (f.epoch !== undefined) parts.push(`epoch: ${f.epoch}`);
  parts.push(`remaining: ${Math.max(0, f.remainingSeconds).toFixed(0)}s`);
  return parts.join(" | ");
}
