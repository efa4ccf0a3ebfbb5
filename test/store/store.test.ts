/**
 * The store, on real SQLite files in the OS temp dir: migrations (fresh, no-op reopen, newer
 * and foreign files refused), orgs, the run lifecycle, experiment transitions and their
 * invariants, seq numbering, the results.tsv text, history, in-flight recovery, the cost
 * ledger, secrets kept out of the file, WAL readers beside a writer, and write throughput.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunResult, RunSummary } from "../../src/harness/types.ts";
import {
  APPLICATION_ID,
  LATEST_VERSION,
  RESULTS_TSV_HEADER,
  StoreError,
  openStore,
  tsvLine,
  type Store,
} from "../../src/store/index.ts";

let root: string;
let n = 0;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "nightshift-store-"));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const freshPath = () => join(root, `store-${++n}.db`);
const sha = (s: string) => createHash("sha1").update(s).digest("hex");
const fileHash = (p: string) => createHash("sha256").update(readFileSync(p)).digest("hex");

function storeError(fn: () => unknown): StoreError {
  try {
    fn();
  } catch (err) {
    if (err instanceof StoreError) return err;
    throw err;
  }
  throw new Error("expected a StoreError, nothing was thrown");
}

function summary(valBpb: number, peakVramMb: number): RunSummary {
  return {
    val_bpb: valBpb,
    training_seconds: 300.1,
    total_seconds: 325.9,
    peak_vram_mb: peakVramMb,
    mfu_percent: 39.8,
    total_tokens_M: 499.6,
    num_steps: 953,
    num_params_M: 50.3,
    depth: 8,
  };
}
const ok = (valBpb: number, peakVramMb: number, seed = 1): RunResult => ({
  status: "ok",
  summary: summary(valBpb, peakVramMb),
  logTail: "step 953 done",
  seed,
  profile: "gpu",
  timeBudget: 300,
  sandboxed: true,
});
const failed = (status: RunResult["status"], error: string, seed = 1): RunResult => ({
  status,
  error,
  logTail: "Traceback: boom",
  seed,
  profile: "gpu",
  timeBudget: 300,
  sandboxed: true,
});

const runInput = {
  tag: "mar5",
  branch: "nightshift/mar5/default",
  profile: "gpu" as const,
  timeBudget: 300,
  deviceKind: "NVIDIA H100",
  agent: "anthropic",
  model: "claude-test",
  baseCommit: sha("base"),
};

/** A store with one org and one run (gpu profile, 300 s), and a clock that ticks 1 s a call. */
function setup(path = freshPath(), extra: Parameters<typeof openStore>[1] = {}) {
  let t = Date.UTC(2025, 0, 1);
  const store = openStore(path, { now: () => new Date((t += 1000)), ...extra });
  const org = store.createOrg({ name: "default", programMd: "# default org\n" });
  const run = store.createRun({ ...runInput, orgId: org.id });
  return { store, org, run, path };
}

/** propose + start + finish in one go; returns the finished experiment. */
function experiment(
  store: Store,
  runId: number,
  name: string,
  status: "keep" | "discard" | "crash",
  result: RunResult,
  reason?: string,
) {
  const e = store.proposeExperiment({ runId, parentCommit: sha("base"), description: name, hypothesis: `why ${name}` });
  store.startExperiment(e.id, { commit: sha(name), diff: `--- a/train.ts\n+++ b/train.ts\n+// ${name}\n`, seed: result.seed });
  return store.finishExperiment(e.id, { status, result, reason });
}

