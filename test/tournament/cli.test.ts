/**
 * `nightshift tournament` end to end as a user runs it: a real CLI process, 4 orgs, a night of
 * real 1 s trainings on the small recipe. Once an org's run is under way, `tournament stop` from
 * a second process asks it to stop (as a user does from another terminal): the running CLI ends
 * with exit 0 and the tournament stopped (the night not finished, nothing in flight), `stop`
 * again is refused in one line, and `resume` finishes the night. Then what the store must hold:
 * allocations whose counts match the runs, verdicts, night results and the champion chain; and
 * `status`. One night serves both, since a night of real trainings is what costs.
 * Whether the right org wins, what verification credits, breeding and lineage over several
 * nights and a stop during verification are the drivers' logic, tested on the fake trainer
 * (drive.test.ts, memory.test.ts); breeding through the CLI is in kill.test.ts; the one-line
 * errors, which never train, are cli-errors.test.ts. This file checks that the real parts
 * (CLI, sandboxed trainings, reruns, stop and resume across processes) carry a night through.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStore } from "../../src/store/index.ts";
import { countedExperiments, nightTag } from "../../src/tournament/index.ts";
import { processesUnder } from "../support/processes.ts";
import { initSmallLab } from "../support/small-lab.ts";
import { writeTinyDataset } from "../support/tiny-dataset.ts";
import { writeTestOrgs } from "./orgs.ts";

const bin = fileURLToPath(new URL("../../bin/nightshift.js", import.meta.url));
const root = mkdtempSync(join(tmpdir(), "ns-tournament-"));
const dataset = join(root, "data");
const ws = join(root, "ws");
const orgs = join(root, "orgs");
const env = { ...process.env, NIGHTSHIFT_HOME: root };
const cli = (...args: string[]) => spawnSync(process.execPath, [bin, "tournament", ...args, "--workspace", ws], { encoding: "utf8", env, timeout: 300_000 });

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
  writeTestOrgs(orgs);
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

describe("nightshift tournament", () => {
  it("runs a night with 4 orgs end to end: stop from a second process ends it after the experiment in flight, resume finishes it, the store records everything", async () => {
    const args = ["tournament", "start", "t1", "--nights", "1", "--experiments", "10", "--orgs", orgs, "--time-budget", "1", "--dataset", dataset, "--max-seeds", "2", "--confirm-seeds", "0", "--profile", "cpu", "--workspace", ws, "--json"];
    const { output, done, waitFor } = startInBackground(args);
    // Wait until an org's run is under way.
    expect(await waitFor(/ runs \d+ experiments? on slot /, 120_000), output.stderr).toBe(true);

    const stop = cli("stop", "t1");
    expect(stop.status, stop.stderr).toBe(0);
    expect(stop.stdout).toMatch(/asked to stop/);
    const code = await done;
    started = undefined;
    expect(code, output.stderr).toBe(0);
    const stopped = JSON.parse(output.stdout);
    expect(stopped.tournament.status).toBe("stopped");
    expect(stopped.nights.map((n: { status: string }) => n.status)).toEqual(["allocating"]);
    expect(existsSync(join(ws, "tournaments", "t1", "STOP")), "the STOP file is consumed").toBe(false);

    const stoppedStatus = cli("status", "t1", "--json");
    expect(stoppedStatus.status, stoppedStatus.stderr).toBe(0);
    expect(JSON.parse(stoppedStatus.stdout).tournament.status).toBe("stopped");
    const again = cli("stop", "t1");
    expect(again.status).toBe(2);
    expect(again.stderr.trim().split("\n")).toHaveLength(1);
    expect(again.stderr).toMatch(/is stopped, not running/);

    const store0 = openStore(join(ws, "nightshift.db"), { readonly: true });
    const t0 = store0.getTournamentByName("t1")!;
    const before = store0.listAllocations(store0.listNights(t0.id)[0]!.id);
    const runsAfterStop = store0.listRuns().filter((r) => r.tag === nightTag("t1", 1));
    store0.close();
    expect(runsAfterStop.length).toBeGreaterThan(0);
    expect(runsAfterStop.map((r) => r.status), "no run of a stopped tournament is left running").not.toContain("running");
    expect(before.some((a) => a.status !== "done"), "the stop came before the night's allocations were done").toBe(true);

    const resume = cli("resume", "t1", "--json");
    expect(resume.status, resume.stderr).toBe(0);
    const out = JSON.parse(resume.stdout);
    expect(out.tournament.status, resume.stderr).toBe("finished");
    expect(out.nights.map((n: { status: string }) => n.status)).toEqual(["finished"]);

    const store = openStore(join(ws, "nightshift.db"), { readonly: true });
    try {
      expect(store.checkIntegrity().ok).toBe(true);
      const t = store.getTournamentByName("t1")!;
      const nights = store.listNights(t.id);
      for (const night of nights) {
        const allocations = store.listAllocations(night.id);
        expect(allocations.every((a) => a.status === "done" && a.runId !== null)).toBe(true);
        expect(allocations.reduce((s, a) => s + a.experiments, 0)).toBe(10);
        // Exact counts, across the stop: every org's run did exactly what its grants summed to.
        const byOrg = new Map<number, { granted: number; runId: number }>();
        for (const a of allocations) byOrg.set(a.orgId, { granted: (byOrg.get(a.orgId)?.granted ?? 0) + a.experiments, runId: a.runId! });
        for (const [orgId, { granted, runId }] of byOrg) {
          const name = store.getOrg(orgId).name;
          expect(countedExperiments(store.listExperiments(runId)), name).toBe(granted);
          expect(store.getRun(runId).status, `${name}'s run ends with the night`).toBe("finished");
        }
        const results = store.listNightResults(night.id);
        expect(results.map((x) => x.rank)).toEqual(results.map((_, i) => i + 1));
        expect(new Set(results.map((x) => x.orgId)).size).toBe(byOrg.size);
        for (const x of results) if (x.verdict !== "real") expect(x.verifiedGain).toBe(0);
      }
      // The champion chain starts at the tournament's base; it moves only on a real verdict.
      const chain = store.listChampions(t.id);
      expect(chain[0]!.nightId).toBeNull();
      const real = store.listNightResults(nights[0]!.id).filter((x) => x.verdict === "real");
      expect(chain.length - 1).toBeLessThanOrEqual(real.length);
      expect(store.listMembers(t.id).filter((m) => m.status === "active")).toHaveLength(4);
    } finally {
      store.close();
    }

    const status = cli("status", "t1");
    expect(status.status, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/champion chain:/);
    expect(status.stdout).toMatch(/night 1/);
    expect(processesUnder(root)).toEqual([]);
  }, 300_000);
});
