/**
 * Verifying a run's claimed wins with seed reruns. Each claim (a kept experiment after the
 * baseline) is checked in order:
 *   1. Integrity: a diff that only changes a seed, comments or whitespace is `flagged` and never
 *      credited, without any rerun. So is a claim whose rerun the trusted evaluator finds
 *      invalid (the model cheated under measurement; ./failed.ts): it stops there.
 *   2. Paired reruns: the candidate and its parent train with the same fresh seeds (same init,
 *      same data order), back to back in a randomised ABBA order within the claim's own session
 *      (pairing.ts: no measurement of another claim is reused), one seed at a time, until the group-sequential rule (../sequential.ts)
 *      says real or noise, or the cap is reached (inconclusive). Every training is a stored
 *      measurement, reused by a later verify: a kill loses only the training in flight.
 *   3. Many claims: each claim's rule runs at alpha/m, m the claims measured (../stats/family.ts:
 *      a claim stopped at alpha would sit just under alpha and fail BH beside m − 1 others); the
 *      sequential p-values (H1: gain > δ_min; ../sequential-pvalue.ts, valid however early each
 *      claim stopped) of all claims are adjusted by Benjamini–Hochberg at alpha; a claim is `real`
 *      when the rule said so, or reached the cap undecided, and its adjusted p is below alpha. A
 *      gain shown to lie within ±δ_min is `negligible`. The fixed-n p-value of the stopped sample
 *      is kept in the details for reference only: fed to BH it let the FDR over 5 null claims
 *      reach 0.13 at 0.05.
 *   3b. Time: a verdict whose pairs show the load changing within them (the candidate:parent
 *      throughput ratio varying across seeds beyond a bound) is inconclusive, marked unreliable,
 *      and measured again once the other claims are done (`retryUnreliable` times, each in a
 *      session of its own, so none of its pairs is reused): the load may have passed by then.
 *   4. Confirmation: a claim still real after BH is measured again on `confirmSeeds` fresh paired
 *      seeds that played no part in stopping (confirm.ts); their mean and 90% interval are the
 *      credited gain, the sequential mean (inflated by stopping on a good run) stays beside it.
 * A claim is a kept experiment against its own parent, or (the tournament) a run's head against
 * another commit, e.g. the night's base: { experiment, parentCommit, diff } with the diff
 * between the two for the integrity check. judgeClaims returns the verdicts without recording
 * them, for a caller that records them in its own transaction.
 * The first seed of every claim also scores the held-out test split, so a winner's test bpb is
 * known without another training. Beside the verdicts stands what the naive keep rule would
 * have kept under pure noise (H_N − 1), for comparison.
 */
import { classifyDiff } from "../stats/integrity.ts";
import { claimDesign, creditedByFamily } from "../stats/family.ts";
import { adjustPValues } from "../stats/multiple.ts";
import { naiveKeepsUnderNoise } from "../stats/null-model.ts";
import { type SequentialDesign, sequentialDecision, sequentialDesign } from "../stats/sequential.ts";
import { sequentialPValue } from "../stats/sequential-pvalue.ts";
import { verifyGains } from "../stats/verdict.ts";
import type { Experiment, NewVerification, Verdict, Verification } from "../store/index.ts";
import { confirmGain } from "./confirm.ts";
import { DEFAULT_THROUGHPUT_BOUND, type Pair, checkThroughput, sessionOf, trainPair } from "./pairing.ts";
import { rerunFailure } from "./failed.ts";
import { type MeasureSetup, measure } from "./measure.ts";
import type { ClaimThresholds } from "./thresholds.ts";

/** Verification seeds start here, away from the run's own seed (42 by default). */
export const VERIFY_SEED_BASE = 1000;

export interface VerifyRunOptions {
  /**
   * What a claim is judged against (thresholds.ts), one for every claim or one per claim (the
   * tournament: each org's own): `real` needs a gain shown above δ_min, a gain shown within
   * ±δ_min is `negligible`, and futility stops for noise once the data exclude the effect.
   */
  thresholds: ClaimThresholds | ((experiment: Experiment) => ClaimThresholds);
  maxSeeds: number;
  minSeeds: number;
  alpha: number;
  /**
   * Paired seeds trained after a `real` verdict (confirm.ts) to estimate the credited gain
   * without the stopping rule's selection; 0 or absent: none (the sequential mean is credited).
   */
  confirmSeeds?: number;
  /** A verdict whose pairs' throughput ratios varied by more than this is not decided (pairing.ts). */
  throughputBound?: number;
  /** How many times an unreliable verdict is measured again, after the other claims (default 1). */
  retryUnreliable?: number;
  onClaim?: (experiment: Experiment, index: number, total: number) => void;
  /** Called before an unreliable claim is measured again (attempt 1 is the first retry). */
  onRetry?: (experiment: Experiment, attempt: number) => void;
}

