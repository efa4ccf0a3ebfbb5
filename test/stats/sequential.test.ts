/**
 * Sequential reruns: the decision rule on hand-made gains, and seeded simulations (nothing is
 * trained) of its error rates under repeated looks, its power, and its saving over fixed n.
 */
import { describe, expect, it } from "vitest";
import {
  SeededRandom,
  sequentialDecision,
  sequentialDesign,
  simulateSequential,
  type SequentialOptions,
} from "../../src/stats/index.ts";
import { decideLook } from "../../src/stats/sequential.ts";

/** Upper end of the one-sided 99% binomial band around rate p with n trials (normal approximation). */
function band(p: number, n: number): number {
  return p + 2.326 * Math.sqrt((p * (1 - p)) / n);
}

describe("sequentialDecision", () => {
  const design: SequentialOptions = { effect: 0.002, maxSeeds: 10 };

  it("waits for minSeeds before the first look", () => {
    const r = sequentialDecision([0.01, 0.01], design);
    expect(r.decision).toBe("continue");
    expect(r.look).toBeUndefined();
    expect(sequentialDecision([], design).decision).toBe("continue");
  });

  it("stops for real on a consistent gain, reporting the look's statistics", () => {
    const r = sequentialDecision([0.0031, 0.0029, 0.003, 0.0032], design);
    expect(r.decision).toBe("real");
    expect(r.look!.pValue).toBeLessThanOrEqual(r.look!.efficacyLevel);
    expect(r.look!.look).toBe(2);
    expect(r.reason).toMatch(/look 2/);
  });

  it("stops for noise on identical results and on gains that exclude the effect", () => {
    expect(sequentialDecision([0, 0, 0], design).decision).toBe("noise");
    const r = sequentialDecision([-0.0001, 0.0001, 0.0, -0.0002, 0.00005], design);
    expect(r.decision).toBe("noise");
    expect(r.look!.futilityPValue).toBeLessThanOrEqual(r.look!.futilityLevel);
  });

  it("warns when the gain is the same on every seed", () => {
    expect(sequentialDecision([0.001, 0.001, 0.001], design).reason).toMatch(/ignore the harness seed/);
  });

  it("continues while unclear and is inconclusive at the cap", () => {
    const unclear = [0.002, -0.001, 0.003, 0.0, 0.001, 0.0025, -0.0005, 0.0015, 0.0005, 0.001];
    expect(sequentialDecision(unclear.slice(0, 4), design).decision).toBe("continue");
    const capped = sequentialDecision(unclear, { effect: 0.002, maxSeeds: 10, alpha: 0.001, power: 0.999 });
    expect(capped.decision).toBe("inconclusive");
    expect(capped.reason).toMatch(/cap of 10 seeds/);
  });

  it("does not depend on the unit of the gains", () => {
    const rng = new SeededRandom(3);
    for (let c = 0; c < 50; c++) {
      const g = Array.from({ length: 6 }, () => 0.7 + rng.normal());
      const a = sequentialDecision(g, { effect: 1, maxSeeds: 10 });
      const b = sequentialDecision(
        g.map((v) => v * 0.001),
        { effect: 0.001, maxSeeds: 10 },
      );
      expect(b.decision).toBe(a.decision);
    }
  });

  it("looks after every seed from 3 to maxSeeds with nominal levels below alpha (Pocock-type, calibrated for t)", () => {
    // Pinned: the default efficacy bound is now O'Brien–Fleming type on Hall's statistic (skewness.test.ts).
    const d = sequentialDesign({ effect: 1, maxSeeds: 10, spending: "pocock", statistic: "t" });
    expect(d.efficacy.nominal).toHaveLength(8); // looks at 3..10 seeds
    expect(d.efficacy.lambda).toBeGreaterThan(0.5);
    expect(d.efficacy.lambda).toBeLessThanOrEqual(1);
    for (const level of d.efficacy.nominal) {
      expect(level).toBeGreaterThan(0);
      expect(level).toBeLessThan(0.05 / 2);
    }
    expect(d.efficacy.spent.at(-1)).toBeCloseTo(0.05, 12);
    expect(sequentialDesign({ effect: 2, maxSeeds: 10, spending: "pocock", statistic: "t" }).efficacy).toBe(d.efficacy); // cached per design
  });

  it("refuses bad input with coded errors", () => {
    expect(() => sequentialDecision([1, 2, 3], {} as SequentialOptions)).toThrow(/effect .* is required/);
    expect(() => sequentialDecision([1, 2, 3], { effect: -1 })).toThrow(
      expect.objectContaining({ code: "STATS_INVALID_OPTION" }),
    );
    expect(() => sequentialDecision([1, 2, 3], { effect: 1, minSeeds: 5, maxSeeds: 4 })).toThrow(
      /maxSeeds must be an integer ≥ 5/,
    );
    expect(() => sequentialDecision([1, 2, 3], { effect: 1, maxSeeds: 2, minSeeds: 2 })).toThrow(
      expect.objectContaining({ code: "STATS_INVALID_ARGUMENT" }),
    );
    expect(() => sequentialDecision([1, NaN, 3], { effect: 1 })).toThrow(
      expect.objectContaining({ code: "STATS_NOT_FINITE" }),
    );
    expect(() => sequentialDecision([1, 2, 3], { effect: 1, spending: "haybittle" as never })).toThrow(
      /spending must be one of/,
    );
  });
});

