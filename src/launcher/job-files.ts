/**
 * A Slurm job's files, the whole contract between nightshift and the job it submits: one
 * directory per training, <workspace>/slurm/jobs/<key>/, on the filesystem both see.
 *
 *   spec.json     what to train (the runner's options, all plain JSON), written before sbatch
 *   train.ts      the train.ts to run, copied: the slot's worktree moves on (or is reset by a
 *                 resume) while the job may still wait in the queue
 *   job.sh        the batch script: node runs job-entry.ts on this directory
 *   job-id        the Slurm job id, written once sbatch answered
 *   result.json   the job's last word: the runner's RunResult, or the error that stopped it
 *   slurm-N.out   what the job printed (sbatch --output)
 *
 * Every file is written whole under a temporary name and renamed into place, so a kill of
 * either side never leaves half a file that reads as an answer.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { RunTrainOptions } from "../harness/runner/index.ts";
import type { RunResult } from "../harness/types.ts";

/** The runner options a job can carry in JSON: no callbacks, signal or working directory. */
export const JOB_OPTION_KEYS = [
  "file",
  "datasetDir",
  "profile",
  "seed",
  "timeBudget",
  "overBudgetGrace",
  "startupAllowance",
  "firstAnswerAllowance",
  "hardLimit",
  "killGraceMs",
  "logTailChars",
  "logFile",
  "sandbox",
  "evalTest",
  "nodeArgs",
] as const satisfies readonly (keyof RunTrainOptions)[];

/** What job-entry.ts passes to the runner: RunTrainOptions less its callbacks and signal. */
export type JobTrainOptions = Pick<RunTrainOptions, (typeof JOB_OPTION_KEYS)[number]> & {
  env?: Record<string, string>;
  /** Keys of the caller's env to remove in the child (RunTrainOptions.env's undefined values). */
  unsetEnv?: string[];
};

export type JobSpec =
  | { kind: "train"; key: string; label: string; options: JobTrainOptions }
  /** The shared-filesystem check: the job reads `mustSee` and writes probe.json. */
  | { kind: "probe"; key: string; label: string; mustSee: string[] };

export type JobOutcome =
  | { kind: "result"; result: RunResult; host: string }
  | { kind: "error"; code: string; message: string; host: string }
  | { kind: "probe"; host: string; missing: string[] };

export const JOB_FILES = {
  spec: "spec.json",
  trainTs: "train.ts",
  script: "job.sh",
  jobId: "job-id",
  outcome: "result.json",
} as const;

export function writeAtomically(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

export function writeJson(dir: string, name: string, value: unknown): void {
  mkdirSync(dir, { recursive: true });
  writeAtomically(join(dir, name), `${JSON.stringify(value, null, 2)}\n`);
}

export function readSpec(dir: string): JobSpec {
  return JSON.parse(readFileSync(join(dir, JOB_FILES.spec), "utf8")) as JobSpec;
}

/** The job's outcome when it has written one; null while it has not (or it cannot be read yet). */
export function readOutcome(dir: string): JobOutcome | null {
  const file = join(dir, JOB_FILES.outcome);
  if (!existsSync(file)) return null;
  try {
    return JSON.parse(readFileSync(file, "utf8")) as JobOutcome;
  } catch {
    // Written by rename, so never partial here; a network filesystem can still show a stale
    // view for a moment: the next look reads it.
    return null;
  }
}

export function readJobId(dir: string): string | null {
  const file = join(dir, JOB_FILES.jobId);
  if (!existsSync(file)) return null;
  const id = readFileSync(file, "utf8").trim();
  return /^\d+(_\d+)?$/.test(id) ? id : null;
}

/** The last `chars` of the job's output (slurm-N.out), or "" when it has none. */
export function jobOutputTail(dir: string, jobId: string, chars = 4000): string {
  const file = join(dir, `slurm-${jobId}.out`);
  if (!existsSync(file)) return "";
  const text = readFileSync(file, "utf8");
  return text.length > chars ? text.slice(-chars) : text;
}
