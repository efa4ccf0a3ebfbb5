/**
 * δ_min and the effect of interest a verification judges a claim by (verification/thresholds.ts):
 * the larger of the org's simplicity threshold and half the seed-noise sd, explicit values
 * winning, and an effect of interest of at least 2·δ_min.
 */
import { describe, expect, it } from "vitest";
import { MARGIN_NOISE_FRACTION, MIN_DEFAULT_EFFECT, verificationThresholds } from "../../src/verification/thresholds.ts";

describe("verificationThresholds", () => {
  it("takes half the seed-noise sd when it is above the org's threshold, and says so", () => {
    const t = verificationThresholds({ simplicityThreshold: 0.001, floor: { sd: 0.03, mde: 0.01 } });
    expect(MARGIN_NOISE_FRACTION).toBe(0.5);
    expect(t.margin).toBeCloseTo(0.015, 15);
    expect(t.marginFrom).toBe("0.5 × the seed-noise sd 0.0300");
    expect(t.effect).toBeCloseTo(0.03, 15); // 2·δ_min beats the floor's detectable effect
  });

  it("takes the org's simplicity threshold when it is larger, and the floor's detectable effect when that is", () => {
    const t = verificationThresholds({ simplicityThreshold: 0.02, floor: { sd: 0.01, mde: 0.05 } });
    expect(t.margin).toBe(0.02);
    expect(t.marginFrom).toBe("the org's simplicity threshold");
    expect(t.effect).toBe(0.05);
  });

  it("has no margin without a floor or a threshold, and says what is missing", () => {
    const t = verificationThresholds({ simplicityThreshold: 0, floor: null });
    expect(t.margin).toBe(0);
    expect(t.marginFrom).toMatch(/no noise floor measured/);
    expect(t.effect).toBe(MIN_DEFAULT_EFFECT);
  });

  it("takes a caller's smallest effect of interest (the tournament's) when it is the largest", () => {
    const t = verificationThresholds({ simplicityThreshold: 0, floor: { sd: 0.001, mde: 0.001 }, minEffect: 0.002 });
    expect(t.margin).toBeCloseTo(0.0005, 15);
    expect(t.effect).toBe(0.002);
  });

  it("lets explicit values win", () => {
    const t = verificationThresholds({ simplicityThreshold: 0.02, floor: { sd: 0.1, mde: 0.05 }, margin: 0.001, effect: 0.004 });
    expect(t).toEqual({ margin: 0.001, effect: 0.004, marginFrom: "given" });
  });
});