describe("migrations", () => {
  it("creates a fresh store at the latest version, in WAL mode, marked as nightshift's", () => {
    const path = freshPath();
    const store = openStore(path);
    expect(store.schemaVersion).toBe(LATEST_VERSION);
    store.close();
    const db = new Database(path, { readonly: true });
    const versions = db.prepare("SELECT version FROM schema_version ORDER BY version").all() as { version: number }[];
    expect(versions.map((v) => v.version)).toEqual(Array.from({ length: LATEST_VERSION }, (_, i) => i + 1));
    expect(db.pragma("application_id", { simple: true })).toBe(APPLICATION_ID);
    expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    const tables = (db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name").all() as { name: string }[]).map(
      (t) => t.name,
    );
    expect(tables).toEqual([
      "agent_calls",
      "allocations",
      "champions",
      "experiments",
      "measurements",
      "meta_prompts",
      "night_results",
      "nights",
      "noise_floors",
      "orgs",
      "runs",
      "schema_version",
      "tournament_orgs",
      "tournaments",
      "verifications",
    ]);
    db.close();
  });

  it("reopening an up-to-date store is a no-op: the file's bytes do not change", () => {
    const { store, path } = setup();
    store.close();
    const before = fileHash(path);
    const again = openStore(path);
    expect(again.schemaVersion).toBe(LATEST_VERSION);
    expect(again.listOrgs().map((o) => o.name)).toEqual(["default"]);
    again.close();
    expect(fileHash(path)).toBe(before);
  });

  it("refuses a store written by a newer nightshift, saying to upgrade", () => {
    const { store, path } = setup();
    store.close();
    const db = new Database(path);
    db.prepare("INSERT INTO schema_version (version, description, applied_at) VALUES (?, 'from the future', 'x')").run(
      LATEST_VERSION + 1,
    );
    db.close();
    const err = storeError(() => openStore(path));
    expect(err.code).toBe("STORE_TOO_NEW");
    expect(err.message).toMatch(/upgrade nightshift/);
    expect(storeError(() => openStore(path, { readonly: true })).code).toBe("STORE_TOO_NEW");
  });

  it("refuses another SQLite database and a file that is not SQLite, leaving both untouched", () => {
    const other = freshPath();
    const db = new Database(other);
    db.exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes (body) VALUES ('hi')");
    db.close();
    const text = freshPath();
    writeFileSync(text, "this is a plain text file, not a database\n".repeat(200));
    for (const path of [other, text]) {
      const before = fileHash(path);
      const err = storeError(() => openStore(path));
      expect(err.code).toBe("STORE_NOT_NIGHTSHIFT");
      expect(err.message).toContain("not a nightshift store");
      expect(fileHash(path)).toBe(before);
      expect(existsSync(`${path}-wal`)).toBe(false);
    }
  });

  it("read-only: a missing file is not created, writes are refused, reads work", () => {
    const missing = freshPath();
    expect(storeError(() => openStore(missing, { readonly: true })).code).toBe("STORE_NOT_FOUND");
    expect(existsSync(missing)).toBe(false);
    expect(storeError(() => openStore(join(root, "no", "such", "dir", "x.db"))).code).toBe("STORE_CANNOT_OPEN");
    expect(storeError(() => openStore(root)).code).toBe("STORE_CANNOT_OPEN");
    const { store, path } = setup();
    store.close();
    const ro = openStore(path, { readonly: true });
    expect(ro.readonly).toBe(true);
    expect(ro.listOrgs()).toHaveLength(1);
    expect(storeError(() => ro.createOrg({ name: "x", programMd: "" })).code).toBe("STORE_READONLY");
    ro.close();
    expect(storeError(() => ro.listOrgs()).code).toBe("STORE_CLOSED");
  });

  it("rejects unknown options by name", () => {
    const err = storeError(() => openStore(freshPath(), { readOnly: true } as never));
    expect(err.code).toBe("STORE_INVALID_ARGUMENT");
    expect(err.message).toBe("openStore: unknown option 'readOnly' — did you mean 'readonly'?");
  });
});

