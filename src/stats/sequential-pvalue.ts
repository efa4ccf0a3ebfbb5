/**
 * A p-value for a claim verified sequentially, valid however early the verification stopped,
 * so that Benjamini–Hochberg across a night's claims holds its false discovery rate. The
 * fixed-n t-test p-value of the seeds a sequential test happened to stop at is not one: a claim
 * stops early exactly when its first seeds look good, so under no true gain those p-values sit
 * below uniform (simulated, BH over 5 null claims then let through an FDR of 0.11 at 0.05).
 *
 * The ordering is the design's own: a path is the more extreme the further its most extreme
 * look went past that look's boundary. With p_k the look's one-sided efficacy p-value (H0:
 * gain ≤ δ_min; the design's statistic, t or Hall's skewness-corrected t, skewness.ts)
 * at look k and a_k the look's calibrated nominal level (sequential.ts),
 *
 *   R = min over the looks taken of p_k / a_k        (R ≤ 1 exactly when the rule said real)
 *   p = P0(R_all ≤ R_observed)
 *
 * where R_all is R over every look up to the cap, under no gain beyond δ_min. Fewer looks only
 * make R larger, so a verification that stopped early (for real, noise or negligible) gets a
 * p-value that is conservative, never anti-conservative: P0(p ≤ u) ≤ u for every u. The law
 * of the t statistics under H0 does not depend on the sd of the gains, so it is simulated once
 * per design from the same seeded standard normal paths that calibrated the design's levels
 * (calibrate.ts); p = (paths at or below R + 1) / (paths + 1), never 0. And p ≤ alpha whenever
 * the rule said real, since the calibration kept P0(R_all ≤ 1) below alpha.
 */
import { PATHS, forEachNullPath } from "./calibrate.ts";
import { mean, sd } from "./describe.ts";
import { ptUpper } from "./distributions.ts";
import type { SequentialDesign } from "./sequential.ts";
import { efficacyStatistic, thirdMoment } from "./skewness.ts";
import { finiteSample } from "./validate.ts";

const nullLaws = new Map<string, Float64Array>();

/** Sorted R_all over the null paths of the design's looks (one simulation per design, cached). */
function nullLaw(design: SequentialDesign): Float64Array {
  const levels = design.efficacy.nominal;
  const key = `${design.statistic}|${design.minSeeds}|${design.maxSeeds}|${levels.join(",")}`;
  let law = nullLaws.get(key);
  if (law !== undefined) return law;
  const { minSeeds, maxSeeds } = design;
  const filled = new Float64Array(PATHS);
  let path = 0;
  let best = Infinity;
  forEachNullPath(
    minSeeds,
    maxSeeds,
    design.statistic,
    (k, t, df) => {
      best = Math.min(best, ptUpper(t, df) / levels[k]!);
    },
    () => {
      filled[path++] = best;
      best = Infinity;
    },
  );
  law = filled;
  law.sort();
  nullLaws.set(key, law);
  return law;
}

/** The look statistic R of the gains observed so far (Infinity before the first look). */
export function lookStatistic(gains: readonly number[], design: SequentialDesign): number {
  const g = finiteSample("lookStatistic", "gains", gains, 0);
  let best = Infinity;
  for (let n = design.minSeeds; n <= Math.min(g.length, design.maxSeeds); n++) {
    const prefix = g.slice(0, n);
    const m = mean(prefix);
    const s = sd(prefix);
    const at = design.margin;
    // Constant gains: shown above δ_min (p 0) when the constant is, else nothing shown (p 1).
    const p = s > 0 ? ptUpper(efficacyStatistic(design.statistic, n, m, s, thirdMoment(prefix, m), at), n - 1) : m > at ? 0 : 1;
    best = Math.min(best, p / design.efficacy.nominal[n - design.minSeeds]!);
  }
  return best;
}

/** P0(R_all ≤ R) for the gains observed (at least minSeeds of them, at most maxSeeds). */
export function sequentialPValue(gains: readonly number[], design: SequentialDesign): number {
  const r = lookStatistic(gains, design);
  if (r === Infinity) return 1;
  const law = nullLaw(design);
  // Paths with R_all ≤ r: the first index whose value exceeds r.
  let lo = 0;
  let hi = law.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (law[mid]! <= r) lo = mid + 1;
    else hi = mid;
  }
  return Math.min(1, (lo + 1) / (law.length + 1));
}
