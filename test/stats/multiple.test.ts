/**
 * Many claims: Benjamini–Hochberg and Holm adjustments with R's p.adjust semantics, and the
 * null model of the naive keep rule (H_N - 1 keeps in N runs under pure noise).
 */
import { describe, expect, it } from "vitest";
import { adjustPValues, harmonic, naiveKeepsUnderNoise, SeededRandom } from "../../src/stats/index.ts";

// Benjamini & Hochberg (1995), §4.1: the 15 p-values of the myocardial infarction example.
const BH95 = [
  0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459, 0.324, 0.4262, 0.5719, 0.6528, 0.759, 1.0,
];

describe("adjustPValues (R: p.adjust)", () => {
  it("BH on the Benjamini–Hochberg example", () => {
    // python3 -c "import scipy.stats as st; print(st.false_discovery_control(p, method='bh'))"
    const expected = [
      0.0015, 0.003, 0.0095, 0.035625, 0.0603, 0.06385714285714286, 0.06385714285714286, 0.0645, 0.07650000000000001,
      0.486, 0.5811818181818181, 0.7148749999999999, 0.7532307692307693, 0.8132142857142857, 1.0,
    ];
    adjustPValues(BH95, "BH").forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 12));
    // The paper rejects the first four at q = 0.05.
    expect(adjustPValues(BH95, "BH").filter((v) => v <= 0.05)).toHaveLength(4);
  });

  it("Holm on the Benjamini–Hochberg example", () => {
    // python3: o = np.argsort(p, kind='stable'); n = len(p); h = np.empty(n)
    //          h[o] = np.minimum(1, np.maximum.accumulate((n - np.arange(n)) * p[o]))
    const expected = [
      0.0015, 0.0056, 0.0247, 0.11399999999999999, 0.2211, 0.278, 0.278, 0.278, 0.3213, 1, 1, 1, 1, 1, 1,
    ];
    adjustPValues(BH95, "holm").forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 12));
  });

  it("keeps the input order and handles ties", () => {
    const p = [0.04, 0.01, 0.03, 0.01, 0.2, 0.04];
    // scipy false_discovery_control -> [0.048, 0.03, 0.048, 0.03, 0.2, 0.048]; Holm as above -> [0.12, 0.06, 0.12, 0.06, 0.2, 0.12]
    expect(adjustPValues(p, "BH").map((v) => +v.toFixed(12))).toEqual([0.048, 0.03, 0.048, 0.03, 0.2, 0.048]);
    expect(adjustPValues(p, "holm").map((v) => +v.toFixed(12))).toEqual([0.12, 0.06, 0.12, 0.06, 0.2, 0.12]);
  });

  it("leaves a single p-value alone", () => {
    expect(adjustPValues([0.03], "BH")).toEqual([0.03]);
    expect(adjustPValues([0.03], "holm")).toEqual([0.03]);
  });

  it("refuses an empty list, NaN, values outside [0, 1] and unknown methods", () => {
    expect(() => adjustPValues([], "BH")).toThrow(expect.objectContaining({ code: "STATS_EMPTY" }));
    expect(() => adjustPValues([0.1, NaN], "BH")).toThrow(expect.objectContaining({ code: "STATS_NOT_FINITE" }));
    expect(() => adjustPValues([0.1, 1.2], "holm")).toThrow(
      expect.objectContaining({ code: "STATS_INVALID_ARGUMENT" }),
    );
    expect(() => adjustPValues([0.1], "bonferroni" as never)).toThrow(
      expect.objectContaining({ code: "STATS_INVALID_OPTION" }),
    );
  });
});

describe("naive keep rule under pure noise", () => {
  it("expects H_N - 1 keeps: 4.1874 in 100 runs", () => {
    // python3 -c "print(sum(1/i for i in range(100, 0, -1)) - 1)" -> 4.1873775176396215
    // sd: python3 -c "import math; print(math.sqrt(sum(1/i - 1/i**2 for i in range(2, 101))))" -> 1.884779461224768
    const r = naiveKeepsUnderNoise(100);
    expect(r.expected).toBeCloseTo(4.1873775176396215, 13);
    expect(r.sd).toBeCloseTo(1.884779461224768, 12);
    expect(harmonic(1)).toBe(1);
    expect(naiveKeepsUnderNoise(1).expected).toBe(0);
  });

  it("matches a Monte-Carlo run of the rule", () => {
    // Independent of the formula: simulate "keep when lower than the best so far" on N(0,1) runs.
    const rng = new SeededRandom(42);
    const runs = 100;
    const trials = 20_000;
    let total = 0;
    for (let t = 0; t < trials; t++) {
      let best = rng.normal(); // the baseline run
      for (let i = 1; i < runs; i++) {
        const v = rng.normal();
        if (v < best) {
          best = v;
          total++;
        }
      }
    }
    const mean = total / trials;
    const { expected, sd } = naiveKeepsUnderNoise(runs);
    expect(Math.abs(mean - expected)).toBeLessThan((4 * sd) / Math.sqrt(trials)); // 4 standard errors
  });

  it("refuses a run count below 1", () => {
    expect(() => naiveKeepsUnderNoise(0)).toThrow(expect.objectContaining({ code: "STATS_INVALID_OPTION" }));
  });
});
