/**
 * Schema version 5: the 'invalid' outcome and experiment status, and `sandboxed` on experiments
 * and measurements. A store written at version 4 (built here from the first four migrations,
 * filled with raw SQL as that nightshift wrote it) is migrated on open with every row, id,
 * index and foreign key kept, and its old outcomes read back as sandboxed: null (unknown). Then,
 * at version 5: an invalid run is stored and read back with its evidence, only as status
 * invalid, and whether a run was sandboxed makes the round trip.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import type { RunResult, RunSummary } from "../../src/harness/types.ts";
import { LATEST_VERSION } from "../../src/store/migrations.ts";
import { StoreError, openStore } from "../../src/store/index.ts";
import { openStoreAtVersion } from "../support/old-store.ts";

const root = mkdtempSync(join(tmpdir(), "ns-store-v5-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const sha = (s: string) => createHash("sha1").update(s).digest("hex");
let n = 0;
const freshPath = () => join(root, `store-${++n}.db`);

const T = "2026-11-24T22:00:00.000Z";
const METRICS = "1.5, 10.1, 12.5, 0, 1.2, 0.5, 40, 0.4, 2";

/** A store at schema version 4, as nightshift wrote it before this migration, with rows in every table that points at experiments. */
function writeV4Store(path: string): void {
  const db = openStoreAtVersion(path, 4, T);
  const base = sha("base");
  db.exec(`
    INSERT INTO orgs (id, name, program_md, program_md_hash, created_at) VALUES (1, 'default', '# org', '${"a".repeat(64)}', '${T}');
    INSERT INTO runs (id, tag, org_id, branch, profile, time_budget, device_kind, agent, base_commit, status, started_at, ended_at)
      VALUES (7, 'nov24', 1, 'nightshift/nov24/default', 'cpu', 10, 'cpu', 'builtin', '${base}', 'finished', '${T}', '${T}');
    -- ids with gaps, a crash and its fix attempt, a discard, a skip: every status v4 knew.
    INSERT INTO experiments (id, run_id, seq, parent_commit, commit_hash, diff, description, status, outcome, reason,
        val_bpb, training_seconds, total_seconds, peak_vram_mb, mfu_percent, total_tokens_m, num_steps, num_params_m, depth,
        seed, log_tail, created_at, started_at, finished_at)
      VALUES (10, 7, 1, '${base}', '${sha("e1")}', '', 'baseline', 'keep', 'ok', NULL, ${METRICS}, 42, 'done', '${T}', '${T}', '${T}');
    INSERT INTO experiments (id, run_id, seq, parent_commit, commit_hash, diff, description, status, outcome, reason, seed, log_tail, created_at, started_at, finished_at)
      VALUES (12, 7, 2, '${sha("e1")}', '${sha("e2")}', '+x', 'boom', 'crash', 'crash', 'RangeError: boom', 42, 'Traceback', '${T}', '${T}', '${T}');
    INSERT INTO experiments (id, run_id, seq, parent_commit, commit_hash, diff, description, status, outcome, reason,
        val_bpb, training_seconds, total_seconds, peak_vram_mb, mfu_percent, total_tokens_m, num_steps, num_params_m, depth,
        seed, fix_attempt, fix_of, created_at, started_at, finished_at)
      VALUES (15, 7, 3, '${sha("e1")}', '${sha("e3")}', '+y', 'fixed', 'discard', 'ok', 'not better', ${METRICS}, 42, 1, 12, '${T}', '${T}', '${T}');
    INSERT INTO experiments (id, run_id, seq, parent_commit, description, status, reason, created_at, finished_at)
      VALUES (16, 7, 4, '${sha("e1")}', 'gave up', 'skipped', 'the agent gave up', '${T}', '${T}');
    INSERT INTO agent_calls (id, run_id, experiment_id, purpose, model, input_tokens, output_tokens, cost_usd, ok, created_at)
      VALUES (3, 7, 15, 'fix', 'builtin', 10, 20, 0.5, 1, '${T}');
    INSERT INTO measurements (id, commit_hash, seed, profile, time_budget, device_kind, dataset, purpose, outcome, val_bpb, test_bpb, created_at)
      VALUES (4, '${sha("e1")}', 1000, 'cpu', 10, 'cpu', 'tiny', 'verify', 'ok', 1.49, 1.51, '${T}');
    INSERT INTO measurements (id, commit_hash, seed, profile, time_budget, device_kind, dataset, purpose, outcome, error, created_at)
      VALUES (9, '${sha("e3")}', 1000, 'cpu', 10, 'cpu', 'tiny', 'verify', 'timeout', 'ran past the hard limit', '${T}');
    INSERT INTO verifications (id, experiment_id, parent_commit, commit_hash, verdict, seeds, reason, created_at)
      VALUES (5, 15, '${sha("e1")}', '${sha("e3")}', 'noise', 3, 'mean gain 0', '${T}');
    INSERT INTO tournaments (id, name, nights, base_commit, champion_commit, created_at) VALUES (1, 'week1', 1, '${base}', '${base}', '${T}');
    INSERT INTO nights (id, tournament_id, number, base_commit, created_at) VALUES (1, 1, 1, '${base}', '${T}');
    INSERT INTO night_results (id, night_id, org_id, run_id, experiment_id, verification_id, verdict, claimed_gain, verified_gain,
        device_seconds, experiments, score, rank, created_at)
      VALUES (1, 1, 1, 7, 15, 5, 'noise', 0.01, 0, 60, 4, 0, 1, '${T}');
  `);
  db.close();
}

