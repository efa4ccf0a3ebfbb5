/**
 * Launchers: where the trainings of a workspace run. `local` trains each train.ts in a child
 * process of nightshift (the harness runner, sandboxed); `slurm` submits each as a batch job
 * that runs that same runner, sandbox and trusted evaluator on the node Slurm allocates. The
 * drivers (loop, verification, tournament) see a Trainer either way; a launcher adds what only
 * a training outside this process needs: finding it again after a kill, and cancelling it.
 */
import type { Trainer, TrainingJob } from "../harness/trainer.ts";
import type { RunResult } from "../harness/types.ts";
import { CodedError } from "../util/errors.ts";

export const LAUNCHER_KINDS = ["local", "slurm"] as const;
export type LauncherKind = (typeof LAUNCHER_KINDS)[number];

/** The Slurm launcher's options, as the flags give them and as a run or tournament stores them. */
export interface SlurmSettings {
  /** sbatch --partition; default: the cluster's default partition. */
  partition?: string;
  /** sbatch --account; default: the user's default account. */
  account?: string;
  /** Extra sbatch arguments, each one argument (e.g. "--qos=high", "--constraint=a100"). */
  extraArgs: string[];
  /** sbatch -c for every job; default: a CPU slot's share of this machine's cores, none for a GPU job. */
  cpusPerTask?: number;
  /** Seconds between two looks at the queue (squeue) and the job's directory. */
  pollSeconds: number;
}

export type LauncherSettings = { kind: "local" } | ({ kind: "slurm" } & SlurmSettings);

export const DEFAULT_POLL_SECONDS = 10;

/** What became of a training a killed nightshift left in flight. */
export type Recovered =
  /** Its job finished (while nightshift was away, or since): its result, to be used as is. */
  | { kind: "finished"; result: RunResult }
  /** Nothing of it survived (never submitted, cancelled, lost with its node): not trained. */
  | { kind: "lost"; why: string };

export interface Launcher {
  readonly kind: LauncherKind;
  /** What it was made from: stored with a run or a tournament, so that a resume uses it again. */
  readonly settings: LauncherSettings;
  /** Trains one train.ts, as the harness runner would here. */
  readonly train: Trainer;
  /**
   * A training of `job.key` that a killed process left in flight: its result once its job ends
   * (waiting while it still runs, cancelling it when `signal` aborts), or lost. A local training
   * dies with its process, so the local launcher always answers lost.
   */
  recover(job: TrainingJob, signal?: AbortSignal): Promise<Recovered>;
  /** Cancels every training this process has in flight and returns how many (STOP on a cluster). */
  cancelInFlight(): Promise<number>;
  /** One line for the user: where trainings run ("slurm, partition gpu, 2 jobs in flight at most"). */
  describe(): string;
}

export type LauncherErrorCode =
  | "BAD_LAUNCHER_OPTION" // a --slurm-* flag or a stored setting is malformed
  | "SLURM_UNAVAILABLE" // sbatch, squeue or scancel cannot be run here
  | "SLURM_REFUSED" // sbatch refused the job's arguments (sbatch --test-only or a real submission)
  | "SLURM_COMMAND_FAILED" // squeue or scancel failed
  | "NOT_SHARED"; // a job cannot see the workspace or NIGHTSHIFT_HOME (not on a shared filesystem)

export class LauncherError extends CodedError<LauncherErrorCode> {}
