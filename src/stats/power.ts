/**
 * Sample size and power planning for t tests: how many seeds (paired) or nights/runs per org
 * (two-sample) are needed to detect a given effect at level alpha with a given power.
 *
 * The smallest n with
 *
 *     (t_{1-a, df} + t_{power, df}) · sd · √(f / n) ≤ |effect|
 *
 * where a = alpha (one-sided) or alpha/2 (two-sided), and for a paired design (or one sample
 * of differences) f = 1, df = n - 1; for two independent groups of n each f = 2, df = 2n - 2.
 * This is the standard t-quantile approximation to the non-central-t power equation (Cohen
 * 1988, ch. 2). Against the exact power (scipy.stats.nct) it gives the exact n or one more,
 * never fewer, over the effects 0.2–3 sd, one- and two-sided, paired and two-sample, power 0.8
 * and 0.9 (test/stats/power.test.ts pins a table of those cases).
 */
import { qnorm, qt } from "./distributions.ts";
import { checkOptions, StatsError } from "./errors.ts";
import { finiteNumber, integerAtLeast, oneOf, probability } from "./validate.ts";

export type Design = "paired" | "two-sample";

export interface SampleSizeOptions {
  /** Default 0.05. */
  alpha?: number;
  /** Default 0.8. */
  power?: number;
  /** Default "two-sided". */
  sided?: "one-sided" | "two-sided";
  /** "paired": n pairs (differences); "two-sample": n per group. Default "paired". */
  design?: Design;
}

const KNOWN = ["alpha", "power", "sided", "design"];
const LIMIT = 10_000_000;

/** The n of the file comment; Infinity when the effect is 0 (or needs more than ten million). */
export function sampleSize(effect: number, sd: number, options: SampleSizeOptions = {}): number {
  const where = "sampleSize";
  checkOptions(where, options, KNOWN);
  finiteNumber(where, "effect", effect);
  finiteNumber(where, "sd", sd, undefined, "non-negative");
  const alpha = probability(where, "alpha", options.alpha, 0.05);
  const power = probability(where, "power", options.power, 0.8);
  const sided = oneOf(where, "sided", options.sided, ["one-sided", "two-sided"] as const, "two-sided");
  const design = oneOf(where, "design", options.design, ["paired", "two-sample"] as const, "paired");
  const a = sided === "two-sided" ? alpha / 2 : alpha;
  const f = design === "two-sample" ? 2 : 1;
  const delta = Math.abs(effect);
  if (sd === 0) return delta > 0 ? 2 : Infinity;
  if (delta === 0) return Infinity;
  const df = (n: number): number => (design === "two-sample" ? 2 * n - 2 : n - 1);
  // The normal-quantile n is a lower bound (t quantiles exceed z ones); step up from it.
  const zn = f * (((qnorm(1 - a) + qnorm(power)) * sd) / delta) ** 2;
  let n = Math.max(2, Math.floor(zn));
  if (n > LIMIT) return Infinity;
  while ((qt(1 - a, df(n)) + qt(power, df(n))) * sd * Math.sqrt(f / n) > delta) {
    n++;
    if (n > LIMIT) return Infinity;
  }
  return n;
}

export interface MoreNeeded {
  /** Total n (pairs, or per group) needed at the observed effect and sd. */
  needed: number;
  /** n already observed (pairs, or the smaller group). */
  have: number;
  /** max(0, needed - have); Infinity when the observed effect is 0. */
  more: number;
}

/** How many more pairs (or runs per group) would tell two things apart, given what was observed. */
export function moreNeeded(effect: number, sd: number, have: number, options: SampleSizeOptions = {}): MoreNeeded {
  integerAtLeast("moreNeeded", "have", have, 0);
  const needed = sampleSize(effect, sd, options);
  if (Number.isNaN(needed)) throw new StatsError("STATS_INVALID_ARGUMENT", "moreNeeded: sample size is not a number");
  return { needed, have, more: Math.max(0, needed - have) };
}
