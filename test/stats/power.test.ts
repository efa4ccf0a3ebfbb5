/**
 * Sample-size planning: the t-quantile approximation against the exact non-central-t power.
 */
import { describe, expect, it } from "vitest";
import { moreNeeded, sampleSize } from "../../src/stats/index.ts";

/*
 * Exact n: the smallest n whose power, from the non-central t, reaches the target:
 *   from scipy.stats import t, nct
 *   def exact(d, a, pw, f, dfun, two):       # f = 1, df = n-1 (paired); f = 2, df = 2n-2 (two-sample)
 *       n = 2
 *       while True:
 *           df = dfun(n); ncp = d * np.sqrt(n / f); c = t.ppf(1 - a, df)
 *           p = nct.sf(c, df, ncp) + (nct.cdf(-c, df, ncp) if two else 0)
 *           if p >= pw: return n
 *           n += 1
 * [design, sided, effect/sd, power, exact n]
 */
const EXACT: ["paired" | "two-sample", "one-sided" | "two-sided", number, number, number][] = [
  ["paired", "two-sided", 0.2, 0.8, 199],
  ["paired", "two-sided", 0.5, 0.9, 44],
  ["paired", "two-sided", 1, 0.8, 10],
  ["paired", "two-sided", 2, 0.9, 5],
  ["paired", "one-sided", 0.2, 0.8, 156],
  ["paired", "one-sided", 0.8, 0.9, 15],
  ["paired", "one-sided", 1, 0.9, 11],
  ["paired", "one-sided", 2, 0.8, 4],
  ["two-sample", "two-sided", 0.5, 0.8, 64],
  ["two-sample", "two-sided", 1, 0.8, 17],
  ["two-sample", "two-sided", 2, 0.9, 7],
  ["two-sample", "one-sided", 0.2, 0.9, 429],
  ["two-sample", "one-sided", 2, 0.8, 4],
];

describe("sampleSize", () => {
  it.each(EXACT)("%s %s, effect %s sd, power %s: exact n %s or one more", (design, sided, d, power, exact) => {
    const n = sampleSize(d * 0.003, 0.003, { design, sided, power });
    expect(n - exact).toBeGreaterThanOrEqual(0);
    expect(n - exact).toBeLessThanOrEqual(1);
  });

  it("is symmetric in the sign of the effect and infinite for no effect", () => {
    expect(sampleSize(-0.5, 1)).toBe(sampleSize(0.5, 1));
    expect(sampleSize(0, 1)).toBe(Infinity);
  });

  it("says how many more are needed", () => {
    expect(moreNeeded(1, 1, 4)).toEqual({ needed: 10, have: 4, more: 6 });
    expect(moreNeeded(1, 1, 12).more).toBe(0);
    expect(moreNeeded(0, 1, 3).more).toBe(Infinity);
  });

  it("refuses bad options", () => {
    expect(() => sampleSize(1, -1)).toThrow(expect.objectContaining({ code: "STATS_INVALID_OPTION" }));
    expect(() => sampleSize(1, 1, { power: 1 })).toThrow(expect.objectContaining({ code: "STATS_INVALID_OPTION" }));
    expect(() => sampleSize(1, 1, { desing: "paired" } as never)).toThrow(/did you mean 'design'/);
  });
});
