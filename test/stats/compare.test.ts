/**
 * Comparing orgs: tests that fit the design, Holm across pairs, effect sizes, the power
 * estimate and the ratings, on the sleep data and on synthetic nights.
 */
import { describe, expect, it } from "vitest";
import { compareOrgs, SeededRandom, welchTest } from "../../src/stats/index.ts";
import { SLEEP_1, SLEEP_2 } from "./fixtures.ts";

describe("compareOrgs, independent runs", () => {
  it("uses Welch and Hedges' g, and asks for more runs when the pair is not yet told apart", () => {
    const r = compareOrgs([
      { name: "drug1", values: SLEEP_1 },
      { name: "drug2", values: SLEEP_2 },
    ]);
    const pair = r.pairs[0]!;
    expect(pair.test).toBe("welch");
    expect(pair.pValue).toBeCloseTo(0.0793941401873583, 10); // R: p = 0.07939
    expect(pair.pHolm).toBe(pair.pValue); // one pair: nothing to adjust
    expect(pair.effectSize).toMatchObject({ name: "hedges-g" });
    expect(pair.effectSize.estimate).toBeCloseTo(welchTest(SLEEP_1, SLEEP_2).hedgesG.estimate, 15);
    expect(pair.ahead).toBeNull();
    expect(pair.moreNeeded.have).toBe(10);
    expect(pair.moreNeeded.more).toBeGreaterThan(0);
    expect(r.ratings[0]!.name).toBe("drug1"); // lower is better, and drug1 sleeps less extra
  });

  it("adjusts by Holm across all pairs and names the org ahead", () => {
    const rng = new SeededRandom(8);
    const runs = (m: number): number[] => Array.from({ length: 12 }, () => m + 0.002 * rng.normal());
    const r = compareOrgs([
      { name: "fast", values: runs(0.97) },
      { name: "slow", values: runs(0.98) },
      { name: "mid", values: runs(0.9755) },
    ]);
    expect(r.pairs.map((p) => `${p.a}-${p.b}`)).toEqual(["fast-slow", "fast-mid", "slow-mid"]);
    const sorted = [...r.pairs].sort((x, y) => x.pValue - y.pValue);
    expect(sorted[0]!.pHolm).toBeCloseTo(Math.min(1, 3 * sorted[0]!.pValue), 15);
    expect(r.pairs[0]!.ahead).toBe("fast");
    expect(r.ratings.map((x) => x.name)).toEqual(["fast", "mid", "slow"]);
  });
});

describe("compareOrgs, paired nights", () => {
  it("uses the Wilcoxon signed-rank test and d_z on the per-night differences", () => {
    const r = compareOrgs(
      [
        { name: "a", values: SLEEP_1 },
        { name: "b", values: SLEEP_2 },
      ],
      { design: "paired" },
    );
    const pair = r.pairs[0]!;
    expect(pair.test).toBe("wilcoxon");
    // R: wilcox.test(SLEEP_1, SLEEP_2, paired = TRUE) has ties and a zero -> normal approximation, V = 0, p = 0.009091
    // python3: st.wilcoxon(x, y, zero_method='wilcox', correction=True, method='approx').pvalue -> 0.009090698015925044
    expect(pair.statistic).toBe(0);
    expect(pair.pValue).toBeCloseTo(0.009090698015925044, 12);
    expect(pair.difference).toBeCloseTo(-1.58, 12);
    // python3: d = x - y; dz = d.mean()/d.std(ddof=1); h = norm.ppf(0.975)*np.sqrt(1/10 + dz*dz/20)
    // -> -1.2845575625910546 (-2.1218646522983997, -0.44725047288370956)
    expect(pair.effectSize.estimate).toBeCloseTo(-1.2845575625910546, 12);
    expect(pair.effectSize.lower).toBeCloseTo(-2.1218646522983997, 10);
    expect(pair.effectSize.upper).toBeCloseTo(-0.44725047288370956, 10);
    expect(pair.ahead).toBe("a");
    expect(r.ratings[0]!.name).toBe("a");
  });

  it("refuses nights that do not line up, single orgs, and duplicate names", () => {
    expect(() =>
      compareOrgs(
        [
          { name: "a", values: [1, 2, 3] },
          { name: "b", values: [1, 2] },
        ],
        { design: "paired" },
      ),
    ).toThrow(expect.objectContaining({ code: "STATS_LENGTH_MISMATCH" }));
    expect(() => compareOrgs([{ name: "a", values: [1, 2] }])).toThrow(
      expect.objectContaining({ code: "STATS_TOO_FEW_VALUES" }),
    );
    expect(() => compareOrgs([])).toThrow(expect.objectContaining({ code: "STATS_EMPTY" }));
    expect(() =>
      compareOrgs([
        { name: "a", values: [1, 2] },
        { name: "a", values: [1, 2] },
      ]),
    ).toThrow(/distinct/);
    expect(() =>
      compareOrgs([
        { name: "a", values: [1, NaN] },
        { name: "b", values: [1, 2] },
      ]),
    ).toThrow(expect.objectContaining({ code: "STATS_NOT_FINITE" }));
  });
});
