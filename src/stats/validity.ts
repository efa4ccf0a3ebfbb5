/**
 * Simulated nights of verification, for checking the whole procedure's error rates
 * (bench/validity.ts, test/stats/validity.test.ts): claims verified one after another as
 * verification/verify.ts's judgeClaims does it — the sequential rule seed by seed (sequential.ts) at
 * the family's level for each claim (family.ts), the
 * sequential p-value of each (sequential-pvalue.ts), Benjamini–Hochberg across the night
 * (multiple.ts), then confirmation seeds for the claims still real (verification/confirm.ts). It only
 * draws gains and calls that code; it must not re-implement any part of the rule.
 *
 * Gains are in units of σ, the sd of one paired gain without machine load, under one of three
 * noise models: normal; skewed (a standardised gamma with the given skewness, same mean and
 * sd); and drifting load, where every training's val_bpb carries a load term that drifts over
 * the night (AR(1) with a per-night linear trend), parent and candidate trained back to back in
 * that order, so the load change between them leaks into the gain. Seeded: the same inputs give
 * the same night.
 */
import { adjustPValues } from "./multiple.ts";
import { SeededRandom } from "./random.ts";
import { decideLook, type SequentialDesign } from "./sequential.ts";
import { sequentialPValue } from "./sequential-pvalue.ts";
import { claimDesign, creditedByFamily } from "./family.ts";
import type { Verdict } from "./verdict.ts";
import { type Confirmation, summarize } from "./confirmation.ts";

/** How the paired gains scatter around their true mean (units of σ, the sd of one paired gain). */
export type GainNoise =
  | { kind: "normal" }
  /** Standardised gamma: mean 0, sd 1, this skewness (≠ 0; -1 is a long tail of losses). */
  | { kind: "skewed"; skewness: number }
  /**
   * Normal gains plus load: each training's val_bpb carries L_t = AR(1) with stationary sd
   * `loadSd` and lag-one correlation `phi` per training, plus `trend` per training whose sign is
   * drawn once per night (the machine slowing down or speeding up).
   */
  | { kind: "drift"; loadSd: number; phi: number; trend: number };

/** A standardised gamma draw with the given skewness γ ≠ 0: shape 4/γ², centred and scaled, mirrored for γ < 0. */
export function skewedDraw(rng: SeededRandom, skewness: number): number {
  const shape = 4 / (skewness * skewness);
  const x = (gammaDraw(rng, shape) - shape) / Math.sqrt(shape);
  return skewness > 0 ? x : -x;
}

/** Gamma(shape, 1) by Marsaglia & Tsang (2000); shape < 1 through Gamma(shape + 1)·U^(1/shape). */
function gammaDraw(rng: SeededRandom, shape: number): number {
  if (shape < 1) return gammaDraw(rng, shape + 1) * Math.pow(1 - rng.uniform(), 1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = rng.normal();
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = 1 - rng.uniform();
    if (Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v;
  }
}

/** The gains of one night's trainings, in the order they are trained. */
export class GainSource {
  private load = 0;
  private trainings = 0;
  private readonly trendSign: number;

  constructor(
    private readonly rng: SeededRandom,
    private readonly noise: GainNoise,
  ) {
    this.trendSign = noise.kind === "drift" && noise.trend !== 0 ? (rng.uniform() < 0.5 ? -1 : 1) : 0;
    if (noise.kind === "drift") this.load = noise.loadSd * rng.normal();
  }

  /** One paired seed: the parent trains, then the candidate; their gain parent - candidate. */
  pair(trueGain: number): number {
    const n = this.noise;
    if (n.kind === "normal") return trueGain + this.rng.normal();
    if (n.kind === "skewed") return trueGain + skewedDraw(this.rng, n.skewness);
    const parentLoad = this.nextLoad(n);
    const candidateLoad = this.nextLoad(n);
    return trueGain + this.rng.normal() + parentLoad - candidateLoad;
  }

  private nextLoad(n: { loadSd: number; phi: number; trend: number }): number {
    this.trainings++;
    this.load = n.phi * this.load + Math.sqrt(1 - n.phi * n.phi) * n.loadSd * this.rng.normal();
    return this.load + this.trendSign * n.trend * this.trainings;
  }
}

export interface SimulatedClaim {
  trueGain: number;
  /** After Benjamini–Hochberg, as judgeClaims records it. */
  verdict: Verdict;
  /** The sequential rule's own decision before BH. */
  sequentialVerdict: Verdict;
  /** Paired seeds of the sequential rule (confirmation not included). */
  seeds: number;
  /** Mean of those seeds' gains: the naive estimate, inflated by stopping on a good run. */
  meanGain: number;
  pValue?: number;
  pAdjusted?: number;
  /** Confirmation seeds' estimate, for the claims credited (when confirmSeeds > 0). */
  confirmation: Confirmation | null;
}

/**
 * One night: the claims verified in order through `source`, each by the rule at alpha/m
 * (family.ts; `design` is the family's, at alpha), BH across their sequential p-values at alpha,
 * then `confirmSeeds` paired seeds for each claim BH credits.
 */
export function simulateNight(trueGains: readonly number[], design: SequentialDesign, source: GainSource, confirmSeeds: number): SimulatedClaim[] {
  const each = claimDesign(design, trueGains.length);
  const claims: SimulatedClaim[] = trueGains.map((trueGain) => {
    const gains: number[] = [];
    let verdict: Verdict = "inconclusive";
    while (gains.length < each.maxSeeds) {
      gains.push(source.pair(trueGain));
      if (gains.length < each.minSeeds) continue;
      const decision = decideLook(gains, each).decision;
      if (decision !== "continue") {
        verdict = decision;
        break;
      }
    }
    const meanGain = gains.reduce((a, b) => a + b, 0) / gains.length;
    return { trueGain, verdict, sequentialVerdict: verdict, seeds: gains.length, meanGain, pValue: sequentialPValue(gains, each), confirmation: null };
  });
  const adjusted = adjustPValues(claims.map((c) => c.pValue!), "BH");
  claims.forEach((c, i) => {
    c.pAdjusted = adjusted[i]!;
    const decision = c.sequentialVerdict === "real" ? "real" : c.sequentialVerdict === "inconclusive" ? "cap" : "other";
    if (creditedByFamily(decision, c.pAdjusted, design.alpha)) c.verdict = "real";
    else if (c.verdict === "real") c.verdict = "inconclusive";
  });
  if (confirmSeeds > 0)
    for (const c of claims) {
      if (c.verdict !== "real") continue;
      c.confirmation = summarize(Array.from({ length: confirmSeeds }, () => source.pair(c.trueGain)));
    }
  return claims;
}