export const DEFAULT_UNRELIABLE_RETRIES = 1;

export interface ClaimOutcome {
  experiment: Experiment;
  verification: Verification;
}

export interface VerifySummary {
  claims: ClaimOutcome[];
  counts: Record<Verdict, number>;
  /** Keeps of the naive rule (claims) and the keeps it makes under pure noise, H_N − 1, in N finished experiments. */
  naive: { keeps: number; finished: number; expectedFalseKeeps: number; sd: number };
}

/** A claim against a commit other than the experiment's own parent (its diff from that commit). */
export interface ClaimAgainst {
  experiment: Experiment;
  parentCommit: string;
  diff: string;
}

export type VerifiableClaim = Experiment | ClaimAgainst;

export interface JudgedClaim {
  experiment: Experiment;
  verification: NewVerification;
}

interface Pending {
  experiment: Experiment;
  parentCommit: string;
  verdict: Verdict;
  reason: string;
  gains: number[];
  pValue?: number;
  testBpb?: number;
  parentTestBpb?: number;
  details: { [key: string]: unknown };
}

/** `experiments`: the run's experiments, of which only the statuses are read (narrow rows do). */
export async function verifyClaimsOfRun(setup: MeasureSetup, experiments: readonly Pick<Experiment, "status">[], claims: VerifiableClaim[], o: VerifyRunOptions): Promise<VerifySummary> {
  const judged = await judgeClaims(setup, claims, o);
  const claimOutcomes: ClaimOutcome[] = judged.map((j) => ({ experiment: j.experiment, verification: setup.store.recordVerification(j.verification) }));
  const counts: Record<Verdict, number> = { real: 0, noise: 0, negligible: 0, inconclusive: 0, flagged: 0 };
  for (const c of claimOutcomes) counts[c.verification.verdict]++;
  const finished = experiments.filter((e) => e.status === "keep" || e.status === "discard" || e.status === "crash" || e.status === "invalid").length;
  const nullModel = naiveKeepsUnderNoise(Math.max(1, finished));
  return { claims: claimOutcomes, counts, naive: { keeps: claims.length, finished, expectedFalseKeeps: nullModel.expected, sd: nullModel.sd } };
}