/** Table and index definitions, by name (the schema a migrated store must share with a fresh one). */
function schemaOf(path: string): Record<string, string> {
  const db = new Database(path, { readonly: true });
  const rows = db.prepare("SELECT type, name, sql FROM sqlite_schema WHERE sql IS NOT NULL ORDER BY name").all() as { type: string; name: string; sql: string }[];
  db.close();
  return Object.fromEntries(rows.map((r) => [`${r.type} ${r.name}`, r.sql]));
}

describe("migration to version 5", () => {
  it("keeps every row and id of a version-4 store; old outcomes read back as sandboxed: null", () => {
    const path = freshPath();
    writeV4Store(path);
    const store = openStore(path);
    expect(store.schemaVersion).toBe(LATEST_VERSION);
    expect(LATEST_VERSION).toBeGreaterThanOrEqual(5);

    const experiments = store.listExperiments(7);
    expect(experiments.map((e) => [e.id, e.seq, e.status, e.outcome, e.fixOf])).toEqual([
      [10, 1, "keep", "ok", null],
      [12, 2, "crash", "crash", null],
      [15, 3, "discard", "ok", 12],
      [16, 4, "skipped", null, null],
    ]);
    expect(experiments.every((e) => e.sandboxed === null)).toBe(true);
    expect(experiments[0]!.summary).toMatchObject({ val_bpb: 1.5, num_steps: 40, depth: 2 });
    expect(experiments[1]!.reason).toBe("RangeError: boom");
    expect(store.listAgentCalls(7)).toEqual([expect.objectContaining({ id: 3, experimentId: 15, purpose: "fix", costUsd: 0.5 })]);

    const measured = store.findMeasurements({ commit: sha("e1"), profile: "cpu", timeBudget: 10, deviceKind: "cpu", dataset: "tiny" });
    expect(measured).toEqual([expect.objectContaining({ id: 4, outcome: "ok", valBpb: 1.49, testBpb: 1.51, sandboxed: null })]);
    const failed = store.findMeasurements({ commit: sha("e3"), profile: "cpu", timeBudget: 10, deviceKind: "cpu", dataset: "tiny" });
    expect(failed).toEqual([expect.objectContaining({ id: 9, outcome: "timeout", error: "ran past the hard limit", sandboxed: null })]);

    expect(store.runVerifications(7).map((v) => [v.id, v.experimentId, v.verdict])).toEqual([[5, 15, "noise"]]);
    expect(store.listNightResults(1).map((r) => [r.id, r.experimentId, r.verificationId])).toEqual([[1, 15, 5]]);
    expect(store.checkIntegrity()).toEqual({ ok: true, problems: [] });

    // New rows continue after the kept ids.
    const next = store.proposeExperiment({ runId: 7, parentCommit: sha("e1"), description: "next", hypothesis: "h" });
    expect(next.seq).toBe(5);
    expect(next.id).toBeGreaterThan(16);
    store.close();
  });

  it("leaves the same tables, columns, constraints and indexes as a fresh store, and no copy behind", () => {
    const old = freshPath();
    writeV4Store(old);
    openStore(old).close();
    const fresh = freshPath();
    openStore(fresh).close();
    const migrated = schemaOf(old);
    expect(migrated).toEqual(schemaOf(fresh));
    expect(Object.keys(migrated).filter((k) => k.startsWith("index "))).toEqual(
      expect.arrayContaining(["index experiments_run_status", "index experiments_commit", "index measurements_key", "index verifications_experiment"]),
    );
    expect(Object.keys(migrated).some((k) => /_copy$/.test(k))).toBe(false);
    expect(Object.keys(migrated).some((k) => k.startsWith("trigger "))).toBe(false);
    expect(migrated["table experiments"]).toMatch(/sandboxed\s+INTEGER/);
    expect(migrated["table measurements"]).toMatch(/'invalid'/);
  });
});

