/**
 * Verifying claims with fixed seeds: the verdict rule of verdict.ts, the bootstrap interval,
 * BH across the claims of a night, and the input checks.
 */
import { describe, expect, it } from "vitest";
import { bcaLimits, quantileSorted } from "../../src/stats/bootstrap.ts";
import {
  bootstrapMeanInterval,
  SeededRandom,
  StatsError,
  verifyClaim,
  verifyClaims,
  verifyGains,
} from "../../src/stats/index.ts";
import { SLEEP_1, SLEEP_2 } from "./fixtures.ts";

describe("verifyClaim", () => {
  it("calls a clear gain real, with the paired t numbers of R", () => {
    // parent = sleep group 2, candidate = group 1: gains 1.58 on average, one-sided p = 0.0014164450986921364
    const r = verifyClaim(SLEEP_2, SLEEP_1);
    expect(r.verdict).toBe("real");
    expect(r.meanGain).toBeCloseTo(1.58, 12);
    expect(r.pValue).toBeCloseTo(0.0014164450986921364, 12);
    expect(r.t).toBeCloseTo(4.062127683382037, 9);
    // The two-sided 90% interval's lower end is the one-sided 95% bound: > 0 exactly when p < 0.05.
    // python3: st.ttest_rel(y, x).confidence_interval(0.90) -> (0.8669947329707162, 2.293005267029284)
    expect(r.interval.confidence).toBeCloseTo(0.9, 15);
    expect(r.interval.lower).toBeCloseTo(0.8669947329707162, 9);
    expect(r.interval.upper).toBeCloseTo(2.293005267029284, 9);
    expect(r.reason).toMatch(/^p = 0\.001416 < alpha 0\.05/);
  });

  it("with a margin δ_min, tests the gain against it and calls a gain within ±δ_min negligible", () => {
    // python3: st.ttest_1samp(g, 1.0, alternative='greater').pvalue -> 0.08505588544871145
    const above1 = verifyClaim(SLEEP_2, SLEEP_1, { margin: 1 });
    expect(above1.pValue).toBeCloseTo(0.08505588544871145, 12);
    expect(above1.verdict).toBe("inconclusive");
    expect(above1.margin).toBe(1);
    // Within ±2: max(ttest_1samp(g, 2, 'less') 0.1541572356690974, ttest_1samp(g, -2, 'greater') 3.55e-6).
    const within2 = verifyClaim(SLEEP_2, SLEEP_1, { margin: 2 });
    expect(within2.negligiblePValue).toBeCloseTo(0.1541572356690974, 12);
    expect(within2.verdict).toBe("inconclusive"); // 0.154 is not below alpha 0.05
    expect(verifyClaim(SLEEP_2, SLEEP_1, { margin: 2, alpha: 0.2 }).verdict).toBe("negligible");
    expect(verifyClaim(SLEEP_2, SLEEP_1).negligiblePValue).toBe(1);
    expect(() => verifyClaim(SLEEP_2, SLEEP_1, { margin: -1 })).toThrow(StatsError);
  });

  it("calls identical results on every seed noise (a comment-only change)", () => {
    const v = [0.981, 0.979, 0.983];
    const r = verifyClaim(v, [...v]);
    expect(r.verdict).toBe("noise");
    expect(r.reason).toMatch(/identical/);
  });

  it("warns when every seed gives the same non-zero gain (a hard-coded seed in train.ts)", () => {
    const r = verifyClaim([0.982, 0.982, 0.982], [0.981, 0.981, 0.981]);
    expect(r.verdict).toBe("real"); // the t test cannot know; the reason says why not to trust it
    expect(r.reason).toMatch(/identical on every seed: does train.ts ignore the harness seed\?$/);
  });

  it("calls noise when the upper bound excludes the minimal effect", () => {
    const gains = [0.0001, -0.0002, 0.0, 0.0001, -0.0001, 0.00005];
    const r = verifyGains(gains, { minEffect: 0.001 });
    expect(r.interval.upper).toBeLessThan(0.001);
    expect(r.verdict).toBe("noise");
  });

  it("calls noise when the mean gain is ≤ 0 over enough seeds, inconclusive with too few", () => {
    expect(verifyGains([0.002, -0.003, 0.001, -0.002, 0.0005]).verdict).toBe("noise");
    expect(verifyGains([0.002, -0.003, 0.001]).verdict).toBe("inconclusive");
    expect(verifyGains([0.002, -0.003, 0.001], { noiseMinSeeds: 3 }).verdict).toBe("noise");
  });

  it("leaves a promising but unproven gain inconclusive", () => {
    const r = verifyGains([0.003, -0.001, 0.004, 0.0]);
    expect(r.pValue).toBeGreaterThan(0.05);
    expect(r.verdict).toBe("inconclusive");
    expect(r.reason).toMatch(/more seeds/);
  });

  it("uses the adjusted p-value when given", () => {
    const raw = verifyClaim(SLEEP_2, SLEEP_1);
    const adjusted = verifyClaim(SLEEP_2, SLEEP_1, { pAdjusted: 0.08 });
    expect(raw.verdict).toBe("real");
    expect(adjusted.verdict).toBe("inconclusive");
    expect(adjusted.reason).toMatch(/adjusted p = 0\.08/);
  });

  it("refuses mismatched lengths, k < 2 and non-finite values", () => {
    expect(() => verifyClaim([1, 2, 3], [1, 2])).toThrow(expect.objectContaining({ code: "STATS_LENGTH_MISMATCH" }));
    expect(() => verifyClaim([1], [1])).toThrow(expect.objectContaining({ code: "STATS_TOO_FEW_VALUES" }));
    expect(() => verifyClaim([], [])).toThrow(expect.objectContaining({ code: "STATS_EMPTY" }));
    expect(() => verifyClaim([1, NaN], [1, 2])).toThrow(expect.objectContaining({ code: "STATS_NOT_FINITE" }));
    expect(() => verifyClaim([1, 2], [1, Infinity])).toThrow(/candidate\[1\] is Infinity/);
    expect(() => verifyClaim([1, 2], [1, 2], { alpha: 0 })).toThrow(StatsError);
    expect(() => verifyClaim([1, 2], [1, 2], { pAdjusted: 2 })).toThrow(
      expect.objectContaining({ code: "STATS_INVALID_OPTION" }),
    );
  });
});

