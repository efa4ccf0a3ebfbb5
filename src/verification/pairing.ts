/**
 * How a verification pairs its trainings so that machine load cannot pose as a gain. Under a
 * wall-clock budget val_bpb follows the steps a training gets (measured on a loaded 2-core
 * machine: r = −0.996 between the two, and paired gains tracked the step difference at
 * r = 0.994), so a parent and a candidate measured minutes apart compare two loads as much as
 * two recipes. Three rules:
 *   - session: a claim's measurements are its own (measure.ts reuses them only within it);
 *   - back to back, in a randomised ABBA order: seeds come in blocks of two; a block starts with
 *     the parent or the candidate by a coin drawn from the session (deterministic, so a resumed
 *     verification trains in the same order), and its second seed runs the other way round, so
 *     a load that drifts steadily over a block adds to one seed's gain what it takes from the
 *     other's;
 *   - reliability: the candidate's throughput relative to its parent's should be the same for
 *     every seed (the recipe sets it; load should not). When it varies across the seeds by more
 *     than a stated bound, load changed within pairs and the verdict is not decided on them —
 *     unless it is real with every seed's gain beyond the effect of interest, which no load
 *     change between two back-to-back trainings produces.
 */
import { createHash } from "node:crypto";
import type { Measurement } from "../store/index.ts";

/** Max/min of the candidate:parent throughput ratios across seeds, above which a verdict is unreliable. */
export const DEFAULT_THROUGHPUT_BOUND = 0.5;

export const sessionOf = (experimentId: number, parentCommit: string): string => `claim ${experimentId} vs ${parentCommit}`;

/** Whether the parent trains first for the seed at `index` of the session's sequence `stream`. */
export function parentFirst(session: string, stream: string, index: number): boolean {
  const block = Math.floor(index / 2);
  const coin = createHash("sha256").update(`${session}|${stream}|${block}`).digest()[0]! & 1;
  return (coin === 1) === (index % 2 === 0);
}

export interface Pair {
  parent: Measurement;
  candidate: Measurement;
}

/** Trains (or reuses) the pair of `seed`, the two trainings back to back in the session's order. */
export async function trainPair(
  order: { session: string; stream: string; index: number },
  train: (commit: "parent" | "candidate") => Promise<Measurement>,
): Promise<Pair> {
  if (parentFirst(order.session, order.stream, order.index)) {
    const parent = await train("parent");
    return { parent, candidate: await train("candidate") };
  }
  const candidate = await train("candidate");
  return { parent: await train("parent"), candidate };
}

export interface ThroughputCheck {
  /** Candidate:parent throughput ratio of each pair that recorded both. */
  ratios: number[];
  /** max(ratio) / min(ratio) − 1; 0 with fewer than two pairs. */
  spread: number;
  bound: number;
  reliable: boolean;
}

export function checkThroughput(pairs: readonly Pair[], bound: number): ThroughputCheck {
  const ratios = pairs
    .filter((p) => (p.parent.tokensPerSecond ?? 0) > 0 && (p.candidate.tokensPerSecond ?? 0) > 0)
    .map((p) => p.candidate.tokensPerSecond! / p.parent.tokensPerSecond!);
  const spread = ratios.length < 2 ? 0 : Math.max(...ratios) / Math.min(...ratios) - 1;
  return { ratios, spread, bound, reliable: spread <= bound };
}
