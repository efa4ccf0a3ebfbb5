/**
 * The Slurm launcher on a real single-node cluster (test/support/slurm-cluster.ts: munged,
 * slurmctld and slurmd started here, two fake GPUs): `nightshift run --launcher slurm` as a real
 * CLI process, the small recipe at a 1 s budget. What ran is read from the cluster's own record
 * (jobcomp: one line per finished job), squeue and the job directories, never assumed:
 *   - several experiments, each one job (GPU jobs get CUDA_VISIBLE_DEVICES from Slurm);
 *   - kill -9 of nightshift with jobs in flight, then --resume: the jobs' results are used and
 *     no experiment is trained twice;
 *   - STOP, and Ctrl-C, cancel the run's jobs: nothing is left in the queue;
 *   - a job that dies (its node process SIGKILLed) is recorded as a crash, never lost;
 *   - a tournament night's experiments run as jobs, and the tournament stores its launcher;
 *   - `noise` measures through jobs, and a training asked for again under the same key uses the
 *     job already run;
 *   - flags Slurm would refuse, and paths a node cannot see, stop a command before it trains (exit 2).
 * Skips with one line where the cluster cannot run (no slurm-wlm/munge, not root).
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Experiment, openStore } from "../../src/store/index.ts";
import { LauncherError, SlurmLauncher, preflightSlurm } from "../../src/launcher/index.ts";
import { smallTrainTs } from "../support/small-lab.ts";
import { writeTestOrgs } from "../tournament/orgs.ts";
import { processesUnder } from "../support/processes.ts";
import { type SlurmCluster, activeJobs, finishedJobs, slurmSkipReason, startSlurmCluster } from "../support/slurm-cluster.ts";
import { initSmallLab } from "../support/small-lab.ts";
import { writeTinyDataset } from "../support/tiny-dataset.ts";

const bin = fileURLToPath(new URL("../../bin/nightshift.js", import.meta.url));
const skipReason = slurmSkipReason();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, probe: () => T | null | undefined | false, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

if (skipReason !== null) it.skip(`Slurm launcher tests: ${skipReason}`, () => {});
else
  describe("nightshift run --launcher slurm (a real single-node cluster)", () => {
    let cluster: SlurmCluster;
    const root = mkdtempSync(join(tmpdir(), "ns-slurm-run-"));
    const dataset = join(root, "data");
    let env: NodeJS.ProcessEnv;
    const live = new Set<ChildProcess>();

    beforeAll(async () => {
      cluster = (await startSlurmCluster())!;
      env = { ...process.env, ...cluster.env, NIGHTSHIFT_HOME: root };
      // Test docs too: a claim's verification also scores the test split.
      writeTinyDataset(dataset, { docs: { val: 200, test: 200 } });
      for (const name of ["ws-run", "ws-kill", "ws-stop", "ws-fail"]) await initSmallLab(join(root, name));
    });
    afterAll(async () => {
      for (const child of live) child.kill("SIGKILL");
      await cluster?.stop();
      rmSync(root, { recursive: true, force: true });
    });

    /** `nightshift run` on the cluster: 1 s budget, the queue polled every 0.2 s, one CPU per job. */
    const runArgs = (ws: string, ...more: string[]) => [
      bin, "run", "--workspace", ws, "--dataset", dataset, "--time-budget", "1",
      "--launcher", "slurm", "--slurm-poll", "0.2", "--slurm-cpus", "1", ...more,
    ];
    const runSync = (args: string[]) => spawnSync(process.execPath, args, { encoding: "utf8", env, timeout: 300_000 });
    function start(args: string[]): { child: ChildProcess; done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> } {
      const child = spawn(process.execPath, args, { env, stdio: ["ignore", "ignore", "pipe"] });
      live.add(child);
      let stderr = "";
      child.stderr!.setEncoding("utf8").on("data", (s: string) => (stderr += s));
      const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) =>
        child.once("close", (code, signal) => {
          live.delete(child);
          resolve({ code, signal, stderr });
        }),
      );
      return { child, done };
    }

    function experiments(ws: string, branch: string): Experiment[] {
      const db = join(ws, "nightshift.db");
      if (!existsSync(db)) return [];
      try {
        const store = openStore(db, { readonly: true });
        try {
          const run = store.findRunByBranch(branch);
          return run ? store.listExperiments(run.id) : [];
        } finally {
          store.close();
        }
      } catch {
        return []; // being created
      }
    }
    const jobsDir = (ws: string) => join(ws, "slurm", "jobs");
    const jobDirs = (ws: string) => (existsSync(jobsDir(ws)) ? readdirSync(jobsDir(ws)) : []);
    const jobIdOf = (ws: string, dir: string) => {
      const file = join(jobsDir(ws), dir, "job-id");
      return existsSync(file) ? readFileSync(file, "utf8").trim() : null;
    };
    /** The job directory of an experiment: run<id>-exp<seq>-<commit>. */
    const dirOf = (ws: string, e: Experiment) => jobDirs(ws).find((d) => d.endsWith(`-exp${e.seq}-${e.commit!.slice(0, 12)}`));
    /** The running experiment's job directory and Slurm id (null until sbatch answered), once its directory exists. */
    const runningJob = (ws: string, branch: string): { dir: string; jobId: string | null } | null => {
      const e = experiments(ws, branch).find((x) => x.status === "running");
      const dir = e && dirOf(ws, e);
      return dir ? { dir, jobId: jobIdOf(ws, dir) } : null;
    };
    /** runArgs with a budget long enough that a job is surely still running when the test acts on it. */
    const longRunArgs = (ws: string, ...more: string[]) => {
      const args = runArgs(ws, ...more);
      args[args.indexOf("--time-budget") + 1] = "60";
      return args;
    };
    /** Finished jobs of this workspace's experiments, from the cluster's record, by job name. */
    const finishedOf = (ws: string) => {
      const names = new Set(jobDirs(ws).map((d) => `-${d}`));
      return finishedJobs(cluster).filter((j) => [...names].some((n) => (j.Name ?? "").endsWith(n)));
    };

    /** Every file under `dir`, recursively (slurmctld's saved state). */
    const filesUnder = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? filesUnder(join(dir, d.name)) : [join(dir, d.name)]));

    /**
     * slurmctld writes a job's record once the job is done, which can be a moment after the job
     * wrote its result (all nightshift waits for): records are read once there are `n` of them.
     */
    const records = (what: string, read: () => Record<string, string>[], n: number) => until(what, () => { const r = read(); return r.length >= n && r; }, 30_000);

    it("trains each experiment as one job; GPU slots get a GPU from Slurm; no credential reaches a job", async () => {
      const ws = join(root, "ws-run");
      const secret = "sk-slurm-test-secret-0123456789";
      const r = spawnSync(process.execPath, runArgs(ws, "--tag", "a", "--experiments", "4", "--devices", "0,cpu"), {
        encoding: "utf8",
        env: { ...env, NIGHTSHIFT_TEST_API_KEY: secret, NIGHTSHIFT_TEST_MARKER: "exported-to-jobs" },
        timeout: 300_000,
      });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/trainings run as Slurm jobs/);
      const done = experiments(ws, "nightshift/a/default");
      expect(done).toHaveLength(4);
      expect(done.map((e) => e.status).every((s) => s === "keep" || s === "discard"), JSON.stringify(done.map((e) => [e.status, e.reason]))).toBe(true);
      expect(done.every((e) => e.summary !== null && e.sandboxed === true)).toBe(true);
      // Each experiment is one job that really ran: its directory, its id, a COMPLETED record.
      const finished = await records("the jobs' records", () => finishedOf(ws), 4);
      for (const e of done) {
        const dir = dirOf(ws, e);
        expect(dir, `experiment ${e.seq} has a job directory`).toBeDefined();
        const id = jobIdOf(ws, dir!);
        const record = finished.find((j) => j.JobId === id);
        expect(record?.JobState, `job ${id} of experiment ${e.seq}`).toBe("COMPLETED");
        expect(existsSync(join(jobsDir(ws), dir!, "result.json"))).toBe(true);
      }
      expect(finished).toHaveLength(4);
      // The GPU slot's jobs ran with the GPU Slurm gave them; the CPU slot's with none.
      const outputs = done.map((e) => {
        const dir = dirOf(ws, e)!;
        return { slot: e.slot, out: readFileSync(join(jobsDir(ws), dir, `slurm-${jobIdOf(ws, dir)}.out`), "utf8") };
      });
      for (const { slot, out } of outputs) {
        if (slot === 0) expect(out).toMatch(/CUDA_VISIBLE_DEVICES=[01] /);
        else expect(out).not.toMatch(/CUDA_VISIBLE_DEVICES=[01] /);
      }
      // The launcher is stored with the run, for --resume.
      const store = openStore(join(ws, "nightshift.db"), { readonly: true });
      const run = store.findRunByBranch("nightshift/a/default")!;
      store.close();
      expect(run.settings.launcher).toMatchObject({ kind: "slurm", pollSeconds: 0.2, cpusPerTask: 1 });
      expect(activeJobs(cluster)).toEqual([]);
      // slurmctld keeps each batch job's environment in its state: the marker is there, the key is not.
      const saved = filesUnder(join(cluster.dir, "state")).filter((f) => f.endsWith("environment")).map((f) => readFileSync(f, "latin1"));
      expect(saved.length).toBeGreaterThanOrEqual(4);
      expect(saved.every((text) => text.includes("exported-to-jobs"))).toBe(true);
      expect(saved.some((text) => text.includes(secret))).toBe(false);
    });

    it("after a kill -9 with jobs in flight, --resume uses their results and trains no experiment twice", async () => {
      const ws = join(root, "ws-kill");
      const branch = "nightshift/k/default";
      const first = start(runArgs(ws, "--tag", "k", "--experiments", "8", "--devices", "cpu,cpu"));
      // Past the baseline, two experiments training at once, both submitted: then the kill.
      const inFlight = await until(
        "two experiments training as submitted jobs",
        () => {
          const running = experiments(ws, branch).filter((e) => e.status === "running" && e.seq > 1);
          return running.length === 2 && running.every((e) => { const d = dirOf(ws, e); return d !== undefined && jobIdOf(ws, d) !== null; }) && running;
        },
        120_000,
      );
      first.child.kill("SIGKILL");
      const killed = await first.done;
      expect(killed.signal).toBe("SIGKILL");
      // Let at least one job finish while nightshift is dead; the other may still be running.
      await until("a job finishing while nightshift is dead", () => inFlight.some((e) => existsSync(join(jobsDir(ws), dirOf(ws, e)!, "result.json"))), 60_000);
      const resumed = runSync(runArgs(ws, "--tag", "k", "--resume", "--experiments", "1", "--devices", "cpu,cpu"));
      expect(resumed.status, resumed.stderr).toBe(0);
      expect(resumed.stderr).toMatch(/2 experiments were training when nightshift stopped: asking Slurm jobs/);
      const after = experiments(ws, branch);
      for (const e of inFlight) {
        const now = after.find((x) => x.id === e.id)!;
        expect(["keep", "discard"], `experiment ${e.seq}: ${now.status} ${now.reason}`).toContain(now.status);
        expect(now.summary).not.toBeNull();
      }
      expect(after.filter((e) => e.status === "running" || e.status === "proposed")).toEqual([]);
      // Never trained twice: one job per experiment, and each experiment's job ran once.
      const trained = after.filter((e) => e.commit !== null && e.status !== "skipped");
      const finished = await records("the jobs' records", () => finishedOf(ws), trained.length);
      for (const e of trained) {
        const dir = dirOf(ws, e)!;
        const runs = finished.filter((j) => (j.Name ?? "").endsWith(`-${dir}`));
        expect(runs.map((j) => j.JobState), `jobs of experiment ${e.seq}`).toEqual(["COMPLETED"]);
      }
      expect(finished).toHaveLength(trained.length);
      expect(activeJobs(cluster)).toEqual([]);
    });

    it("STOP cancels the run's jobs: none is left in the queue", async () => {
      const ws = join(root, "ws-stop");
      const branch = "nightshift/s/default";
      const run = start(longRunArgs(ws, "--tag", "s", "--experiments", "5", "--devices", "cpu"));
      const id = await until(
        "the baseline's job running",
        () => {
          const job = runningJob(ws, branch);
          return job?.jobId && activeJobs(cluster).includes(job.jobId) && existsSync(join(jobsDir(ws), job.dir, `slurm-${job.jobId}.out`)) ? job.jobId : null;
        },
        120_000,
      );
      writeFileSync(join(ws, "STOP"), "");
      const stopped = await run.done;
      expect(stopped.code, stopped.stderr).toBe(0);
      expect(stopped.stderr).toMatch(/cancelling the run's Slurm jobs/);
      await until("the queue emptying", () => activeJobs(cluster).length === 0, 30_000);
      const record = await until("the job's record", () => finishedJobs(cluster).find((j) => j.JobId === id), 30_000);
      expect(record.JobState).toBe("CANCELLED");
      const [baseline] = experiments(ws, branch);
      expect(baseline!.status).toBe("skipped");
      expect(baseline!.reason).toMatch(/^interrupted/);
    });

    it("Ctrl-C cancels the run's jobs too", async () => {
      const ws = join(root, "ws-sigint");
      await initSmallLab(ws);
      const branch = "nightshift/c/default";
      const run = start(longRunArgs(ws, "--tag", "c", "--experiments", "5", "--devices", "cpu"));
      const id = await until(
        "the baseline's job running",
        () => {
          const job = runningJob(ws, branch);
          return job?.jobId && activeJobs(cluster).includes(job.jobId) ? job.jobId : null;
        },
        120_000,
      );
      run.child.kill("SIGINT");
      const stopped = await run.done;
      expect(stopped.code, stopped.stderr).toBe(0);
      await until("the queue emptying", () => activeJobs(cluster).length === 0, 30_000);
      expect((await until("the job's record", () => finishedJobs(cluster).find((j) => j.JobId === id), 30_000)).JobState).toBe("CANCELLED");
      expect(experiments(ws, branch).map((e) => [e.status, e.reason])).toEqual([["skipped", "interrupted by the user"]]);
    });

    it("records a job that dies on its node as a crash, with Slurm's word for it", async () => {
      const ws = join(root, "ws-fail");
      const branch = "nightshift/f/default";
      const run = start(longRunArgs(ws, "--tag", "f", "--experiments", "1", "--devices", "cpu"));
      const dir = await until(
        "the job's entry process on the node",
        () => {
          const job = runningJob(ws, branch);
          return job && processesUnder(join(jobsDir(ws), job.dir)).some((p) => p.cmdline.includes("job-entry.ts")) ? job.dir : null;
        },
        120_000,
      );
      const id = jobIdOf(ws, dir)!;
      // What an OOM killer or a dying node does: the job's process is gone, no result written.
      for (const p of processesUnder(join(jobsDir(ws), dir)).filter((p) => p.cmdline.includes("job-entry.ts"))) process.kill(p.pid, "SIGKILL");
      const ended = await run.done;
      expect(ended.code, ended.stderr).not.toBe(null);
      const [e] = experiments(ws, branch);
      expect(e!.status).toBe("crash");
      expect(e!.reason).toMatch(new RegExp(`slurm job ${id} ended FAILED`));
      expect((await until("the job's record", () => finishedJobs(cluster).find((j) => j.JobId === id), 30_000)).JobState).toBe("FAILED");
      expect(existsSync(join(jobsDir(ws), dir, "result.json"))).toBe(false);
    });

    it("runs a tournament night's experiments as jobs and stores the launcher with the tournament", async () => {
      const ws = join(root, "ws-tournament");
      const orgs = join(root, "orgs");
      writeTestOrgs(orgs);
      await initSmallLab(ws);
      const r = runSync([
        bin, "tournament", "start", "t1", "--nights", "1", "--experiments", "4", "--population", "2", "--orgs", orgs, "--time-budget", "1",
        "--dataset", dataset, "--max-seeds", "2", "--confirm-seeds", "0", "--profile", "cpu", "--workspace", ws,
        "--launcher", "slurm", "--slurm-poll", "0.2", "--slurm-cpus", "1", "--devices", "cpu,cpu",
      ]);
      expect(r.status, r.stderr).toBe(0);
      // Four experiments, and the reruns of a claim when the night made one: every one a job.
      const experimentJobs = jobDirs(ws).filter((d) => /^run\d+-exp\d+-/.test(d));
      expect(experimentJobs).toHaveLength(4);
      const finished = await records("the jobs' records", () => finishedOf(ws), jobDirs(ws).length);
      expect(finished).toHaveLength(jobDirs(ws).length);
      expect(finished.every((j) => j.JobState === "COMPLETED")).toBe(true);
      expect(jobDirs(ws).every((d) => /^run\d+-exp\d+-|^measure-/.test(d))).toBe(true);
      const store = openStore(join(ws, "nightshift.db"), { readonly: true });
      try {
        const t = store.getTournamentByName("t1")!;
        expect(t.settings.launcher).toMatchObject({ kind: "slurm", cpusPerTask: 1 });
        const runs = store.listRuns();
        expect(runs).toHaveLength(2);
        expect(runs.every((run) => (run.settings.launcher as { kind?: string } | undefined)?.kind === "slurm")).toBe(true);
        expect(runs.flatMap((run) => store.listExperiments(run.id)).every((e) => e.status === "keep" || e.status === "discard")).toBe(true);
      } finally {
        store.close();
      }
    });

    it("measures noise through jobs, and a training asked for again under its key uses the job already run", async () => {
      const ws = join(root, "ws-run");
      const before = finishedJobs(cluster).length;
      const r = runSync([bin, "noise", "--workspace", ws, "--run", "a", "--seeds", "2", "--same-seed", "0", "--dataset", dataset, "--launcher", "slurm", "--slurm-poll", "0.2", "--slurm-cpus", "1"]);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/noise floor of [0-9a-f]{7}/);
      // The shared-filesystem probe, then one job per seed.
      const since = await records("the probe's and the measurements' records", () => finishedJobs(cluster).slice(before).filter((j) => j.Name === "nightshift-probe" || (j.Name ?? "").includes("-measure-")), 3);
      expect(since.map((j) => j.Name)[0]).toBe("nightshift-probe");
      const measured = since.filter((j) => /-measure-[0-9a-f]{12}-s\d+-[0-9a-f]{10}$/.test(j.Name ?? ""));
      expect(measured.map((j) => j.JobState)).toEqual(["COMPLETED", "COMPLETED"]);
      expect(since).toHaveLength(3);

      // The launcher itself: the same key twice is one job.
      const dir = join(root, "direct");
      writeFileSync(join(root, "direct-train.ts"), smallTrainTs());
      process.env.SLURM_CONF = cluster.env.SLURM_CONF;
      const launcher = new SlurmLauncher({ kind: "slurm", extraArgs: [], cpusPerTask: 1, pollSeconds: 0.2 }, dir);
      const options = { file: join(root, "direct-train.ts"), datasetDir: dataset, profile: "cpu" as const, seed: 7, timeBudget: 1 };
      const job = { key: "same-key", label: "twice", device: "cpu" as const };
      const jobId = () => readFileSync(join(dir, "slurm", "jobs", "same-key", "job-id"), "utf8").trim();
      const first = await launcher.train(options, job);
      const firstId = jobId();
      const second = await launcher.train(options, job);
      expect(first.status).toBe("ok");
      expect(second).toEqual(first);
      expect(jobId(), "no second submission").toBe(firstId);
      const sameKey = await records("the job's record", () => finishedJobs(cluster).filter((j) => (j.Name ?? "").endsWith("-same-key")), 1);
      expect(sameKey.map((j) => j.JobId)).toEqual([firstId]);
      expect(await launcher.recover(job)).toEqual({ kind: "finished", result: first });
      expect(await launcher.recover({ ...job, key: "never-submitted" })).toMatchObject({ kind: "lost" });
    });

    it("stops before training when Slurm would refuse the jobs or a node cannot see the workspace's paths", async () => {
      const ws = join(root, "ws-refused");
      await initSmallLab(ws);
      const refused = runSync(runArgs(ws, "--tag", "r", "--experiments", "1", "--slurm-partition", "no-such-partition"));
      expect(refused.status).toBe(2);
      expect(refused.stderr).toMatch(/Slurm would refuse the CPU jobs \(sbatch --test-only\): .*partition/i);
      expect(experiments(ws, "nightshift/r/default")).toEqual([]);
      expect(jobDirs(ws), "no job was submitted").toEqual([]);

      process.env.SLURM_CONF = cluster.env.SLURM_CONF;
      const launcher = new SlurmLauncher({ kind: "slurm", extraArgs: [], pollSeconds: 0.2 }, ws);
      const hidden = join(root, "not-on-the-nodes");
      const check = preflightSlurm({ launcher, workspaceDir: ws, mustSee: [dataset, hidden], devices: ["cpu"], hardLimitSeconds: 60, pollSeconds: 0.2 });
      await expect(check).rejects.toThrow(LauncherError);
      await expect(check).rejects.toThrow(new RegExp(`cannot see ${hidden}: the workspace and NIGHTSHIFT_HOME must be on a filesystem the nodes share`));
    });
  });
