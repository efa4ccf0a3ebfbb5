/**
 * Schema version 9: imported runs. A version-8 store (the first eight migrations, filled with raw
 * SQL as that nightshift wrote it) migrates on open with every experiment row, id, index and
 * foreign key kept, its runs read back as not imported and its rows as imported: false. Then, at
 * version 9: importRun writes a run with the results.tsv shape (val_bpb and memory only, no
 * times), the same source again writes nothing, another source under the same name is refused,
 * and the relaxed CHECKs hold for imported rows only.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { LATEST_VERSION } from "../../src/store/migrations.ts";
import { type NewImportedRun, openStore } from "../../src/store/index.ts";
import { openStoreAtVersion } from "../support/old-store.ts";

const root = mkdtempSync(join(tmpdir(), "ns-store-v9-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const sha = (s: string) => createHash("sha1").update(s).digest("hex");
let n = 0;
const freshPath = () => join(root, `store-${++n}.db`);
const T = "2026-12-10T08:00:00.000Z";
const METRICS = "1.5, 10.1, 12.5, 900, 1.2, 0.5, 40, 0.4, 2";

function writeV8Store(path: string): void {
  const db = openStoreAtVersion(path, 8, T);
  const base = sha("base");
  db.exec(`
    INSERT INTO orgs (id, name, program_md, program_md_hash, created_at) VALUES (1, 'default', '# org', '${"a".repeat(64)}', '${T}');
    INSERT INTO runs (id, tag, org_id, branch, profile, time_budget, device_kind, agent, base_commit, status, started_at, ended_at, memory_json)
      VALUES (3, 'dec10', 1, 'nightshift/dec10/default', 'cpu', 10, 'cpu', 'builtin', '${base}', 'finished', '${T}', '${T}', '{"entries":[]}');
    INSERT INTO experiments (id, run_id, seq, parent_commit, commit_hash, diff, description, status, outcome, reason,
        val_bpb, training_seconds, total_seconds, peak_vram_mb, mfu_percent, total_tokens_m, num_steps, num_params_m, depth,
        seed, created_at, started_at, finished_at, sandboxed, agent_calls, input_tokens, cache_read_tokens, cache_write_tokens)
      VALUES (20, 3, 1, '${base}', '${base}', '', 'baseline', 'keep', 'ok', NULL, ${METRICS}, 42, '${T}', '${T}', '${T}', 1, 1, 100, 60, 30);
    INSERT INTO experiments (id, run_id, seq, parent_commit, commit_hash, diff, description, status, outcome, reason, seed, log_tail, created_at, started_at, finished_at, sandboxed)
      VALUES (22, 3, 2, '${base}', '${sha("e2")}', '+x', 'boom', 'crash', 'crash', 'RangeError: boom', 42, 'Traceback', '${T}', '${T}', '${T}', 1);
    INSERT INTO experiments (id, run_id, seq, parent_commit, commit_hash, diff, description, status, outcome, reason,
        val_bpb, training_seconds, total_seconds, peak_vram_mb, mfu_percent, total_tokens_m, num_steps, num_params_m, depth,
        seed, fix_attempt, fix_of, created_at, started_at, finished_at, sandboxed)
      VALUES (25, 3, 3, '${base}', '${sha("e3")}', '+y', 'fixed', 'keep', 'ok', NULL, ${METRICS}, 42, 1, 22, '${T}', '${T}', '${T}', 0);
    INSERT INTO experiments (id, run_id, seq, parent_commit, description, status, reason, created_at, finished_at)
      VALUES (26, 3, 4, '${sha("e3")}', 'gave up', 'skipped', 'the agent gave up', '${T}', '${T}');
    INSERT INTO agent_calls (id, run_id, experiment_id, purpose, model, input_tokens, output_tokens, cache_read_tokens, cost_usd, ok, created_at)
      VALUES (4, 3, 25, 'fix', 'builtin', 10, 20, 5, 0.5, 1, '${T}');
    INSERT INTO verifications (id, experiment_id, parent_commit, commit_hash, verdict, seeds, reason, created_at)
      VALUES (6, 25, '${base}', '${sha("e3")}', 'negligible', 4, 'within the margin', '${T}');
  `);
  db.close();
}

function schemaOf(path: string): Record<string, string> {
  const db = new Database(path, { readonly: true });
  const rows = db.prepare("SELECT type, name, sql FROM sqlite_schema WHERE sql IS NOT NULL ORDER BY name").all() as { type: string; name: string; sql: string }[];
  db.close();
  return Object.fromEntries(rows.map((r) => [`${r.type} ${r.name}`, r.sql]));
}

const head = sha("head");
function importedRun(overrides: Partial<NewImportedRun> = {}): NewImportedRun {
  return {
    tag: "mar5",
    org: { name: "autoresearch", programMd: "# autoresearch\nrun experiments\n" },
    branch: "autoresearch/mar5",
    profile: "gpu",
    timeBudget: 300,
    deviceKind: "imported",
    agent: "autoresearch",
    baseCommit: sha("b"),
    startedAt: "2026-03-05T20:00:00.000Z",
    endedAt: "2026-03-06T04:00:00.000Z",
    source: { kind: "autoresearch", repo: "/repos/autoresearch", branch: "autoresearch/mar5", tag: "mar5", head, resultsPath: "/repos/autoresearch/results.tsv", resultsSha256: "c".repeat(64) },
    experiments: [
      { parentCommit: sha("b"), commit: sha("b"), diff: "", description: "baseline", status: "keep", valBpb: 0.9979, peakVramMb: 45060.2 },
      { parentCommit: sha("b"), commit: sha("k"), diff: "-x\n+y\n", description: "LR 0.04", status: "keep", valBpb: 0.9932, peakVramMb: 45060.2 },
      { parentCommit: sha("k"), commit: "a1b2c3d", diff: null, description: "GeLU", status: "discard", valBpb: 1.0051, peakVramMb: null },
      { parentCommit: sha("k"), commit: sha("c"), diff: "+z\n", description: "double width", status: "crash", valBpb: null, peakVramMb: null, reason: "crashed (autoresearch recorded no log)" },
    ],
    ...overrides,
  };
}

describe("migration to version 9", () => {
  it("keeps every row, id and foreign key of a version-8 store; its runs and rows read back as not imported", () => {
    const path = freshPath();
    writeV8Store(path);
    const store = openStore(path);
    expect(store.schemaVersion).toBe(LATEST_VERSION);
    expect(LATEST_VERSION).toBeGreaterThanOrEqual(9);
    const run = store.getRun(3);
    expect(run.importedFrom).toBeNull();
    expect(store.runMemory(3)).toEqual({ entries: [] });
    const rows = store.listExperiments(3);
    expect(rows.map((e) => [e.id, e.seq, e.status, e.imported])).toEqual([
      [20, 1, "keep", false],
      [22, 2, "crash", false],
      [25, 3, "keep", false],
      [26, 4, "skipped", false],
    ]);
    expect(rows[0]).toMatchObject({ summary: { val_bpb: 1.5, peak_vram_mb: 900, depth: 2 }, valBpb: 1.5, sandboxed: true, usage: { inputTokens: 100, cacheReadTokens: 60, cacheWriteTokens: 30 } });
    expect(rows[2]).toMatchObject({ fixOf: 22, fixAttempt: 1, sandboxed: false });
    expect(store.listAgentCalls(3)).toEqual([expect.objectContaining({ id: 4, experimentId: 25, cacheReadTokens: 5 })]);
    expect(store.runVerifications(3)).toEqual([expect.objectContaining({ id: 6, experimentId: 25, verdict: "negligible" })]);
    expect(store.checkIntegrity()).toEqual({ ok: true, problems: [] });
    store.close();

    // A migrated store has the schema a fresh one has: no copy table left, the indexes back.
    const fresh = freshPath();
    openStore(fresh).close();
    const migrated = schemaOf(path);
    expect(migrated).toEqual(schemaOf(fresh));
    expect(Object.keys(migrated).some((k) => /_copy$/.test(k))).toBe(false);
    expect(Object.keys(migrated).filter((k) => k.startsWith("index experiments"))).toEqual(["index experiments_commit", "index experiments_run_status"]);
    expect(migrated["table runs"]).toMatch(/import_json/);
  });

  it("still refuses a trained row without its summary: the relaxed CHECKs are for imported rows only", () => {
    const path = freshPath();
    writeV8Store(path);
    openStore(path).close();
    const db = new Database(path);
    const insert = (imported: number) =>
      db.prepare(
        `INSERT INTO experiments (run_id, seq, parent_commit, commit_hash, status, outcome, val_bpb, created_at, imported)
         VALUES (3, 9, '${sha("base")}', '${sha("x")}', 'discard', 'ok', 1.2, '${T}', ?)`,
      ).run(imported);
    expect(() => insert(0)).toThrow(/CHECK constraint failed/);
    expect(() => insert(1)).not.toThrow();
    // An imported row is only ever keep, discard or crash.
    expect(() =>
      db.prepare(`INSERT INTO experiments (run_id, seq, parent_commit, status, reason, created_at, finished_at, imported) VALUES (3, 10, '${sha("base")}', 'skipped', 'x', '${T}', '${T}', 1)`).run(),
    ).toThrow(/CHECK constraint failed/);
    db.close();
  });
});

describe("importRun", () => {
  it("writes the run, its org and its rows as results.tsv has them, and reads them back through the ordinary reads", () => {
    const store = openStore(freshPath(), { now: () => new Date(T) });
    const { run, created } = store.importRun(importedRun());
    expect(created).toBe(true);
    expect(run).toMatchObject({ tag: "mar5", branch: "autoresearch/mar5", status: "finished", profile: "gpu", timeBudget: 300, agent: "autoresearch", startedAt: "2026-03-05T20:00:00.000Z", endedAt: "2026-03-06T04:00:00.000Z" });
    expect(run.importedFrom).toEqual({ ...importedRun().source, importedAt: T });
    expect(store.getOrg(run.orgId)).toMatchObject({ name: "autoresearch", mutationNote: "imported from autoresearch" });
    const rows = store.listExperiments(run.id);
    expect(rows.map((e) => [e.seq, e.status, e.outcome, e.valBpb, e.imported, e.summary])).toEqual([
      [1, "keep", "ok", 0.9979, true, null],
      [2, "keep", "ok", 0.9932, true, null],
      [3, "discard", "ok", 1.0051, true, null],
      [4, "crash", "crash", null, true, null],
    ]);
    expect(rows[2]).toMatchObject({ commit: "a1b2c3d", diff: null, startedAt: null, finishedAt: null, seed: null, sandboxed: null });
    expect(store.listExperimentBriefs([run.id]).map((b) => [b.peakVramMb, b.imported])).toEqual([[45060.2, true], [45060.2, true], [null, true], [null, true]]);
    expect(store.resultsTsv(run.id)).toBe(
      "commit\tval_bpb\tmemory_gb\tstatus\tdescription\n" +
        `${sha("b").slice(0, 7)}\t0.997900\t44.0\tkeep\tbaseline\n${sha("k").slice(0, 7)}\t0.993200\t44.0\tkeep\tLR 0.04\n` +
        `a1b2c3d\t1.005100\t0.0\tdiscard\tGeLU\n${sha("c").slice(0, 7)}\t0.000000\t0.0\tcrash\tdouble width\n`,
    );
    expect(store.findExperimentsByCommit("a1b2c3d")).toHaveLength(1);
    store.close();
  });

  it("imports the same source once: again, it finds the run and writes nothing", () => {
    const path = freshPath();
    const store = openStore(path);
    const first = store.importRun(importedRun());
    const again = store.importRun(importedRun({ org: { name: "other-name", programMd: "ignored" } }));
    expect(again).toEqual({ run: first.run, created: false });
    expect(store.listRuns()).toHaveLength(1);
    expect(store.listOrgs().map((o) => o.name)).toEqual(["autoresearch"]);
    expect(store.listExperiments(first.run.id)).toHaveLength(4);
    store.close();
  });

  it("refuses another source under a taken name, and an org name taken by another program.md, writing nothing", () => {
    const store = openStore(freshPath());
    store.importRun(importedRun());
    const grown = importedRun({ source: { ...importedRun().source, resultsSha256: "d".repeat(64) } });
    expect(() => store.importRun(grown)).toThrow(/run "autoresearch\/mar5" was imported before from \/repos\/autoresearch .*import this one under another name/);
    const otherOrg = importedRun({ branch: "autoresearch/mar5-b", org: { name: "autoresearch", programMd: "# another program\n" } });
    expect(() => store.importRun(otherOrg)).toThrow(/org 'autoresearch' already exists in this store with a different program.md/);
    expect(store.listRuns()).toHaveLength(1);
    store.close();
  });

  it("checks every row before writing: a bad one names its index and nothing is written", () => {
    const store = openStore(freshPath());
    const bad = importedRun();
    bad.experiments[2] = { ...bad.experiments[2]!, valBpb: null };
    expect(() => store.importRun(bad)).toThrow(/experiments\[2\]: valBpb must be a number for a discard/);
    const noReason = importedRun();
    delete noReason.experiments[3]!.reason;
    expect(() => store.importRun(noReason)).toThrow(/experiments\[3\]: reason must be a string/);
    const badHash = importedRun();
    badHash.experiments[1] = { ...badHash.experiments[1]!, commit: "XYZ" };
    expect(() => store.importRun(badHash)).toThrow(/experiments\[1\]: commit must be 7 to 64 lowercase hex digits/);
    expect(() => store.importRun(importedRun({ experiments: [] }))).toThrow(/experiments must be a non-empty array/);
    expect(store.listRuns()).toEqual([]);
    expect(store.listOrgs()).toEqual([]);
    store.close();
  });
});
