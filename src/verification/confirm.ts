/**
 * The honest estimate of a credited gain. A sequential test stops when its sample looks good,
 * so the mean of that sample overstates the gain it credits (simulated: 1.3× the true gain at
 * 1 paired sd, 2.1× at 0.5 sd, and a 90% interval that covered only 60% of the time). A few
 * confirmation seeds, trained after the verdict and from a seed range the stopping rule never
 * sees, estimate the gain without that selection: their mean is unbiased and their t interval
 * has its nominal coverage. The credited gain (scores, the champion chain, report headlines)
 * is the confirmed one; the sequential mean stays beside it as the naive number.
 */
import type { JsonValue, Measurement } from "../store/index.ts";
import { type Confirmation, summarize } from "../stats/confirmation.ts";
import { rerunFailure } from "./failed.ts";

export type { Confirmation } from "../stats/confirmation.ts";

/** Confirmation seeds start here, far from the stopping rule's (1000 on) and the run's (42). */
export const CONFIRM_SEED_BASE = 5000;
/** Confirmation seeds by default (verify, tournament): 3 pairs give a t interval with 2 df. */
export const DEFAULT_CONFIRM_SEEDS = 3;

/** 0 (no confirmation) or 2 to 50 seeds: one seed gives no interval. */
export function checkConfirmSeeds(n: number): string | null {
  return Number.isInteger(n) && (n === 0 || (n >= 2 && n <= 50)) ? null : `--confirm-seeds must be 0 (none) or an integer from 2 to 50, got ${n}`;
}

export type TrainPair = (seed: number, index: number) => Promise<{ parent: Measurement; candidate: Measurement }>;

/** Measures `seeds` confirmation pairs; null when not one of them could be measured. */
export async function confirmGain(seeds: number, trainPair: TrainPair): Promise<Confirmation | null> {
  const gains: number[] = [];
  let stopped: string | undefined;
  for (let i = 0; i < seeds; i++) {
    const seed = CONFIRM_SEED_BASE + i;
    const { parent, candidate } = await trainPair(seed, i);
    const failure = rerunFailure(parent, candidate, seed);
    if (failure) {
      stopped = failure.reason;
      break;
    }
    gains.push(parent.valBpb! - candidate.valBpb!);
  }
  if (gains.length === 0) return null;
  return { ...summarize(gains), ...(stopped ? { stopped } : {}) };
}

/**
 * The gain a verification credits: nothing unless real; then the confirmed mean when
 * confirmation seeds were measured, else the sequential sample's mean; never below 0.
 */
export function creditedGain(v: { verdict: string; meanGain?: number | null; details?: { [key: string]: JsonValue | undefined } }): number {
  if (v.verdict !== "real") return 0;
  const confirmed = confirmationOf(v.details);
  return Math.max(0, confirmed?.meanGain ?? v.meanGain ?? 0);
}

/** The confirmation recorded in a verification's details, if any. */
export function confirmationOf(details: { [key: string]: JsonValue | undefined } | undefined): Confirmation | null {
  const c = details?.confirmation;
  if (typeof c !== "object" || c === null || Array.isArray(c) || typeof c.meanGain !== "number" || typeof c.seeds !== "number") return null;
  return c as unknown as Confirmation;
}
