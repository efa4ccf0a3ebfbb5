/**
 * Schema version 8: a measurement's verification session and throughput. A version-7 store's
 * measurements migrate as session-less (reused by noise floors, by no verification session) and
 * without a throughput; new measurements record both, and bad values are refused.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { LATEST_VERSION } from "../../src/store/migrations.ts";
import { openStore } from "../../src/store/index.ts";
import { openStoreAtVersion } from "../support/old-store.ts";

const root = mkdtempSync(join(tmpdir(), "ns-store-v8-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const sha = (s: string) => createHash("sha1").update(s).digest("hex");
const T = "2026-12-06T00:40:00.000Z";
const key = { commit: sha("c"), profile: "cpu" as const, timeBudget: 10, deviceKind: "cpu", dataset: "data" };

describe("migration to version 8", () => {
  it("keeps a version-7 store's measurements without a session; new ones record session and throughput", () => {
    const path = join(root, "v7.db");
    const db = openStoreAtVersion(path, 7, T);
    db.exec(`INSERT INTO measurements (id, commit_hash, seed, profile, time_budget, device_kind, dataset, purpose, outcome, val_bpb, training_seconds, num_steps, created_at)
      VALUES (4, '${key.commit}', 1000, 'cpu', 10, 'cpu', 'data', 'verify', 'ok', 3.1, 10, 40, '${T}')`);
    db.close();
    const store = openStore(path);
    expect(store.schemaVersion).toBe(LATEST_VERSION);
    expect(LATEST_VERSION).toBeGreaterThanOrEqual(8);
    expect(store.findMeasurements(key)).toEqual([expect.objectContaining({ id: 4, session: null, tokensPerSecond: null, valBpb: 3.1 })]);

    const made = store.recordMeasurement({ ...key, seed: 1001, purpose: "verify", outcome: "ok", valBpb: 3.0, session: "claim 7 vs abc", tokensPerSecond: 5120.5 });
    expect(made).toMatchObject({ session: "claim 7 vs abc", tokensPerSecond: 5120.5 });
    expect(() => store.recordMeasurement({ ...key, seed: 1002, purpose: "verify", outcome: "ok", valBpb: 3.0, session: "" })).toThrow(/session/);
    expect(() => store.recordMeasurement({ ...key, seed: 1002, purpose: "verify", outcome: "ok", valBpb: 3.0, tokensPerSecond: -1 })).toThrow(/tokensPerSecond must be ≥ 0/);
    store.close();
  });
});