// ---- at version 5 ------------------------------------------------------------------------------

const summary: RunSummary = { val_bpb: 1.4, training_seconds: 10, total_seconds: 12, peak_vram_mb: 0, mfu_percent: 1, total_tokens_M: 0.5, num_steps: 40, num_params_M: 0.4, depth: 2 };
const result = (over: Partial<RunResult>): RunResult => ({ status: "ok", summary, logTail: "tail", seed: 42, profile: "cpu", timeBudget: 10, sandboxed: true, ...over });
const PROBE = "causality probe: logits at position 9 changed when only later tokens changed (max |Δ| 2.7)";

function runningExperiment() {
  const path = freshPath();
  const store = openStore(path);
  const org = store.createOrg({ name: "o", programMd: "# o\n" });
  const run = store.createRun({ tag: "t", orgId: org.id, branch: "nightshift/t/o", profile: "cpu", timeBudget: 10, deviceKind: "cpu", agent: "anthropic", baseCommit: sha("b") });
  let k = 0;
  const start = () => {
    const e = store.proposeExperiment({ runId: run.id, parentCommit: sha("b"), description: `e${++k}`, hypothesis: "h" });
    return store.startExperiment(e.id, { commit: sha(`c${k}`), diff: "+x", seed: 42 });
  };
  return { store, run, start, path };
}

