/**
 * Sequential verification: rerun the parent and the candidate one seed at a time and stop as
 * soon as the verdict is clear, with error rates that hold however many looks are taken.
 *
 * Design: a one-sided group-sequential paired t test with Lan–DeMets alpha spending
 * (boundaries.ts), looked at after every seed from minSeeds to maxSeeds, at information
 * fraction t_n = n / maxSeeds, plus a non-binding futility rule built the same way. The
 * efficacy test uses Hall's skewness-corrected t (skewness.ts) and O'Brien–Fleming-type
 * spending by default: gains skewed towards losses (skewness -1) made the plain t with
 * Pocock-type spending credit 0.088 of null claims at alpha 0.05 (now 0.053; 0.034 for normal
 * gains, whose power at 2·δ_min rose from 0.63 to 0.69 with looks at 3..8 seeds).
 *
 *   real     at seed n when the one-sided p-value of H0: gain ≤ margin is ≤ a_n, the
 *            nominal level of look n of an alpha-spending design with level alpha. The margin
 *            δ_min (default 0) is the smallest gain worth crediting: with paired seeds the
 *            variance of a gain is small, and without a margin trivial effects become "real";
 *   negligible  (margin > 0) at seed n when both one-sided p-values of the equivalence test,
 *            H0: gain ≥ margin and H0: gain ≤ -margin, are ≤ b_n: the gain lies within ±δ_min.
 *            The change alters training, by less than anything worth keeping;
 *   noise    at seed n when the one-sided t-test p-value of H0': gain ≥ effect (the effect of
 *            interest) is ≤ b_n, the nominal level of look n of a spending design with level
 *            beta = 1 - power; i.e. the data exclude a gain as large as `effect`. Also when every
 *            gain is exactly 0 (the change does not alter training). `real` is checked first: a
 *            gain shown to be > margin is real even if it is smaller than `effect`; then
 *            `negligible`, then `noise`;
 *   inconclusive  at seed maxSeeds (the cap) when neither happened;
 *   continue otherwise.
 *
 * Why a spending design on the t statistic (or Hall's, which is referred to the same t law). The variance of a gain is unknown and the number of
 * seeds is small, so a z test is out. The z-scale boundaries of the spending function are
 * turned into nominal p-value levels, one per look, and applied to the paired t test with n - 1
 * degrees of freedom (the "significance level" approach, Jennison & Turnbull 2000, §11.3).
 * That approach alone lets ~6% false `real`s through at alpha = 0.05 when the looks come after
 * 3, 4, 5… seeds, so all nominal levels are scaled by one constant calibrated by simulation
 * (calibrate.ts) to bring the rate back to alpha. Only the cap needs planning: the caller may
 * stop calling early, and the rule assumes a look after every seed from minSeeds on (skipped
 * looks only make it conservative). Compared with an always-valid mixture test (e-values), a
 * capped spending design needs markedly fewer seeds at the 3–16 seeds nightshift can afford —
 * with looks after seeds 3..16 and an effect of interest of 1 sd, a normal-prior t mixture
 * (Bayes factor ≥ 1/alpha) needed ~10 seeds under the null and had power ~0.75 at the effect,
 * against ~7 seeds and 0.9 here — because it spends alpha only over the looks it can take.
 *
 * Futility is non-binding: stopping for noise can only remove `real` verdicts, so P(false real)
 * ≤ alpha holds whether or not the futility rule is followed; symmetrically P(noise | gain =
 * effect) ≤ beta. Power at `effect` is 1 - beta less the chance of reaching the cap undecided;
 * simulateSequential measures both.
 */
import { efficacyBoundaries, type Boundaries, type SpendingFunction } from "./boundaries.ts";
import { calibrateNominal } from "./calibrate.ts";
import { mean, sd } from "./describe.ts";
import { pt, ptUpper } from "./distributions.ts";
import { checkOptions, StatsError } from "./errors.ts";
import { fmt } from "./format.ts";
import { EFFICACY_STATISTICS, type EfficacyStatistic, efficacyStatistic, thirdMoment } from "./skewness.ts";
import { CONSTANT_GAIN } from "./verdict.ts";
import { finiteNumber, finiteSample, integerAtLeast, oneOf, probability } from "./validate.ts";

