/**
 * Welch's t test against R's published output (t.test(extra ~ group, data = sleep)) and SciPy,
 * and Hedges' g against the formula of welch.ts evaluated independently in NumPy.
 */
import { describe, expect, it } from "vitest";
import { welchTest } from "../../src/stats/index.ts";
import { SLEEP_1, SLEEP_2 } from "./fixtures.ts";

describe("Welch t test", () => {
  const r = welchTest(SLEEP_1, SLEEP_2);

  it("reproduces R's t = -1.8608, df = 17.776, p = 0.07939, CI -3.3654832 0.2054832", () => {
    // python3 -c "import scipy.stats as st; w=st.ttest_ind(x, y, equal_var=False); print(w.statistic, w.pvalue, w.df, w.confidence_interval(0.95))"
    // -> -1.8608134674868526 0.0793941401873583 17.776473516178488 (-3.3654832307117104, 0.20548323071171137)
    expect(r.t).toBeCloseTo(-1.8608134674868526, 9);
    expect(r.df).toBeCloseTo(17.776473516178488, 9);
    expect(r.pValue).toBeCloseTo(0.0793941401873583, 10);
    expect(r.interval.lower).toBeCloseTo(-3.3654832307117104, 9);
    expect(r.interval.upper).toBeCloseTo(0.20548323071171137, 9);
    expect(r.difference).toBeCloseTo(-1.58, 12);
    expect([r.t.toFixed(4), r.df.toFixed(3), r.pValue.toFixed(5)]).toEqual(["-1.8608", "17.776", "0.07939"]);
  });

  it("gives Hedges' g with its large-sample interval", () => {
    // python3: sp = sqrt(((na-1)*x.var(ddof=1) + (nb-1)*y.var(ddof=1)) / (na+nb-2)); J = 1 - 3/(4*(na+nb)-9)
    //   g = J*(x.mean()-y.mean())/sp; se = sqrt((na+nb)/(na*nb) + g*g/(2*(na+nb))); g ± norm.ppf(0.975)*se
    // -> -0.7970185004474463 (-1.7076764091379313, 0.11363940824303875)
    expect(r.hedgesG.estimate).toBeCloseTo(-0.7970185004474463, 10);
    expect(r.hedgesG.lower).toBeCloseTo(-1.7076764091379313, 9);
    expect(r.hedgesG.upper).toBeCloseTo(0.11363940824303875, 9);
  });

  it("is antisymmetric in its arguments", () => {
    const s = welchTest(SLEEP_2, SLEEP_1);
    expect(s.t).toBeCloseTo(-r.t, 12);
    expect(s.pValue).toBeCloseTo(r.pValue, 12);
  });

  it("needs two values per group", () => {
    expect(() => welchTest([1], [1, 2])).toThrow(expect.objectContaining({ code: "STATS_TOO_FEW_VALUES" }));
  });
});
