/**
 * Simulated nights of verification (validity.ts): the helpers bench/validity.ts builds its
 * figures on. A night goes through the real rule, BH and confirmation in judgeClaims's order.
 */
import { describe, expect, it } from "vitest";
import { SeededRandom, sequentialDesign } from "../../src/stats/index.ts";
import { sequentialPValue } from "../../src/stats/sequential-pvalue.ts";
import { GainSource, simulateNight } from "../../src/stats/validity.ts";

const design = sequentialDesign({ effect: 2, margin: 1, maxSeeds: 8, minSeeds: 3, alpha: 0.05 });

describe("simulateNight", () => {
  it("is deterministic for a seed", () => {
    const night = (seed: number) => simulateNight([1, 2, 2, 1], design, new GainSource(new SeededRandom(seed), { kind: "normal" }), 3);
    expect(night(4)).toEqual(night(4));
    expect(night(4)).not.toEqual(night(5));
  });

  it("credits only what the rule called real or left undecided at the cap and BH kept, and confirms exactly those claims", () => {
    const rng = new SeededRandom(9);
    let credited = 0;
    let creditedAtCap = 0;
    for (let n = 0; n < 300; n++) {
      for (const c of simulateNight([1, 1, 1, 4, 4, 1, 1, 1], design, new GainSource(rng, { kind: "normal" }), 3)) {
        if (c.verdict === "real") {
          credited++;
          expect(["real", "inconclusive"]).toContain(c.sequentialVerdict);
          if (c.sequentialVerdict === "inconclusive") {
            creditedAtCap++;
            expect(c.seeds).toBe(8);
          }
          expect(c.pAdjusted!).toBeLessThan(0.05);
          expect(c.confirmation!.seeds).toBe(3);
          expect(c.confirmation!.interval).not.toBeNull();
        } else expect(c.confirmation).toBeNull();
        if (c.sequentialVerdict === "real") expect(c.verdict).toBe("real");
        expect(c.seeds).toBeGreaterThanOrEqual(3);
        expect(c.seeds).toBeLessThanOrEqual(8);
      }
    }
    expect(credited).toBeGreaterThan(100);
    expect(creditedAtCap).toBeGreaterThan(0);
  });

  it("tests each of m claims at alpha/m, so a claim the rule calls real survives BH", () => {
    const rng = new SeededRandom(21);
    let real = 0;
    for (let n = 0; n < 200; n++)
      for (const c of simulateNight([0, 0, 0, 4, 0, 0, 0, 0], design, new GainSource(rng, { kind: "normal" }), 0))
        if (c.sequentialVerdict === "real") {
          real++;
          expect(c.verdict).toBe("real");
          expect(c.pValue!).toBeLessThan(0.05 / 8);
        }
    expect(real).toBeGreaterThan(50);
  });

  it("feeds BH the sequential p-value of the gains it drew", () => {
    const gains: number[] = [];
    const inner = new GainSource(new SeededRandom(3), { kind: "normal" });
    const recording = Object.assign(Object.create(GainSource.prototype) as GainSource, {
      pair: (g: number) => {
        const v = inner.pair(g);
        gains.push(v);
        return v;
      },
    });
    const [c] = simulateNight([1.5], design, recording, 0);
    expect(gains).toHaveLength(c!.seeds);
    expect(c!.pValue).toBe(sequentialPValue(gains, design));
    expect(c!.meanGain).toBeCloseTo(gains.reduce((a, b) => a + b, 0) / gains.length, 12);
  });

  it("leaks a load trend into the gains when parent and candidate train back to back", () => {
    // No seed noise to speak of: the load alone. A trend of 0.1 per training moves each gain by ±0.1.
    const rng = new SeededRandom(1);
    const source = new GainSource(rng, { kind: "drift", loadSd: 0, phi: 0.5, trend: 0.1 });
    const gains = Array.from({ length: 2000 }, () => source.pair(0));
    const m = gains.reduce((a, b) => a + b, 0) / gains.length;
    expect(Math.abs(Math.abs(m) - 0.1)).toBeLessThan(0.1); // ±0.1 around 0 with the unit seed noise
    expect(Math.abs(m)).toBeGreaterThan(0.05);
  });
});