/** The verdicts of the claims (BH across them), measured but not recorded. */
export async function judgeClaims(setup: MeasureSetup, claims: VerifiableClaim[], o: VerifyRunOptions): Promise<JudgedClaim[]> {
  const pending: Pending[] = [];
  const asked: { claim: ClaimAgainst; design: SequentialDesign }[] = [];
  const bound = o.throughputBound ?? DEFAULT_THROUGHPUT_BOUND;
  const asClaims = claims.map((c): ClaimAgainst => ("experiment" in c ? c : { experiment: c, parentCommit: c.parentCommit, diff: c.diff ?? "" }));
  // The family: the claims that will be measured (a trivial diff is flagged without reruns).
  const family = asClaims.filter((c) => !classifyDiff(c.diff).trivial).length;
  for (const [i, claim] of asClaims.entries()) {
    o.onClaim?.(claim.experiment, i, claims.length);
    const { margin, effect } = typeof o.thresholds === "function" ? o.thresholds(claim.experiment) : o.thresholds;
    const design = claimDesign(sequentialDesign({ effect, margin, maxSeeds: o.maxSeeds, minSeeds: Math.min(o.minSeeds, o.maxSeeds), alpha: o.alpha }), family);
    asked.push({ claim, design });
    pending.push(await verifyOne(setup, claim, design, o.alpha, bound, firstPass(claim)));
  }
  // Unreliable verdicts, measured again now that the other claims had their time. Whether a
  // verdict is unreliable depends on throughput, not on its gains, so a retry is a fresh test
  // of the same claim and the error rates hold; the earlier attempts stay in the details.
  const retries = o.retryUnreliable ?? DEFAULT_UNRELIABLE_RETRIES;
  for (let attempt = 1; attempt <= retries; attempt++)
    for (const [i, p] of pending.entries()) {
      if (p.details.unreliable !== true) continue;
      const { claim, design } = asked[i]!;
      o.onRetry?.(claim.experiment, attempt);
      const again = await verifyOne(setup, claim, design, o.alpha, bound, { ...firstPass(claim), session: `${firstPass(claim).session} retry ${attempt}`, retry: attempt });
      const earlier = [...((p.details.earlierAttempts as unknown[] | undefined) ?? []), { reason: p.reason, gains: p.gains, throughput: p.details.throughput }];
      again.details.earlierAttempts = earlier;
      pending[i] = again;
    }

  // Benjamini–Hochberg across the claims that were measured.
  const measured = pending.filter((p) => p.pValue !== undefined);
  const adjusted = measured.length > 0 ? adjustPValues(measured.map((p) => p.pValue!), "BH") : [];
  const judged = pending.map((p) => {
    const at = measured.indexOf(p);
    const pAdjusted = at >= 0 ? adjusted[at] : undefined;
    let { verdict, reason } = p;
    const atCap = verdict === "inconclusive" && p.details.unreliable !== true && (p.details.sequential as { decision?: string } | undefined)?.decision === "inconclusive";
    const credited = creditedByFamily(verdict === "real" ? "real" : atCap ? "cap" : "other", pAdjusted, o.alpha);
    if (verdict === "real" && !credited) {
      verdict = "inconclusive";
      reason = `real on its own (p ${p.pValue!.toPrecision(3)}), but not after Benjamini–Hochberg across ${measured.length} claims (adjusted p ${pAdjusted!.toPrecision(3)} ≥ ${o.alpha})`;
    } else if (atCap && credited) {
      verdict = "real";
      reason = `real after Benjamini–Hochberg across ${measured.length} claims (adjusted p ${pAdjusted!.toPrecision(3)} < ${o.alpha}), though undecided on its own at ${p.gains.length} seeds: ${p.reason}`;
    }
    const e = p.experiment;
    const verification: NewVerification = {
      experimentId: e.id,
      parentCommit: p.parentCommit,
      commit: e.commit!,
      verdict,
      seeds: p.gains.length,
      reason,
      ...(p.gains.length > 0 ? { meanGain: p.gains.reduce((a, b) => a + b, 0) / p.gains.length } : {}),
      ...(p.pValue !== undefined ? { pValue: p.pValue } : {}),
      ...(pAdjusted !== undefined ? { pAdjusted } : {}),
      ...(p.testBpb !== undefined ? { testBpb: p.testBpb } : {}),
      ...(p.parentTestBpb !== undefined ? { parentTestBpb: p.parentTestBpb } : {}),
      details: JSON.parse(JSON.stringify({ ...p.details, gains: p.gains, alpha: o.alpha, claimAlpha: o.alpha / Math.max(1, family), claims: measured.length })),
    };
    return { experiment: e, verification };
  });
  // Only what is credited is confirmed: the claims still real after BH.
  const confirmSeeds = o.confirmSeeds ?? 0;
  if (confirmSeeds > 0)
    for (const j of judged) {
      if (j.verification.verdict !== "real") continue;
      const { parentCommit, commit } = j.verification;
      const session = sessionOf(j.experiment.id, parentCommit);
      const confirmation = await confirmGain(confirmSeeds, (seed, index) =>
        trainPair({ session, stream: "confirm", index }, (which) => measure(setup, which === "parent" ? parentCommit : commit, seed, "verify", { session })),
      );
      if (confirmation) j.verification.details = { ...j.verification.details, confirmation: JSON.parse(JSON.stringify(confirmation)) };
    }
  return judged;
}

/** Champion seeds start here: apart from verification (1000), noise (2000) and confirmation (5000) seeds. */
export const CHAMPION_SEED_BASE = 7000;

export interface ChampionTest {
  /** The claim is real at the champion's level on seeds of its own. */
  passed: boolean;
  verdict: Verdict;
  reason: string;
  seeds: number;
  meanGain: number | null;
  alpha: number;
}

/**
 * A claim called real at the verification's alpha, tested again at the champion's stricter
 * level on fresh seeds (its own session and seed range). The night's verification stops a clear
 * gain at its first look, where even a large gain has a sequential p-value near the verification's
 * alpha — never below a champion level of 0.01 — so that p-value cannot move a champion; a
 * sequential test designed at the champion level can. Its data play no part in the verdict, and
 * the verdict's none in it, so each holds its own error rate.
 */
export async function championTest(setup: MeasureSetup, claim: ClaimAgainst, thresholds: ClaimThresholds, o: { maxSeeds: number; minSeeds: number; alpha: number; throughputBound?: number }): Promise<ChampionTest> {
  const design = sequentialDesign({ effect: thresholds.effect, margin: thresholds.margin, maxSeeds: o.maxSeeds, minSeeds: Math.min(o.minSeeds, o.maxSeeds), alpha: o.alpha });
  const pass: Pass = { session: `${sessionOf(claim.experiment.id, claim.parentCommit)} champion`, stream: "champion", seedBase: CHAMPION_SEED_BASE, retry: 0 };
  const p = await verifyOne(setup, claim, design, o.alpha, o.throughputBound ?? DEFAULT_THROUGHPUT_BOUND, pass);
  const meanGain = p.gains.length > 0 ? p.gains.reduce((a, b) => a + b, 0) / p.gains.length : null;
  return { passed: p.verdict === "real", verdict: p.verdict, reason: p.reason, seeds: p.gains.length, meanGain, alpha: o.alpha };
}

