/**
 * The Slurm launcher: each training is one batch job. The job runs job-entry.ts on its node,
 * which runs the sandboxed trainer and the trusted evaluator there and writes the outcome into
 * the job's directory (job-files.ts); this process polls squeue (sacct when the cluster keeps
 * accounting) until the outcome is there or the job ended without one.
 *
 * A job's directory is named by the training's key, which is the same after a kill: a training
 * asked for again (a resumed verification) or recovered (an experiment a killed loop left in
 * flight) finds the job already submitted and uses its result — it never trains twice. A job
 * that ends without a result (killed by its time limit, out of memory, failed, preempted
 * without requeue) is recorded as a failed training with what Slurm and its output say, never
 * dropped. Requeued jobs are waited for. Aborting a training cancels its job (scancel).
 */
import { createHash, randomUUID } from "node:crypto";
import { appendFileSync, copyFileSync, existsSync, mkdirSync, rmSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { PROFILES } from "../harness/constants.ts";
import { RunnerError, type RunnerErrorCode, type RunTrainOptions, defaultHardLimit, sandboxSupport } from "../harness/runner/index.ts";
import type { TrainingJob } from "../harness/trainer.ts";
import type { RunResult, RunStatus } from "../harness/types.ts";
import { JOB_FILES, JOB_OPTION_KEYS, type JobSpec, type JobTrainOptions, jobOutputTail, readJobId, readOutcome, readSpec, writeAtomically, writeJson } from "./job-files.ts";
import { type QueueState, sacct, sbatch, scancel, squeue, squeueByName } from "./slurm-commands.ts";
import { type Launcher, LauncherError, type Recovered, type SlurmSettings } from "./types.ts";

const JOB_ENTRY = fileURLToPath(new URL("./job-entry.ts", import.meta.url));

/** Seconds a job gets beyond the runner's hard limit: node start-up, loading the data, writing the result. */
export const JOB_OVERHEAD_SECONDS = 120;

/** States after which a job runs no more (Slurm's job state codes). Any other state may still run. */
const ENDED = new Set(["COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "PREEMPTED", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE", "SPECIAL_EXIT", "REVOKED"]);

/**
 * Seconds a job's result may take to show here after Slurm says it ended: on NFS a directory
 * listing can be stale for up to acdirmax (60 s by default); a COMPLETED job wrote its result
 * before it exited, so it is worth waiting for. A job that failed rarely did.
 */
const RESULT_LAG_COMPLETED_SECONDS = 60;
const RESULT_LAG_FAILED_SECONDS = 3;

/** Seconds squeue may keep failing before a training gives up on its job. */
const SQUEUE_PATIENCE_SECONDS = 600;

const KEY = /^[A-Za-z0-9._-]{1,120}$/;

type Waited = { kind: "outcome"; result: RunResult } | { kind: "lost"; why: string };

/** What a job's failure means for the training: how Slurm's state maps to a run's status. */
function statusOfEndedJob(state: string): RunStatus {
  if (state === "TIMEOUT" || state === "DEADLINE") return "timeout";
  if (state === "OUT_OF_MEMORY") return "out-of-memory";
  return "crash";
}

function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

export class SlurmLauncher implements Launcher {
  readonly kind = "slurm";
  /** Jobs this process waits on: job id → its directory. STOP cancels them. */
  private readonly inFlight = new Map<string, string>();
  private readonly jobsDir: string;
  /** Names this workspace's jobs on the cluster, where other workspaces' jobs also run. */
  private readonly namePrefix: string;

  constructor(
    readonly settings: { kind: "slurm" } & SlurmSettings,
    private readonly workspaceDir: string,
  ) {
    this.jobsDir = join(workspaceDir, "slurm", "jobs");
    this.namePrefix = `ns-${createHash("sha256").update(workspaceDir).digest("hex").slice(0, 8)}`;
  }

  describe(): string {
    const s = this.settings;
    const where = [s.partition ? `partition ${s.partition}` : "the default partition", s.account ? `account ${s.account}` : null, ...s.extraArgs].filter((x) => x !== null);
    return `Slurm jobs (${where.join(", ")}; polled every ${s.pollSeconds} s)`;
  }

  readonly train = async (options: RunTrainOptions, job?: TrainingJob): Promise<RunResult> => {
    const j = job ?? { key: `training-${randomUUID()}`, label: "a training", device: options.profile === "gpu" ? "gpu" : "cpu" };
    if (!KEY.test(j.key)) throw new RunnerError("INVALID_OPTION", `slurm launcher: job key ${JSON.stringify(j.key)} must be 1-120 letters, digits, '.', '_' or '-'`);
    if (options.signal?.aborted) throw new RunnerError("RUN_ABORTED", "runTrain: aborted before the run started");
    const dir = join(this.jobsDir, j.key);
    // The same training asked for again after a kill: its job's result, or the job itself while it runs.
    const existing = await this.existingJob(dir);
    if (existing !== null) {
      const waited = await this.wait(existing, dir, options);
      if (waited.kind === "outcome") return waited.result;
    }
    rmSync(dir, { recursive: true, force: true });
    const id = await this.submit(dir, j, options);
    const waited = await this.wait(id, dir, options);
    return waited.kind === "outcome" ? waited.result : this.failure(options, dir, id, waited.why, "crash");
  };

  async recover(job: TrainingJob, signal?: AbortSignal): Promise<Recovered> {
    const dir = join(this.jobsDir, job.key);
    if (!existsSync(dir)) return { kind: "lost", why: "it was never submitted to Slurm" };
    // A job that stopped on an error (the harness failed, the node could not sandbox or see the
    // data, it was cancelled) trained nothing to use: lost, with its reason, so that the resume
    // goes on rather than failing on it again.
    const done = readOutcome(dir);
    if (done?.kind === "error") return { kind: "lost", why: `its job stopped: ${done.message}` };
    if (done?.kind === "result") return { kind: "finished", result: done.result };
    const id = await this.existingJob(dir);
    if (id === null) return { kind: "lost", why: "its Slurm job is no longer known and left no result" };
    const spec = readSpec(dir);
    if (spec.kind !== "train") return { kind: "lost", why: "its directory holds no training" };
    let waited: Waited;
    try {
      waited = await this.wait(id, dir, { ...spec.options, ...(signal ? { signal } : {}) });
    } catch (err) {
      if (err instanceof RunnerError && err.code === "RUN_ABORTED") throw err;
      if (err instanceof RunnerError || (err instanceof LauncherError && err.code === "NOT_SHARED")) return { kind: "lost", why: `its job stopped: ${err.message}` };
      throw err;
    }
    return waited.kind === "outcome" ? { kind: "finished", result: waited.result } : { kind: "lost", why: waited.why };
  }

  async cancelInFlight(): Promise<number> {
    const ids = [...this.inFlight.keys()];
    await scancel(ids);
    return ids.length;
  }

  /** The sbatch arguments every job of this launcher gets (flags and resources). */
  sbatchArgs(device: "gpu" | "cpu", cpus: number | undefined, timeLimitSeconds: number): string[] {
    const s = this.settings;
    const minutes = Math.max(1, Math.ceil((timeLimitSeconds + JOB_OVERHEAD_SECONDS) / 60));
    return [
      ...(s.partition ? [`--partition=${s.partition}`] : []),
      ...(s.account ? [`--account=${s.account}`] : []),
      `--time=${minutes}`,
      "--nodes=1",
      "--ntasks=1",
      ...(device === "gpu" ? ["--gres=gpu:1"] : []),
      ...(cpus !== undefined ? [`--cpus-per-task=${cpus}`] : []),
      ...s.extraArgs,
    ];
  }

  /** -c for a job: --slurm-cpus, else what a local slot would get (its share of this machine's cores) for a CPU job. */
  private cpusFor(device: "gpu" | "cpu", env: RunTrainOptions["env"]): number | undefined {
    if (this.settings.cpusPerTask !== undefined) return this.settings.cpusPerTask;
    if (device === "gpu") return undefined;
    const share = Number(env?.NIGHTSHIFT_NUM_THREADS);
    return Number.isInteger(share) && share > 0 ? share : availableParallelism();
  }

  private async submit(dir: string, job: TrainingJob, o: RunTrainOptions): Promise<string> {
    mkdirSync(dir, { recursive: true });
    copyFileSync(o.file, join(dir, JOB_FILES.trainTs));
    const env: Record<string, string> = {};
    const unsetEnv: string[] = [];
    for (const [k, v] of Object.entries(o.env ?? {})) {
      // The node's share of cores and its GPU are Slurm's to give: a local slot's say is dropped.
      if (k === "NIGHTSHIFT_NUM_THREADS" || k === "CUDA_VISIBLE_DEVICES") continue;
      if (v === undefined) unsetEnv.push(k);
      else env[k] = v;
    }
    // A CPU job on a GPU node must not train on a GPU Slurm did not give it.
    if (job.device === "cpu") env.CUDA_VISIBLE_DEVICES = "";
    const timeBudget = o.timeBudget ?? PROFILES[o.profile].timeBudget;
    const hardLimit = o.hardLimit ?? defaultHardLimit(timeBudget);
    // Every option that travels as JSON, as given; then what the job decides for itself.
    const carried = Object.fromEntries(JOB_OPTION_KEYS.filter((k) => o[k] !== undefined).map((k) => [k, o[k]]));
    const options: JobTrainOptions = {
      ...(carried as Partial<JobTrainOptions>),
      file: join(dir, JOB_FILES.trainTs),
      datasetDir: o.datasetDir,
      profile: o.profile,
      seed: o.seed,
      timeBudget,
      hardLimit,
      env,
      ...(unsetEnv.length > 0 ? { unsetEnv } : {}),
      // The parent checked the sandbox against its own machine (an LLM's code is refused where it
      // cannot run): where it can, the node must sandbox too, or the job fails saying so.
      sandbox: o.sandbox === "off" ? "off" : o.sandbox === "required" || sandboxSupport().available ? "required" : "auto",
    };
    const spec: JobSpec = { kind: "train", key: job.key, label: job.label, options };
    writeJson(dir, JOB_FILES.spec, spec);
    const script = writeJobScript(dir);
    const args = [
      `--job-name=${this.namePrefix}-${job.key}`,
      `--comment=nightshift workspace ${this.workspaceDir}: ${job.label}`,
      `--output=${join(dir, "slurm-%j.out")}`,
      `--chdir=${dir}`,
      ...this.sbatchArgs(job.device, this.cpusFor(job.device, o.env), hardLimit),
    ];
    const id = await sbatch(args, script);
    writeAtomically(join(dir, JOB_FILES.jobId), `${id}\n`);
    return id;
  }

  /**
   * The id of a job already submitted for this directory that may still bring a result: its
   * result is there, or Slurm (or accounting) still knows it. A kill between sbatch and the
   * job-id file is covered by the job's name.
   */
  private async existingJob(dir: string): Promise<string | null> {
    if (!existsSync(dir)) return null;
    const id = readJobId(dir);
    if (id !== null) return id;
    const key = dir.slice(this.jobsDir.length + 1);
    return squeueByName(`${this.namePrefix}-${key}`);
  }

  /** Waits for job `id` to leave its result in `dir`, or to end without one. */
  private async wait(id: string, dir: string, o: Pick<RunTrainOptions, "signal" | "profile" | "seed" | "timeBudget" | "logFile">): Promise<Waited> {
    this.inFlight.set(id, dir);
    try {
      let endedAt: number | null = null;
      let ended: QueueState | null = null;
      for (;;) {
        const outcome = readOutcome(dir);
        // The job's training aborted by a SIGTERM this process did not ask for (scancel by a
        // person, preemption without requeue): a failed training, not this run's stop.
        if (outcome?.kind === "error" && outcome.code === "RUN_ABORTED" && !o.signal?.aborted)
          return { kind: "outcome", result: this.failure(o, dir, id, `slurm job ${id} was stopped from outside nightshift (${outcome.message})`, "crash") };
        if (outcome !== null && outcome.kind !== "probe") return { kind: "outcome", result: this.resultOf(outcome) };
        if (o.signal?.aborted) {
          await scancel([id]);
          throw new RunnerError("RUN_ABORTED", `slurm launcher: aborted; job ${id} was cancelled (scancel)`);
        }
        if (endedAt === null) {
          const state = await this.jobStateTolerant(id);
          if (state === "unanswered") {
            // slurmctld busy or restarting: the job goes on meanwhile; ask again next time.
          } else if (state === null || ENDED.has(state.state)) {
            endedAt = Date.now();
            ended = state;
          }
        } else {
          const lag = ended?.state === "COMPLETED" ? RESULT_LAG_COMPLETED_SECONDS : Math.max(RESULT_LAG_FAILED_SECONDS, 2 * this.settings.pollSeconds);
          if (Date.now() - endedAt > lag * 1000) {
            if (ended === null) return { kind: "lost", why: `Slurm no longer knows job ${id} and it left no result in ${dir}` };
            return { kind: "outcome", result: this.failure(o, dir, id, `slurm job ${id} ended ${ended.state}${ended.reason && ended.reason !== "None" ? ` (${ended.reason})` : ""} without a result`, statusOfEndedJob(ended.state)) };
          }
        }
        await abortableSleep(endedAt === null ? this.settings.pollSeconds * 1000 : Math.min(1000, this.settings.pollSeconds * 1000), o.signal);
      }
    } finally {
      this.inFlight.delete(id);
    }
  }

  /** When squeue first failed in a row of failures; reset by an answer. */
  private squeueFailingSince: number | null = null;

  /**
   * The job's state, riding out a controller that does not answer for a while (a busy or
   * restarting slurmctld times squeue out on real clusters): "unanswered" until it has failed
   * for SQUEUE_PATIENCE_SECONDS in a row, then the error.
   */
  private async jobStateTolerant(id: string): Promise<QueueState | null | "unanswered"> {
    try {
      const state = await jobState(id);
      this.squeueFailingSince = null;
      return state;
    } catch (err) {
      if (!(err instanceof LauncherError) || err.code !== "SLURM_COMMAND_FAILED") throw err;
      this.squeueFailingSince ??= Date.now();
      if (Date.now() - this.squeueFailingSince > SQUEUE_PATIENCE_SECONDS * 1000) throw err;
      return "unanswered";
    }
  }

  private resultOf(outcome: Exclude<ReturnType<typeof readOutcome>, null>): RunResult {
    if (outcome.kind === "result") return outcome.result;
    if (outcome.kind === "error") {
      if (outcome.code === "NOT_SHARED") throw new LauncherError("NOT_SHARED", outcome.message);
      throw new RunnerError(outcome.code as RunnerErrorCode, `${outcome.message} (on node ${outcome.host})`);
    }
    throw new RunnerError("HARNESS_FAILED", "slurm launcher: a probe's answer where a training's result was expected");
  }

  /** A training whose job ended without a result, recorded as failed with what the job printed. */
  private failure(o: Pick<RunTrainOptions, "profile" | "seed" | "timeBudget" | "logFile">, dir: string, id: string, why: string, status: RunStatus): RunResult {
    const output = jobOutputTail(dir, id);
    const error = `${why}${output.trim() ? `; its output ends: ${output.trim().split("\n").slice(-1)[0]}` : ""}`;
    if (o.logFile) {
      try {
        appendFileSync(o.logFile, `${output}\nFAIL (${status}): ${error}\n`);
      } catch {
        // The log is for people; the result below is what is recorded.
      }
    }
    return {
      status,
      error,
      logTail: `${output}\n${why}`.trim(),
      seed: o.seed,
      profile: o.profile,
      timeBudget: o.timeBudget ?? PROFILES[o.profile].timeBudget,
      sandboxed: false,
    };
  }
}

/** The job's state now: squeue while slurmctld holds it, else accounting; null when neither knows it. */
async function jobState(id: string): Promise<QueueState | null> {
  const queued = (await squeue([id])).get(id);
  if (queued) return queued;
  const accounted = await sacct(id);
  return accounted ? { state: accounted.state, reason: `exit ${accounted.exitCode}` } : null;
}

/** The batch script: this Node and this checkout's job-entry.ts, through the tsx loader the CLI uses. */
export function writeJobScript(dir: string): string {
  const file = join(dir, JOB_FILES.script);
  const tsx = import.meta.resolve("tsx/esm");
  const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  writeAtomically(file, `#!/bin/sh\n# A nightshift training (see spec.json); nightshift reads result.json.\nexec ${q(process.execPath)} --import ${q(tsx)} ${q(JOB_ENTRY)} ${q(dir)}\n`);
  return file;
}
