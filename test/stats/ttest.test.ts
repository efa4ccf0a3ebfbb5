/**
 * The paired and one-sample t test against R's published output on the `sleep` data (Student
 * 1908) and against SciPy, to 1e-6 or better.
 */
import { describe, expect, it } from "vitest";
import { oneSampleT, StatsError } from "../../src/stats/index.ts";
import { SLEEP_1, SLEEP_2 } from "./fixtures.ts";

describe("paired t test (R: t.test(extra[1:10], extra[11:20], paired = TRUE))", () => {
  const d = SLEEP_1.map((v, i) => v - SLEEP_2[i]!);
  const r = oneSampleT(d);

  it("reproduces R's t = -4.0621, df = 9, p = 0.002833, CI -2.4598858 -0.7001142", () => {
    // python3 -c "import scipy.stats as st; r=st.ttest_rel(x, y); print(r.statistic, r.pvalue, r.confidence_interval(0.95))"
    // with x = SLEEP_1, y = SLEEP_2 -> -4.062127683382037 0.002832890197384273 (-2.459885763276983, -0.7001142367230175)
    expect(r.t).toBeCloseTo(-4.062127683382037, 9);
    expect(r.df).toBe(9);
    expect(r.pTwoSided).toBeCloseTo(0.002832890197384273, 12);
    expect(r.interval.lower).toBeCloseTo(-2.459885763276983, 9);
    expect(r.interval.upper).toBeCloseTo(-0.7001142367230175, 9);
    expect(r.mean).toBeCloseTo(-1.58, 12);
    // Published rounding (R prints these digits):
    expect(r.t.toFixed(4)).toBe("-4.0621");
    expect(r.pTwoSided.toPrecision(4)).toBe("0.002833");
  });

  it("gives the one-sided p-values of both alternatives", () => {
    // python3 -c "import scipy.stats as st; print(st.ttest_rel(x, y, alternative='less').pvalue)" -> 0.0014164450986921364
    expect(r.pLess).toBeCloseTo(0.0014164450986921364, 12);
    expect(r.pGreater).toBeCloseTo(1 - 0.0014164450986921364, 12);
  });

  it("keeps tiny p-values accurate instead of rounding 1 - cdf to 0", () => {
    const strong = oneSampleT([10, 10.1, 9.9, 10.05, 9.95, 10.02, 9.98, 10.01]);
    expect(strong.pGreater).toBeGreaterThan(0);
    expect(strong.pGreater).toBeLessThan(1e-15);
  });

  it("treats constant values: ±Infinity away from mu, p = 1 at mu", () => {
    expect(oneSampleT([0.5, 0.5, 0.5]).t).toBe(Infinity);
    expect(oneSampleT([0.5, 0.5, 0.5]).pGreater).toBe(0);
    const atMu = oneSampleT([0, 0, 0]);
    expect([atMu.t, atMu.pGreater, atMu.pLess, atMu.pTwoSided]).toEqual([0, 1, 1, 1]);
  });
});

describe("t test input checks", () => {
  it("needs two values", () => {
    expect(() => oneSampleT([1])).toThrow(expect.objectContaining({ code: "STATS_TOO_FEW_VALUES" }));
  });
  it("refuses NaN and Infinity with the index", () => {
    expect(() => oneSampleT([1, NaN, 2])).toThrow(/values\[1\] is NaN/);
    expect(() => oneSampleT([1, Infinity])).toThrow(expect.objectContaining({ code: "STATS_NOT_FINITE" }));
  });
  it("refuses unknown options with a suggestion", () => {
    expect(() => oneSampleT([1, 2], { confidance: 0.9 } as never)).toThrow(/did you mean 'confidence'/);
    expect(() => oneSampleT([1, 2], { confidence: 1.5 })).toThrow(StatsError);
  });
});