/** Where a pass over a claim's seeds trains: its session, its order stream, its seeds. */
interface Pass {
  session: string;
  stream: string;
  seedBase: number;
  /** > 0: a retry of an unreliable verdict. */
  retry: number;
}

const firstPass = (claim: ClaimAgainst): Pass => ({ session: sessionOf(claim.experiment.id, claim.parentCommit), stream: "verify", seedBase: VERIFY_SEED_BASE, retry: 0 });

async function verifyOne(setup: MeasureSetup, claim: ClaimAgainst, design: SequentialDesign, alpha: number, throughputBound: number, pass: Pass): Promise<Pending> {
  const e = claim.experiment;
  const parentCommit = claim.parentCommit;
  const rule = { margin: design.margin, effect: design.effect };
  const integrity = classifyDiff(claim.diff);
  if (integrity.trivial)
    return { experiment: e, parentCommit, verdict: "flagged", reason: `not credited: ${integrity.reason}`, gains: [], details: { integrity: integrity.kind, ...rule } };

  const gains: number[] = [];
  const pending: Pending = { experiment: e, parentCommit, verdict: "inconclusive", reason: "", gains, details: { ...rule } };
  const session = pass.session;
  const pairs: Pair[] = [];
  for (let i = 0; i < design.maxSeeds; i++) {
    const seed = pass.seedBase + i;
    const test = i === 0;
    const { parent, candidate } = await trainPair({ session, stream: pass.stream, index: i }, (which) =>
      measure(setup, which === "parent" ? parentCommit : e.commit!, seed, "verify", { test, session }),
    );
    pairs.push({ parent, candidate });
    const failure = rerunFailure(parent, candidate, seed);
    if (failure) {
      pending.verdict = failure.verdict;
      pending.reason = failure.reason;
      if (failure.verdict === "flagged") pending.details.integrity = "invalid";
      break;
    }
    if (test) {
      if (candidate.testBpb !== null) pending.testBpb = candidate.testBpb;
      if (parent.testBpb !== null) pending.parentTestBpb = parent.testBpb;
    }
    gains.push(parent.valBpb! - candidate.valBpb!);
    if (gains.length < design.minSeeds) continue;
    const look = sequentialDecision(gains, design);
    pending.details.sequential = { decision: look.decision, reason: look.reason, n: look.n };
    if (look.decision !== "continue") {
      pending.verdict = look.decision;
      pending.reason = look.reason;
      break;
    }
  }
  // Load that changed within the pairs decides nothing: the verdict waits for a quieter machine.
  const throughput = checkThroughput(pairs, throughputBound);
  pending.details.throughput = { ratios: throughput.ratios, spread: throughput.spread, bound: throughput.bound };
  // A gain beyond the effect of interest on every seed is not load's doing, however load moved.
  const beyondLoad = pending.verdict === "real" && gains.length > 0 && Math.min(...gains) >= design.effect;
  if (!throughput.reliable && !beyondLoad && (pending.verdict === "real" || pending.verdict === "noise" || pending.verdict === "negligible")) {
    pending.details.unreliable = true;
    pending.reason =
      `unreliable, not decided (it would have been ${pending.verdict}): the candidate's throughput relative to its parent's varied ` +
      `${(100 * throughput.spread).toFixed(0)}% across the seeds (bound ${(100 * throughput.bound).toFixed(0)}%), so load changed within the pairs` +
      (pass.retry > 0 ? ` (retry ${pass.retry} of an unreliable verdict)` : "") +
      "; verify it again on a quieter machine";
    pending.verdict = "inconclusive";
  }
  // A flagged claim takes no part in Benjamini–Hochberg (no p-value), like a trivial diff.
  if (gains.length >= 2 && pending.verdict !== "flagged") {
    const fixed = verifyGains(gains, { alpha, margin: design.margin });
    // Before the first look there is no sequential p-value: such a claim takes no part in BH.
    if (gains.length >= design.minSeeds) pending.pValue = sequentialPValue(gains, design);
    pending.details.fixedPValue = fixed.pValue;
    pending.details.interval = [fixed.interval.lower, fixed.interval.upper];
    pending.details.bootstrap = [fixed.bootstrap.lower, fixed.bootstrap.upper];
    pending.details.sdGain = fixed.sdGain;
  }
  if (pending.reason === "") pending.reason = `${gains.length} paired seeds were not enough for a verdict`;
  return pending;
}
