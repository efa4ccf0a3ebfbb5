/**
 * Calibration of group-sequential nominal levels for the t statistic. Boundaries computed for a
 * z statistic (known variance) and applied to t tests by their nominal p-values (the
 * "significance level" approach of Jennison & Turnbull 2000, §11.3) are anti-conservative when
 * the looks come after only a few observations: with looks after every seed from 3 to 10,
 * Pocock-type spending at alpha = 0.05 gives a false-rejection rate near 0.06: each look has
 * the right marginal level, but the joint law of successive t statistics (which share a
 * variance estimate with few degrees of freedom) is not that of the z statistics the
 * boundaries were computed for.
 *
 * The fix here: multiply every nominal level by one constant lambda ≤ 1, chosen so that the
 * simulated rate of the t procedure is alpha. Under the null hypothesis (mean 0, any sd) the
 * sequence of t statistics does not depend on the sd, so one simulation of `PATHS` standard
 * normal paths per design (seeded, hence deterministic) serves for every sd. lambda is the
 * largest constant whose simulated rate stays below alpha by 1.645 Monte-Carlo standard errors,
 * so the true rate is ≤ alpha with about 95% confidence in the simulation. The shape of the
 * boundary across looks is the spending function's; only its overall height is calibrated.
 */
import { ptUpper, qt } from "./distributions.ts";
import { SeededRandom } from "./random.ts";
import { type EfficacyStatistic, efficacyStatistic } from "./skewness.ts";

/** Null paths simulated per design: the Monte-Carlo sd of the rate is √(α(1-α)/PATHS) ≈ 0.0005 at α = 0.05. */
export const PATHS = 200_000;
export const SEED = 20_261_125;

/**
 * The constant lambda ≤ 1 such that "reject at the first look n (minSeeds ≤ n ≤ maxSeeds) where
 * the one-sided p-value of `statistic` (skewness.ts; referred to t with n - 1 df) ≤ lambda ·
 * nominal[n - minSeeds]" has simulated rate ≤ level minus 1.645 Monte-Carlo standard errors
 * under the null.
 */
export function calibrateNominal(
  nominal: readonly number[],
  minSeeds: number,
  maxSeeds: number,
  level: number,
  statistic: EfficacyStatistic = "t",
): number {
  // p ≤ nominal ⇔ t ≥ -qt(nominal) (by symmetry, exact for tiny levels): past it the exact p is needed.
  const tCritical = nominal.map((p, i) => (p > 0 ? -qt(p, minSeeds + i - 1) : Infinity));
  const ratios: number[] = []; // min over looks of p / nominal, for paths where it is ≤ 1
  let best = Infinity;
  forEachNullPath(
    minSeeds,
    maxSeeds,
    statistic,
    (k, t, df) => {
      if (t >= tCritical[k]!) best = Math.min(best, ptUpper(t, df) / nominal[k]!);
    },
    () => {
      if (best <= 1) ratios.push(best);
      best = Infinity;
    },
  );
  const target = level - 1.645 * Math.sqrt((level * (1 - level)) / PATHS);
  const allowed = Math.floor(target * PATHS); // paths that may reject
  if (ratios.length <= allowed) return 1;
  ratios.sort((a, b) => a - b);
  // Rejecting when ratio ≤ lambda, with lambda just below the (allowed+1)-th smallest ratio.
  const next = ratios[allowed]!;
  const previous = allowed > 0 ? ratios[allowed - 1]! : 0;
  return (previous + next) / 2;
}

/**
 * The seeded null paths (PATHS standard normal paths of maxSeeds values, from SEED) that the
 * calibration here and the sequential p-value (sequential-pvalue.ts) are both built from, so the
 * two always see the same paths: `look(k, t, df)` at each look k = n − minSeeds with the
 * efficacy statistic t of H0: mean 0, then `endPath()` once the path's values are all drawn.
 */
export function forEachNullPath(
  minSeeds: number,
  maxSeeds: number,
  statistic: EfficacyStatistic,
  look: (k: number, t: number, df: number) => void,
  endPath: () => void,
): void {
  const rng = new SeededRandom(SEED);
  for (let path = 0; path < PATHS; path++) {
    const sums = new PowerSums();
    for (let n = 1; n <= maxSeeds; n++) {
      sums.add(rng.normal());
      if (n >= minSeeds) look(n - minSeeds, sums.statistic(statistic, 0), n - 1);
    }
    endPath();
  }
}

/**
 * Running sums of a simulated path, shifted by its first value for accurate central moments:
 * the efficacy statistic after each new value without revisiting the path.
 */
export class PowerSums {
  private n = 0;
  private shift = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;

  add(x: number): void {
    if (this.n === 0) this.shift = x;
    const y = x - this.shift;
    this.n++;
    this.s1 += y;
    this.s2 += y * y;
    this.s3 += y * y * y;
  }

  /** The statistic for H1: mean > at of the values added so far (n ≥ 2). */
  statistic(kind: EfficacyStatistic, at: number): number {
    const n = this.n;
    const my = this.s1 / n;
    const variance = Math.max(0, (this.s2 - n * my * my) / (n - 1));
    const m3 = this.s3 / n - (3 * my * this.s2) / n + 2 * my * my * my;
    return efficacyStatistic(kind, n, my + this.shift, Math.sqrt(variance), m3, at);
  }
}
