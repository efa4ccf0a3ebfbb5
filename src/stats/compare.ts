/**
 * Compare research orgs (strategies) on their results across nights or runs: for every pair,
 * the difference with an interval, an effect size with an interval, a test that fits the
 * design, Holm's adjustment across all pairs, and how many more nights/runs would tell the pair
 * apart; plus Bradley–Terry ratings that rank the whole population.
 *
 *   design "independent" (runs of different orgs share nothing): Welch's t test, Hedges' g,
 *     sample size per org from the pooled sd (two-sample, two-sided);
 *   design "paired" (every org ran the same nights from the same base commit, so night effects
 *     cancel): Wilcoxon signed-rank test of the per-night differences (no normality assumed),
 *     paired t interval for the mean difference, d_z = mean / sd of the differences with the
 *     large-sample interval d_z ± z·√(1/n + d_z²/(2n)), sample size in nights from the sd of
 *     the differences (paired, two-sided).
 * Ratings: paired → head-to-head wins night by night; independent → every run of one org
 * against every run of the other, scaled so that a pair counts as many games as its smaller org
 * has runs (the n_a·n_b comparisons are not independent games).
 */
import { mean, sd } from "./describe.ts";
import { qnorm } from "./distributions.ts";
import { checkOptions, StatsError } from "./errors.ts";
import { adjustPValues } from "./multiple.ts";
import { moreNeeded, type MoreNeeded } from "./power.ts";
import { bradleyTerry, headToHead, type Rating, type Series } from "./rating.ts";
import { oneSampleT, type Interval } from "./ttest.ts";
import { finiteNumber, finiteSample, oneOf, probability } from "./validate.ts";
import { welchTest, type EffectSize } from "./welch.ts";
import { wilcoxonSignedRank } from "./wilcoxon.ts";

export interface CompareOptions {
  /** Default "independent". */
  design?: "independent" | "paired";
  /** Level of the Holm-adjusted tests and of the sample-size estimate. Default 0.05. */
  alpha?: number;
  /** Power wanted by the sample-size estimate. Default 0.8. */
  power?: number;
  /** Coverage of the intervals. Default 0.95. */
  confidence?: number;
  /** Which direction is better. Default "lower" (val_bpb). */
  better?: "lower" | "higher";
  /** Bradley–Terry prior (virtual games against the reference). Default 1. */
  prior?: number;
}

export interface OrgSummary {
  name: string;
  n: number;
  mean: number;
  sd: number;
}

export interface PairComparison {
  a: string;
  b: string;
  test: "welch" | "wilcoxon";
  /** mean(a) - mean(b) (paired: the mean of the per-night differences a - b). */
  difference: number;
  interval: Interval;
  effectSize: EffectSize & { name: "hedges-g" | "d-z" };
  /** Test statistic: Welch's t, or the signed-rank V of a - b. */
  statistic: number;
  /** Two-sided p-value of the test. */
  pValue: number;
  /** Holm-adjusted across all pairs. */
  pHolm: number;
  /** The better org of the two when pHolm < alpha, else null. */
  ahead: string | null;
  /** Nights (paired) or runs per org (independent) needed to tell them apart at alpha and power. */
  moreNeeded: MoreNeeded;
}

export interface Comparison {
  design: "independent" | "paired";
  orgs: OrgSummary[];
  pairs: PairComparison[];
  ratings: Rating[];
}

const KNOWN = ["design", "alpha", "power", "confidence", "better", "prior"];

