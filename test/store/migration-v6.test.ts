/**
 * Schema version 6: the 'negligible' verdict (a gain shown to lie within ±δ_min). A store
 * written at version 5 (the first five migrations, filled with raw SQL) is migrated on open
 * with its verifications and night results kept, ids included; then a negligible verdict makes
 * the round trip through the store, in a verification and in a night's result, and the schema
 * still refuses a verdict it does not know.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { LATEST_VERSION } from "../../src/store/migrations.ts";
import { openStore } from "../../src/store/index.ts";
import { openStoreAtVersion } from "../support/old-store.ts";

const root = mkdtempSync(join(tmpdir(), "ns-store-v6-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const sha = (s: string) => createHash("sha1").update(s).digest("hex");
const T = "2026-12-05T22:00:00.000Z";

function writeV5Store(path: string): void {
  const db = openStoreAtVersion(path, 5, T);
  const base = sha("base");
  db.exec(`
    INSERT INTO orgs (id, name, program_md, program_md_hash, created_at) VALUES (1, 'default', '# org', '${"a".repeat(64)}', '${T}');
    INSERT INTO runs (id, tag, org_id, branch, profile, time_budget, device_kind, agent, base_commit, status, started_at, ended_at)
      VALUES (3, 'dec5', 1, 'nightshift/dec5/default', 'cpu', 10, 'cpu', 'builtin', '${base}', 'finished', '${T}', '${T}');
    INSERT INTO experiments (id, run_id, seq, parent_commit, commit_hash, diff, description, status, outcome, reason, seed, created_at, started_at, finished_at)
      VALUES (20, 3, 1, '${base}', '${sha("e1")}', '+x', 'kept', 'crash', 'crash', 'boom', 42, '${T}', '${T}', '${T}');
    INSERT INTO verifications (id, experiment_id, parent_commit, commit_hash, verdict, seeds, reason, details_json, created_at)
      VALUES (8, 20, '${base}', '${sha("e1")}', 'inconclusive', 4, 'cap reached', '{"alpha":0.05}', '${T}');
    INSERT INTO tournaments (id, name, nights, base_commit, champion_commit, created_at) VALUES (1, 'week1', 1, '${base}', '${base}', '${T}');
    INSERT INTO nights (id, tournament_id, number, base_commit, created_at) VALUES (1, 1, 1, '${base}', '${T}');
    INSERT INTO night_results (id, night_id, org_id, run_id, experiment_id, verification_id, verdict, claimed_gain, verified_gain,
        device_seconds, experiments, score, rank, created_at)
      VALUES (4, 1, 1, 3, 20, 8, 'inconclusive', 0.01, 0, 60, 1, 0, 1, '${T}');
  `);
  db.close();
}

describe("migration to version 6", () => {
  it("keeps the verifications and night results of a version-5 store, then stores negligible verdicts", () => {
    const path = join(root, "v5.db");
    writeV5Store(path);
    const store = openStore(path);
    expect(store.schemaVersion).toBe(LATEST_VERSION);
    expect(LATEST_VERSION).toBeGreaterThanOrEqual(6);
    expect(store.runVerifications(3).map((v) => [v.id, v.experimentId, v.verdict, v.details])).toEqual([[8, 20, "inconclusive", { alpha: 0.05 }]]);
    expect(store.listNightResults(1).map((r) => [r.id, r.verificationId, r.rank])).toEqual([[4, 8, 1]]);

    const v = store.recordVerification({
      experimentId: 20,
      parentCommit: sha("base"),
      commit: sha("e1"),
      verdict: "negligible",
      seeds: 5,
      meanGain: 0.0002,
      reason: "the gain lies within ±δ_min 0.002 bpb",
      details: { margin: 0.002, effect: 0.004 },
    });
    expect(store.runVerifications(3).at(-1)).toEqual(v);
    expect(v).toMatchObject({ verdict: "negligible", details: { margin: 0.002 } });
    expect(store.checkIntegrity()).toEqual({ ok: true, problems: [] });
    store.close();

    const db = new Database(path);
    expect(() => db.prepare("UPDATE verifications SET verdict = 'tiny' WHERE id = ?").run(v.id)).toThrow(/CHECK constraint failed/);
    db.prepare("UPDATE night_results SET verdict = 'negligible' WHERE id = 4").run();
    expect(() => db.prepare("UPDATE night_results SET verdict = 'negligible', verified_gain = 0.1 WHERE id = 4").run()).toThrow(/CHECK constraint failed/);
    db.close();
  });
});
