/**
 * What trains one train.ts and says how it went: the seam between the trusted drivers (the
 * loop, verification, the tournament) and the process that runs untrusted code. Production
 * uses the sandboxed child-process runner here, or a workload manager's job running that same
 * runner on another machine (src/launcher/); tests of the drivers' logic (the keep rule,
 * pipelining, slots, verification, resume) pass a deterministic fake and run in milliseconds.
 */
import { type RunTrainOptions, runTrain } from "./runner/index.ts";
import type { RunResult } from "./types.ts";

/**
 * Names one training for a launcher that hands it to another system (a Slurm job): where the
 * job's files live and what the cluster shows. A local trainer ignores it.
 */
export interface TrainingJob {
  /**
   * Unique in the workspace, and the same for the same training after a kill (an experiment's
   * id, a measurement's conditions): a resumed process finds by it the job a killed one left.
   * Letters, digits, '.', '_' and '-' only.
   */
  key: string;
  /** For people: the job's comment on the cluster ("run 3 exp 12 (nightshift/nov24/default)"). */
  label: string;
  /** The device the training needs: a GPU, or CPU cores only. */
  device: "gpu" | "cpu";
}

export type Trainer = (options: RunTrainOptions, job?: TrainingJob) => Promise<RunResult>;

/** The production trainer: each train.ts in its own sandboxed child process (runner/). */
export const sandboxedTrainer: Trainer = (options) => runTrain(options);
