/**
 * Schema version 7: prompt-cache token counts on agent calls and experiments, and the research
 * memory a run's agent was shown (runs.memory_json). A version-6 store migrates with every row
 * kept: old calls read as uncached (0 cache tokens), old runs as having no recorded memory; the
 * schema refuses cache counts larger than the input they are part of, and memory that is not
 * JSON.
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

const root = mkdtempSync(join(tmpdir(), "ns-store-v7-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const sha = (s: string) => createHash("sha1").update(s).digest("hex");
const T = "2026-12-05T23:00:00.000Z";

function writeV6Store(path: string): void {
  const db = openStoreAtVersion(path, 6, T);
  const base = sha("base");
  db.exec(`
    INSERT INTO orgs (id, name, program_md, program_md_hash, created_at) VALUES (1, 'default', '# org', '${"a".repeat(64)}', '${T}');
    INSERT INTO runs (id, tag, org_id, branch, profile, time_budget, device_kind, agent, base_commit, status, started_at, ended_at)
      VALUES (3, 'dec5', 1, 'nightshift/dec5/default', 'cpu', 10, 'cpu', 'openai', '${base}', 'finished', '${T}', '${T}');
    INSERT INTO experiments (id, run_id, seq, parent_commit, description, status, reason, seed, agent_calls, input_tokens,
        output_tokens, cost_usd, created_at, finished_at)
      VALUES (20, 3, 1, '${base}', 'skipped', 'skipped', 'no answer', 42, 1, 12000, 300, 0.03, '${T}', '${T}');
    INSERT INTO agent_calls (id, run_id, experiment_id, model, calls, input_tokens, output_tokens, cost_usd, ok, created_at)
      VALUES (5, 3, 20, 'gpt-x', 1, 12000, 300, 0.03, 1, '${T}');
  `);
  db.close();
}

describe("migration to version 7", () => {
  it("keeps a version-6 store's runs, experiments and agent calls; the new columns start empty and are checked", () => {
    const path = join(root, "v6.db");
    writeV6Store(path);
    const store = openStore(path);
    expect(store.schemaVersion).toBe(LATEST_VERSION);
    expect(LATEST_VERSION).toBeGreaterThanOrEqual(7);
    expect(store.runCost(3)).toMatchObject({ calls: 1, inputTokens: 12000, outputTokens: 300 });
    expect(store.listExperiments(3).map((e) => [e.id, e.status, e.usage.inputTokens])).toEqual([[20, "skipped", 12000]]);
    store.close();

    const db = new Database(path);
    try {
      expect(db.prepare("SELECT cache_read_tokens, cache_write_tokens FROM agent_calls WHERE id = 5").get()).toEqual({
        cache_read_tokens: 0,
        cache_write_tokens: 0,
      });
      expect(db.prepare("SELECT memory_json FROM runs WHERE id = 3").get()).toEqual({ memory_json: null });
      expect(() => db.prepare("UPDATE agent_calls SET cache_read_tokens = 12001 WHERE id = 5").run()).toThrow(/CHECK/);
      expect(() => db.prepare("UPDATE agent_calls SET cache_read_tokens = 9000, cache_write_tokens = 4000 WHERE id = 5").run()).toThrow(/CHECK/);
      expect(() => db.prepare("UPDATE experiments SET cache_write_tokens = -1 WHERE id = 20").run()).toThrow(/CHECK/);
      expect(() => db.prepare("UPDATE runs SET memory_json = 'not json' WHERE id = 3").run()).toThrow(/CHECK/);
      db.prepare("UPDATE agent_calls SET cache_read_tokens = 9000, cache_write_tokens = 3000 WHERE id = 5").run();
      db.prepare(`UPDATE runs SET memory_json = '{"entries":[]}' WHERE id = 3`).run();
    } finally {
      db.close();
    }
  });
});