describe("orgs and runs", () => {
  it("records lineage: generation follows the parent, the program.md hash is its sha256", () => {
    const { store, org } = setup();
    expect(org.generation).toBe(0);
    expect(org.programMdHash).toBe(createHash("sha256").update("# default org\n").digest("hex"));
    const child = store.createOrg({ name: "bold", programMd: "# bold\n", parentId: org.id, mutationNote: "bolder" });
    expect(child).toMatchObject({ parentId: org.id, generation: 1, mutationNote: "bolder" });
    expect(store.getOrgByName("bold")).toEqual(child);
    expect(store.getOrgByName("nobody")).toBeUndefined();
    expect(store.listOrgs().map((o) => o.name)).toEqual(["default", "bold"]);
    expect(storeError(() => store.createOrg({ name: "bold", programMd: "" })).code).toBe("STORE_CONFLICT");
    expect(storeError(() => store.createOrg({ name: "x", programMd: "", parentId: 99 })).code).toBe("STORE_UNKNOWN_ORG");
    store.close();
  });

  it("moves a run through running → stopped → running (resume) → finished", () => {
    const { store, run } = setup();
    expect(run).toMatchObject({ status: "running", endedAt: null, profile: "gpu", timeBudget: 300, settings: {} });
    expect(store.findRunningRuns().map((r) => r.id)).toEqual([run.id]);
    const stopped = store.setRunStatus(run.id, "stopped");
    expect(stopped.endedAt).not.toBeNull();
    expect(store.findRunningRuns()).toEqual([]);
    expect(store.setRunStatus(run.id, "running").endedAt).toBeNull();
    const finished = store.setRunStatus(run.id, "finished");
    expect(finished.status).toBe("finished");
    expect(store.listRuns({ status: "finished" }).map((r) => r.id)).toEqual([run.id]);
    expect(store.findRunByBranch("nightshift/mar5/default")?.id).toBe(run.id);
    expect(storeError(() => store.setRunStatus(77, "stopped")).code).toBe("STORE_UNKNOWN_RUN");
    store.close();
  });

  it("finishes a tournament night's runs with the night, whatever state each was left in", () => {
    const { store, org, run } = setup();
    const other = store.createOrg({ name: "other", programMd: "# other org\n" });
    const stoppedRun = store.createRun({ ...runInput, tag: "t-n1", orgId: other.id, branch: "nightshift/t-n1/other" });
    const outsider = store.createRun({ ...runInput, tag: "solo", orgId: other.id, branch: "nightshift/solo/other" });
    store.setRunStatus(stoppedRun.id, "stopped"); // a stop mid-night, or a baseline that failed
    const stoppedAt = store.getRun(stoppedRun.id).endedAt;
    const t = store.createTournament({ name: "t", nights: 2, baseCommit: sha("base"), orgIds: [org.id, other.id] });
    const night = store.startNight(t.id, 1);
    const [a, b] = store.addAllocations(night.id, 0, [
      { orgId: org.id, experiments: 1 },
      { orgId: other.id, experiments: 1 },
    ]);
    store.finishAllocation(a!.id, run.id);
    store.finishAllocation(b!.id, stoppedRun.id);
    store.endAllocating(night.id);
    store.recordNightResults(night.id, [], null);
    expect(store.getRun(run.id).status).toBe("running");
    store.evolveNight(night.id, { children: [], retire: [] });
    expect(store.getRun(run.id)).toMatchObject({ status: "finished", endedAt: expect.any(String) });
    expect(store.getRun(stoppedRun.id)).toMatchObject({ status: "finished", endedAt: stoppedAt });
    expect(store.getRun(outsider.id).status, "a run of no night is left alone").toBe("running");
    expect(store.checkIntegrity().ok).toBe(true);
    store.close();
  });

  it("validates a new run at the boundary", () => {
    const { store, org } = setup();
    const base = {
      tag: "t",
      orgId: org.id,
      branch: "nightshift/t/default",
      profile: "cpu" as const,
      timeBudget: 10,
      deviceKind: "cpu",
      agent: "builtin",
      baseCommit: sha("b"),
    };
    expect(storeError(() => store.createRun({ ...base, baseCommit: "abc123" })).message).toMatch(/baseCommit must be a full/);
    expect(storeError(() => store.createRun({ ...base, profile: "tpu" as never })).message).toMatch(/profile must be one of/);
    expect(storeError(() => store.createRun({ ...base, orgId: 42 })).code).toBe("STORE_UNKNOWN_ORG");
    expect(storeError(() => store.createRun({ ...base, budjet: 1 } as never)).message).toMatch(/did you mean 'budget'|unknown option 'budjet'/);
    expect(storeError(() => store.createRun({ ...base, branch: "nightshift/mar5/default" })).code).toBe("STORE_CONFLICT");
    store.close();
  });
});

