/**
 * allocateRound: who gets how many experiments in the next round of a night. Pure: it sees the
 * night's budget, the round and what each org achieved so far, and returns the grants, or null
 * when the night's allocation is over. The orchestrator records a round whole, in one
 * transaction, before any of it runs, so a resumed night replays the same plan.
 *
 *   halving      successive halving: R = ⌈log2 P⌉ rounds of ≈ E/R experiments each; after each
 *                round the worse half (by best val_bpb gain so far) stops getting experiments.
 *   round-robin  the control: R rounds, every org the same share each round.
 *   bandit       UCB on gain per device-hour: round 0 explores every org, then 2R rounds give
 *                the round's budget to the best half by upper confidence bound.
 * Round 0 grants at least 2 experiments (the baseline and one proposal) to every org.
 */
import type { AllocationPolicy } from "./settings.ts";

export interface OrgProgress {
  orgId: number;
  /** Experiments granted so far this night. */
  granted: number;
  /** Rounds in which the org got experiments. */
  rounds: number;
  /** Baseline val_bpb − best kept val_bpb of its run so far (0 without a keep). */
  gain: number;
  deviceSeconds: number;
}

export interface Grant {
  orgId: number;
  experiments: number;
}

export function roundsOf(policy: AllocationPolicy, orgs: number): number {
  const r = Math.max(1, Math.ceil(Math.log2(Math.max(2, orgs))));
  return policy === "bandit" ? 1 + 2 * r : policy === "round-robin" ? Math.max(2, r) : r;
}

/** Orgs best first: larger gain, then fewer device-seconds, then the earlier org. */
export function byProgress(a: OrgProgress, b: OrgProgress): number {
  return b.gain - a.gain || a.deviceSeconds - b.deviceSeconds || a.orgId - b.orgId;
}

export function allocateRound(policy: AllocationPolicy, budget: number, round: number, progress: readonly OrgProgress[]): Grant[] | null {
  const P = progress.length;
  const R = roundsOf(policy, P);
  if (P === 0 || round >= R) return null;
  const perRound = Math.floor(budget / R);
  const minimum = round === 0 ? 2 : 1;
  const share = (n: number) => Math.max(minimum, Math.floor(perRound / n));

  if (round === 0) return progress.map((p) => ({ orgId: p.orgId, experiments: share(P) }));
  if (policy === "round-robin") return progress.map((p) => ({ orgId: p.orgId, experiments: share(P) }));

  if (policy === "halving") {
    // Survivors of round r: those that got experiments in round r−1, the better half of them.
    const alive = progress.filter((p) => p.rounds === round).sort(byProgress);
    const keep = alive.slice(0, Math.max(1, Math.ceil(alive.length / 2)));
    if (keep.length === 0) return null;
    return keep.map((p) => ({ orgId: p.orgId, experiments: share(keep.length) }));
  }

  // bandit: reward = gain per device-hour; the bonus scales with the best reward seen so far.
  const rewards = progress.map((p) => (p.deviceSeconds > 0 ? p.gain / (p.deviceSeconds / 3600) : 0));
  const scale = Math.max(1e-9, ...rewards);
  const t = progress.reduce((s, p) => s + p.rounds, 0);
  const index = progress.map((p, i) => ({ p, ucb: rewards[i]! + scale * Math.sqrt((2 * Math.log(Math.max(2, t))) / Math.max(1, p.rounds)) }));
  index.sort((a, b) => b.ucb - a.ucb || byProgress(a.p, b.p));
  const chosen = index.slice(0, Math.max(1, Math.ceil(P / 2)));
  return chosen.map(({ p }) => ({ orgId: p.orgId, experiments: share(chosen.length) }));
}
