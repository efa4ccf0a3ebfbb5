/**
 * Welch's two-sample t test (unequal variances; R: t.test(a, b), the default) with Hedges' g as
 * the effect size: for comparing two orgs whose runs or nights are independent.
 *
 * Hedges' g = J · (mean_a - mean_b) / s_pooled with s_pooled² = ((n_a-1)s_a² + (n_b-1)s_b²) /
 * (n_a + n_b - 2) and the small-sample correction J = 1 - 3 / (4 (n_a + n_b) - 9) (Hedges 1981).
 * Its interval is g ± z_{(1+c)/2} · se with se² = (n_a + n_b)/(n_a n_b) + g² / (2 (n_a + n_b))
 * (Hedges & Olkin 1985, eq. 5.15), the usual large-sample interval.
 */
import { mean, variance } from "./describe.ts";
import { ptUpper, qnorm, qt } from "./distributions.ts";
import { checkOptions } from "./errors.ts";
import type { Interval } from "./ttest.ts";
import { finiteSample, probability } from "./validate.ts";

export interface EffectSize extends Interval {
  estimate: number;
}

export interface WelchResult {
  nA: number;
  nB: number;
  meanA: number;
  meanB: number;
  /** meanA - meanB. */
  difference: number;
  t: number;
  /** Welch–Satterthwaite degrees of freedom (fractional). */
  df: number;
  /** Two-sided p-value. */
  pValue: number;
  /** Interval for meanA - meanB. */
  interval: Interval;
  hedgesG: EffectSize;
}

export function welchTest(
  a: readonly number[],
  b: readonly number[],
  options: { confidence?: number } = {},
): WelchResult {
  const where = "welchTest";
  checkOptions(where, options, ["confidence"]);
  const x = finiteSample(where, "a", a, 2);
  const y = finiteSample(where, "b", b, 2);
  const confidence = probability(where, "confidence", options.confidence, 0.95);
  const [nA, nB] = [x.length, y.length];
  const [meanA, meanB] = [mean(x), mean(y)];
  const [vA, vB] = [variance(x), variance(y)];
  const difference = meanA - meanB;
  const qa = vA / nA;
  const qb = vB / nB;
  const se = Math.sqrt(qa + qb);
  // Both groups constant: the t statistic is ±∞ (different means) or undefined (taken as 0).
  const df = se > 0 ? (qa + qb) ** 2 / (qa ** 2 / (nA - 1) + qb ** 2 / (nB - 1)) : nA + nB - 2;
  const t = se > 0 ? difference / se : difference === 0 ? 0 : Math.sign(difference) * Infinity;
  const pValue = se === 0 && difference === 0 ? 1 : Math.min(1, 2 * ptUpper(Math.abs(t), df));
  const half = se > 0 ? qt((1 + confidence) / 2, df) * se : 0;

  const m = nA + nB - 2;
  const pooled = Math.sqrt(((nA - 1) * vA + (nB - 1) * vB) / m);
  const j = 1 - 3 / (4 * (nA + nB) - 9);
  const g = pooled > 0 ? (j * difference) / pooled : difference === 0 ? 0 : Math.sign(difference) * Infinity;
  const seG = Math.sqrt((nA + nB) / (nA * nB) + (g * g) / (2 * (nA + nB)));
  const z = qnorm((1 + confidence) / 2);
  return {
    nA,
    nB,
    meanA,
    meanB,
    difference,
    t,
    df,
    pValue,
    interval: { lower: difference - half, upper: difference + half, confidence },
    hedgesG: { estimate: g, lower: g - z * seG, upper: g + z * seG, confidence },
  };
}
