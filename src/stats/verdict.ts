/**
 * Verify a claimed win with a fixed number of paired seeds: the candidate and its parent are
 * rerun on the same seeds (same init, same data order), and the gains parent - candidate are
 * tested (lower val_bpb is better, so a positive gain means the candidate is better). The
 * original run that earned the keep is not reused: it was selected for being low, and reusing
 * it would bias the gain upward (the winner's curse).
 *
 * Verdict rule, in this order (alpha is one-sided; UB is the one-sided 1 - alpha upper
 * confidence bound of the mean gain, i.e. the upper end of the two-sided 1 - 2 alpha t interval):
 *   1. noise         every gain is exactly 0: the change does not alter training at all;
 *   2. real          p < alpha, where p is the one-sided t-test p-value for H1: gain > margin
 *                    (δ_min, default 0), or the adjusted p-value (Benjamini–Hochberg across a
 *                    night) when one is given;
 *   2b. negligible   margin > 0 and both one-sided p-values of the equivalence test (H1: gain <
 *                    margin, H1: gain > -margin) are < alpha: the gain lies within ±δ_min;
 *   3. noise         UB < minEffect: the data exclude any gain worth having;
 *   4. noise         mean gain ≤ 0 with at least noiseMinSeeds seeds: on average the candidate
 *                    is no better (a true gain of 1 sd gives a mean ≤ 0 over 5 seeds with
 *                    probability Φ(-√5) ≈ 1.3%);
 *   5. inconclusive  otherwise: neither a gain nor its absence is established; rerun more seeds.
 * `real` has the error rate alpha (false `real` under no true gain); `noise` by rule 3 is wrong
 * at most alpha of the time when the true gain is minEffect. The two-sided 1 - 2 alpha intervals
 * match the rule: `real` ⇔ lower end > 0 (without adjustment), rule 3 ⇔ upper end < minEffect.
 */
import { bootstrapMeanInterval, type BootstrapInterval, type BootstrapOptions } from "./bootstrap.ts";
import { mean, sd } from "./describe.ts";
import { checkOptions, StatsError } from "./errors.ts";
import { fmt } from "./format.ts";
import { tFromSummary, type Interval } from "./ttest.ts";
import { finiteNumber, finiteSample, integerAtLeast, pairedSamples, probability } from "./validate.ts";

export type Verdict = "real" | "noise" | "negligible" | "inconclusive";

export interface VerifyOptions {
  /** One-sided level: the rate of false `real` verdicts when there is no true gain. Default 0.05. */
  alpha?: number;
  /** Smallest gain (val_bpb) worth keeping; rule 3 calls noise when the data exclude it. Default 0. */
  minEffect?: number;
  /** δ_min (val_bpb, ≥ 0): `real` needs a gain shown above it; within ±δ_min is `negligible`. Default 0. */
  margin?: number;
  /** Adjusted p-value of this claim (e.g. from adjustPValues(..., "BH") over a night), used in place of p. */
  pAdjusted?: number;
  /** With at least this many seeds, a mean gain ≤ 0 is noise (rule 4). Default 5. */
  noiseMinSeeds?: number;
  /** Bootstrap settings; its confidence defaults to 1 - 2 alpha to match the t interval. */
  bootstrap?: BootstrapOptions;
}

export interface ClaimVerification {
  /** Number of paired seeds. */
  n: number;
  /** parent - candidate, seed by seed (positive: the candidate is better). */
  gains: number[];
  meanGain: number;
  sdGain: number;
  t: number;
  df: number;
  /** One-sided p-value for H1: mean gain > margin. */
  pValue: number;
  /** The larger p-value of the equivalence test within ±margin (1 when margin = 0). */
  negligiblePValue: number;
  margin: number;
  /** The adjusted p-value the verdict used, when one was given. */
  pAdjusted?: number;
  /** Two-sided 1 - 2 alpha t interval for the mean gain. */
  interval: Interval;
  bootstrap: BootstrapInterval;
  alpha: number;
  minEffect: number;
  verdict: Verdict;
  /** One line saying which rule decided, with the numbers. */
  reason: string;
}

const KNOWN = ["alpha", "minEffect", "margin", "pAdjusted", "noiseMinSeeds", "bootstrap"];

/** Verifies a claim from val_bpb of the parent and the candidate on the same seeds, in the same order. */
export function verifyClaim(
  parent: readonly number[],
  candidate: readonly number[],
  options: VerifyOptions = {},
): ClaimVerification {
  const [p, c] = pairedSamples("verifyClaim", ["parent", "candidate"], parent, candidate, 2);
  return verifyGains(
    p.map((v, i) => v - c[i]!),
    options,
  );
}

