/**
 * Wilcoxon signed-rank test against R's documented examples and SciPy (R's rules before 4.6:
 * exact without ties or zeros for n < 50, else normal with tie and continuity corrections).
 */
import { describe, expect, it } from "vitest";
import { wilcoxonSignedRank } from "../../src/stats/index.ts";

// R: ?wilcox.test, "Hollander & Wolfe (1973), 29f. Hamilton depression scale factor measurements".
const X = [1.83, 0.5, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.3];
const Y = [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29];
// r-help 2006-08-25 (Bortz/Lienert/Boehnke), with ties and zeros: R prints V = 13, p-value = 0.1436.
const X1 = [9, 14, 8, 11, 14, 10, 8, 14, 12, 14, 13, 9, 15, 12, 9];
const X2 = [13, 15, 9, 12, 16, 10, 8, 13, 12, 16, 9, 10, 16, 12, 9];

describe("Wilcoxon signed-rank, exact", () => {
  it("reproduces R: wilcox.test(x, y, paired = TRUE, alternative = 'greater') V = 40, p = 0.01953", () => {
    // python3 -c "import scipy.stats as st; print(st.wilcoxon(x, y, alternative='greater', method='exact'))" -> 40.0 0.01953125
    const r = wilcoxonSignedRank(X, Y, { alternative: "greater" });
    expect(r.V).toBe(40);
    expect(r.method).toBe("exact");
    expect(r.pValue).toBeCloseTo(0.01953125, 14);
  });

  it("gives the two-sided and 'less' p-values", () => {
    // scipy: alternative='two-sided' -> 0.0390625; alternative='less' -> 0.986328125
    expect(wilcoxonSignedRank(X, Y).pValue).toBeCloseTo(0.0390625, 14);
    expect(wilcoxonSignedRank(X, Y, { alternative: "less" }).pValue).toBeCloseTo(0.986328125, 14);
  });
});

describe("Wilcoxon signed-rank, normal approximation", () => {
  it("reproduces R with ties and zeros: V = 13, p = 0.1436", () => {
    // python3: st.wilcoxon(x1, x2, zero_method='wilcox', correction=True, method='approx').pvalue
    //   two-sided 0.14358103767869856, greater 0.9414490926943723, less 0.07179051883934928
    const r = wilcoxonSignedRank(X1, X2);
    expect(r.V).toBe(13);
    expect([r.n, r.zeros, r.ties, r.method]).toEqual([10, 5, true, "normal"]);
    expect(r.pValue).toBeCloseTo(0.14358103767869856, 12);
    expect(r.pValue.toFixed(4)).toBe("0.1436");
    expect(wilcoxonSignedRank(X1, X2, { alternative: "greater" }).pValue).toBeCloseTo(0.9414490926943723, 12);
    expect(wilcoxonSignedRank(X1, X2, { alternative: "less" }).pValue).toBeCloseTo(0.07179051883934928, 12);
  });

  it("drops the continuity correction on request", () => {
    // scipy: correction=False -> 0.12981801361385484
    expect(wilcoxonSignedRank(X1, X2, { correct: false }).pValue).toBeCloseTo(0.12981801361385484, 12);
  });

  it("switches to the normal approximation at n = 50 and can be forced exact", () => {
    // d_i = sin(i)·i/10 + 0.3, i = 1..60 (no ties, no zeros)
    // python3: st.wilcoxon(d, method='approx', correction=True).pvalue -> 0.25538461927851397 (V = 1070)
    //          st.wilcoxon(d, method='exact').pvalue -> 0.2574334541674974
    const d = Array.from({ length: 60 }, (_, k) => (Math.sin(k + 1) * (k + 1)) / 10 + 0.3);
    const approx = wilcoxonSignedRank(d);
    expect([approx.V, approx.method]).toEqual([1070, "normal"]);
    expect(approx.pValue).toBeCloseTo(0.25538461927851397, 12);
    const exact = wilcoxonSignedRank(d, undefined, { exact: true });
    expect(exact.method).toBe("exact");
    expect(exact.pValue).toBeCloseTo(0.2574334541674974, 10);
  });

  it("returns p = 1 when every difference is zero", () => {
    expect(wilcoxonSignedRank([1, 2, 3], [1, 2, 3]).pValue).toBe(1);
  });

  it("refuses mismatched pairs", () => {
    expect(() => wilcoxonSignedRank([1, 2, 3], [1, 2])).toThrow(
      expect.objectContaining({ code: "STATS_LENGTH_MISMATCH" }),
    );
  });
});
