/**
 * Wilcoxon signed-rank test, one-sample or paired (R: wilcox.test(x, y, paired = TRUE)), with
 * R's rules as of R 4.5 (R 4.6 added exact p-values in the presence of ties; this does not):
 *   - differences x - y - mu that are exactly 0 are dropped; n counts the rest;
 *   - V = the sum of the ranks of |d| (average ranks for ties) over the positive d;
 *   - exact p-value (the signed-rank distribution, @stdlib's psignrank) when n < 50 and there
 *     are neither ties nor zeros, unless `exact` says otherwise — and never with ties or zeros;
 *   - otherwise the normal approximation with the tie correction of the variance and, by
 *     default, a continuity correction of 0.5 towards the null.
 * Used to compare two orgs night by night when their results are paired but not normal.
 */
import { pnorm, pnormUpper, psignrank } from "./distributions.ts";
import { checkOptions, StatsError } from "./errors.ts";
import { finiteNumber, finiteSample, oneOf, pairedSamples } from "./validate.ts";

export type Alternative = "two-sided" | "greater" | "less";

export interface WilcoxonOptions {
  /** Default "two-sided"; "greater": the differences x - y tend to exceed mu. */
  alternative?: Alternative;
  /** Location under the null. Default 0. */
  mu?: number;
  /** Continuity correction of the normal approximation. Default true. */
  correct?: boolean;
  /** Force (true) or refuse (false) the exact p-value; default: exact when n < 50. */
  exact?: boolean;
}

export interface WilcoxonResult {
  /** Sum of the ranks of the positive differences. */
  V: number;
  /** Non-zero differences. */
  n: number;
  /** Differences dropped for being exactly zero. */
  zeros: number;
  ties: boolean;
  method: "exact" | "normal";
  /** Standardised statistic of the normal approximation (after the continuity correction). */
  z?: number;
  pValue: number;
  alternative: Alternative;
}

const KNOWN = ["alternative", "mu", "correct", "exact"];

/** Paired test of x against y (same length, same seeds or nights, in the same order). */
export function wilcoxonSignedRank(
  x: readonly number[],
  y?: readonly number[],
  options: WilcoxonOptions = {},
): WilcoxonResult {
  const where = "wilcoxonSignedRank";
  checkOptions(where, options, KNOWN);
  let d: number[];
  if (y === undefined) d = finiteSample(where, "x", x, 1);
  else {
    const [a, b] = pairedSamples(where, ["x", "y"], x, y, 1);
    d = a.map((v, i) => v - b[i]!);
  }
  const alternative = oneOf(
    where,
    "alternative",
    options.alternative,
    ["two-sided", "greater", "less"] as const,
    "two-sided",
  );
  const mu = finiteNumber(where, "mu", options.mu, 0);
  const correct = flag(where, "correct", options.correct, true);
  const exactOption = options.exact === undefined ? undefined : flag(where, "exact", options.exact, false);
  d = d.map((v) => v - mu);
  const nonZero = d.filter((v) => v !== 0);
  const zeros = d.length - nonZero.length;
  const n = nonZero.length;
  if (n === 0) return { V: 0, n, zeros, ties: false, method: "exact", pValue: 1, alternative };

  const { ranks, tieSizes } = averageRanks(nonZero.map(Math.abs));
  let V = 0;
  nonZero.forEach((v, i) => {
    if (v > 0) V += ranks[i]!;
  });
  const ties = tieSizes.some((t) => t > 1);
  const exact = (exactOption ?? n < 50) && !ties && zeros === 0;
  if (exact) {
    // P(V' ≥ V) by the symmetry of the null distribution, V' ↔ n(n+1)/2 - V', without 1 - cdf.
    const upper = (): number => psignrank((n * (n + 1)) / 2 - V, n);
    let pValue: number;
    if (alternative === "greater") pValue = upper();
    else if (alternative === "less") pValue = psignrank(V, n);
    else pValue = Math.min(1, 2 * (V > (n * (n + 1)) / 4 ? upper() : psignrank(V, n)));
    return { V, n, zeros, ties, method: "exact", pValue, alternative };
  }
  const centred = V - (n * (n + 1)) / 4;
  const tieTerm = tieSizes.reduce((s, t) => s + t * t * t - t, 0);
  const sigma = Math.sqrt((n * (n + 1) * (2 * n + 1)) / 24 - tieTerm / 48);
  let correction = 0;
  if (correct)
    correction = alternative === "two-sided" ? Math.sign(centred) * 0.5 : alternative === "greater" ? 0.5 : -0.5;
  const z = (centred - correction) / sigma;
  let pValue: number;
  if (alternative === "greater") pValue = pnormUpper(z);
  else if (alternative === "less") pValue = pnorm(z);
  else pValue = 2 * Math.min(pnorm(z), pnormUpper(z));
  return { V, n, zeros, ties, method: "normal", z, pValue: Math.min(1, pValue), alternative };
}

/** Average ranks (1-based; ties share the mean of their positions) and the size of each tie group. */
export function averageRanks(values: readonly number[]): { ranks: number[]; tieSizes: number[] } {
  const order = values.map((_, i) => i).sort((a, b) => values[a]! - values[b]!);
  const ranks = new Array<number>(values.length);
  const tieSizes: number[] = [];
  for (let start = 0; start < order.length;) {
    let end = start;
    while (end + 1 < order.length && values[order[end + 1]!] === values[order[start]!]) end++;
    const rank = (start + end) / 2 + 1;
    for (let k = start; k <= end; k++) ranks[order[k]!] = rank;
    tieSizes.push(end - start + 1);
    start = end + 1;
  }
  return { ranks, tieSizes };
}

function flag(where: string, name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== "boolean")
    throw new StatsError("STATS_INVALID_OPTION", `${where}: ${name} must be true or false`);
  return value;
}
