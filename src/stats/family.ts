/**
 * The claims of a night (or of one `verify`) are judged as a family: Benjamini–Hochberg at
 * alpha across their sequential p-values holds the false discovery rate. A sequential test
 * designed at alpha stops as soon as a gain clears alpha, so a real claim's p-value sits just
 * under alpha (median 0.033 at alpha 0.05, 12 seeds), while BH needs p ≤ alpha·k/m: with one
 * real claim among 8 it kept 2–17% of planted gains the rule had called real (bench/validity.ts).
 *
 * So each claim's test is designed at alpha/m, m the number of claims in the family (Bonferroni):
 * a claim the rule calls real then passes BH whatever the other claims do, and BH still credits
 * a claim that reached the cap undecided when enough others are real (its p ≤ alpha·k/m). The
 * price is seeds on real claims (about 1.2× at m = 4); null claims stop for noise as early as
 * before. One claim alone is tested at alpha, as before.
 */
import { type SequentialDesign, sequentialDesign } from "./sequential.ts";

/** The design each of `claims` claims is tested with: the family's design at alpha / claims. */
export function claimDesign(family: SequentialDesign, claims: number): SequentialDesign {
  const m = Math.max(1, Math.floor(claims));
  if (m === 1) return family;
  const { effect, margin, maxSeeds, minSeeds, power, spending, futilitySpending, statistic } = family;
  return sequentialDesign({ effect, margin, maxSeeds, minSeeds, power, spending, futilitySpending, statistic, alpha: family.alpha / m });
}

/**
 * Whether BH credits a claim: the rule called it real, or it reached the cap undecided, and its
 * BH-adjusted p-value is below the family's alpha. A claim stopped for noise or negligible, or
 * not decided because load moved within its pairs, is never credited here.
 */
export function creditedByFamily(decision: "real" | "cap" | "other", pAdjusted: number | undefined, alpha: number): boolean {
  if (decision === "other" || pAdjusted === undefined) return false;
  return pAdjusted < alpha;
}
