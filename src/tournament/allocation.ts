/**
 * allocateRound: who gets how many experiments in the next round of a night. Pure: it sees the
 * night's budget, the round and what each org achieved so far, and returns the grants, or null
 * when the night's allocation is over. The orchestrator records a round whole, in one
 * transaction, before any of it runs, so a resumed night replays the same plan.
 *
 *   halving      successive halving: R = ⌈log2 P⌉ rounds; after each round the worse half (by
 *                best val_bpb gain so far) stops getting experiments.
 *   round-robin  the control: R rounds, every org the same share each round.
 *   bandit       UCB on gain per device-hour: round 0 explores every org, then 2R rounds give
 *                the round's budget to the best half by upper confidence bound.
 * Budgets: what is left of the night's budget is spread evenly over the rounds left (the last
 * round takes the rest), and a round's budget over its orgs (the remainder one each to the
 * better-ranked), so the grants of a night sum to its budget exactly. Round 0 grants at least 2
 * experiments (the baseline and one proposal) to every org: a budget under 2 per org is
 * exceeded by that much in round 0 and the night has no further rounds.
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

/**
 * `budget` over `orgs` (best first): ⌊budget/n⌋ each, the remainder one each to the first ones;
 * orgs whose share is 0 (a budget smaller than the orgs) get no grant.
 */
function split(budget: number, orgs: readonly OrgProgress[]): Grant[] {
  const n = orgs.length;
  const base = Math.floor(budget / n);
  const extra = budget - base * n;
  return orgs.map((p, i) => ({ orgId: p.orgId, experiments: base + (i < extra ? 1 : 0) })).filter((g) => g.experiments > 0);
}

export function allocateRound(policy: AllocationPolicy, budget: number, round: number, progress: readonly OrgProgress[]): Grant[] | null {
  const P = progress.length;
  const R = roundsOf(policy, P);
  if (P === 0 || round >= R) return null;
  const spent = progress.reduce((s, p) => s + p.granted, 0);
  const left = budget - spent;
  if (round === 0) {
    // Round 0 is every org's first look: at least the baseline and one proposal each.
    const first = Math.max(2 * P, R === 1 ? budget : Math.floor(budget / R));
    const base = Math.floor(first / P);
    const extra = first - base * P;
    return progress.map((p, i) => ({ orgId: p.orgId, experiments: base + (i < extra ? 1 : 0) }));
  }
  if (left <= 0) return null;
  // At least one: a rest too small to spread still goes to the round's best.
  const roundBudget = round === R - 1 ? left : Math.max(1, Math.floor(left / (R - round)));

  let chosen: OrgProgress[];
  // round-robin: the remainder goes to those granted least so far, so the night's totals differ by at most 1.
  if (policy === "round-robin") chosen = [...progress].sort((a, b) => a.granted - b.granted || a.orgId - b.orgId);
  else if (policy === "halving") {
    // Survivors of round r: those that got experiments in round r−1, the better half of them.
    const alive = progress.filter((p) => p.rounds === round).sort(byProgress);
    chosen = alive.slice(0, Math.max(1, Math.ceil(alive.length / 2)));
  } else {
    // bandit: reward = gain per device-hour; the bonus scales with the best reward seen so far.
    const rewards = progress.map((p) => (p.deviceSeconds > 0 ? p.gain / (p.deviceSeconds / 3600) : 0));
    const scale = Math.max(1e-9, ...rewards);
    const t = progress.reduce((s, p) => s + p.rounds, 0);
    const index = progress.map((p, i) => ({ p, ucb: rewards[i]! + scale * Math.sqrt((2 * Math.log(Math.max(2, t))) / Math.max(1, p.rounds)) }));
    index.sort((a, b) => b.ucb - a.ucb || byProgress(a.p, b.p));
    chosen = index.slice(0, Math.max(1, Math.ceil(P / 2))).map(({ p }) => p);
  }
  if (chosen.length === 0) return null;
  const grants = split(roundBudget, chosen);
  return grants.length > 0 ? grants : null;
}