describe("verifyClaims (a night of claims, BH-adjusted)", () => {
  it("adjusts across claims and uses the adjusted p in every verdict", () => {
    const claims = [
      { id: "strong", parent: SLEEP_2, candidate: SLEEP_1 },
      { id: "weak", parent: [1.0, 1.1, 0.9, 1.05], candidate: [0.99, 1.08, 0.91, 1.03] },
      { id: "none", parent: [1.0, 1.1, 0.9, 1.05], candidate: [1.01, 1.09, 0.92, 1.05] },
    ];
    const r = verifyClaims(claims);
    expect(r.map((c) => c.id)).toEqual(["strong", "weak", "none"]);
    for (const c of r) expect(c.pAdjusted).toBeGreaterThanOrEqual(c.pValue);
    expect(r[0]!.pAdjusted).toBeCloseTo(3 * 0.0014164450986921364, 12); // smallest of 3: p · 3/1
    expect(r[0]!.verdict).toBe("real");
  });

  it("refuses an empty list and duplicate ids", () => {
    expect(() => verifyClaims([])).toThrow(expect.objectContaining({ code: "STATS_EMPTY" }));
    const c = { id: "a", parent: [1, 2], candidate: [1, 2] };
    expect(() => verifyClaims([c, c])).toThrow(/appears twice/);
    expect(() => verifyClaims([{ id: "a", parent: [1, 2], candidate: [1] }])).toThrow(/\(a\)/);
  });
});

describe("bootstrap interval of the mean", () => {
  const rng = new SeededRandom(5);
  const sample = Array.from({ length: 12 }, () => 0.5 + rng.normal());

  it("is deterministic given the seed and moves with it", () => {
    const a = bootstrapMeanInterval(sample, { seed: 3 });
    expect(bootstrapMeanInterval(sample, { seed: 3 })).toEqual(a);
    expect(bootstrapMeanInterval(sample, { seed: 4 }).lower).not.toBe(a.lower);
  });

  it("brackets the mean and is close to the t interval for normal data", () => {
    const b = bootstrapMeanInterval(sample, { method: "percentile" });
    const m = sample.reduce((s, v) => s + v, 0) / sample.length;
    expect(b.lower).toBeLessThan(m);
    expect(b.upper).toBeGreaterThan(m);
    const c = bootstrapMeanInterval(sample);
    expect(c.method).toBe("bca");
    expect(Math.abs(c.upper - c.lower - (b.upper - b.lower))).toBeLessThan(0.25 * (b.upper - b.lower));
  });

  it("covers the true mean about as often as it claims", () => {
    let covered = 0;
    const trials = 300;
    const r = new SeededRandom(9);
    for (let t = 0; t < trials; t++) {
      const x = Array.from({ length: 20 }, () => r.normal());
      const b = bootstrapMeanInterval(x, { confidence: 0.9, resamples: 1000, seed: t });
      if (b.lower <= 0 && 0 <= b.upper) covered++;
    }
    // Nominal 0.9; the bootstrap is a little narrow at n = 20. Binomial sd at 300 trials ≈ 0.017.
    expect(covered / trials).toBeGreaterThan(0.82);
    expect(covered / trials).toBeLessThan(0.96);
  });

  it("computes BCa limits as the formula says", () => {
    // python3: reps = np.sort([((i*7919) % 1000)**1.3 / 1000 for i in range(1000)]); obs = 3.0
    //   jack = [2.9, 3.1, 2.7, 3.4, 3.05, 2.95, 3.3]; z0 = norm.ppf(((reps < obs).sum() + (reps == obs).sum()/2) / 1000)
    //   d = jack.mean() - jack; a = (d**3).sum() / (6 * ((d**2).sum())**1.5)
    //   adj(q) = norm.cdf(z0 + (z0 + norm.ppf(q)) / (1 - a*(z0 + norm.ppf(q))))
    //   np.percentile(reps, 100*adj(0.05)), np.percentile(reps, 100*adj(0.95)) -> 0.10805137608136602 7.252394492562117
    const reps = Array.from({ length: 1000 }, (_, i) => ((i * 7919) % 1000) ** 1.3 / 1000).sort((a, b) => a - b);
    const limits = bcaLimits(reps, 3.0, [2.9, 3.1, 2.7, 3.4, 3.05, 2.95, 3.3], 0.9)!;
    expect(limits.lower).toBeCloseTo(0.10805137608136602, 9);
    expect(limits.upper).toBeCloseTo(7.252394492562117, 9);
    expect(quantileSorted([1, 2, 3, 4], 0.5)).toBe(2.5);
  });

  it("falls back to percentile when BCa is undefined, and says so", () => {
    const b = bootstrapMeanInterval([1, 2], { resamples: 200 });
    expect(["bca", "percentile"]).toContain(b.method);
    const flat = bootstrapMeanInterval([0.3, 0.3, 0.3]);
    expect([flat.lower, flat.upper]).toEqual([0.3, 0.3]);
    expect(flat.note).toMatch(/equal/);
  });
});