describe("experiment lifecycle", () => {
  it("numbers experiments 1.. within each run, skipped proposals included", () => {
    const { store, org, run } = setup();
    const other = store.createRun({
      tag: "mar6", orgId: org.id, branch: "nightshift/mar6/default", profile: "gpu", timeBudget: 300,
      deviceKind: "NVIDIA H100", agent: "builtin", baseCommit: sha("base"),
    });
    const p = (runId: number) =>
      store.proposeExperiment({ runId, parentCommit: sha("base"), description: "d", hypothesis: "h" }).seq;
    expect(p(run.id)).toBe(1);
    expect(store.recordSkipped({ runId: run.id, parentCommit: sha("base"), reason: "edit did not apply" }).seq).toBe(2);
    expect(p(other.id)).toBe(1);
    expect(p(run.id)).toBe(3);
    expect(p(other.id)).toBe(2);
    expect(store.listExperiments(run.id).map((e) => e.seq)).toEqual([1, 2, 3]);
    store.close();
  });

  it("goes proposed → running → keep with every metric, timestamps and seed", () => {
    const { store, run } = setup();
    const e = store.proposeExperiment({ runId: run.id, parentCommit: sha("base"), description: "wider", hypothesis: "more capacity" });
    expect(e).toMatchObject({ status: "proposed", commit: null, outcome: null, summary: null, startedAt: null });
    const started = store.startExperiment(e.id, { commit: sha("wider"), diff: "+x", seed: 7, logPath: "logs/1.log" });
    expect(started).toMatchObject({ status: "running", commit: sha("wider"), diff: "+x", seed: 7, logPath: "logs/1.log" });
    const done = store.finishExperiment(e.id, { status: "keep", result: ok(0.9979, 45060.2, 7) });
    expect(done).toMatchObject({ status: "keep", outcome: "ok", reason: null, summary: summary(0.9979, 45060.2), logTail: "step 953 done" });
    expect(Date.parse(done.createdAt)).toBeLessThan(Date.parse(done.startedAt!));
    expect(Date.parse(done.startedAt!)).toBeLessThan(Date.parse(done.finishedAt!));
    expect(store.getExperiment(e.id)).toEqual(done);
    expect(store.runHead(run.id)).toBe(sha("wider"));
    store.close();
  });

  it("refuses transitions out of order and never overwrites a result", () => {
    const { store, run } = setup();
    const e = store.proposeExperiment({ runId: run.id, parentCommit: sha("base"), description: "d", hypothesis: "h" });
    expect(storeError(() => store.finishExperiment(e.id, { status: "keep", result: ok(1, 1) })).code).toBe("STORE_BAD_TRANSITION");
    store.startExperiment(e.id, { commit: sha("d"), diff: "+d", seed: 1 });
    expect(storeError(() => store.startExperiment(e.id, { commit: sha("d"), diff: "+d", seed: 1 })).code).toBe("STORE_BAD_TRANSITION");
    const kept = store.finishExperiment(e.id, { status: "keep", result: ok(1.1, 1) });
    const again = storeError(() => store.finishExperiment(e.id, { status: "discard", result: ok(2, 1) }));
    expect(again.code).toBe("STORE_BAD_TRANSITION");
    expect(again.message).toBe("finishExperiment: experiment 1 is keep, not running");
    expect(store.getExperiment(e.id)).toEqual(kept);
    expect(storeError(() => store.skipExperiment(e.id, "late")).code).toBe("STORE_BAD_TRANSITION");
    expect(storeError(() => store.startExperiment(999, { commit: sha("d"), diff: "", seed: 1 })).code).toBe("STORE_UNKNOWN_EXPERIMENT");
    store.close();
  });

  it("holds each status to its invariants: keep needs ok, crash needs a failure, results match the run", () => {
    const { store, run } = setup();
    const running = (name: string, seed = 1) => {
      const e = store.proposeExperiment({ runId: run.id, parentCommit: sha("base"), description: name, hypothesis: "" });
      return store.startExperiment(e.id, { commit: sha(name), diff: "+", seed }).id;
    };
    const a = running("a");
    expect(storeError(() => store.finishExperiment(a, { status: "keep", result: failed("timeout", "too slow") })).message).toMatch(
      /cannot keep experiment \d+: its run ended timeout/,
    );
    expect(storeError(() => store.finishExperiment(a, { status: "crash", result: ok(1, 1) })).message).toMatch(/ran ok/);
    const nan = { ...ok(1, 1), summary: { ...summary(1, 1), val_bpb: Number.NaN } };
    expect(storeError(() => store.finishExperiment(a, { status: "keep", result: nan })).message).toMatch(/val_bpb must be a finite/);
    expect(storeError(() => store.finishExperiment(a, { status: "keep", result: { ...ok(1, 1), profile: "cpu" } })).message).toMatch(
      /profile "cpu" with budget 300/,
    );
    expect(storeError(() => store.finishExperiment(a, { status: "keep", result: ok(1, 1, 99) })).message).toMatch(
      /started with seed 1 but the result has seed 99/,
    );
    expect(store.getExperiment(a).status).toBe("running"); // every refusal left it untouched
    const crash = store.finishExperiment(a, { status: "crash", result: { ...failed("out-of-memory", ""), error: undefined } });
    expect(crash).toMatchObject({ status: "crash", outcome: "out-of-memory", reason: "run ended out-of-memory", summary: null });
    const b = running("b");
    const discarded = store.finishExperiment(b, { status: "discard", result: failed("over-budget", "ran 12 s over") });
    expect(discarded).toMatchObject({ status: "discard", outcome: "over-budget", reason: "ran 12 s over", summary: null });
    store.close();
  });

  it("the schema itself refuses a row that breaks its status's invariants", () => {
    const { store, run, path } = setup();
    experiment(store, run.id, "a", "discard", ok(1.2, 10));
    store.close();
    const db = new Database(path);
    expect(() => db.prepare("UPDATE experiments SET status = 'keep', val_bpb = NULL").run()).toThrow(/CHECK constraint/);
    expect(() => db.prepare("UPDATE experiments SET status = 'crash', reason = NULL").run()).toThrow(/CHECK constraint/);
    expect(() => db.prepare("UPDATE experiments SET depth = NULL").run()).toThrow(/CHECK constraint/);
    expect(() => db.prepare("UPDATE experiments SET status = 'running'").run()).toThrow(/CHECK constraint/);
    db.close();
  });
});

