/**
 * nightshift statistics: pure functions that turn seed reruns into verdicts. No store, no CLI,
 * no training here — callers pass numbers (val_bpb per seed, per night) and get typed results.
 * Every function validates its input and throws StatsError (code STATS_*) with a one-line
 * message on bad input: k < 2, lists of different lengths, NaN/±Infinity, empty lists, unknown
 * or out-of-range options. Conventions: lower val_bpb is better; a gain is parent - candidate
 * (positive: the candidate is better); alpha is one-sided for verification, two-sided for
 * comparisons. Distribution functions come from @stdlib; see each file for its formulas.
 *
 * Noise floor (noise.ts)
 *   noiseFloor(values: number[], { alpha?, power?, seeds?, correlation? }): NoiseFloor
 *     k ≥ 2 val_bpb of one commit → mean, sd, and the minimal detectable effect of a paired
 *     verification with `seeds` seeds: (t_{1-α,n-1} + t_{power,n-1}) · sd·√(2(1-ρ)) / √n.
 *   minimalDetectableEffect(sdDiff, seeds, { alpha?, power? }): number
 *
 * Verify one claim with fixed seeds (verdict.ts)
 *   verifyClaim(parent: number[], candidate: number[], VerifyOptions): ClaimVerification
 *   verifyGains(gains: number[], VerifyOptions): ClaimVerification
 *     paired t (one-sided p, two-sided 1-2α interval), seeded BCa bootstrap interval, and the
 *     verdict "real" | "noise" | "inconclusive" by the rule documented in verdict.ts.
 *
 * Many claims (claims.ts, multiple.ts, null-model.ts)
 *   verifyClaims(claims: { id, parent, candidate }[], ClaimsOptions): VerifiedClaim[]
 *     verdicts on Benjamini–Hochberg (or Holm) adjusted p-values across the claims.
 *   adjustPValues(p: number[], "BH" | "holm"): number[]           R's p.adjust
 *   naiveKeepsUnderNoise(runs): { runs, expected: H_runs - 1, sd } keeps of the naive rule under noise
 *   harmonic(n): number
 *
 * Sequential reruns (sequential.ts, boundaries.ts, calibrate.ts, simulate.ts)
 *   sequentialDesign({ effect, margin?, maxSeeds?, minSeeds?, alpha?, power?, spending?, futilitySpending?, statistic? })
 *     validated design with its boundaries (computed once per design, ~1 s, then cached).
 *   sequentialDecision(gains: number[], SequentialOptions | SequentialDesign): SequentialResult
 *     after each new paired seed: "real" | "noise" | "inconclusive" | "continue", with the
 *     look's statistics. Rule and error guarantees in sequential.ts.
 *   sequentialPValue(gains, design): number — valid however early the claim stopped (stagewise
 *     ordering by the most extreme look, sequential-pvalue.ts): what BH across claims is fed.
 *   simulateSequential({ claims, trueGain, sd?, design, fixedSeeds?, seed? }): SimulationResult
 *     false-real rate / power / mean seeds per decision of the sequential vs the fixed-n design.
 *   efficacyBoundaries(alpha, fractions, "pocock" | "obrien-fleming"), spentAlpha(kind, alpha, t)
 *
 * Integrity (integrity.ts)
 *   classifyDiff(unifiedDiff: string): { trivial, kind, reason, seedNames }
 *     trivial when only comments, whitespace or seed-named constants change.
 *
 * Compare orgs (compare.ts, welch.ts, wilcoxon.ts, rating.ts, power.ts)
 *   compareOrgs(orgs: { name, values }[], { design?: "independent" | "paired", alpha?, power?,
 *     confidence?, better?, prior? }): Comparison
 *     every pair: difference + interval, effect size + interval, Welch or Wilcoxon p, Holm
 *     across pairs, more nights/runs needed; Bradley–Terry ratings of the population.
 *   welchTest(a, b, { confidence? }): WelchResult                 R's t.test(a, b) + Hedges' g
 *   wilcoxonSignedRank(x, y?, { alternative?, mu?, correct?, exact? }): WilcoxonResult
 *   oneSampleT(values, { mu?, confidence? }): OneSampleT          R's t.test(x) / paired
 *   bradleyTerry(players, wins, { prior?, tolerance?, maxIterations? }): BradleyTerryResult
 *   headToHead(series, better?): { players, wins }
 *   sampleSize(effect, sd, { alpha?, power?, sided?, design? }): number
 *   moreNeeded(effect, sd, have, SampleSizeOptions): { needed, have, more }
 *
 * Utilities: bootstrapMeanInterval(values, { resamples?, confidence?, seed?, method? }),
 * SeededRandom (xoshiro128**), mean / variance / sd.
 */
export { StatsError, type StatsErrorCode } from "./errors.ts";
export { mean, sd, variance } from "./describe.ts";
export { SeededRandom } from "./random.ts";
export { oneSampleT, type Interval, type OneSampleT, type OneSampleTOptions } from "./ttest.ts";
export { minimalDetectableEffect, noiseFloor, type NoiseFloor, type NoiseFloorOptions } from "./noise.ts";
export {
  bootstrapMeanInterval,
  type BootstrapInterval,
  type BootstrapMethod,
  type BootstrapOptions,
} from "./bootstrap.ts";
export { verifyClaim, verifyGains, type ClaimVerification, type Verdict, type VerifyOptions } from "./verdict.ts";
export { verifyClaims, type Claim, type ClaimsOptions, type VerifiedClaim } from "./claims.ts";
export { adjustPValues, type AdjustMethod } from "./multiple.ts";
export { harmonic, naiveKeepsUnderNoise, type NaiveKeeps } from "./null-model.ts";
export { efficacyBoundaries, spentAlpha, type Boundaries, type SpendingFunction } from "./boundaries.ts";
export {
  sequentialDecision,
  sequentialDesign,
  type CalibratedBoundaries,
  type SequentialDecision,
  type SequentialDesign,
  type SequentialLook,
  type SequentialOptions,
  type SequentialResult,
} from "./sequential.ts";
export { sequentialPValue, lookStatistic } from "./sequential-pvalue.ts";
export { simulateSequential, type DesignSummary, type SimulationOptions, type SimulationResult } from "./simulate.ts";
export { classifyDiff, type ChangeKind, type IntegrityResult } from "./integrity.ts";
export { welchTest, type EffectSize, type WelchResult } from "./welch.ts";
export { wilcoxonSignedRank, type Alternative, type WilcoxonOptions, type WilcoxonResult } from "./wilcoxon.ts";
export {
  bradleyTerry,
  headToHead,
  type BradleyTerryOptions,
  type BradleyTerryResult,
  type Rating,
  type Series,
} from "./rating.ts";
export { moreNeeded, sampleSize, type Design, type MoreNeeded, type SampleSizeOptions } from "./power.ts";
export { compareOrgs, type CompareOptions, type Comparison, type OrgSummary, type PairComparison } from "./compare.ts";
