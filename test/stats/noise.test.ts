/**
 * Noise floor from k reruns of one commit: mean, sd and the minimal detectable effect.
 */
import { describe, expect, it } from "vitest";
import { minimalDetectableEffect, noiseFloor } from "../../src/stats/index.ts";

const RERUNS = [0.9812, 0.9821, 0.9805, 0.9818, 0.9809];

describe("noiseFloor", () => {
  it("gives mean, sd and the MDE of a paired verification (t quantiles)", () => {
    // python3: v = np.array(RERUNS); s = v.std(ddof=1)
    //   (st.t.ppf(0.95, 4) + st.t.ppf(0.8, 4)) * s * np.sqrt(2) / np.sqrt(5)
    //   -> mean 0.9813000000000001, sd 0.0006519202405202484, MDE 0.001266952581956334
    const r = noiseFloor(RERUNS);
    expect(r.k).toBe(5);
    expect(r.mean).toBeCloseTo(0.9813, 13);
    expect(r.sd).toBeCloseTo(0.0006519202405202484, 15);
    expect(r.sdDiff).toBeCloseTo(0.0006519202405202484 * Math.SQRT2, 15);
    expect(r.minDetectableEffect).toBeCloseTo(0.001266952581956334, 14);
  });

  it("takes the seeds of the verification and the pairing correlation as options", () => {
    // python3: (st.t.ppf(0.95, 9) + st.t.ppf(0.8, 9)) * s * np.sqrt(2 * (1 - 0.5)) / np.sqrt(10) -> 0.0005600242834294458
    const r = noiseFloor(RERUNS, { seeds: 10, correlation: 0.5 });
    expect(r.minDetectableEffect).toBeCloseTo(0.0005600242834294458, 14);
    expect(minimalDetectableEffect(r.sdDiff, 10)).toBeCloseTo(r.minDetectableEffect, 15);
  });

  it("shrinks the MDE as seeds are added", () => {
    const mde = [2, 3, 5, 10, 20].map((n) => minimalDetectableEffect(1, n));
    for (let i = 1; i < mde.length; i++) expect(mde[i]!).toBeLessThan(mde[i - 1]!);
  });

  it("needs k ≥ 2 finite values", () => {
    expect(() => noiseFloor([0.98])).toThrow(expect.objectContaining({ code: "STATS_TOO_FEW_VALUES" }));
    expect(() => noiseFloor([])).toThrow(expect.objectContaining({ code: "STATS_EMPTY" }));
    expect(() => noiseFloor([0.98, NaN, 0.97])).toThrow(expect.objectContaining({ code: "STATS_NOT_FINITE" }));
    expect(() => noiseFloor([0.98, 0.97], { correlation: 1 })).toThrow(
      expect.objectContaining({ code: "STATS_INVALID_OPTION" }),
    );
    expect(() => noiseFloor([0.98, 0.97], { seeds: 1 })).toThrow(
      expect.objectContaining({ code: "STATS_INVALID_OPTION" }),
    );
  });
});