/** The same from the gains parent - candidate directly. */
export function verifyGains(gains: readonly number[], options: VerifyOptions = {}): ClaimVerification {
  checkOptions("verifyGains", options, KNOWN);
  const g = finiteSample("verifyGains", "gains", gains, 2);
  const alpha = probability("verifyGains", "alpha", options.alpha, 0.05);
  const minEffect = finiteNumber("verifyGains", "minEffect", options.minEffect, 0, "non-negative");
  const noiseMinSeeds = integerAtLeast("verifyGains", "noiseMinSeeds", options.noiseMinSeeds, 2, 5);
  const margin = finiteNumber("verifyGains", "margin", options.margin, 0, "non-negative");
  let pAdjusted: number | undefined;
  if (options.pAdjusted !== undefined) {
    pAdjusted = options.pAdjusted;
    if (typeof pAdjusted !== "number" || !(pAdjusted >= 0 && pAdjusted <= 1))
      throw new StatsError(
        "STATS_INVALID_OPTION",
        `verifyGains: pAdjusted must be in [0, 1], got ${String(pAdjusted)}`,
      );
  }
  const test = tFromSummary(g.length, mean(g), sd(g), margin, 1 - 2 * alpha);
  const negligiblePValue = equivalencePValue(g, margin);
  const bootstrap = bootstrapMeanInterval(g, { confidence: 1 - 2 * alpha, ...options.bootstrap });
  const { verdict, reason } = decide(g, { p: test.pGreater, upperBound: test.interval.upper, meanGain: test.mean, negligiblePValue }, {
    alpha,
    minEffect,
    margin,
    noiseMinSeeds,
    adjusted: pAdjusted,
  });
  return {
    n: g.length,
    gains: g,
    meanGain: test.mean,
    sdGain: test.sd,
    t: test.t,
    df: test.df,
    pValue: test.pGreater,
    negligiblePValue,
    margin,
    ...(pAdjusted === undefined ? {} : { pAdjusted }),
    interval: test.interval,
    bootstrap,
    alpha,
    minEffect,
    verdict,
    reason,
  };
}

/** The larger one-sided p-value of the equivalence test H1: -margin < gain < margin (1 when margin = 0). */
export function equivalencePValue(gains: readonly number[], margin: number): number {
  if (!(margin > 0)) return 1;
  const n = gains.length;
  const m = mean(gains);
  const s = sd(gains);
  return Math.max(tFromSummary(n, m, s, margin, 0.9).pLess, tFromSummary(n, m, s, -margin, 0.9).pGreater);
}

/** The statistics the rule reads: p for H1 gain > margin, the upper bound, the mean, the equivalence p. */
export interface RuleInputs {
  p: number;
  upperBound: number;
  meanGain: number;
  negligiblePValue: number;
}

export interface Rule {
  alpha: number;
  minEffect: number;
  margin: number;
  noiseMinSeeds: number;
  adjusted?: number | undefined;
}

/** The verdict rule of the file comment; shared with the fixed-n design of the simulations. */
export function decide(gains: readonly number[], inputs: RuleInputs, rule: Rule): { verdict: Verdict; reason: string } {
  const n = gains.length;
  if (gains.every((v) => v === 0))
    return {
      verdict: "noise",
      reason: `every one of ${n} seeds gave identical val_bpb: the change does not alter training`,
    };
  const result = decideVaried(gains, inputs, rule);
  // A constant non-zero gain means both trainings ignored the seed (e.g. train.ts hard-codes its
  // own): the seeds were not independent reruns, whatever the p-value says.
  if (gains.every((v) => v === gains[0])) result.reason += `; ${CONSTANT_GAIN}`;
  return result;
}

/** Said when every seed gave the same non-zero gain. */
export const CONSTANT_GAIN = "the gain is identical on every seed: does train.ts ignore the harness seed?";

function decideVaried(gains: readonly number[], inputs: RuleInputs, rule: Rule): { verdict: Verdict; reason: string } {
  const { p, upperBound, meanGain, negligiblePValue } = inputs;
  const n = gains.length;
  const used = rule.adjusted ?? p;
  const pName = rule.adjusted === undefined ? "p" : "adjusted p";
  if (used < rule.alpha)
    return {
      verdict: "real",
      reason: `${pName} = ${fmt(used)} < alpha ${rule.alpha}: mean gain ${fmt(meanGain)} bpb over ${n} seeds${rule.margin > 0 ? ` above δ_min ${fmt(rule.margin)}` : ""}`,
    };
  if (negligiblePValue < rule.alpha)
    return {
      verdict: "negligible",
      reason: `the gain lies within ±δ_min ${fmt(rule.margin)} bpb (equivalence p = ${fmt(negligiblePValue)} < alpha ${rule.alpha}): mean gain ${fmt(meanGain)} bpb over ${n} seeds`,
    };
  const level = `${fmt(100 * (1 - rule.alpha))}%`;
  if (upperBound < rule.minEffect)
    return {
      verdict: "noise",
      reason: `the ${level} upper bound of the gain, ${fmt(upperBound)} bpb, is below the minimal effect ${fmt(rule.minEffect)}`,
    };
  if (meanGain <= 0 && n >= rule.noiseMinSeeds)
    return { verdict: "noise", reason: `mean gain ${fmt(meanGain)} bpb ≤ 0 over ${n} seeds` };
  return {
    verdict: "inconclusive",
    reason:
      `${pName} = ${fmt(used)} ≥ alpha ${rule.alpha}, and the ${level} upper bound of the gain, ${fmt(upperBound)} bpb, ` +
      (rule.minEffect > 0 ? `still allows the minimal effect ${fmt(rule.minEffect)}` : "is above 0") +
      (n < rule.noiseMinSeeds ? ` (${n} of ${rule.noiseMinSeeds} seeds)` : "") +
      ": more seeds needed",
  };
}
