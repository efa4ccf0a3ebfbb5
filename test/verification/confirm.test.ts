/**
 * The honest estimate (confirm.ts): the credited gain of a claim the sequential rule called
 * real comes from confirmation seeds the rule never saw. Simulated claims (nothing trained) show
 * why: the sequential mean of the credited claims overstates the gain, the confirmation mean
 * does not, and its 90% interval covers the true gain as often as it says. Then the bookkeeping:
 * what is credited for each verdict, a failed confirmation rerun, a details object read back.
 */
import { describe, expect, it } from "vitest";
import type { Measurement } from "../../src/store/index.ts";
import { SeededRandom, sequentialDesign } from "../../src/stats/index.ts";
import { decideLook } from "../../src/stats/sequential.ts";
import { summarize } from "../../src/stats/confirmation.ts";
import { CONFIRM_SEED_BASE, confirmGain, confirmationOf, creditedGain } from "../../src/verification/confirm.ts";

const measurement = (valBpb: number | null, outcome: Measurement["outcome"] = "ok"): Measurement =>
  ({ outcome, valBpb, error: outcome === "ok" ? null : "boom" }) as Measurement;

describe("confirmation seeds", () => {
  it("give the credited claims an unbiased gain and a 90% interval that covers, where the sequential mean is inflated", () => {
    const sd = 1;
    const trueGain = 0.5; // half a paired sd: the sequential mean of credited claims ran ~2x here
    const design = sequentialDesign({ effect: 1, margin: 0.1, maxSeeds: 10, minSeeds: 3, alpha: 0.05 });
    const rng = new SeededRandom(17);
    let credited = 0;
    let naiveSum = 0;
    let confirmedSum = 0;
    let covered = 0;
    for (let claim = 0; claim < 6_000; claim++) {
      const gains: number[] = [];
      let decision = "continue";
      for (let n = 1; n <= design.maxSeeds && decision === "continue"; n++) {
        gains.push(trueGain + sd * rng.normal());
        if (n >= design.minSeeds) decision = decideLook(gains, design).decision;
      }
      if (decision !== "real") continue;
      credited++;
      naiveSum += gains.reduce((a, b) => a + b, 0) / gains.length;
      const c = summarize([0, 1, 2].map(() => trueGain + sd * rng.normal()));
      confirmedSum += c.meanGain;
      if (c.interval![0] <= trueGain && trueGain <= c.interval![1]) covered++;
    }
    expect(credited).toBeGreaterThan(1_000);
    const naiveBias = naiveSum / credited / trueGain;
    const confirmedBias = confirmedSum / credited / trueGain;
    expect(naiveBias).toBeGreaterThan(1.3);
    expect(Math.abs(confirmedBias - 1)).toBeLessThan(0.1);
    expect(covered / credited).toBeGreaterThanOrEqual(0.88);
    expect(covered / credited).toBeLessThanOrEqual(0.92);
  });

  it("summarize: the mean and the two-sided 90% t interval (t 2 df = 2.919986)", () => {
    const c = summarize([0.01, 0.02, 0.03]);
    expect(c.meanGain).toBeCloseTo(0.02, 12);
    expect(c.interval![0]).toBeCloseTo(0.02 - (2.919986 * 0.01) / Math.sqrt(3), 6);
    expect(c.interval![1]).toBeCloseTo(0.02 + (2.919986 * 0.01) / Math.sqrt(3), 6);
    expect(summarize([0.5]).interval).toBeNull();
  });

  it("trains the pairs on their own seed range and stops at a failed rerun, keeping what it measured", async () => {
    const seen: number[] = [];
    const c = await confirmGain(3, async (seed) => {
      seen.push(seed);
      return seed === CONFIRM_SEED_BASE + 1
        ? { parent: measurement(3.0), candidate: measurement(null, "crash") }
        : { parent: measurement(3.0), candidate: measurement(2.9) };
    });
    expect(seen).toEqual([CONFIRM_SEED_BASE, CONFIRM_SEED_BASE + 1]);
    expect(c).toMatchObject({ seeds: 1, interval: null, stopped: expect.stringMatching(/seed 5001 failed \(crash\)/) });
    expect(c!.meanGain).toBeCloseTo(0.1, 12);
    expect(await confirmGain(2, async () => ({ parent: measurement(null, "timeout"), candidate: measurement(2.9) }))).toBeNull();
  });

  it("credits nothing unless real; then the confirmed mean, else the sequential one, never below 0", () => {
    const confirmation = { seeds: 3, gains: [0.01, 0.02, 0.03], meanGain: 0.02, interval: [0.003, 0.037] };
    expect(creditedGain({ verdict: "noise", meanGain: 0.5, details: { confirmation } })).toBe(0);
    expect(creditedGain({ verdict: "real", meanGain: 0.05, details: { confirmation } })).toBe(0.02);
    expect(creditedGain({ verdict: "real", meanGain: 0.05, details: {} })).toBe(0.05);
    expect(creditedGain({ verdict: "real", meanGain: 0.05, details: { confirmation: { ...confirmation, meanGain: -0.01 } } })).toBe(0);
    expect(confirmationOf({ confirmation: "garbled" })).toBeNull();
    expect(confirmationOf(undefined)).toBeNull();
  });
});