describe("results", () => {
  /** keep, discard, crash, a skipped proposal, then one still running. */
  function fixedHistory() {
    const ctx = setup();
    const { store, run } = ctx;
    experiment(store, run.id, "baseline", "keep", ok(0.9979, 45060.2));
    experiment(store, run.id, "increase LR to 0.04", "keep", ok(0.993201, 45060.2));
    experiment(store, run.id, "switch to GeLU\tactivation", "discard", ok(1.005002, 44998.9), "not better than 0.993201");
    experiment(store, run.id, "double model width (OOM)", "crash", failed("out-of-memory", "CUDA out of memory"));
    store.recordSkipped({ runId: run.id, parentCommit: sha("base"), description: "broken edit", reason: "edit did not apply" });
    const e = store.proposeExperiment({ runId: run.id, parentCommit: sha("base"), description: "in flight", hypothesis: "" });
    store.startExperiment(e.id, { commit: sha("in flight"), diff: "+", seed: 1 });
    return ctx;
  }

  it("resultsTsv is autoresearch's results.tsv, exactly", () => {
    const { store, run } = fixedHistory();
    const s = (name: string) => sha(name).slice(0, 7);
    expect(store.resultsTsv(run.id)).toBe(
      "commit\tval_bpb\tmemory_gb\tstatus\tdescription\n" +
        `${s("baseline")}\t0.997900\t44.0\tkeep\tbaseline\n` +
        `${s("increase LR to 0.04")}\t0.993201\t44.0\tkeep\tincrease LR to 0.04\n` +
        `${s("switch to GeLU\tactivation")}\t1.005002\t43.9\tdiscard\tswitch to GeLU activation\n` +
        `${s("double model width (OOM)")}\t0.000000\t0.0\tcrash\tdouble model width (OOM)\n`,
    );
    store.close();
  });

  it("runHistory holds the same rows as HistoryEntry values", () => {
    const { store, run } = fixedHistory();
    const history = store.runHistory(run.id);
    expect(history).toEqual([
      { commit: sha("baseline").slice(0, 7), val_bpb: 0.9979, memory_gb: 44, status: "keep", description: "baseline" },
      { commit: sha("increase LR to 0.04").slice(0, 7), val_bpb: 0.993201, memory_gb: 44, status: "keep", description: "increase LR to 0.04" },
      { commit: sha("switch to GeLU\tactivation").slice(0, 7), val_bpb: 1.005002, memory_gb: 43.9, status: "discard", description: "switch to GeLU activation" },
      { commit: sha("double model width (OOM)").slice(0, 7), val_bpb: null, memory_gb: 0, status: "crash", description: "double model width (OOM)" },
    ]);
    expect(RESULTS_TSV_HEADER + "\n" + history.map(tsvLine).join("")).toBe(store.resultsTsv(run.id));
    expect(store.runHead(run.id)).toBe(sha("increase LR to 0.04"));
    store.close();
  });

  it("recentHistory is the end of runHistory, with the count of all finished experiments", () => {
    const { store, run } = fixedHistory();
    const all = store.runHistory(run.id);
    expect(store.recentHistory(run.id, 2)).toEqual({ entries: all.slice(2), total: 4 });
    expect(store.recentHistory(run.id, 10)).toEqual({ entries: all, total: 4 });
    expect(store.recentHistory(run.id, 0)).toEqual({ entries: [], total: 4 });
    expect(() => store.recentHistory(run.id, -1)).toThrow(/limit must be a whole number >= 0, got -1/);
    expect(() => store.recentHistory(run.id, 1.5)).toThrow(/limit must be a whole number/);
    expect(() => store.recentHistory(9_999, 5)).toThrow(/9999/);
    store.close();
  });

  it("inFlight lists what a crash left proposed or running, after a reopen", () => {
    const { store, run, path } = setup();
    experiment(store, run.id, "done", "keep", ok(1, 1));
    const proposed = store.proposeExperiment({ runId: run.id, parentCommit: sha("done"), description: "next", hypothesis: "" });
    const second = store.proposeExperiment({ runId: run.id, parentCommit: sha("done"), description: "after", hypothesis: "" });
    store.startExperiment(second.id, { commit: sha("after"), diff: "+", seed: 3 });
    store.close(); // the process dies here: nothing finished them
    const reopened = openStore(path);
    expect(reopened.findRunningRuns().map((r) => r.id)).toEqual([run.id]);
    const left = reopened.inFlight(run.id);
    expect(left.map((e) => [e.seq, e.status])).toEqual([
      [proposed.seq, "proposed"],
      [second.seq, "running"],
    ]);
    expect(reopened.runHead(run.id)).toBe(sha("done"));
    reopened.skipExperiment(second.id, "abandoned on resume");
    expect(reopened.inFlight(run.id).map((e) => e.id)).toEqual([proposed.id]);
    reopened.close();
  });
});

