/**
 * vitest-lite stands in for vitest on GPU boxes without node_modules (test/gpu/). A matcher that
 * passed where vitest fails would let a broken CUDA kernel through unseen, so every matcher the
 * CUDA suite uses is held to vitest's own verdict on the same values, both ways, and the runner
 * must count passes, failures and skips as vitest does.
 */
import { describe, expect, it } from "vitest";
import * as lite from "../support/vitest-lite.ts";

// Written against vitest-lite's types; vitest's expect accepts every call made here.
type Check = (e: typeof lite.expect) => void;
const vitestExpect = expect as unknown as typeof lite.expect;

class Custom extends Error {}
const CASES: Record<string, Check> = {
  "toBe same": (e) => e(3).toBe(3),
  "toBe different": (e) => e(3).toBe(4),
  "toBe NaN": (e) => e(NaN).toBe(NaN),
  "toBe -0 vs 0": (e) => e(-0).toBe(0),
  "toEqual arrays": (e) => e([1, [2, 3]]).toEqual([1, [2, 3]]),
  "toEqual arrays differ": (e) => e([1, [2, 3]]).toEqual([1, [2, 4]]),
  "toEqual typed arrays": (e) => e(new Float32Array([1, 2])).toEqual(new Float32Array([1, 2])),
  "toEqual typed arrays differ": (e) => e(new Float32Array([1, 2])).toEqual(new Float32Array([1, 3])),
  "toEqual typed array lengths": (e) => e(new Int32Array([1])).toEqual(new Int32Array([1, 0])),
  "toEqual objects": (e) => e({ a: 1, b: { c: "x" } }).toEqual({ a: 1, b: { c: "x" } }),
  "toEqual objects differ": (e) => e({ a: 1, b: { c: "x" } }).toEqual({ a: 1, b: { c: "y" } }),
  "toMatch": (e) => e("cuda:0 is busy").toMatch(/cuda:\d/),
  "toMatch no": (e) => e("cpu").toMatch(/cuda/),
  "not.toMatch": (e) => e("cpu").not.toMatch(/cuda/),
  "not.toMatch no": (e) => e("cuda").not.toMatch(/cuda/),
  "toBeGreaterThan": (e) => e(2).toBeGreaterThan(1),
  "toBeGreaterThan equal": (e) => e(1).toBeGreaterThan(1),
  "toBeGreaterThanOrEqual equal": (e) => e(1).toBeGreaterThanOrEqual(1),
  "toBeGreaterThanOrEqual less": (e) => e(0).toBeGreaterThanOrEqual(1),
  "toBeLessThan": (e) => e(1).toBeLessThan(2),
  "toBeLessThan NaN": (e) => e(NaN).toBeLessThan(2),
  "toBeInstanceOf": (e) => e(new Custom()).toBeInstanceOf(Error),
  "toBeInstanceOf no": (e) => e(new Error()).toBeInstanceOf(Custom),
  "toThrow regex": (e) => e(() => { throw new Error("float64 tensors are not supported"); }).toThrow(/float64/),
  "toThrow regex no": (e) => e(() => { throw new Error("other"); }).toThrow(/float64/),
  "toThrow nothing thrown": (e) => e(() => undefined).toThrow(),
  "toThrow class": (e) => e(() => { throw new Custom("x"); }).toThrow(Custom),
  "toThrow class no": (e) => e(() => { throw new Error("x"); }).toThrow(Custom),
  "toThrow objectContaining": (e) => e(() => { throw Object.assign(new Error("x"), { code: "DISPOSED" }); }).toThrow(e.objectContaining({ code: "DISPOSED" })),
  "toThrow objectContaining no": (e) => e(() => { throw Object.assign(new Error("x"), { code: "OTHER" }); }).toThrow(e.objectContaining({ code: "DISPOSED" })),
  "toContain": (e) => e(["bf16", "f32"]).toContain("f32"),
  "toContain no": (e) => e(["bf16", "f32"]).toContain("tf32"),
};

const throws = (fn: () => void): boolean => {
  try {
    fn();
    return false;
  } catch {
    return true;
  }
};

describe("vitest-lite", () => {
  it.each(Object.keys(CASES))("agrees with vitest on %s", (name) => {
    const check = CASES[name]!;
    expect(throws(() => check(lite.expect)), `vitest-lite's verdict on ${name}`).toBe(throws(() => check(vitestExpect)));
  });

  it("counts passes, failures and skips, and runs every test once", async () => {
    let runs = 0;
    lite.describe("suite", () => {
      lite.it("passes", () => {
        runs++;
        lite.expect(1).toBe(1);
      });
      lite.it("fails", () => {
        runs++;
        lite.expect(1).toBe(2);
      });
      lite.it("fails async", async () => {
        runs++;
        await Promise.resolve();
        throw new Error("late");
      });
      lite.it.skip("skipped", () => {
        runs++;
      });
    });
    lite.describe.skipIf(true)("skipped suite", () => {
      lite.it("inside", () => {
        runs++;
      });
    });
    const lines: string[] = [];
    const summary = await lite.runCollected({ print: (line) => lines.push(line) });
    expect([summary.passed, summary.failed, summary.skipped]).toEqual([1, 2, 2]);
    expect(runs).toBe(3);
    expect(lines.some((l) => l.includes("✗ suite > fails"))).toBe(true);
    expect(summary.tests.find((t) => t.name === "suite > fails async")?.error).toMatch(/late/);
  });
});
