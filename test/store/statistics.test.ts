/**
 * The statistics records on a real SQLite file: measurements found by their conditions (and
 * only those), noise floors, verifications (the latest per experiment), and bad input refused
 * with a StoreError naming the argument.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { type NewMeasurement, StoreError, openStore } from "../../src/store/index.ts";

const root = mkdtempSync(join(tmpdir(), "ns-store-stats-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const sha = (s: string) => createHash("sha1").update(s).digest("hex");
let n = 0;

function freshStoreWithExperiment() {
  const store = openStore(join(root, `s${++n}.db`));
  const org = store.createOrg({ name: "org", programMd: "# org\n" });
  const run = store.createRun({ tag: "t", orgId: org.id, branch: "nightshift/t/org", profile: "cpu", timeBudget: 10, deviceKind: "cpu", agent: "builtin", baseCommit: sha("base") });
  const e = store.proposeExperiment({ runId: run.id, parentCommit: sha("base"), description: "x", hypothesis: "y" });
  return { store, run, e };
}

const key = { commit: sha("c1"), profile: "cpu" as const, timeBudget: 10, deviceKind: "cpu", dataset: "d1" };
const ok = (seed: number, valBpb: number): NewMeasurement => ({ ...key, seed, purpose: "verify", outcome: "ok", valBpb, trainingSeconds: 10, numSteps: 30 });

function storeError(fn: () => unknown): StoreError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(StoreError);
    return err as StoreError;
  }
  throw new Error("expected a StoreError");
}

describe("measurements", () => {
  it("are found by commit, profile, budget, device kind and dataset, oldest first", () => {
    const { store } = freshStoreWithExperiment();
    store.recordMeasurement(ok(1, 1.5));
    store.recordMeasurement({ ...key, seed: 2, purpose: "noise", outcome: "crash", error: "boom" });
    store.recordMeasurement({ ...ok(1, 1.4), timeBudget: 20 }); // other conditions
    store.recordMeasurement({ ...ok(1, 1.3), dataset: "d2" });
    const found = store.findMeasurements(key);
    expect(found.map((m) => [m.seed, m.outcome, m.valBpb])).toEqual([
      [1, "ok", 1.5],
      [2, "crash", null],
    ]);
    expect(found[1]!.error).toBe("boom");
    store.close();
  });

  it("refuses inconsistent or malformed measurements", () => {
    const { store } = freshStoreWithExperiment();
    expect(storeError(() => store.recordMeasurement({ ...key, seed: 1, purpose: "verify", outcome: "ok" })).message).toMatch(/valBpb is given exactly when/);
    expect(storeError(() => store.recordMeasurement({ ...key, seed: 1, purpose: "verify", outcome: "crash" })).message).toMatch(/needs its error/);
    expect(storeError(() => store.recordMeasurement({ ...ok(1, 1), commit: "abc" })).message).toMatch(/commit must be a full/);
    expect(storeError(() => store.recordMeasurement({ ...ok(1, Number.NaN) })).message).toMatch(/valBpb must be a finite number/);
    expect(storeError(() => store.recordMeasurement({ ...ok(1, 1), purpose: "other" as never })).message).toMatch(/purpose must be one of/);
    expect(store.findMeasurements(key)).toEqual([]);
    store.close();
  });
});

describe("noise floors and verifications", () => {
  it("keeps the latest noise floor per conditions and the latest verification per experiment", () => {
    const { store, run, e } = freshStoreWithExperiment();
    const { commit: _c, ...conditions } = key;
    expect(store.latestNoiseFloor(conditions)).toBeUndefined();
    store.recordNoiseFloor({ ...key, seeds: 3, mean: 1.5, sd: 0.01, mde: 0.02 });
    store.recordNoiseFloor({ ...key, seeds: 5, mean: 1.49, sd: 0.012, mde: 0.018 });
    expect(store.latestNoiseFloor(conditions)).toMatchObject({ seeds: 5, sd: 0.012 });
    expect(store.latestNoiseFloor({ ...conditions, deviceKind: "H100" })).toBeUndefined();

    const base = { experimentId: e.id, parentCommit: sha("base"), commit: sha("c1") };
    store.recordVerification({ ...base, verdict: "inconclusive", seeds: 2, reason: "too few seeds" });
    store.recordVerification({ ...base, verdict: "real", seeds: 6, meanGain: 0.03, pValue: 0.001, pAdjusted: 0.002, reason: "p < alpha", details: { ci: [0.01, 0.05] } });
    const vs = store.runVerifications(run.id);
    expect(vs).toHaveLength(1);
    expect(vs[0]).toMatchObject({ verdict: "real", seeds: 6, pAdjusted: 0.002, details: { ci: [0.01, 0.05] } });

    expect(storeError(() => store.recordVerification({ ...base, experimentId: 999, verdict: "real", seeds: 1, reason: "r" })).code).toBe("STORE_UNKNOWN_EXPERIMENT");
    expect(storeError(() => store.recordVerification({ ...base, verdict: "maybe" as never, seeds: 1, reason: "r" })).message).toMatch(/verdict must be one of/);
    expect(storeError(() => store.recordVerification({ ...base, verdict: "real", seeds: 1, pValue: 1.5, reason: "r" })).message).toMatch(/pValue must be in \[0, 1\]/);
    expect(storeError(() => store.recordNoiseFloor({ ...key, seeds: 1, mean: 1, sd: 0, mde: 0 })).message).toMatch(/seeds must be an integer >= 2/);
    store.close();
  });
});
