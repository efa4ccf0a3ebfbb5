/**
 * kill -9 during `nightshift import`: the run is written in one transaction, so a kill leaves
 * the store as it was before the import (or, when the kill comes after the commit, with the
 * whole run) and never part of a run; a rerun of the same import then completes.
 *
 * Two kinds of trial, each importing under a new --name into a store that already holds a run:
 * - at random moments of the command's life (start-up, reading git, writing);
 * - inside the write transaction itself: this test polls the store with BEGIN IMMEDIATE and
 *   kills the child the moment the write lock is found taken (the import's transaction is the
 *   only writer: opening an up-to-date store writes nothing). The imported run's diffs are made
 *   large (each rewrites a 6,000-line train.py) so that the transaction lasts long enough for a
 *   poll to land inside it, rather than in the fsync of its commit.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStore } from "../../src/store/index.ts";
import { type AutoresearchRepo, type PlannedExperiment, buildAutoresearchRepo } from "../support/autoresearch-repo.ts";

const bin = fileURLToPath(new URL("../../bin/nightshift.js", import.meta.url));
const RANDOM_TRIALS = 2;
const IN_TRANSACTION_TRIALS = 3;

let root: string;
let ws: string;
let db: string;
let big: AutoresearchRepo;

/** Sixteen experiments, every other one kept. */
const SIXTEEN: PlannedExperiment[] = Array.from({ length: 16 }, (_, i) => ({
  status: i === 0 || i % 2 === 1 ? "keep" : "discard",
  description: i === 0 ? "baseline" : `change ${i}`,
  valBpb: 1 - i * 0.001,
  memoryGb: 40,
}));

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "ns-import-kill-"));
  ws = join(root, "ws");
  db = join(ws, "nightshift.db");
  const small = buildAutoresearchRepo(join(root, "small"), { tag: "small" });
  big = buildAutoresearchRepo(join(root, "big"), { tag: "big", experiments: SIXTEEN, trainPyLines: 6000 });
  const first = spawnSync(process.execPath, [bin, "import", small.dir, "--tag", "small", "--workspace", ws], { encoding: "utf8" });
  expect(first.status, first.stderr).toBe(0);
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const startImport = (name: string): ChildProcess =>
  spawn(process.execPath, [bin, "import", big.dir, "--tag", "big", "--name", name, "--workspace", ws], { stdio: "ignore" });

const exited = (child: ChildProcess) =>
  new Promise<NodeJS.Signals | null>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.signalCode);
    else child.once("exit", (_code, signal) => resolve(signal));
  });

/** What the store holds: runs by name with their experiment counts, and its integrity. */
function snapshot(): { runs: Record<string, number>; integrity: { ok: boolean; problems: string[] } } {
  const store = openStore(db, { readonly: true });
  try {
    const runs = Object.fromEntries(store.listRuns().map((r) => [r.branch, store.listExperiments(r.id).length]));
    return { runs, integrity: store.checkIntegrity() };
  } finally {
    store.close();
  }
}

/** Kills the child as soon as it holds the store's write lock; false if it finished first. */
async function killInsideTransaction(child: ChildProcess): Promise<boolean> {
  const probe = new Database(db, { timeout: 0 });
  try {
    while (child.exitCode === null && child.signalCode === null) {
      try {
        probe.exec("BEGIN IMMEDIATE");
        probe.exec("ROLLBACK");
      } catch (err) {
        if ((err as { code?: string }).code !== "SQLITE_BUSY") throw err;
        child.kill("SIGKILL");
        return true;
      }
      await new Promise((r) => setImmediate(r));
    }
    return false;
  } finally {
    probe.close();
  }
}

/** After a kill: nothing of the run, or all of it; then the rerun completes it. */
function expectBeforeOrWhole(name: string, before: Record<string, number>): "before" | "whole" {
  const after = snapshot();
  expect(after.integrity).toEqual({ ok: true, problems: [] });
  const { [name]: rows, ...others } = after.runs;
  expect(others).toEqual(before);
  expect(rows === undefined || rows === SIXTEEN.length, `${name}: ${rows} rows of ${SIXTEEN.length}`).toBe(true);
  const rerun = spawnSync(process.execPath, [bin, "import", big.dir, "--tag", "big", "--name", name, "--workspace", ws], { encoding: "utf8" });
  expect(rerun.status, rerun.stderr).toBe(0);
  expect(rerun.stdout).toMatch(rows === undefined ? /^imported / : /already imported .*nothing changed/);
  expect(snapshot().runs).toEqual({ ...before, [name]: SIXTEEN.length });
  return rows === undefined ? "before" : "whole";
}

describe("kill -9 during nightshift import", () => {
  it("at random moments leaves the store as before or with the whole run, and a rerun completes", async () => {
    for (let trial = 0; trial < RANDOM_TRIALS; trial++) {
      const name = `random-${trial}`;
      const before = snapshot().runs;
      const child = startImport(name);
      const timer = setTimeout(() => child.kill("SIGKILL"), 300 + Math.random() * 4000);
      await exited(child);
      clearTimeout(timer);
      expectBeforeOrWhole(name, before);
    }
  });

  it("inside its write transaction leaves the store as before, and a rerun completes", async () => {
    const outcomes: string[] = [];
    for (let trial = 0; trial < IN_TRANSACTION_TRIALS; trial++) {
      const name = `in-transaction-${trial}`;
      const before = snapshot().runs;
      const child = startImport(name);
      const caught = await killInsideTransaction(child);
      const signal = await exited(child);
      outcomes.push(`${caught ? "caught" : "missed"}/${signal ?? "exit"}/${expectBeforeOrWhole(name, before)}`);
    }
    console.log(`kills inside the import's transaction (poll result/signal/store after): ${outcomes.join(", ")}`);
    // Every kill that found the transaction open left nothing of the run behind. (A poll can
    // land in the fsync of the commit, after which the run is whole: that is all or nothing too.)
    expect(outcomes.filter((o) => o === "caught/SIGKILL/before").length, outcomes.join(", ")).toBeGreaterThanOrEqual(1);
  });
});
