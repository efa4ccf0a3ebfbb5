/**
 * One experiment, from a candidate to a measured result: apply its edits to the head's
 * train.ts, record it, commit it on the slot's worktree, train it with the workspace's trainer.
 * What the result means (keep, discard, crash) is the scheduler's call (loop.ts), which knows
 * the head and the best; this step only says what happened, as a typed value.
 */
import { join } from "node:path";
import { RunnerError } from "../harness/runner/index.ts";
import type { ProgressSnapshot, SandboxMode } from "../harness/runner/index.ts";
import type { RunResult } from "../harness/types.ts";
import { type ExperimentCommit, LabError, type Worktree } from "../lab/index.ts";
import type { Experiment, Run } from "../store/index.ts";
import { type DeviceSlot, slotDevice } from "../workspace/devices.ts";
import type { Workspace } from "../workspace/workspace.ts";
import { type Candidate, materialize } from "./candidates.ts";
import { INTERRUPTED_BY_ABORT } from "./interrupted.ts";
import type { LoopOptions } from "./loop-types.ts";
import { experimentJob } from "./training-job.ts";

export type Trial =
  /** Prepared against a head that has moved on and does not fit the new one: nothing recorded. */
  | { kind: "stale"; why: string }
  /** Recorded as skipped before training: its edits do not apply, or the lab refused the commit. */
  | { kind: "skipped"; experiment: Experiment }
  /** Aborted while it trained: recorded as interrupted. */
  | { kind: "interrupted" }
  /** Trained: the experiment is recorded running, its result is for the scheduler to judge. */
  | { kind: "trained"; experiment: Experiment; commit: ExperimentCommit; result: RunResult; trainTs: string; logPath: string };

export interface TrialContext {
  ws: Workspace;
  run: Run;
  options: LoopOptions;
  sandbox: SandboxMode;
  device: DeviceSlot;
  wt: Worktree;
  /** Aborting abandons the training (the trial is then "interrupted"). */
  signal: AbortSignal;
  onTraining(experiment: Experiment): void;
  onProgress(seq: number, progress: ProgressSnapshot): void;
  /** Milliseconds the training took, for the run's duty cycle. */
  onTrained(ms: number): void;
}

/** Runs `candidate` on `head` (whose train.ts is `headTrainTs`). */
export async function tryCandidate(c: TrialContext, candidate: Candidate, head: string, headTrainTs: string): Promise<Trial> {
  const { store, lab } = c.ws;
  const slot = c.device.slot;
  const { description, hypothesis, usage, fix } = candidate;
  const made = materialize(candidate, headTrainTs);
  if ("error" in made) {
    if (candidate.proposedAt !== head) return { kind: "stale", why: `prepared on ${candidate.proposedAt.slice(0, 12)}, does not apply to the new head (${made.error.message})` };
    const experiment = store.recordSkipped({ runId: c.run.id, slot, parentCommit: head, description, hypothesis, reason: made.error.message, ...(usage ? { usage } : {}), ...fix });
    return { kind: "skipped", experiment };
  }

  const isBaseline = candidate.edits.length === 0;
  const proposed = store.proposeExperiment({ runId: c.run.id, slot, parentCommit: head, description, hypothesis, ...(usage ? { usage } : {}), ...fix });
  let commit: ExperimentCommit;
  try {
    await lab.recover(c.wt, head);
    commit = await lab.commitExperiment(c.wt, made.trainTs, description, { allowEmpty: isBaseline });
  } catch (err) {
    if (!(err instanceof LabError)) throw err;
    return { kind: "skipped", experiment: store.skipExperiment(proposed.id, err.message) };
  }
  const logPath = join(c.ws.logsDir, `run${c.run.id}-exp${proposed.seq}.log`);
  const experiment = store.startExperiment(proposed.id, { commit: commit.commit, diff: commit.diff, seed: c.options.seed, logPath });
  c.onTraining(experiment);

  const o = c.options;
  const started = Date.now();
  try {
    const result = await c.ws.trainer({
      file: join(c.wt.path, "train.ts"),
      datasetDir: o.datasetDir,
      profile: o.profile,
      seed: o.seed,
      timeBudget: o.timeBudget,
      logFile: logPath,
      env: c.device.env,
      sandbox: c.sandbox,
      ...(o.hardLimit !== undefined ? { hardLimit: o.hardLimit } : {}),
      signal: c.signal,
      onProgress: (progress) => c.onProgress(experiment.seq, progress),
    }, experimentJob(c.run, experiment, slotDevice(c.device)));
    return { kind: "trained", experiment, commit, result, trainTs: made.trainTs, logPath };
  } catch (err) {
    if (err instanceof RunnerError && err.code === "RUN_ABORTED") {
      store.skipExperiment(experiment.id, INTERRUPTED_BY_ABORT);
      return { kind: "interrupted" };
    }
    throw err;
  } finally {
    c.onTrained(Date.now() - started);
  }
}