export function compareOrgs(orgs: readonly Series[], options: CompareOptions = {}): Comparison {
  const where = "compareOrgs";
  checkOptions(where, options, KNOWN);
  const design = oneOf(where, "design", options.design, ["independent", "paired"] as const, "independent");
  const alpha = probability(where, "alpha", options.alpha, 0.05);
  const power = probability(where, "power", options.power, 0.8);
  const confidence = probability(where, "confidence", options.confidence, 0.95);
  const better = oneOf(where, "better", options.better, ["lower", "higher"] as const, "lower");
  const prior = finiteNumber(where, "prior", options.prior, 1, "non-negative");
  if (!Array.isArray(orgs) || orgs.length === 0) throw new StatsError("STATS_EMPTY", `${where}: no orgs to compare`);
  if (orgs.length < 2)
    throw new StatsError("STATS_TOO_FEW_VALUES", `${where}: one org (${orgs[0]!.name}); at least 2 needed`);
  const names = new Set<string>();
  const values = orgs.map((o) => {
    if (typeof o.name !== "string" || o.name === "" || names.has(o.name))
      throw new StatsError(
        "STATS_INVALID_ARGUMENT",
        `${where}: org names must be distinct non-empty strings ('${o.name}')`,
      );
    names.add(o.name);
    return finiteSample(where, `${o.name}.values`, o.values, 2);
  });
  if (design === "paired") {
    const nights = values[0]!.length;
    values.forEach((v, i) => {
      if (v.length !== nights)
        throw new StatsError(
          "STATS_LENGTH_MISMATCH",
          `${where}: paired design needs the same nights for every org: ${orgs[i]!.name} has ${v.length}, ${orgs[0]!.name} has ${nights}`,
        );
    });
  }

  const raw: Omit<PairComparison, "pHolm" | "ahead">[] = [];
  for (let i = 0; i < orgs.length; i++)
    for (let j = i + 1; j < orgs.length; j++)
      raw.push(
        design === "paired"
          ? pairedPair(orgs[i]!.name, orgs[j]!.name, values[i]!, values[j]!, { alpha, power, confidence })
          : independentPair(orgs[i]!.name, orgs[j]!.name, values[i]!, values[j]!, { alpha, power, confidence }),
      );
  const holm = adjustPValues(
    raw.map((r) => r.pValue),
    "holm",
  );
  const pairs = raw.map((r, k) => {
    const aBetter = better === "lower" ? r.difference < 0 : r.difference > 0;
    const ahead = holm[k]! < alpha && r.difference !== 0 ? (aBetter ? r.a : r.b) : null;
    return { ...r, pHolm: holm[k]!, ahead };
  });

  const series = orgs.map((o, i) => ({ name: o.name, values: values[i]! }));
  const games = design === "paired" ? headToHead(series, better) : allRunsHeadToHead(series, better);
  return {
    design,
    orgs: orgs.map((o, i) => ({ name: o.name, n: values[i]!.length, mean: mean(values[i]!), sd: sd(values[i]!) })),
    pairs,
    ratings: bradleyTerry(games.players, games.wins, { prior }).ratings,
  };
}

interface Levels {
  alpha: number;
  power: number;
  confidence: number;
}

function independentPair(
  a: string,
  b: string,
  x: number[],
  y: number[],
  l: Levels,
): Omit<PairComparison, "pHolm" | "ahead"> {
  const w = welchTest(x, y, { confidence: l.confidence });
  const pooled = Math.sqrt(((x.length - 1) * sd(x) ** 2 + (y.length - 1) * sd(y) ** 2) / (x.length + y.length - 2));
  return {
    a,
    b,
    test: "welch",
    difference: w.difference,
    interval: w.interval,
    effectSize: { name: "hedges-g", ...w.hedgesG },
    statistic: w.t,
    pValue: w.pValue,
    moreNeeded: moreNeeded(w.difference, pooled, Math.min(x.length, y.length), {
      alpha: l.alpha,
      power: l.power,
      design: "two-sample",
    }),
  };
}

function pairedPair(
  a: string,
  b: string,
  x: number[],
  y: number[],
  l: Levels,
): Omit<PairComparison, "pHolm" | "ahead"> {
  const d = x.map((v, k) => v - y[k]!);
  const t = oneSampleT(d, { confidence: l.confidence });
  const w = wilcoxonSignedRank(x, y);
  const n = d.length;
  const dz = t.sd > 0 ? t.mean / t.sd : t.mean === 0 ? 0 : Math.sign(t.mean) * Infinity;
  const half = qnorm((1 + l.confidence) / 2) * Math.sqrt(1 / n + (dz * dz) / (2 * n));
  return {
    a,
    b,
    test: "wilcoxon",
    difference: t.mean,
    interval: t.interval,
    effectSize: { name: "d-z", estimate: dz, lower: dz - half, upper: dz + half, confidence: l.confidence },
    statistic: w.V,
    pValue: w.pValue,
    moreNeeded: moreNeeded(t.mean, t.sd, n, { alpha: l.alpha, power: l.power, design: "paired" }),
  };
}

/** Win counts from every run of one org against every run of another (see the file comment). */
function allRunsHeadToHead(
  series: readonly Series[],
  better: "lower" | "higher",
): { players: string[]; wins: number[][] } {
  const n = series.length;
  const wins = Array.from({ length: n }, () => new Array<number>(n).fill(0));
  for (let i = 0; i < n; i++)
    for (let j = i + 1; j < n; j++) {
      const xs = series[i]!.values;
      const ys = series[j]!.values;
      let score = 0; // wins of i, ties counted half
      for (const x of xs) for (const y of ys) score += x === y ? 0.5 : x < y === (better === "lower") ? 1 : 0;
      const scale = Math.min(xs.length, ys.length) / (xs.length * ys.length);
      wins[i]![j] = score * scale;
      wins[j]![i] = (xs.length * ys.length - score) * scale;
    }
  return { players: series.map((s) => s.name), wins };
}