export type SequentialDecision = "real" | "noise" | "negligible" | "inconclusive" | "continue";

export interface SequentialOptions {
  /** Gain of interest in val_bpb (> margin): futility stops for noise once the data exclude it. Required. */
  effect: number;
  /**
   * δ_min in val_bpb (≥ 0, < effect): `real` needs a gain shown to exceed it, and a gain shown
   * to lie within ±δ_min is `negligible`. Default 0 (any gain shown to be > 0 is real).
   */
  margin?: number;
  /** Cap on paired seeds; at the cap an undecided claim is inconclusive. Default 10. */
  maxSeeds?: number;
  /** First look, after this many paired seeds (≥ 2). Default 3. */
  minSeeds?: number;
  /** One-sided level: the rate of false `real` under no true gain, over all looks. Default 0.05. */
  alpha?: number;
  /** 1 - the rate of `noise` when the true gain equals `effect`. Default 0.9. */
  power?: number;
  /**
   * Spending function of the efficacy bound. Default "obrien-fleming": with Hall's statistic it
   * holds the false-real rate near alpha for gains of skewness -1 (Pocock: 0.074), and at 3..8
   * seeds it has more power at the cap; it stops a clear gain about half a seed later.
   */
  spending?: SpendingFunction;
  /**
   * The efficacy statistic (skewness.ts): "hall", the paired t with Hall's skewness correction
   * (default), or "t", the plain paired t. Futility and negligible use the plain t.
   */
  statistic?: EfficacyStatistic;
  /** Spending function of the futility bound. Default "pocock". */
  futilitySpending?: SpendingFunction;
}

/** The statistics of one look (present once n ≥ minSeeds). */
export interface SequentialLook {
  /** 1 for the look at minSeeds, then one per seed. */
  look: number;
  /** Information fraction n / maxSeeds. */
  fraction: number;
  meanGain: number;
  sdGain: number;
  df: number;
  /** (mean gain) / (sd / √n). */
  t: number;
  /**
   * One-sided p-value for H1: gain > margin of the design's efficacy statistic (Hall's
   * skewness-corrected t by default), not adjusted for the looks (compare with efficacyLevel).
   */
  pValue: number;
  /** The nominal level this look's pValue must reach for `real`. */
  efficacyLevel: number;
  /** One-sided p-value for H1: gain < effect. */
  futilityPValue: number;
  /** The nominal level futilityPValue must reach for `noise`, and negligiblePValue for `negligible`. */
  futilityLevel: number;
  /** The larger p-value of the equivalence test (H1: gain < margin, H1: gain > -margin); 1 when margin = 0. */
  negligiblePValue: number;
}

export interface SequentialResult {
  decision: SequentialDecision;
  /** Paired seeds observed. */
  n: number;
  maxSeeds: number;
  /** Statistics of this look; absent before minSeeds. */
  look?: SequentialLook;
  /** One line saying why. */
  reason: string;
}

/** Spending-function boundaries whose nominal levels were scaled by lambda for the t statistic. */
export interface CalibratedBoundaries extends Boundaries {
  /** The calibration constant (calibrate.ts); `nominal` is already multiplied by it. */
  lambda: number;
}

/** A validated design: options with defaults, and both sets of boundaries. */
export interface SequentialDesign {
  effect: number;
  margin: number;
  maxSeeds: number;
  minSeeds: number;
  alpha: number;
  power: number;
  spending: SpendingFunction;
  futilitySpending: SpendingFunction;
  statistic: EfficacyStatistic;
  efficacy: CalibratedBoundaries;
  futility: CalibratedBoundaries;
}

