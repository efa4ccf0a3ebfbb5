/**
 * `nightshift run` end to end with the builtin agent on the CPU: real CLI processes train the
 * small recipe for 1 s budgets. One run (tag t1) in one workspace serves every check, in order,
 * since trainings are what cost: its first experiments (baseline first, kept ones chained on the
 * branch, all in the store); a restart refused without --resume; a STOP file obeyed after the
 * experiment in flight; a kill -9 mid-experiment that --resume records as interrupted, leaving
 * the store and the lab sound, and the run resumed. Input errors are run-errors.test.ts (cli
 * tier); the loop's logic (keep rule, crashes, resume) is driver.test.ts on the fake trainer.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Lab } from "../../src/lab/index.ts";
import { isInterrupted } from "../../src/loop/interrupted.ts";
import { openStore } from "../../src/store/index.ts";
import { initSmallLab } from "../support/small-lab.ts";
import { writeTinyDataset } from "../support/tiny-dataset.ts";

const bin = fileURLToPath(new URL("../../bin/nightshift.js", import.meta.url));
const root = mkdtempSync(join(tmpdir(), "ns-loop-"));
const dataset = join(root, "data");
afterAll(() => rmSync(root, { recursive: true, force: true }));
beforeAll(async () => {
  writeTinyDataset(dataset, { docs: { val: 200 } });
  // A lab with the small recipe, so that 1 s budgets hold on a busy machine.
  await initSmallLab(join(root, "ws"));
});

const args = (ws: string, ...more: string[]) => ["run", "--workspace", ws, "--dataset", dataset, "--time-budget", "1", ...more];
const cli = (...a: string[]) => spawnSync(process.execPath, [bin, ...a], { encoding: "utf8", env: { ...process.env, NIGHTSHIFT_HOME: root } });
/** Whether the store at `db` shows an experiment training (false while it does not exist yet). */
function trainingIn(db: string): boolean {
  if (!existsSync(db)) return false;
  try {
    const store = openStore(db, { readonly: true });
    try {
      return store.listRuns().some((r) => store.inFlight(r.id).some((e) => e.status === "running"));
    } finally {
      store.close();
    }
  } catch {
    return false; // being created: not yet
  }
}

const tsvRows = (ws: string) => cli("results", "--workspace", ws, "--tsv").stdout.trim().split("\n").slice(1);

describe("nightshift run (builtin agent, CPU)", () => {
  // The tests below run in order on this one run.
  const ws = join(root, "ws");
  const db = join(ws, "nightshift.db");

  it("runs experiments: the baseline first, kept ones chained on the branch, all in the store", async () => {
    const r = cli(...args(ws, "--experiments", "3", "--tag", "t1"));
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/exp 001 keep\s+\d\.\d+.*baseline/);
    // How many of this invocation's experiments are done, and the time left.
    expect(r.stdout).toMatch(/ \[1\/\d+, ~\S+ left\] /);
    const rows = tsvRows(ws);
    expect(rows).toHaveLength(3);
    const store = openStore(db, { readonly: true });
    const run = store.findRunByBranch("nightshift/t1/default")!;
    const experiments = store.listExperiments(run.id);
    store.close();
    expect(run.status, "a run that did its experiments is finished").toBe("finished");
    expect(run.endedAt).not.toBeNull();
    expect(experiments.map((e) => e.seq)).toEqual([1, 2, 3]);
    // Every TSV row is an experiment of the store, with its short commit and status.
    rows.forEach((row, i) => {
      const [commit, , , status] = row.split("\t");
      expect(experiments[i]!.commit!.startsWith(commit!)).toBe(true);
      expect(experiments[i]!.status).toBe(status);
    });
    // Kept commits form the branch's chain; discarded ones are off it but keep their diff.
    const lab = await Lab.open(join(ws, "lab"));
    const log = (await lab.branchLog("nightshift/t1/default")).map((c) => c.commit);
    for (const e of experiments) {
      expect(log.includes(e.commit!)).toBe(e.status === "keep");
      if (e.status === "discard") expect(e.diff).toMatch(/^[-+]/m);
    }
  }, 120_000);

  it("refuses to restart an existing run without --resume", () => {
    const again = cli(...args(ws, "--experiments", "1", "--tag", "t1"));
    expect(again.status).toBe(2);
    expect(again.stderr).toMatch(/already exists: pass --resume/);
    expect(tsvRows(ws)).toHaveLength(3);
  });

  it("stops after the experiment in flight when a STOP file appears", () => {
    writeFileSync(join(ws, "STOP"), "");
    const r = cli(...args(ws, "--experiments", "5", "--tag", "t1", "--resume"));
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/0 experiments.*stopped: stop requested/);
    expect(existsSync(join(ws, "STOP")), "the STOP file is consumed").toBe(false);
    const store = openStore(db, { readonly: true });
    const run = store.findRunByBranch("nightshift/t1/default")!;
    store.close();
    expect(run.status, "a run stopped short of its experiments").toBe("stopped");
    expect(run.endedAt).not.toBeNull();
    expect(tsvRows(ws)).toHaveLength(3);
  }, 120_000);

  it("survives kill -9 mid-experiment: --resume records it as interrupted, the store and lab stay sound, and the run resumes", async () => {
    const child: ChildProcess = spawn(process.execPath, [bin, ...args(ws, "--experiments", "20", "--tag", "t1", "--resume")], {
      env: { ...process.env, NIGHTSHIFT_HOME: root },
      stdio: "ignore",
    });
    // Killed inside an experiment: once the store shows one training (a fixed delay missed
    // start-up altogether on a loaded machine, and then there was no experiment to interrupt).
    const deadline = Date.now() + 90_000;
    while (Date.now() < deadline && !trainingIn(db)) await new Promise((r) => setTimeout(r, 100));
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));
    const rowsBefore = tsvRows(ws).length;

    const resumed = cli(...args(ws, "--experiments", "1", "--tag", "t1", "--resume"));
    expect(resumed.status, resumed.stderr).toBe(0);
    const store = openStore(db, { readonly: true });
    expect(store.checkIntegrity().ok).toBe(true);
    const run = store.findRunByBranch("nightshift/t1/default")!;
    expect(run.status, "the resumed run did its experiment").toBe("finished");
    const experiments = store.listExperiments(run.id);
    const head = store.runHead(run.id);
    store.close();
    expect(experiments.map((e) => e.seq)).toEqual(experiments.map((_, i) => i + 1)); // none lost or duplicated
    expect(experiments.every((e) => !["proposed", "running"].includes(e.status))).toBe(true);
    expect(experiments.filter(isInterrupted), "the experiment the kill cut short").toHaveLength(1);
    expect(tsvRows(ws), "the resume's one experiment is in results.tsv").toHaveLength(rowsBefore + 1);
    const git = spawnSync("git", ["status", "--porcelain"], { cwd: join(ws, "lab", ".worktrees", "slot-0"), encoding: "utf8" });
    expect(git.stdout).toBe("");
    const headNow = spawnSync("git", ["rev-parse", "HEAD"], { cwd: join(ws, "lab", ".worktrees", "slot-0"), encoding: "utf8" });
    expect(headNow.stdout.trim()).toBe(head);
  }, 120_000);
});
