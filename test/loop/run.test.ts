import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Lab } from "../../src/lab/index.ts";
import { openStore } from "../../src/store/index.ts";
import { initSmallLab } from "../support/small-lab.ts";
import { writeTinyDataset } from "../support/tiny-dataset.ts";

const bin = fileURLToPath(new URL("../../bin/nightshift.js", import.meta.url));
const root = mkdtempSync(join(tmpdir(), "ns-loop-"));
const dataset = join(root, "data");
afterAll(() => rmSync(root, { recursive: true, force: true }));
beforeAll(async () => {
  writeTinyDataset(dataset, { docs: { val: 200 } });
  // Labs with the small recipe, so that 1 s budgets hold on a busy machine.
  for (const name of ["ws", "ws-kill", "ws-stop"]) await initSmallLab(join(root, name));
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
  const ws = join(root, "ws");

  it("runs experiments: the baseline first, kept ones chained on the branch, all in the store", async () => {
    const r = cli(...args(ws, "--experiments", "3", "--tag", "t1"));
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/exp 001 keep\s+\d\.\d+.*baseline/);
    // How many of this invocation's experiments are done, and the time left.
    expect(r.stdout).toMatch(/ \[1\/\d+, ~\S+ left\] /);
    const rows = tsvRows(ws);
    expect(rows).toHaveLength(3);
    const store = openStore(join(ws, "nightshift.db"), { readonly: true });
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

  it("refuses to restart an existing run without --resume, and resumes it with", () => {
    const again = cli(...args(ws, "--experiments", "1", "--tag", "t1"));
    expect(again.status).toBe(2);
    expect(again.stderr).toMatch(/already exists: pass --resume/);
    const resumed = cli(...args(ws, "--experiments", "1", "--tag", "t1", "--resume"));
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(tsvRows(ws)).toHaveLength(4);
  }, 120_000);

  it("survives kill -9 mid-experiment: --resume records it as interrupted, the store and lab stay sound", async () => {
    const ws2 = join(root, "ws-kill");
    const child: ChildProcess = spawn(process.execPath, [bin, ...args(ws2, "--experiments", "20", "--tag", "k")], {
      env: { ...process.env, NIGHTSHIFT_HOME: root },
      stdio: "ignore",
    });
    // Killed inside an experiment: once the store shows one training (a fixed delay missed
    // start-up altogether on a loaded machine, and then there was no run to resume).
    const deadline = Date.now() + 90_000;
    while (Date.now() < deadline && !trainingIn(join(ws2, "nightshift.db"))) await new Promise((r) => setTimeout(r, 100));
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));
    const resumed = cli(...args(ws2, "--experiments", "1", "--tag", "k", "--resume"));
    expect(resumed.status, resumed.stderr).toBe(0);
    const store = openStore(join(ws2, "nightshift.db"), { readonly: true });
    expect(store.checkIntegrity().ok).toBe(true);
    const run = store.findRunByBranch("nightshift/k/default")!;
    expect(run.status, "the resumed run did its experiment").toBe("finished");
    const experiments = store.listExperiments(run.id);
    const head = store.runHead(run.id);
    store.close();
    expect(experiments.map((e) => e.seq)).toEqual(experiments.map((_, i) => i + 1)); // none lost or duplicated
    expect(experiments.every((e) => !["proposed", "running"].includes(e.status))).toBe(true);
    const git = spawnSync("git", ["status", "--porcelain"], { cwd: join(ws2, "lab", ".worktrees", "slot-0"), encoding: "utf8" });
    expect(git.stdout).toBe("");
    const headNow = spawnSync("git", ["rev-parse", "HEAD"], { cwd: join(ws2, "lab", ".worktrees", "slot-0"), encoding: "utf8" });
    expect(headNow.stdout.trim()).toBe(head);
  }, 120_000);

  it("stops after the experiment in flight when a STOP file appears", () => {
    const ws3 = join(root, "ws-stop");
    const first = cli(...args(ws3, "--experiments", "1", "--tag", "s"));
    expect(first.status, first.stderr).toBe(0);
    writeFileSync(join(ws3, "STOP"), "");
    const r = cli(...args(ws3, "--experiments", "5", "--tag", "s", "--resume"));
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/0 experiments.*stopped: stop requested/);
    const store = openStore(join(ws3, "nightshift.db"), { readonly: true });
    const run = store.findRunByBranch("nightshift/s/default")!;
    store.close();
    expect(run.status, "a run stopped short of its experiments").toBe("stopped");
    expect(run.endedAt).not.toBeNull();
  }, 120_000);

  it("rejects bad input in one line with exit code 2", () => {
    const org = cli(...args(join(root, "ws-bad"), "--org", join(root, "missing-org")));
    expect(org.status).toBe(2);
    expect(org.stderr).toMatch(/--org .*no such file or directory/);
    const n = cli(...args(join(root, "ws-bad"), "--experiments", "0"));
    expect(n.stderr).toMatch(/--experiments must be a positive number/);
    const price = cli(...args(join(root, "ws-bad"), "--agent", "openai", "--no-sandbox", "--price", "3"));
    expect(price.status).toBe(2);
    expect(price.stderr).toMatch(/--price must be two to five non-negative numbers/);
    const six = cli(...args(join(root, "ws-bad"), "--agent", "openai", "--no-sandbox", "--price", "3,15,0.3,3.75,6,1"));
    expect(six.status).toBe(2);
    expect(six.stderr).toMatch(/--price must be two to five .*got 3,15,0.3,3.75,6,1/);
    // A bad agent option is found before anything is written: the same command fails the same way again.
    for (let attempt = 0; attempt < 2; attempt++) {
      const turns = spawnSync(process.execPath, [bin, ...args(join(root, "ws-bad"), "--agent", "openai", "--no-sandbox", "--max-turns", "0", "--tag", "t")], {
        encoding: "utf8",
        env: { ...process.env, NIGHTSHIFT_HOME: root, OPENAI_API_KEY: "sk-test-not-a-key" },
      });
      expect(turns.status).toBe(2);
      expect(turns.stderr).toMatch(/maxTurns/);
      expect(turns.stderr.trim().split("\n")).toHaveLength(1);
    }
    // A missing key is found before the workspace is made.
    const env: NodeJS.ProcessEnv = { ...process.env, NIGHTSHIFT_HOME: root };
    delete env.OPENAI_API_KEY;
    const noKey = spawnSync(process.execPath, [bin, ...args(join(root, "ws-nokey"), "--agent", "openai", "--no-sandbox")], { encoding: "utf8", env });
    expect(noKey.status).toBe(2);
    expect(noKey.stderr).toMatch(/no API key; set OPENAI_API_KEY/);
    expect(existsSync(join(root, "ws-nokey"))).toBe(false);
    const resume = cli(...args(join(root, "ws-bad"), "--resume", "--tag", "never"));
    expect(resume.status).toBe(2);
    expect(resume.stderr).toMatch(/no run nightshift\/never\/default to resume/);
    const noData = cli("run", "--workspace", join(root, "ws-nodata"), "--dataset", join(root, "nowhere"), "--experiments", "1");
    expect(noData.status).toBe(2);
    expect(noData.stderr).toMatch(/no prepared dataset at .*nowhere.*manifest.json missing/);
    expect(existsSync(join(root, "ws-nodata"))).toBe(false); // checked before anything is written
    const results = cli("results", "--workspace", join(root, "nowhere"));
    expect(results.status).toBe(2);
    expect(results.stderr).toMatch(/no nightshift workspace/);
  }, 60_000);
});