const KNOWN = ["effect", "margin", "maxSeeds", "minSeeds", "alpha", "power", "spending", "futilitySpending", "statistic"];
const SPENDING = ["obrien-fleming", "pocock"] as const;
const cache = new Map<string, { efficacy: CalibratedBoundaries; futility: CalibratedBoundaries }>();

/** Checks the options, fills the defaults and computes (once per design) the boundaries. */
export function sequentialDesign(options: SequentialOptions): SequentialDesign {
  const where = "sequentialDesign";
  if (options === undefined || options === null)
    throw new StatsError("STATS_INVALID_OPTION", `${where}: options with at least { effect } are required`);
  checkOptions(where, options, KNOWN);
  if (options.effect === undefined)
    throw new StatsError("STATS_INVALID_OPTION", `${where}: effect (the gain of interest, in val_bpb) is required`);
  const effect = finiteNumber(where, "effect", options.effect, undefined, "positive");
  const margin = finiteNumber(where, "margin", options.margin, 0, "non-negative");
  if (!(margin < effect))
    throw new StatsError("STATS_INVALID_OPTION", `${where}: margin (δ_min, ${margin}) must be below the effect of interest (${effect})`);
  const minSeeds = integerAtLeast(where, "minSeeds", options.minSeeds, 2, 3);
  const maxSeeds = integerAtLeast(where, "maxSeeds", options.maxSeeds, minSeeds, Math.max(10, minSeeds));
  if (maxSeeds > 200) throw new StatsError("STATS_INVALID_OPTION", `${where}: maxSeeds must be ≤ 200, got ${maxSeeds}`);
  const alpha = probability(where, "alpha", options.alpha, 0.05);
  const power = probability(where, "power", options.power, 0.9);
  const spending = oneOf(where, "spending", options.spending, SPENDING, "obrien-fleming");
  const futilitySpending = oneOf(where, "futilitySpending", options.futilitySpending, SPENDING, "pocock");
  const statistic = oneOf(where, "statistic", options.statistic, EFFICACY_STATISTICS, "hall");
  const key = [alpha, power, minSeeds, maxSeeds, spending, futilitySpending, statistic].join("|");
  let bounds = cache.get(key);
  if (bounds === undefined) {
    const fractions = Array.from({ length: maxSeeds - minSeeds + 1 }, (_, i) => (minSeeds + i) / maxSeeds);
    bounds = {
      efficacy: calibrated(efficacyBoundaries(alpha, fractions, spending), minSeeds, maxSeeds, alpha, statistic),
      futility: calibrated(efficacyBoundaries(1 - power, fractions, futilitySpending), minSeeds, maxSeeds, 1 - power, "t"),
    };
    cache.set(key, bounds);
  }
  return { effect, margin, maxSeeds, minSeeds, alpha, power, spending, futilitySpending, statistic, ...bounds };
}

/** The decision after the gains (parent - candidate, one per paired seed) observed so far. */
export function sequentialDecision(
  gains: readonly number[],
  options: SequentialOptions | SequentialDesign,
): SequentialResult {
  const design = isDesign(options) ? options : sequentialDesign(options);
  const g = finiteSample("sequentialDecision", "gains", gains, 0);
  return decideLook(g, design);
}

/** The z-scale design with its nominal levels scaled for the statistic (calibrate.ts). */
function calibrated(z: Boundaries, minSeeds: number, maxSeeds: number, level: number, statistic: EfficacyStatistic): CalibratedBoundaries {
  const lambda = calibrateNominal(z.nominal, minSeeds, maxSeeds, level, statistic);
  return { ...z, lambda, nominal: z.nominal.map((p) => p * lambda) };
}

function isDesign(o: SequentialOptions | SequentialDesign): o is SequentialDesign {
  return typeof o === "object" && o !== null && "efficacy" in o && "futility" in o;
}