describe("agent cost", () => {
  it("keeps a ledger: experiment usage equals its calls, runCost sums the run", () => {
    const { store, run } = setup();
    const usage = { model: "claude-test", calls: 2, inputTokens: 1200, outputTokens: 300, costUsd: 0.0125 };
    const e = store.proposeExperiment({ runId: run.id, parentCommit: sha("base"), description: "d", hypothesis: "h", usage });
    expect(e.usage).toEqual({ calls: 2, inputTokens: 1200, outputTokens: 300, cacheReadTokens: 0, cacheWriteTokens: 0, costUsd: 0.0125 });
    const fail = store.recordAgentCall({
      runId: run.id, experimentId: e.id, purpose: "fix", model: "claude-test", inputTokens: 50, outputTokens: 0,
      costUsd: 0.0005, ok: false, error: "HTTP 529 overloaded", durationMs: 1500,
    });
    expect(fail).toMatchObject({ calls: 1, ok: false, error: "HTTP 529 overloaded", durationMs: 1500, purpose: "fix" });
    store.recordSkipped({ runId: run.id, parentCommit: sha("base"), reason: "malformed JSON", usage: { ...usage, calls: 3 } });
    store.recordSkipped({ runId: run.id, parentCommit: sha("base"), reason: "builtin gave up", usage: { ...usage, calls: 0, costUsd: 0 } });
    const merged = store.getExperiment(e.id).usage;
    expect(merged).toMatchObject({ calls: 3, inputTokens: 1250, outputTokens: 300 });
    expect(merged.costUsd).toBeCloseTo(0.013, 12);
    const cost = store.runCost(run.id);
    expect(cost).toMatchObject({ calls: 6, inputTokens: 2450, outputTokens: 600 });
    expect(cost.costUsd).toBeCloseTo(0.0255, 12);
    expect(store.listAgentCalls(run.id)).toHaveLength(3); // the zero-call usage adds no row
    expect(storeError(() => store.recordAgentCall({ runId: run.id, model: "m", inputTokens: -1, outputTokens: 0, costUsd: 0, ok: true })).message).toMatch(
      /inputTokens must be a non-negative integer/,
    );
    store.close();
  });

  it("keeps the prompt-cache parts of the input on calls and experiments, and runCost sums them", () => {
    const { store, run } = setup();
    const usage = { model: "claude-test", calls: 3, inputTokens: 30_000, outputTokens: 600, cacheReadTokens: 20_000, cacheWriteTokens: 6_000, costUsd: 0.04 };
    const e = store.proposeExperiment({ runId: run.id, parentCommit: sha("base"), description: "d", hypothesis: "h", usage });
    expect(e.usage).toEqual({ calls: 3, inputTokens: 30_000, outputTokens: 600, cacheReadTokens: 20_000, cacheWriteTokens: 6_000, costUsd: 0.04 });
    const call = store.recordAgentCall({ runId: run.id, experimentId: e.id, purpose: "fix", model: "claude-test", inputTokens: 10_000, outputTokens: 50, cacheReadTokens: 9_000, costUsd: 0.01, ok: true });
    expect(call).toMatchObject({ inputTokens: 10_000, cacheReadTokens: 9_000, cacheWriteTokens: 0 });
    expect(store.getExperiment(e.id).usage).toMatchObject({ calls: 4, inputTokens: 40_000, cacheReadTokens: 29_000, cacheWriteTokens: 6_000 });
    expect(store.listAgentCalls(run.id).map((c) => [c.cacheReadTokens, c.cacheWriteTokens])).toEqual([[20_000, 6_000], [9_000, 0]]);
    const cost = store.runCost(run.id);
    expect(cost).toMatchObject({ calls: 4, inputTokens: 40_000, outputTokens: 650, cacheReadTokens: 29_000, cacheWriteTokens: 6_000 });
    expect(cost.costUsd).toBeCloseTo(0.05, 12);

    // Cache counts are parts of the input: more than it, negative or unknown keys are refused by name.
    const base = { runId: run.id, model: "m", inputTokens: 100, outputTokens: 0, costUsd: 0, ok: true };
    expect(storeError(() => store.recordAgentCall({ ...base, cacheReadTokens: 80, cacheWriteTokens: 30 })).message).toMatch(
      /cacheReadTokens \+ cacheWriteTokens \(80 \+ 30\) must not exceed inputTokens \(100\)/,
    );
    expect(storeError(() => store.recordAgentCall({ ...base, cacheReadTokens: -1 })).message).toMatch(/cacheReadTokens must be a non-negative integer/);
    expect(
      storeError(() => store.proposeExperiment({ runId: run.id, parentCommit: sha("base"), description: "d", hypothesis: "h", usage: { ...usage, cacheWriteTokens: 10_001 } })).message,
    ).toMatch(/usage\.cacheReadTokens \+ usage\.cacheWriteTokens .* must not exceed usage\.inputTokens/);
    expect(storeError(() => store.recordAgentCall({ ...base, cacheReads: 1 } as never)).message).toMatch(/unknown option 'cacheReads'/);
    expect(store.listAgentCalls(run.id)).toHaveLength(2);
    store.close();
  });
});

