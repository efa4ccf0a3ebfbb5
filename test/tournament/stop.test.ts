/**
 * `nightshift tournament stop` and `resume` through the CLI, as a user does it from a second
 * terminal: a real `tournament start` runs (2 orgs, 1 night, 1 s budgets on the small recipe);
 * once an org's run is under way, `tournament stop` asks it to stop; the running CLI ends with
 * exit 0 and the tournament stopped (the night not finished, nothing in flight); `stop` again
 * is refused in one line; `resume` then finishes the night with every org's run doing exactly
 * its grants. (A stop during verification, and resume after it, is the drivers' logic:
 * test/tournament/drive.test.ts covers it on the fake trainer.)
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runBranchName } from "../../src/lab/index.ts";
import { openStore } from "../../src/store/index.ts";
import { countedExperiments, nightTag } from "../../src/tournament/index.ts";
import { processesUnder } from "../support/processes.ts";
import { initSmallLab } from "../support/small-lab.ts";
import { writeTinyDataset } from "../support/tiny-dataset.ts";
import { writeTestOrgs } from "./orgs.ts";

const bin = fileURLToPath(new URL("../../bin/nightshift.js", import.meta.url));
const root = mkdtempSync(join(tmpdir(), "ns-tstop-"));
const dataset = join(root, "data");
const ws = join(root, "ws");
const orgs = join(root, "orgs");
const env = { ...process.env, NIGHTSHIFT_HOME: root };
const common = ["--workspace", ws, "--json"];
const cli = (...args: string[]) => spawnSync(process.execPath, [bin, "tournament", ...args, ...common], { encoding: "utf8", env, timeout: 120_000 });

let started: number | undefined;
afterAll(() => {
  if (started !== undefined)
    try {
      process.kill(started, "SIGKILL");
    } catch {
      // Already gone.
    }
  rmSync(root, { recursive: true, force: true });
});
beforeAll(async () => {
  writeTinyDataset(dataset, { docs: { val: 100, test: 200 } });
  await initSmallLab(ws, { detuned: true });
  writeTestOrgs(orgs, ["lr", "wd"]);
});

/** `nightshift` started in the background, its output collected, a wait for a line in stderr. */
function startInBackground(args: string[]) {
  const child = spawn(process.execPath, [bin, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
  started = child.pid;
  const output = { stdout: "", stderr: "" };
  child.stdout.on("data", (d: Buffer) => (output.stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (output.stderr += d.toString()));
  const done = new Promise<number | null>((r) => child.once("close", (code) => r(code)));
  const waitFor = async (line: RegExp, timeoutMs: number): Promise<boolean> => {
    const deadline = Date.now() + timeoutMs;
    while (!line.test(output.stderr) && child.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    return line.test(output.stderr);
  };
  return { output, done, waitFor };
}

describe("nightshift tournament stop / resume", () => {
  it("stop ends a running tournament after the experiment in flight; resume finishes it", async () => {
    const args = ["tournament", "start", "ts", "--nights", "1", "--experiments", "6", "--orgs", orgs, "--time-budget", "1", "--dataset", dataset, "--max-seeds", "2", "--profile", "cpu", ...common];
    const { output, done, waitFor } = startInBackground(args);
    // Wait until an org's run is under way.
    expect(await waitFor(/ runs \d+ experiments? on slot /, 60_000), output.stderr).toBe(true);

    const stop = cli("stop", "ts");
    expect(stop.status, stop.stderr).toBe(0);
    expect(stop.stdout).toMatch(/asked to stop/);
    const code = await done;
    started = undefined;
    expect(code, output.stderr).toBe(0);
    const out = JSON.parse(output.stdout);
    expect(out.tournament.status).toBe("stopped");
    expect(out.nights.map((n: { status: string }) => n.status)).toEqual(["allocating"]);
    expect(existsSync(join(ws, "tournaments", "ts", "STOP")), "the STOP file is consumed").toBe(false);

    const status = cli("status", "ts");
    expect(status.status, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout).tournament.status).toBe("stopped");
    const again = cli("stop", "ts");
    expect(again.status).toBe(2);
    expect(again.stderr.trim().split("\n")).toHaveLength(1);
    expect(again.stderr).toMatch(/is stopped, not running/);

    const store0 = openStore(join(ws, "nightshift.db"), { readonly: true });
    const t0 = store0.getTournamentByName("ts")!;
    const night0 = store0.listNights(t0.id)[0]!;
    const before = store0.listAllocations(night0.id);
    const runsAfterStop = store0.listRuns().filter((r) => r.tag === nightTag("ts", 1));
    store0.close();
    expect(runsAfterStop.length).toBeGreaterThan(0);
    expect(runsAfterStop.map((r) => r.status), "no run of a stopped tournament is left running").not.toContain("running");
    expect(before.some((a) => a.status !== "done"), "the stop came before the night's allocations were done").toBe(true);

    const resume = cli("resume", "ts");
    expect(resume.status, resume.stderr).toBe(0);
    expect(JSON.parse(resume.stdout).tournament.status).toBe("finished");

    const store = openStore(join(ws, "nightshift.db"), { readonly: true });
    try {
      expect(store.checkIntegrity().ok).toBe(true);
      const t = store.getTournamentByName("ts")!;
      const night = store.listNights(t.id)[0]!;
      expect(night.status).toBe("finished");
      const allocations = store.listAllocations(night.id);
      expect(allocations.every((a) => a.status === "done")).toBe(true);
      expect(allocations.reduce((s, a) => s + a.experiments, 0)).toBe(6);
      for (const orgId of new Set(allocations.map((a) => a.orgId))) {
        const org = store.getOrg(orgId);
        const run = store.findRunByBranch(runBranchName(nightTag("ts", 1), org.name))!;
        const granted = allocations.filter((a) => a.orgId === orgId).reduce((s, a) => s + a.experiments, 0);
        expect(countedExperiments(store.listExperiments(run.id)), org.name).toBe(granted);
        expect(run.status, `${org.name}'s run ends with the night`).toBe("finished");
      }
      expect(store.listNightResults(night.id)).toHaveLength(2);
    } finally {
      store.close();
    }
    expect(processesUnder(root)).toEqual([]);
  }, 180_000);
});
