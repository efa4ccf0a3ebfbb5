/**
 * The distribution functions the statistics use, all from @stdlib (no hand-rolled CDFs or
 * quantiles), behind tail-accurate names. Upper tails are computed by symmetry (cdf(-x)), not as
 * 1 - cdf(x), so that a p-value of 1e-12 does not round to 0.
 */
import normalCdf from "@stdlib/stats-base-dists-normal-cdf";
import normalQuantileStd from "@stdlib/stats-base-dists-normal-quantile";
import signrankCdf from "@stdlib/stats-base-dists-signrank-cdf";
import tCdf from "@stdlib/stats-base-dists-t-cdf";
import tQuantileStd from "@stdlib/stats-base-dists-t-quantile";

/** P(Z ≤ z) for a standard normal Z. */
export function pnorm(z: number): number {
  return normalCdf(z, 0, 1);
}

/** P(Z ≥ z) for a standard normal Z. */
export function pnormUpper(z: number): number {
  return normalCdf(-z, 0, 1);
}

/** The p-quantile of the standard normal. */
export function qnorm(p: number): number {
  return normalQuantileStd(p, 0, 1);
}

/** P(T ≤ t) for Student's t with df degrees of freedom (df may be fractional, as in Welch). */
export function pt(t: number, df: number): number {
  return tCdf(t, df);
}

/** P(T ≥ t) for Student's t with df degrees of freedom. */
export function ptUpper(t: number, df: number): number {
  return tCdf(-t, df);
}

/** The p-quantile of Student's t with df degrees of freedom. */
export function qt(p: number, df: number): number {
  return tQuantileStd(p, df);
}

/** P(V ≤ v) for the Wilcoxon signed-rank statistic V with n non-zero differences (R's psignrank). */
export function psignrank(v: number, n: number): number {
  if (v < 0) return 0;
  return signrankCdf(Math.floor(v + 1e-7), n);
}
