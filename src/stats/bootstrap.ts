/**
 * Seeded bootstrap interval for the mean (of the paired gains, in practice). BCa by default
 * (Efron 1987: bias-corrected and accelerated, acceleration from the jackknife), percentile on
 * request, and percentile as the fallback when BCa is undefined — with 3–5 seeds every
 * resampled mean can fall on one side of the observed one, which makes the bias correction
 * infinite. The method actually used is reported. Same seed, same interval.
 *
 * With a handful of seeds no bootstrap interval can be trusted far: it ignores the uncertainty
 * of the sd that the t interval accounts for, so it is narrower. It is reported beside the t
 * interval as a check against non-normal gains, not in place of it.
 */
import { mean } from "./describe.ts";
import { pnorm, qnorm } from "./distributions.ts";
import { checkOptions } from "./errors.ts";
import { SeededRandom } from "./random.ts";
import type { Interval } from "./ttest.ts";
import { finiteNumber, finiteSample, integerAtLeast, oneOf, probability } from "./validate.ts";

export type BootstrapMethod = "bca" | "percentile";

export interface BootstrapOptions {
  /** Number of bootstrap resamples. Default 10,000. */
  resamples?: number;
  /** Two-sided coverage. Default 0.95. */
  confidence?: number;
  /** PRNG seed; the same seed gives the same interval. Default 1. */
  seed?: number;
  /** Default "bca". */
  method?: BootstrapMethod;
}

export interface BootstrapInterval extends Interval {
  /** The method actually used: "percentile" when BCa was asked for but is undefined here. */
  method: BootstrapMethod;
  resamples: number;
  seed: number;
  /** Why the method differs from the one asked for, or why the interval has zero width. */
  note?: string;
}

const KNOWN = ["resamples", "confidence", "seed", "method"];

export function bootstrapMeanInterval(values: readonly number[], options: BootstrapOptions = {}): BootstrapInterval {
  checkOptions("bootstrapMeanInterval", options, KNOWN);
  const x = finiteSample("bootstrapMeanInterval", "values", values, 2);
  const resamples = integerAtLeast("bootstrapMeanInterval", "resamples", options.resamples, 100, 10_000);
  const confidence = probability("bootstrapMeanInterval", "confidence", options.confidence, 0.95);
  const seed = finiteNumber("bootstrapMeanInterval", "seed", options.seed, 1);
  const method = oneOf("bootstrapMeanInterval", "method", options.method, ["bca", "percentile"] as const, "bca");
  const observed = mean(x);
  const base = { confidence, resamples, seed };
  if (x.every((v) => v === x[0]))
    return { ...base, lower: observed, upper: observed, method, note: "all values are equal" };

  const n = x.length;
  const rng = new SeededRandom(seed);
  const replicates = new Float64Array(resamples);
  for (let b = 0; b < resamples; b++) {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += x[rng.integer(n)]!;
    replicates[b] = sum / n;
  }
  replicates.sort();

  if (method === "bca") {
    const total = x.reduce((a, v) => a + v, 0);
    const jackknife = x.map((v) => (total - v) / (n - 1));
    const bca = bcaLimits(replicates, observed, jackknife, confidence);
    if (bca) return { ...base, ...bca, method: "bca" };
    return {
      ...base,
      ...percentileLimits(replicates, confidence),
      method: "percentile",
      note: "BCa undefined (every resampled mean on one side of the observed mean); percentile used",
    };
  }
  return { ...base, ...percentileLimits(replicates, confidence), method: "percentile" };
}

/** Percentile interval: the (1-c)/2 and (1+c)/2 quantiles of the sorted replicates. */
export function percentileLimits(sorted: ArrayLike<number>, confidence: number): { lower: number; upper: number } {
  return { lower: quantileSorted(sorted, (1 - confidence) / 2), upper: quantileSorted(sorted, (1 + confidence) / 2) };
}

/**
 * BCa limits from sorted replicates, the observed estimate and its jackknife (leave-one-out)
 * estimates; undefined when the bias correction or the acceleration is not finite.
 *   z0 = Φ⁻¹((#{θ* < θ} + #{θ* = θ}/2) / B)       (ties split: bootstrap means of a few seeds tie often)
 *   a  = Σ (θ̄ - θ_(i))³ / (6 (Σ (θ̄ - θ_(i))²)^1.5)
 *   limits: quantiles at Φ(z0 + (z0 + z_q) / (1 - a (z0 + z_q))) for z_q = Φ⁻¹((1 ∓ c)/2)
 */
export function bcaLimits(
  sorted: ArrayLike<number>,
  observed: number,
  jackknife: readonly number[],
  confidence: number,
): { lower: number; upper: number } | undefined {
  const B = sorted.length;
  let below = 0;
  let equal = 0;
  for (let i = 0; i < B; i++) {
    const r = sorted[i]!;
    if (r < observed) below++;
    else if (r === observed) equal++;
  }
  const z0 = qnorm((below + equal / 2) / B);
  const jm = mean(jackknife);
  let num = 0;
  let den = 0;
  for (const j of jackknife) {
    const d = jm - j;
    num += d * d * d;
    den += d * d;
  }
  const a = den > 0 ? num / (6 * Math.pow(den, 1.5)) : NaN;
  if (!Number.isFinite(z0) || !Number.isFinite(a)) return undefined;
  const adjusted = (q: number): number => {
    const zq = qnorm(q);
    return pnorm(z0 + (z0 + zq) / (1 - a * (z0 + zq)));
  };
  return {
    lower: quantileSorted(sorted, adjusted((1 - confidence) / 2)),
    upper: quantileSorted(sorted, adjusted((1 + confidence) / 2)),
  };
}

/** Quantile of sorted values by linear interpolation (R's type 7, numpy's default). */
export function quantileSorted(sorted: ArrayLike<number>, p: number): number {
  const h = (sorted.length - 1) * Math.min(1, Math.max(0, p));
  const lo = Math.floor(h);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!);
}