describe("secrets", () => {
  it("never writes a planted key: settings are scrubbed, known secrets redacted from every text", () => {
    const planted = "sk-planted-0123456789abcdef";
    const envKey = "sk-env-fedcba9876543210";
    process.env.NIGHTSHIFT_TEST_API_KEY = envKey;
    try {
      const path = freshPath();
      const store = openStore(path, { secrets: ["sk-option-secret-value"] });
      const org = store.createOrg({ name: "o", programMd: "# org" });
      const run = store.createRun({
        tag: "s", orgId: org.id, branch: "nightshift/s/o", profile: "cpu", timeBudget: 10, deviceKind: "cpu",
        agent: "openai", baseCommit: sha("s"),
        settings: {
          apiKey: planted,
          openai: { OPENAI_API_KEY: planted, baseUrl: `http://user:${planted}@127.0.0.1:8080/v1`, maxTokens: 4096 },
          headers: [{ Authorization: `Bearer ${planted}` }],
          experiments: 8,
          note: `echo ${envKey}`,
        },
      });
      expect(run.settings).toEqual({
        openai: { baseUrl: "http://127.0.0.1:8080/v1", maxTokens: 4096 },
        headers: [{}],
        experiments: 8,
        note: "echo [REDACTED]",
      });
      const e = store.proposeExperiment({ runId: run.id, parentCommit: sha("s"), description: `key ${envKey}`, hypothesis: "sk-option-secret-value" });
      store.startExperiment(e.id, { commit: sha("e"), diff: `+// ${envKey}`, seed: 1 });
      const done = store.finishExperiment(e.id, {
        status: "crash",
        result: { status: "crash", error: `401 for key ${envKey}`, logTail: `auth ${envKey}`, seed: 1, profile: "cpu", timeBudget: 10, sandboxed: true },
      });
      expect(done).toMatchObject({ description: "key [REDACTED]", hypothesis: "[REDACTED]", reason: "401 for key [REDACTED]" });
      const walBytes = () => (existsSync(`${path}-wal`) ? readFileSync(`${path}-wal`) : Buffer.alloc(0));
      for (const secret of [planted, envKey, "sk-option-secret-value"]) {
        expect(readFileSync(path).includes(secret)).toBe(false);
        expect(walBytes().includes(secret)).toBe(false);
      }
      store.close();
      for (const secret of [planted, envKey]) expect(readFileSync(path).includes(secret)).toBe(false);
    } finally {
      delete process.env.NIGHTSHIFT_TEST_API_KEY;
    }
  });
});

