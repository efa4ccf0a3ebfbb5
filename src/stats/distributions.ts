/**
 * The distribution functions the statistics use, all from @stdlib (no hand-rolled CDFs or
 * quantiles), behind tail-accurate names. Upper tails are computed by symmetry (cdf(-x)), not as
 * 1 - cdf(x), so that a p-value of 1e-12 does not round to 0.
 *
 * Each @stdlib package is loaded on its first call, not at import: together they are ~480 files
 * that cost every command importing the statistics (tournament, verify, noise, compare) a few
 * hundred milliseconds of start-up, also when it only prints an error (BENCHMARKS.md, "Test suite
 * and CI"). They are CommonJS, so a synchronous require keeps these functions synchronous.
 */
import { createRequire } from "node:module";
import type normalCdfFn from "@stdlib/stats-base-dists-normal-cdf";
import type normalQuantileFn from "@stdlib/stats-base-dists-normal-quantile";
import type signrankCdfFn from "@stdlib/stats-base-dists-signrank-cdf";
import type tCdfFn from "@stdlib/stats-base-dists-t-cdf";
import type tQuantileFn from "@stdlib/stats-base-dists-t-quantile";

const require = createRequire(import.meta.url);

/** A function of package `name`, required the first time it is asked for. */
function onFirstUse<F>(name: string): () => F {
  let loaded: F | undefined;
  return () => (loaded ??= require(name) as F);
}

const normalCdf = onFirstUse<typeof normalCdfFn>("@stdlib/stats-base-dists-normal-cdf");
const normalQuantile = onFirstUse<typeof normalQuantileFn>("@stdlib/stats-base-dists-normal-quantile");
const signrankCdf = onFirstUse<typeof signrankCdfFn>("@stdlib/stats-base-dists-signrank-cdf");
const tCdf = onFirstUse<typeof tCdfFn>("@stdlib/stats-base-dists-t-cdf");
const tQuantile = onFirstUse<typeof tQuantileFn>("@stdlib/stats-base-dists-t-quantile");

/** P(Z ≤ z) for a standard normal Z. */
export function pnorm(z: number): number {
  return normalCdf()(z, 0, 1);
}

/** P(Z ≥ z) for a standard normal Z. */
export function pnormUpper(z: number): number {
  return normalCdf()(-z, 0, 1);
}

/** The p-quantile of the standard normal. */
export function qnorm(p: number): number {
  return normalQuantile()(p, 0, 1);
}

/** P(T ≤ t) for Student's t with df degrees of freedom (df may be fractional, as in Welch). */
export function pt(t: number, df: number): number {
  return tCdf()(t, df);
}

/** P(T ≥ t) for Student's t with df degrees of freedom. */
export function ptUpper(t: number, df: number): number {
  return tCdf()(-t, df);
}

/** The p-quantile of Student's t with df degrees of freedom. */
export function qt(p: number, df: number): number {
  return tQuantile()(p, df);
}

/** P(V ≤ v) for the Wilcoxon signed-rank statistic V with n non-zero differences (R's psignrank). */
export function psignrank(v: number, n: number): number {
  if (v < 0) return 0;
  return signrankCdf()(Math.floor(v + 1e-7), n);
}
