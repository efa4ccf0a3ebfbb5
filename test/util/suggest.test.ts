import { describe, expect, it } from "vitest";
import { closestName, editDistance, unknownOption } from "../../src/util/suggest.ts";

describe("option suggestions", () => {
  it("measures edit distance", () => {
    expect(editDistance("budjet", "budget")).toBe(1);
    expect(editDistance("", "abc")).toBe(3);
    expect(editDistance("same", "same")).toBe(0);
  });

  it("suggests the closest plausible name, case-insensitively, and nothing far off", () => {
    expect(closestName("timeBudjet", ["timeBudget", "seed"])).toBe("timeBudget");
    expect(closestName("SEED", ["timeBudget", "seed"])).toBe("seed");
    expect(closestName("xyzzy", ["timeBudget", "seed"])).toBeUndefined();
  });

  it("names the first unknown key with its likely fix, and passes known ones", () => {
    expect(unknownOption({ seed: 1, windw: 2 }, ["seed", "window"])).toBe("unknown option 'windw' — did you mean 'window'?");
    expect(unknownOption({ zzz: 1 }, ["seed"])).toBe("unknown option 'zzz'");
    expect(unknownOption({ seed: 1 }, ["seed"])).toBeUndefined();
  });
});
