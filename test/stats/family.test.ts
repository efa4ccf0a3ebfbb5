/**
 * A night's claims as a family (family.ts): each claim's design at alpha/m, and which claims
 * Benjamini–Hochberg credits.
 */
import { describe, expect, it } from "vitest";
import { sequentialDesign } from "../../src/stats/index.ts";
import { claimDesign, creditedByFamily } from "../../src/stats/family.ts";

const family = sequentialDesign({ effect: 0.02, margin: 0.005, maxSeeds: 12, minSeeds: 3, alpha: 0.05, spending: "pocock" });

describe("claimDesign", () => {
  it("returns the family's own design for one claim", () => {
    expect(claimDesign(family, 1)).toBe(family);
    expect(claimDesign(family, 0)).toBe(family);
  });

  it("splits alpha across m claims and keeps every other setting", () => {
    const each = claimDesign(family, 4);
    expect(each.alpha).toBeCloseTo(0.0125, 15);
    for (const key of ["effect", "margin", "maxSeeds", "minSeeds", "power", "spending", "futilitySpending", "statistic"] as const)
      expect(each[key]).toBe(family[key]);
    // A stricter level moves the efficacy boundary out at every look.
    each.efficacy.z.forEach((z, i) => expect(z).toBeGreaterThan(family.efficacy.z[i]!));
  });
});

describe("creditedByFamily", () => {
  it("credits a real or cap-undecided claim whose adjusted p is below alpha, nothing else", () => {
    expect(creditedByFamily("real", 0.01, 0.05)).toBe(true);
    expect(creditedByFamily("cap", 0.049, 0.05)).toBe(true);
    expect(creditedByFamily("cap", 0.05, 0.05)).toBe(false);
    expect(creditedByFamily("real", 0.2, 0.05)).toBe(false);
    expect(creditedByFamily("other", 0.001, 0.05)).toBe(false);
    expect(creditedByFamily("real", undefined, 0.05)).toBe(false);
  });
});
