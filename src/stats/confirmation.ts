/**
 * A confirmed gain: the mean and t interval of the gains measured on confirmation seeds, which
 * the sequential stopping rule never saw (the verification's confirm.ts trains them). Pure:
 * gains in, estimate out.
 */
import { mean, sd } from "./describe.ts";
import { qt } from "./distributions.ts";

/** Coverage of the confirmation interval. */
export const CONFIRM_LEVEL = 0.9;

export interface Confirmation {
  seeds: number;
  gains: number[];
  meanGain: number;
  /** Two-sided CONFIRM_LEVEL t interval of the mean gain; null with fewer than 2 seeds. */
  interval: [number, number] | null;
  /** Why confirmation ended before its seeds were all measured (a failed rerun). */
  stopped?: string;
}

export function summarize(gains: readonly number[]): Confirmation {
  const m = mean(gains);
  let interval: [number, number] | null = null;
  if (gains.length >= 2) {
    const half = qt(1 - (1 - CONFIRM_LEVEL) / 2, gains.length - 1) * (sd(gains) / Math.sqrt(gains.length));
    interval = [m - half, m + half];
  }
  return { seeds: gains.length, gains: [...gains], meanGain: m, interval };
}
