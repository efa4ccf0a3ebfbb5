/** Which experiments claim a win, and the claimed gain, when the baseline is not seq 1. */
import { describe, expect, it } from "vitest";
import { claimedGain } from "../../src/tournament/night.ts";
import { baselineOf, claimsOf } from "../../src/verification/claims.ts";

type Row = { id: number; seq: number; status: "keep" | "discard" | "crash" | "skipped"; valBpb: number | null };
const row = (seq: number, status: Row["status"], valBpb: number | null = null): Row => ({ id: 100 + seq, seq, status, valBpb });

describe("the baseline and the claims of a run", () => {
  it("take the first keep as the baseline, and every later keep as a claim", () => {
    const run = [row(1, "keep", 2.0), row(2, "discard", 2.1), row(3, "keep", 1.9), row(4, "keep", 1.8)];
    expect(baselineOf(run)?.seq).toBe(1);
    expect(claimsOf(run).map((e) => e.seq)).toEqual([3, 4]);
    expect(claimedGain(run)).toBeCloseTo(0.2, 12);
  });

  it("find the baseline measured again after a kill cut the first one short", () => {
    // seq 1: the baseline, interrupted (skipped); seq 2: the baseline again, on resume.
    const run = [row(1, "skipped"), row(2, "keep", 2.5), row(3, "crash"), row(4, "keep", 2.2)];
    expect(baselineOf(run)?.seq).toBe(2);
    expect(claimsOf(run).map((e) => e.seq)).toEqual([4]);
    expect(claimedGain(run)).toBeCloseTo(0.3, 12);
  });

  it("read rows in any order", () => {
    const run = [row(4, "keep", 2.2), row(2, "keep", 2.5), row(1, "skipped")];
    expect(baselineOf(run)?.seq).toBe(2);
    expect(claimsOf(run).map((e) => e.seq)).toEqual([4]);
  });

  it("have no baseline, no claim and no gain before anything was kept, or with the baseline alone", () => {
    expect(baselineOf([row(1, "skipped")])).toBeUndefined();
    expect(claimsOf([row(1, "crash")])).toEqual([]);
    expect(claimedGain([row(1, "crash")])).toBe(0);
    expect(claimedGain([row(1, "skipped"), row(2, "keep", 2.5)])).toBe(0);
  });
});