describe("sequential design by simulation (seeded; σ = sd of one paired gain)", () => {
  const design: SequentialOptions = { effect: 1, maxSeeds: 12 }; // effect of interest 1σ, alpha 0.05, power 0.9

  it("keeps the false-real rate ≤ alpha under a true null over 4,000 claims with looks after every seed", () => {
    const r = simulateSequential({ claims: 4000, trueGain: 0, design, seed: 101 });
    expect(r.sequential.real).toBeLessThanOrEqual(band(0.05, 4000));
    expect(r.fixed.real).toBeLessThanOrEqual(band(0.05, 4000));
  });

  it("keeps it ≤ alpha even when the futility stops are ignored (efficacy bound alone, 4,000 paths)", () => {
    const d = sequentialDesign(design);
    const rng = new SeededRandom(202);
    let falseReal = 0;
    const paths = 4000;
    for (let p = 0; p < paths; p++) {
      const g = Array.from({ length: d.maxSeeds }, () => rng.normal());
      for (let n = d.minSeeds; n <= d.maxSeeds; n++) {
        const look = decideLook(g.slice(0, n), d).look!;
        if (look.pValue <= look.efficacyLevel) {
          falseReal++;
          break;
        }
      }
    }
    expect(falseReal / paths).toBeLessThanOrEqual(band(0.05, paths));
  });

  it("has power ≥ 0.8 against a planted gain of 2σ, with the design's effect at 2σ or at 1σ", () => {
    const tight = simulateSequential({ claims: 2000, trueGain: 2, design: { effect: 2, maxSeeds: 8 }, seed: 303 });
    expect(tight.sequential.real).toBeGreaterThanOrEqual(0.8);
    const wide = simulateSequential({ claims: 2000, trueGain: 2, design, seed: 304 });
    expect(wide.sequential.real).toBeGreaterThanOrEqual(0.8);
  });

  it("calls a gain of exactly the effect noise at most 1 - power of the time", () => {
    const r = simulateSequential({ claims: 2000, trueGain: 1, design, seed: 405 });
    expect(r.sequential.noise).toBeLessThanOrEqual(band(0.1, 2000));
  });

  it("needs fewer seeds per decision than the fixed-n design with the same alpha and power", () => {
    const noise = simulateSequential({ claims: 2000, trueGain: 0, design, seed: 506 });
    const planted = simulateSequential({ claims: 2000, trueGain: 2, design, seed: 507 });
    expect(noise.fixed.seeds).toBe(11); // sampleSize(1, 1, one-sided, alpha 0.05, power 0.9)
    expect(noise.seedRatio).toBeLessThan(0.7);
    expect(planted.seedRatio).toBeLessThan(0.6);
  });
});

describe("a margin δ_min (seeded simulations; σ = sd of one paired gain)", () => {
  const design: SequentialOptions = { effect: 1, margin: 0.5, maxSeeds: 12 };

  it("needs a gain shown above δ_min for real, and calls a gain shown within ±δ_min negligible", () => {
    // Consistent gains of 0.3: surely above 0, surely below the margin 0.5.
    const small = [0.31, 0.29, 0.3, 0.32, 0.28, 0.3];
    expect(sequentialDecision(small, { effect: 1, maxSeeds: 12 }).decision).toBe("real");
    const judged = sequentialDecision(small, design);
    expect(judged.decision).toBe("negligible");
    expect(judged.reason).toMatch(/within ±δ_min 0\.5/);
    expect(judged.look!.negligiblePValue).toBeLessThanOrEqual(judged.look!.futilityLevel);
    // Consistent gains of 0.8: above the margin.
    const large = sequentialDecision([0.81, 0.79, 0.8, 0.82], design);
    expect(large.decision).toBe("real");
    expect(large.reason).toMatch(/above δ_min 0\.5/);
    // Without a margin, the equivalence test is off.
    expect(sequentialDecision(small, { effect: 1, maxSeeds: 12 }).look!.negligiblePValue).toBe(1);
  });

  it("keeps the false-real rate ≤ alpha for a true gain of exactly δ_min (4,000 claims)", () => {
    const r = simulateSequential({ claims: 4000, trueGain: 0.5, design, seed: 611 });
    expect(r.sequential.real).toBeLessThanOrEqual(band(0.05, 4000));
    expect(r.fixed.real).toBeLessThanOrEqual(band(0.05, 4000));
  });

  it("calls a gain of δ_min negligible at most 1 - power of the time, and a null mostly negligible or noise", () => {
    const atMargin = simulateSequential({ claims: 2000, trueGain: 0.5, design, seed: 612 });
    expect(atMargin.sequential.negligible).toBeLessThanOrEqual(band(0.1, 2000));
    const none = simulateSequential({ claims: 2000, trueGain: 0, design, seed: 613 });
    expect(none.sequential.real).toBeLessThanOrEqual(band(0.05, 2000));
    expect(none.sequential.negligible + none.sequential.noise).toBeGreaterThan(0.5);
  });

  it("confirms a planted gain of 2·δ_min with power ≥ 0.8 when δ_min is a paired sd (δ_min = half a seed sd, paired runs correlated at 0.875)", () => {
    const r = simulateSequential({ claims: 2000, trueGain: 2, design: { effect: 2, margin: 1, maxSeeds: 12 }, seed: 614 });
    expect(r.sequential.real).toBeGreaterThanOrEqual(0.8);
  });

  it("refuses a margin that is negative or not below the effect", () => {
    expect(() => sequentialDesign({ effect: 1, margin: -0.1 })).toThrow(/margin/);
    expect(() => sequentialDesign({ effect: 1, margin: 1 })).toThrow(/margin \(δ_min, 1\) must be below the effect/);
  });
});
