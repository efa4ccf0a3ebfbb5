/**
 * The seeded PRNG behind the bootstrap and the simulations: reproducible, uniform, normal.
 */
import { describe, expect, it } from "vitest";
import { SeededRandom } from "../../src/stats/index.ts";

describe("SeededRandom", () => {
  it("repeats its stream for a seed and differs between seeds (0 included)", () => {
    const a = new SeededRandom(7);
    const b = new SeededRandom(7);
    const xs = Array.from({ length: 5 }, () => a.nextUint32());
    expect(Array.from({ length: 5 }, () => b.nextUint32())).toEqual(xs);
    expect(new SeededRandom(8).nextUint32()).not.toBe(xs[0]);
    const zero = new SeededRandom(0);
    expect(new Set(Array.from({ length: 100 }, () => zero.nextUint32())).size).toBe(100);
  });

  it("draws uniforms in [0, 1) and standard normals with the right moments", () => {
    const r = new SeededRandom(1);
    const n = 200_000;
    let su = 0;
    let sn = 0;
    let sn2 = 0;
    let below = 0;
    let outside = 0;
    for (let i = 0; i < n; i++) {
      const u = r.uniform();
      if (!(u >= 0 && u < 1)) outside++;
      su += u;
      const z = r.normal();
      sn += z;
      sn2 += z * z;
      if (z < -1.959963984540054) below++;
    }
    expect(outside).toBe(0);
    expect(Math.abs(su / n - 0.5)).toBeLessThan(4 * Math.sqrt(1 / 12 / n));
    expect(Math.abs(sn / n)).toBeLessThan(4 / Math.sqrt(n));
    expect(Math.abs(sn2 / n - 1)).toBeLessThan(4 * Math.sqrt(2 / n));
    expect(Math.abs(below / n - 0.025)).toBeLessThan(4 * Math.sqrt((0.025 * 0.975) / n));
  });

  it("draws integers below n", () => {
    const r = new SeededRandom(2);
    const counts = [0, 0, 0];
    for (let i = 0; i < 3000; i++) counts[r.integer(3)]!++;
    for (const c of counts) expect(c).toBeGreaterThan(850);
  });
});
