/**
 * Student's one-sample t test, the engine of every paired comparison: a paired test is the
 * one-sample test of the seed-by-seed differences (R: t.test(x, y, paired = TRUE) is
 * t.test(x - y)). Gives all three p-values and a two-sided interval so callers pick the
 * alternative they need; the distribution functions are @stdlib's.
 */
import { mean, sd } from "./describe.ts";
import { pt, ptUpper, qt } from "./distributions.ts";
import { checkOptions } from "./errors.ts";
import { finiteNumber, finiteSample, probability } from "./validate.ts";

export interface Interval {
  lower: number;
  upper: number;
  /** Two-sided coverage, e.g. 0.95. */
  confidence: number;
}

export interface OneSampleTOptions {
  /** The mean under the null hypothesis. Default 0. */
  mu?: number;
  /** Coverage of the two-sided interval. Default 0.95. */
  confidence?: number;
}

export interface OneSampleT {
  n: number;
  mean: number;
  sd: number;
  /** Standard error of the mean, sd / √n. */
  se: number;
  df: number;
  /**
   * (mean - mu) / se. When every value is the same, se is 0: t is ±Infinity if that value
   * differs from mu and 0 if it equals mu (no evidence either way, so every p-value is 1).
   */
  t: number;
  /** P(T ≥ t): the p-value for H1: true mean > mu. */
  pGreater: number;
  /** P(T ≤ t): the p-value for H1: true mean < mu. */
  pLess: number;
  /** The two-sided p-value, min(1, 2 P(T ≥ |t|)). */
  pTwoSided: number;
  /** mean ± t_{(1+confidence)/2, df} · se. */
  interval: Interval;
}

const KNOWN = ["mu", "confidence"];

export function oneSampleT(values: readonly number[], options: OneSampleTOptions = {}): OneSampleT {
  checkOptions("oneSampleT", options, KNOWN);
  const x = finiteSample("oneSampleT", "values", values, 2);
  const mu = finiteNumber("oneSampleT", "mu", options.mu, 0);
  const confidence = probability("oneSampleT", "confidence", options.confidence, 0.95);
  return tFromSummary(x.length, mean(x), sd(x), mu, confidence);
}

/** The same test from a summary (n ≥ 2, mean, sd), for callers that already hold one. */
export function tFromSummary(n: number, m: number, s: number, mu: number, confidence: number): OneSampleT {
  const df = n - 1;
  const se = s / Math.sqrt(n);
  let t: number;
  if (se > 0) t = (m - mu) / se;
  else t = m === mu ? 0 : m > mu ? Infinity : -Infinity;
  const constantAtMu = se === 0 && m === mu;
  const pGreater = constantAtMu ? 1 : ptUpper(t, df);
  const pLess = constantAtMu ? 1 : pt(t, df);
  const pTwoSided = constantAtMu ? 1 : Math.min(1, 2 * ptUpper(Math.abs(t), df));
  const half = se > 0 ? qt((1 + confidence) / 2, df) * se : 0;
  return {
    n,
    mean: m,
    sd: s,
    se,
    df,
    t,
    pGreater,
    pLess,
    pTwoSided,
    interval: { lower: m - half, upper: m + half, confidence },
  };
}
