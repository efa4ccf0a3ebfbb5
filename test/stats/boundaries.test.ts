/**
 * Lan–DeMets group-sequential boundaries: the crossing probabilities of the computed boundaries
 * are checked against SciPy's multivariate normal CDF (Genz), which shares no code with the
 * recursive integration of boundaries.ts.
 */
import { describe, expect, it } from "vitest";
import { efficacyBoundaries, spentAlpha } from "../../src/stats/index.ts";

const EQUAL5 = [0.2, 0.4, 0.6, 0.8, 1];

/*
 * Reference: for boundaries c (z scale) at fractions t, P(Z_j ≥ c_j for some j ≤ k) with Z the
 * Brownian motion at t (corr(Z_i, Z_j) = √(t_i/t_j)):
 *
 *   import numpy as np; from scipy.stats import multivariate_normal
 *   def crossed(t, c):
 *       t = np.array(t); out = []
 *       for k in range(1, len(t) + 1):
 *           tt = t[:k]; C = np.sqrt(np.minimum.outer(tt, tt) / np.maximum.outer(tt, tt))
 *           mvn = multivariate_normal(mean=np.zeros(k), cov=C, abseps=1e-10, releps=1e-10, maxpts=10_000_000)
 *           out.append(1 - mvn.cdf(np.array(c[:k])))
 *       return out
 */
const CASES = [
  {
    name: "O'Brien–Fleming type, 5 equal looks, one-sided 0.025",
    kind: "obrien-fleming" as const,
    alpha: 0.025,
    t: EQUAL5,
    z: [4.876884948796744, 3.3570119214964507, 2.6802800647601543, 2.289816769556637, 2.0310320472744934],
    // crossed(t, z) ->
    scipy: [
      5.388712628340286e-7, 0.0003941517568026853, 0.0038080633094461636, 0.012211791632378066, 0.025000003278704552,
    ],
    published: ["4.877", "3.357", "2.680", "2.290", "2.031"], // gsDesign sfLDOF / Jennison & Turnbull, 3 decimals
  },
  {
    name: "Pocock type, 5 equal looks, one-sided 0.025",
    kind: "pocock" as const,
    alpha: 0.025,
    t: EQUAL5,
    z: [2.4379766880500116, 2.4268138591251045, 2.41019414431139, 2.3966492689687584, 2.385999655849446],
    scipy: [
      0.007384863228008687, 0.01307842907808876, 0.017712826977503315, 0.021620979778922855, 0.025000048103498762,
    ],
    published: ["2.438", "2.427", "2.410", "2.397", "2.386"], // gsDesign sfLDPocock, 3 decimals
  },
  {
    name: "Pocock type, looks after seeds 3..10 of 10, one-sided 0.05",
    kind: "pocock" as const,
    alpha: 0.05,
    t: [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1],
    z: [
      2.0377641804713167, 2.202330612552032, 2.207736076281435, 2.1970835480278765, 2.1836136971942324,
      2.1702529792928544, 2.1577687190765573, 2.1463215444200614,
    ],
    scipy: [
      0.02078676109218136, 0.02615685821121283, 0.031005725283766217, 0.035425615842472724, 0.039486389549903356,
      0.0432419759315813, 0.04673490589284146, 0.05000018975426035,
    ],
    published: undefined,
  },
];

describe("efficacyBoundaries (Lan–DeMets alpha spending)", () => {
  for (const c of CASES) {
    it(`${c.name}: crossing probabilities match SciPy to 1e-6`, () => {
      const b = efficacyBoundaries(c.alpha, c.t, c.kind);
      b.z.forEach((z, k) => expect(z).toBeCloseTo(c.z[k]!, 6));
      // The boundaries spend exactly the spending function, as SciPy integrates it.
      b.spent.forEach((s, k) => expect(Math.abs(s - c.scipy[k]!)).toBeLessThan(1e-6));
      if (c.published) expect(b.z.map((z) => z.toFixed(3))).toEqual(c.published);
      b.nominal.forEach((p, k) => expect(p).toBeLessThanOrEqual(b.spent[k]! + 1e-15));
    });
  }

  it("spending functions reach alpha at t = 1 and spend nothing at t = 0", () => {
    for (const kind of ["obrien-fleming", "pocock"] as const) {
      expect(spentAlpha(kind, 0.05, 0)).toBe(0);
      expect(spentAlpha(kind, 0.05, 1)).toBe(0.05);
      expect(spentAlpha(kind, 0.05, 0.5)).toBeLessThan(0.05);
    }
    // 2 - 2Φ(1.959964/√0.5) and 0.05·ln(1 + (e-1)/2):
    // python3 -c "from scipy.stats import norm; import math; print(2*norm.sf(norm.isf(0.025)/math.sqrt(0.5)), 0.05*math.log(1+(math.e-1)/2))"
    // -> 0.005574596680784402 0.031005725347913876
    expect(spentAlpha("obrien-fleming", 0.05, 0.5)).toBeCloseTo(0.005574596680784402, 12);
    expect(spentAlpha("pocock", 0.05, 0.5)).toBeCloseTo(0.031005725347913876, 14);
  });
});