describe("invalid runs", () => {
  it("are stored as status invalid with the probe's evidence as the reason, and read back", () => {
    const { store, run, start } = runningExperiment();
    const e = start();
    const done = store.finishExperiment(e.id, { status: "invalid", result: result({ status: "invalid", summary: undefined, error: PROBE, sandboxed: false }) });
    expect(done).toMatchObject({ status: "invalid", outcome: "invalid", reason: PROBE, summary: null, sandboxed: false });
    expect(store.getExperiment(e.id)).toEqual(done);
    // A finished result: in the agents' history and results.tsv with its own status, never the head.
    expect(store.runHistory(run.id)).toEqual([expect.objectContaining({ status: "invalid", val_bpb: null })]);
    expect(store.resultsTsv(run.id)).toMatch(/\tinvalid\te1\n$/);
    expect(store.runHead(run.id)).toBe(sha("b"));
    store.close();
  });

  it("may only be recorded as invalid, and only an invalid run may be", () => {
    const { store, start } = runningExperiment();
    const cheat = result({ status: "invalid", summary: undefined, error: PROBE });
    for (const status of ["keep", "discard", "crash"] as const) {
      const e = start();
      const err = (() => {
        try {
          store.finishExperiment(e.id, { status, result: cheat, reason: "why" });
        } catch (x) {
          return x as StoreError;
        }
        throw new Error("expected a refusal");
      })();
      expect(err.code).toBe("STORE_INVALID_ARGUMENT");
      expect(store.getExperiment(e.id).status).toBe("running");
    }
    for (const r of [result({}), result({ status: "crash", summary: undefined, error: "boom" })]) {
      const e = start();
      expect(() => store.finishExperiment(e.id, { status: "invalid", result: r })).toThrow(/only a run the evaluator found invalid/);
    }
    store.close();
  });

  it("the schema itself refuses an invalid outcome under another status, and a status invalid without one", () => {
    const { store, start, path } = runningExperiment();
    const e = store.finishExperiment(start().id, { status: "invalid", result: result({ status: "invalid", summary: undefined, error: PROBE }) });
    store.close();
    const db = new Database(path);
    expect(() => db.prepare("UPDATE experiments SET status = 'crash' WHERE id = ?").run(e.id)).toThrow(/CHECK constraint failed/);
    expect(() => db.prepare("UPDATE experiments SET outcome = 'crash' WHERE id = ?").run(e.id)).toThrow(/CHECK constraint failed/);
    expect(() => db.prepare("UPDATE experiments SET reason = NULL WHERE id = ?").run(e.id)).toThrow(/CHECK constraint failed/);
    db.close();
  });

  it("takes a reason by default from the outcome when the result carries no evidence", () => {
    const { store, start } = runningExperiment();
    const done = store.finishExperiment(start().id, { status: "invalid", result: result({ status: "invalid", summary: undefined }) });
    expect(done.reason).toBe("run ended invalid");
    store.close();
  });

  it("invalid measurements are stored with their evidence", () => {
    const { store } = runningExperiment();
    const m = store.recordMeasurement({ commit: sha("c"), profile: "cpu", timeBudget: 10, deviceKind: "cpu", dataset: "d", seed: 1000, purpose: "verify", outcome: "invalid", error: PROBE, sandboxed: true });
    expect(m).toMatchObject({ outcome: "invalid", valBpb: null, error: PROBE, sandboxed: true });
    store.close();
  });
});

describe("sandboxed", () => {
  it("round-trips on experiments: true, false, and null until the experiment finishes", () => {
    const { store, start } = runningExperiment();
    const a = start();
    expect(a.sandboxed).toBeNull();
    expect(store.finishExperiment(a.id, { status: "keep", result: result({ sandboxed: true }) }).sandboxed).toBe(true);
    const b = start();
    const crashed = store.finishExperiment(b.id, { status: "crash", result: result({ status: "crash", summary: undefined, error: "boom", sandboxed: false }) });
    expect(crashed.sandboxed).toBe(false);
    expect(store.getExperiment(b.id).sandboxed).toBe(false);
    const skipped = store.skipExperiment(start().id, "interrupted");
    expect(skipped.sandboxed).toBeNull();
    store.close();
  });

  it("is required of a finished run's result", () => {
    const { store, start } = runningExperiment();
    const e = start();
    const { sandboxed: _dropped, ...withoutSandboxed } = result({});
    expect(() => store.finishExperiment(e.id, { status: "keep", result: withoutSandboxed as RunResult })).toThrow(/result\.sandboxed must be a boolean/);
    store.close();
  });

  it("round-trips on measurements, null when not given", () => {
    const { store } = runningExperiment();
    const key = { commit: sha("m"), profile: "cpu" as const, timeBudget: 10, deviceKind: "cpu", dataset: "d" };
    store.recordMeasurement({ ...key, seed: 1, purpose: "noise", outcome: "ok", valBpb: 1.5, sandboxed: true });
    store.recordMeasurement({ ...key, seed: 2, purpose: "noise", outcome: "ok", valBpb: 1.6, sandboxed: false });
    store.recordMeasurement({ ...key, seed: 3, purpose: "noise", outcome: "ok", valBpb: 1.7 });
    expect(store.findMeasurements(key).map((m) => m.sandboxed)).toEqual([true, false, null]);
    expect(() => store.recordMeasurement({ ...key, seed: 4, purpose: "noise", outcome: "ok", valBpb: 1.7, sandboxed: "yes" as never })).toThrow(/sandboxed must be a boolean/);
    store.close();
  });
});
