/**
 * Monte-Carlo check of the sequential design against the fixed-n design: many synthetic claims
 * whose paired gains are drawn N(trueGain, sd²), each run through sequentialDecision seed by
 * seed and through the fixed-n verdict (verdict.ts) at `fixedSeeds`. Both designs see the same
 * draws (common random numbers), so their difference is not sampling noise between them.
 * Seeded: the same options give the same numbers. Nothing is trained.
 */
import { mean, sd as sampleSd } from "./describe.ts";
import { ptUpper, qt } from "./distributions.ts";
import { checkOptions } from "./errors.ts";
import { sampleSize } from "./power.ts";
import { SeededRandom } from "./random.ts";
import { decideLook, sequentialDesign, type SequentialOptions } from "./sequential.ts";
import { decide, equivalencePValue, type Verdict } from "./verdict.ts";
import { finiteNumber, integerAtLeast } from "./validate.ts";

export interface SimulationOptions {
  /** Number of synthetic claims (≥ 1). */
  claims: number;
  /** True mean gain of every claim, in the units of sd (0: pure noise). */
  trueGain: number;
  /** Sd of one paired gain. Default 1. */
  sd?: number;
  /** The sequential design (its effect is in the units of sd). */
  design: SequentialOptions;
  /**
   * Seeds of the fixed-n design. Default: sampleSize(effect, sd) one-sided at the design's alpha
   * and power, i.e. the fixed test with the same error rates as the sequential one.
   */
  fixedSeeds?: number;
  /** PRNG seed. Default 1. */
  seed?: number;
}

export interface DesignSummary {
  /** Fractions of claims given each verdict. */
  real: number;
  noise: number;
  negligible: number;
  inconclusive: number;
  /** Mean paired seeds per decision (each seed is two training runs: parent and candidate). */
  meanSeeds: number;
  /** Mean seeds among the claims that ended with each verdict (null when none did). */
  meanSeedsBy: Record<Verdict, number | null>;
}

export interface SimulationResult {
  claims: number;
  trueGain: number;
  sd: number;
  sequential: DesignSummary;
  fixed: DesignSummary & { seeds: number };
  /** sequential.meanSeeds / fixed.meanSeeds. */
  seedRatio: number;
}

const KNOWN = ["claims", "trueGain", "sd", "design", "fixedSeeds", "seed"];

export function simulateSequential(options: SimulationOptions): SimulationResult {
  const where = "simulateSequential";
  checkOptions(where, options, KNOWN);
  const claims = integerAtLeast(where, "claims", options.claims, 1);
  const trueGain = finiteNumber(where, "trueGain", options.trueGain);
  const sd = finiteNumber(where, "sd", options.sd, 1, "positive");
  const design = sequentialDesign(options.design);
  const fixedSeeds = integerAtLeast(
    where,
    "fixedSeeds",
    options.fixedSeeds,
    2,
    Math.max(2, sampleSize(design.effect, sd, { alpha: design.alpha, power: design.power, sided: "one-sided" })),
  );
  const rng = new SeededRandom(finiteNumber(where, "seed", options.seed, 1));
  const draws = Math.max(design.maxSeeds, fixedSeeds);
  const sequential = new Tally();
  const fixed = new Tally();
  const gains = new Array<number>(draws);
  const fixedRule = { alpha: design.alpha, minEffect: design.effect, margin: design.margin, noiseMinSeeds: 5 };
  const tUpper = qt(1 - design.alpha, fixedSeeds - 1);
  for (let c = 0; c < claims; c++) {
    for (let i = 0; i < draws; i++) gains[i] = trueGain + sd * rng.normal();
    for (let n = design.minSeeds; n <= design.maxSeeds; n++) {
      const result = decideLook(gains.slice(0, n), design);
      if (result.decision !== "continue") {
        sequential.add(result.decision, n);
        break;
      }
    }
    const g = gains.slice(0, fixedSeeds);
    const m = mean(g);
    const se = sampleSd(g) / Math.sqrt(fixedSeeds);
    const margin = design.margin;
    const p = se > 0 ? ptUpper((m - margin) / se, fixedSeeds - 1) : m > margin ? 0 : 1;
    const inputs = { p, upperBound: m + tUpper * se, meanGain: m, negligiblePValue: equivalencePValue(g, margin) };
    fixed.add(decide(g, inputs, fixedRule).verdict, fixedSeeds);
  }
  const seqSummary = sequential.summary();
  const fixedSummary = fixed.summary();
  return {
    claims,
    trueGain,
    sd,
    sequential: seqSummary,
    fixed: { ...fixedSummary, seeds: fixedSeeds },
    seedRatio: seqSummary.meanSeeds / fixedSummary.meanSeeds,
  };
}

const VERDICTS: readonly Verdict[] = ["real", "noise", "negligible", "inconclusive"];

class Tally {
  private count: Record<Verdict, number> = { real: 0, noise: 0, negligible: 0, inconclusive: 0 };
  private seeds: Record<Verdict, number> = { real: 0, noise: 0, negligible: 0, inconclusive: 0 };

  add(verdict: Verdict, seeds: number): void {
    this.count[verdict]++;
    this.seeds[verdict] += seeds;
  }

  summary(): DesignSummary {
    const total = VERDICTS.reduce((sum, v) => sum + this.count[v], 0);
    const by = (v: Verdict): number | null => (this.count[v] > 0 ? this.seeds[v] / this.count[v] : null);
    return {
      real: this.count.real / total,
      noise: this.count.noise / total,
      negligible: this.count.negligible / total,
      inconclusive: this.count.inconclusive / total,
      meanSeeds: VERDICTS.reduce((sum, v) => sum + this.seeds[v], 0) / total,
      meanSeedsBy: { real: by("real"), noise: by("noise"), negligible: by("negligible"), inconclusive: by("inconclusive") },
    };
  }
}
