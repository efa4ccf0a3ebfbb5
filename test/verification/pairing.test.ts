/**
 * Pairing that controls time (pairing.ts): the ABBA order (each block of two seeds runs once
 * each way round, its start drawn from the session, the same on every call), the two trainings
 * of a pair back to back in that order, and the throughput check that keeps a verdict from
 * being decided on pairs whose load changed within them.
 */
import { describe, expect, it } from "vitest";
import type { Measurement } from "../../src/store/index.ts";
import { DEFAULT_THROUGHPUT_BOUND, checkThroughput, parentFirst, sessionOf, trainPair } from "../../src/verification/pairing.ts";

const m = (tokensPerSecond: number | null, outcome: Measurement["outcome"] = "ok") => ({ outcome, valBpb: 3, tokensPerSecond }) as Measurement;

describe("ABBA order", () => {
  it("runs the two seeds of every block in opposite orders, drawn per session and stable across calls", () => {
    const session = sessionOf(12, "a".repeat(40));
    const orders = Array.from({ length: 40 }, (_, i) => parentFirst(session, "verify", i));
    for (let b = 0; b < 20; b++) expect(orders[2 * b]).toBe(!orders[2 * b + 1]);
    expect(Array.from({ length: 40 }, (_, i) => parentFirst(session, "verify", i))).toEqual(orders);
    // The block's start is a coin: over many sessions both starts are common.
    const starts = Array.from({ length: 400 }, (_, k) => parentFirst(sessionOf(k, "b".repeat(40)), "verify", 0));
    const parentStarts = starts.filter(Boolean).length;
    expect(parentStarts).toBeGreaterThan(150);
    expect(parentStarts).toBeLessThan(250);
    expect(sessionOf(12, "c".repeat(40))).not.toBe(session);
  });

  it("trains the pair back to back in that order", async () => {
    const session = sessionOf(3, "d".repeat(40));
    for (let index = 0; index < 4; index++) {
      const trained: string[] = [];
      const pair = await trainPair({ session, stream: "verify", index }, async (which) => {
        trained.push(which);
        return m(which === "parent" ? 100 : 90);
      });
      expect(trained).toEqual(parentFirst(session, "verify", index) ? ["parent", "candidate"] : ["candidate", "parent"]);
      expect([pair.parent.tokensPerSecond, pair.candidate.tokensPerSecond]).toEqual([100, 90]);
    }
  });
});

describe("checkThroughput", () => {
  it("accepts a candidate that is steadily slower or faster than its parent", () => {
    const c = checkThroughput([{ parent: m(100), candidate: m(80) }, { parent: m(60), candidate: m(48) }, { parent: m(90), candidate: m(73) }], DEFAULT_THROUGHPUT_BOUND);
    expect(c.reliable).toBe(true);
    expect(c.ratios).toHaveLength(3);
    expect(c.spread).toBeCloseTo(0.8111 / 0.8 - 1, 3);
  });

  it("refuses pairs whose load changed within them, and ignores pairs without a throughput", () => {
    const c = checkThroughput([{ parent: m(100), candidate: m(100) }, { parent: m(100), candidate: m(40) }, { parent: m(null, "crash"), candidate: m(90) }], 0.5);
    expect(c.ratios).toEqual([1, 0.4]);
    expect(c.spread).toBeCloseTo(1.5, 12);
    expect(c.reliable).toBe(false);
    expect(checkThroughput([{ parent: m(100), candidate: m(10) }], 0.5)).toMatchObject({ spread: 0, reliable: true });
  });
});