describe("concurrency", () => {
  it("a WAL reader sees committed rows while a writer holds a transaction", () => {
    const { store, run, path } = setup(freshPath(), { busyTimeoutMs: 100 });
    experiment(store, run.id, "committed", "keep", ok(1, 1));
    const writer = new Database(path);
    writer.exec("BEGIN IMMEDIATE");
    writer.prepare("UPDATE experiments SET description = 'uncommitted'").run();
    writer.prepare("INSERT INTO orgs (name, program_md, program_md_hash, created_at) VALUES ('ghost', '', ?, 'x')").run("0".repeat(64));
    try {
      const reader = openStore(path, { readonly: true });
      expect(reader.listExperiments(run.id).map((e) => e.description)).toEqual(["committed"]);
      expect(reader.listOrgs().map((o) => o.name)).toEqual(["default"]);
      const busy = storeError(() => store.createOrg({ name: "blocked", programMd: "" }));
      expect(busy.code).toBe("STORE_BUSY");
      writer.exec("COMMIT");
      expect(reader.listOrgs().map((o) => o.name)).toEqual(["default", "ghost"]);
      expect(reader.listExperiments(run.id)[0]!.description).toBe("uncommitted");
      reader.close();
    } finally {
      if (writer.inTransaction) writer.exec("ROLLBACK");
      writer.close();
    }
    expect(store.createOrg({ name: "unblocked", programMd: "" }).name).toBe("unblocked");
    store.close();
  });
});

describe("throughput", () => {
  it("measures propose / start / finish rates (synchronous FULL, one transaction each)", () => {
    const { store, run } = setup(freshPath(), { now: () => new Date() });
    const N = 300;
    const diff = "+".repeat(4000);
    const ids: number[] = [];
    const t0 = performance.now();
    for (let i = 0; i < N; i++)
      ids.push(store.proposeExperiment({ runId: run.id, parentCommit: sha("base"), description: `e${i}`, hypothesis: "h" }).id);
    const t1 = performance.now();
    for (const [i, id] of ids.entries()) store.startExperiment(id, { commit: sha(`e${i}`), diff, seed: i });
    const t2 = performance.now();
    for (const [i, id] of ids.entries())
      store.finishExperiment(id, i % 2 ? { status: "keep", result: ok(1, 1, i) } : { status: "crash", result: failed("crash", "boom", i) });
    const t3 = performance.now();
    const rate = (ms: number) => Math.round((N * 1000) / ms);
    console.log(
      `store throughput (${N} experiments, synchronous FULL): propose ${rate(t1 - t0)}/s, start ${rate(t2 - t1)}/s, finish ${rate(t3 - t2)}/s`,
    );
    expect(store.resultsTsv(run.id).split("\n")).toHaveLength(N + 2);
    expect(store.checkIntegrity()).toEqual({ ok: true, problems: [] });
    store.close();
  });
});

describe("calls that belong to no run", () => {
  it("records and lists the meta-agent's calls, and refuses what only a run's call may have", () => {
    const store = openStore(freshPath());
    const call = { purpose: "meta", model: "m", inputTokens: 10, outputTokens: 2, costUsd: 0.01, ok: true };
    const row = store.recordAgentCall(call);
    expect(row.runId).toBeNull();
    expect(store.listRunlessCalls("meta").map((c) => c.id)).toEqual([row.id]);
    expect(store.listRunlessCalls("other")).toEqual([]);
    expect(storeError(() => store.recordAgentCall({ ...call, experimentId: 1 })).message).toMatch(/without a run cannot belong to an experiment/);
    expect(storeError(() => store.recordAgentCall({ ...call, purpose: "propose" })).message).toMatch(/belongs to a run/);
    const { purpose: _p, ...noPurpose } = call;
    expect(storeError(() => store.recordAgentCall(noPurpose)).message).toMatch(/purpose must not be empty/);
    store.close();
  });
});
