/**
 * How an experiment's training is named to a launcher: by its run, seq and commit, which are the
 * same when a resume asks after it, so the Slurm job a killed loop left in flight is found again
 * (and a job directory of another store's experiment, same workspace, is never taken for it).
 */
import type { TrainingJob } from "../harness/trainer.ts";
import type { Experiment, Run } from "../store/index.ts";

export function experimentJob(run: Run, experiment: Pick<Experiment, "seq" | "commit">, device: "gpu" | "cpu"): TrainingJob {
  return {
    key: `run${run.id}-exp${experiment.seq}-${(experiment.commit ?? "uncommitted").slice(0, 12)}`,
    label: `run ${run.id} experiment ${experiment.seq} (${run.branch})`,
    device,
  };
}
