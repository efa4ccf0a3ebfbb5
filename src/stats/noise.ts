/**
 * Noise floor: how much val_bpb moves when only the seed changes, from k reruns of one commit,
 * and the smallest gain a paired verification with n seeds can reliably detect.
 *
 * Minimal detectable effect (one-sided test at level alpha, power 1 - beta, n paired seeds):
 *
 *     MDE = (t_{1-alpha, n-1} + t_{1-beta, n-1}) · sdDiff / √n
 *     sdDiff = sd · √(2 (1 - rho))
 *
 * This is the usual t-quantile approximation to the non-central-t power equation (the central
 * t quantile stands in for the non-central one; power.ts shows it errs by at most one seed,
 * on the safe side, so the MDE it gives is slightly larger than the exact one). sdDiff
 * is the sd of one paired difference parent - candidate: two runs of sd `sd` each, with
 * correlation rho between the two runs of a seed. Runs of one commit cannot measure rho, so the
 * default is rho = 0, which overstates sdDiff when pairing helps (same init, same data order
 * usually make rho > 0): the MDE is then conservative. Pass `correlation` once paired
 * verifications have measured it.
 */
import { mean, sd } from "./describe.ts";
import { qt } from "./distributions.ts";
import { StatsError, checkOptions } from "./errors.ts";
import { finiteNumber, finiteSample, integerAtLeast, probability } from "./validate.ts";

export interface NoiseFloorOptions {
  /** One-sided level of the verification test. Default 0.05. */
  alpha?: number;
  /** Power wanted at the detectable effect. Default 0.8. */
  power?: number;
  /** Paired seeds a verification would use. Default: k, the number of values given. */
  seeds?: number;
  /** Correlation between parent and candidate runs of the same seed, in [0, 1). Default 0. */
  correlation?: number;
}

export interface NoiseFloor {
  /** Number of reruns measured. */
  k: number;
  /** Mean val_bpb over the reruns. */
  mean: number;
  /** Sample sd of val_bpb over the reruns (n - 1 denominator). */
  sd: number;
  /** Assumed sd of one paired difference, sd · √(2 (1 - correlation)). */
  sdDiff: number;
  seeds: number;
  alpha: number;
  power: number;
  correlation: number;
  /** Smallest true gain (in val_bpb) that a paired verification with `seeds` seeds detects with `power`. */
  minDetectableEffect: number;
}

const KNOWN = ["alpha", "power", "seeds", "correlation"];

/** Mean, sd and minimal detectable effect from k ≥ 2 val_bpb values of one commit. */
export function noiseFloor(values: readonly number[], options: NoiseFloorOptions = {}): NoiseFloor {
  checkOptions("noiseFloor", options, KNOWN);
  const x = finiteSample("noiseFloor", "values", values, 2);
  const alpha = probability("noiseFloor", "alpha", options.alpha, 0.05);
  const power = probability("noiseFloor", "power", options.power, 0.8);
  const seeds = integerAtLeast("noiseFloor", "seeds", options.seeds, 2, x.length);
  const correlation = finiteNumber("noiseFloor", "correlation", options.correlation, 0, "non-negative");
  if (correlation >= 1)
    throw new StatsError("STATS_INVALID_OPTION", `noiseFloor: correlation must be < 1, got ${correlation}`);
  const s = sd(x);
  const sdDiff = s * Math.sqrt(2 * (1 - correlation));
  return {
    k: x.length,
    mean: mean(x),
    sd: s,
    sdDiff,
    seeds,
    alpha,
    power,
    correlation,
    minDetectableEffect: minimalDetectableEffect(sdDiff, seeds, { alpha, power }),
  };
}

/** MDE = (t_{1-alpha, n-1} + t_{power, n-1}) · sdDiff / √n for n ≥ 2 paired seeds (formula above). */
export function minimalDetectableEffect(
  sdDiff: number,
  seeds: number,
  options: { alpha?: number; power?: number } = {},
): number {
  checkOptions("minimalDetectableEffect", options, ["alpha", "power"]);
  finiteNumber("minimalDetectableEffect", "sdDiff", sdDiff, undefined, "non-negative");
  integerAtLeast("minimalDetectableEffect", "seeds", seeds, 2);
  const alpha = probability("minimalDetectableEffect", "alpha", options.alpha, 0.05);
  const power = probability("minimalDetectableEffect", "power", options.power, 0.8);
  const df = seeds - 1;
  return ((qt(1 - alpha, df) + qt(power, df)) * sdDiff) / Math.sqrt(seeds);
}