/** The rule of the file comment, on already validated gains. */
export function decideLook(g: readonly number[], design: SequentialDesign): SequentialResult {
  const n = g.length;
  const { maxSeeds, minSeeds } = design;
  if (n > maxSeeds)
    throw new StatsError(
      "STATS_INVALID_ARGUMENT",
      `sequentialDecision: ${n} gains but the design stops at maxSeeds = ${maxSeeds}`,
    );
  if (n < minSeeds)
    return { decision: "continue", n, maxSeeds, reason: `first look after ${minSeeds} seeds; ${n} so far` };

  const index = n - minSeeds;
  const m = mean(g);
  const s = sd(g);
  const df = n - 1;
  const se = s / Math.sqrt(n);
  const allZero = g.every((v) => v === 0);
  const { margin } = design;
  // t statistic of H0: gain = at. Constant gains: ±∞ unless the constant is exactly `at` (then 0,
  // and the p-values below are 1: nothing is shown either way).
  const tAt = (at: number): number => (se > 0 ? (m - at) / se : m > at ? Infinity : m < at ? -Infinity : 0);
  const upper = (at: number): number => (se > 0 || m !== at ? ptUpper(tAt(at), df) : 1); // H1: gain > at
  const lower = (at: number): number => (se > 0 || m !== at ? pt(tAt(at), df) : 1); // H1: gain < at
  const look: SequentialLook = {
    look: index + 1,
    fraction: n / maxSeeds,
    meanGain: m,
    sdGain: s,
    df,
    t: tAt(margin),
    pValue: se > 0 || m !== margin ? ptUpper(efficacyStatistic(design.statistic, n, m, s, thirdMoment(g, m), margin), df) : 1,
    efficacyLevel: design.efficacy.nominal[index]!,
    futilityPValue: lower(design.effect),
    futilityLevel: design.futility.nominal[index]!,
    negligiblePValue: margin > 0 ? Math.max(lower(margin), upper(-margin)) : 1,
  };
  const base = { n, maxSeeds, look };
  const result = decideFromLook(base, allZero, m, design);
  if (!allZero && se === 0) result.reason += `; ${CONSTANT_GAIN}`;
  return result;
}

function decideFromLook(
  base: { n: number; maxSeeds: number; look: SequentialLook },
  allZero: boolean,
  m: number,
  design: SequentialDesign,
): SequentialResult {
  const { n, maxSeeds, look } = base;
  if (allZero)
    return {
      ...base,
      decision: "noise",
      reason: `every one of ${n} seeds gave identical val_bpb: the change does not alter training`,
    };
  const above = design.margin > 0 ? ` above δ_min ${fmt(design.margin)}` : "";
  if (look.pValue <= look.efficacyLevel)
    return {
      ...base,
      decision: "real",
      reason: `p = ${fmt(look.pValue)} ≤ ${fmt(look.efficacyLevel)} (look ${look.look}): mean gain ${fmt(m)} bpb over ${n} seeds${above}`,
    };
  if (look.negligiblePValue <= look.futilityLevel)
    return {
      ...base,
      decision: "negligible",
      reason: `the gain lies within ±δ_min ${fmt(design.margin)} bpb (equivalence p = ${fmt(look.negligiblePValue)} ≤ ${fmt(look.futilityLevel)}, look ${look.look}): mean gain ${fmt(m)} bpb over ${n} seeds`,
    };
  if (look.futilityPValue <= look.futilityLevel)
    return {
      ...base,
      decision: "noise",
      reason: `a gain of ${fmt(design.effect)} bpb is excluded (p = ${fmt(look.futilityPValue)} ≤ ${fmt(look.futilityLevel)}, look ${look.look}): mean gain ${fmt(m)} bpb over ${n} seeds`,
    };
  if (n === maxSeeds)
    return {
      ...base,
      decision: "inconclusive",
      reason: `cap of ${maxSeeds} seeds reached: mean gain ${fmt(m)} bpb, p = ${fmt(look.pValue)}, neither bound crossed`,
    };
  return {
    ...base,
    decision: "continue",
    reason: `p = ${fmt(look.pValue)} > ${fmt(look.efficacyLevel)} and futility p = ${fmt(look.futilityPValue)} > ${fmt(look.futilityLevel)}`,
  };
}
