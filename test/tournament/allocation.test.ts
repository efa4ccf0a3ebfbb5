/**
 * The allocation planner on its own (no training): a night is simulated round by round the way
 * night.ts drives it (every round's grants are added to the orgs' progress before the next is
 * planned), with gains made up per org, and what each policy promises is checked: successive
 * halving halves the survivors, round-robin keeps every org's total equal (±1), the bandit
 * gives more to the better arm, and every policy's grants sum to the night's budget exactly.
 */
import { describe, expect, it } from "vitest";
import { type Grant, type OrgProgress, allocateRound, roundsOf } from "../../src/tournament/index.ts";
import type { AllocationPolicy } from "../../src/tournament/index.ts";

/** One org's made-up worth: gain per experiment, device-seconds per experiment. */
interface Arm {
  gainPerExperiment: number;
  secondsPerExperiment: number;
}

/** Drives a night: returns every round's grants. */
function simulate(policy: AllocationPolicy, budget: number, arms: Arm[]): Grant[][] {
  const progress: OrgProgress[] = arms.map((_, i) => ({ orgId: i + 1, granted: 0, rounds: 0, gain: 0, deviceSeconds: 0 }));
  const rounds: Grant[][] = [];
  for (let round = 0; ; round++) {
    const grants = allocateRound(policy, budget, round, progress);
    if (!grants) break;
    expect(round).toBeLessThan(roundsOf(policy, arms.length));
    for (const g of grants) {
      expect(Number.isInteger(g.experiments) && g.experiments >= 1).toBe(true);
      const p = progress.find((x) => x.orgId === g.orgId)!;
      const arm = arms[g.orgId - 1]!;
      p.granted += g.experiments;
      p.rounds += 1;
      p.gain += arm.gainPerExperiment * g.experiments;
      p.deviceSeconds += arm.secondsPerExperiment * g.experiments;
    }
    rounds.push(grants);
  }
  return rounds;
}

const total = (rounds: Grant[][]) => rounds.flat().reduce((s, g) => s + g.experiments, 0);
const perOrg = (rounds: Grant[][]) => {
  const m = new Map<number, number>();
  for (const g of rounds.flat()) m.set(g.orgId, (m.get(g.orgId) ?? 0) + g.experiments);
  return m;
};
const arms = (gains: number[]): Arm[] => gains.map((g) => ({ gainPerExperiment: g, secondsPerExperiment: 10 }));

describe("allocateRound", () => {
  it("successive halving halves the survivors each round, keeping the better half", () => {
    // 8 orgs, org k's gain grows with k: the survivors are the top half each time.
    const rounds = simulate("halving", 64, arms([1, 2, 3, 4, 5, 6, 7, 8].map((k) => k * 1e-3)));
    expect(rounds.map((r) => r.length)).toEqual([8, 4, 2]);
    expect(rounds[1]!.map((g) => g.orgId).sort()).toEqual([5, 6, 7, 8]);
    expect(rounds[2]!.map((g) => g.orgId).sort()).toEqual([7, 8]);
    // Every survivor of a round was granted in the round before.
    for (let r = 1; r < rounds.length; r++) for (const g of rounds[r]!) expect(rounds[r - 1]!.some((x) => x.orgId === g.orgId)).toBe(true);
    // Within a round the shares differ by at most one.
    for (const r of rounds) expect(Math.max(...r.map((g) => g.experiments)) - Math.min(...r.map((g) => g.experiments))).toBeLessThanOrEqual(1);
  });

  it("round-robin gives every org the same total (±1), whatever their gains", () => {
    for (const [budget, n] of [[12, 4], [13, 4], [31, 5], [10, 2], [100, 7]] as const) {
      const rounds = simulate("round-robin", budget, arms(Array.from({ length: n }, (_, i) => (n - i) * 1e-3)));
      expect(rounds.length).toBe(roundsOf("round-robin", n));
      for (const r of rounds) expect(r).toHaveLength(n);
      const totals = [...perOrg(rounds).values()];
      expect(Math.max(...totals) - Math.min(...totals), `budget ${budget}, ${n} orgs: ${totals}`).toBeLessThanOrEqual(1);
    }
  });

  it("the bandit gives the better arm more of the night", () => {
    // Org 3 gains ten times what the others do per device-hour.
    const rounds = simulate("bandit", 60, arms([1e-4, 1e-4, 1e-3, 1e-4]));
    const totals = perOrg(rounds);
    const best = totals.get(3)!;
    for (const [org, n] of totals) if (org !== 3) expect(best, `org 3 got ${best}, org ${org} ${n}`).toBeGreaterThan(n);
    // After round 0 (everyone explores) the better arm is chosen in every round.
    for (const r of rounds.slice(1)) expect(r.map((g) => g.orgId)).toContain(3);
    // Gain per device-hour, not raw gain: a fast org with the same gain per experiment wins over a slow one.
    const speed = simulate("bandit", 60, [
      { gainPerExperiment: 1e-3, secondsPerExperiment: 40 },
      { gainPerExperiment: 1e-3, secondsPerExperiment: 10 },
    ]);
    const s = perOrg(speed);
    expect(s.get(2)!).toBeGreaterThan(s.get(1)!);
  });

  it("every policy's grants sum to the night's budget exactly", () => {
    for (const policy of ["halving", "round-robin", "bandit"] as const)
      for (const n of [2, 3, 4, 5, 8])
        for (const budget of [2 * n, 2 * n + 1, 10, 17, 48, 97]) {
          if (budget < 2 * n) continue;
          const gains = Array.from({ length: n }, (_, i) => ((i * 7) % n) * 1e-3);
          const rounds = simulate(policy, budget, arms(gains));
          expect(total(rounds), `${policy}, ${n} orgs, budget ${budget}: ${JSON.stringify(rounds)}`).toBe(budget);
          // Round 0 gives everyone the baseline and one proposal.
          expect(rounds[0]!).toHaveLength(n);
          for (const g of rounds[0]!) expect(g.experiments).toBeGreaterThanOrEqual(2);
        }
  });

  it("a budget below 2 per org still gives every org its first look, and then stops", () => {
    const rounds = simulate("halving", 5, arms([1e-3, 2e-3, 3e-3, 4e-3]));
    expect(rounds).toHaveLength(1);
    expect(rounds[0]!.map((g) => g.experiments)).toEqual([2, 2, 2, 2]);
    expect(allocateRound("halving", 10, 0, [])).toBeNull();
  });
});
