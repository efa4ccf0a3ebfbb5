/**
 * What a Slurm job runs on its node: `node --import tsx job-entry.ts <job dir>`. It reads the
 * job's spec.json, runs the same harness runner a local training uses (train.ts sandboxed,
 * val_bpb from the trusted evaluator in this process), and writes the outcome to result.json
 * in the job's directory, where nightshift reads it. It never decides anything: a crash of
 * train.ts is a result like any other, and a harness failure is written as an error.
 *
 * scancel sends SIGTERM first: the training is aborted, so the runner takes its sandboxed child
 * down before Slurm's SIGKILL comes. The probe kind only checks that this node sees the
 * workspace and the dataset (a shared filesystem) and says so in result.json.
 */
import { existsSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { type RunTrainOptions, runTrain } from "../harness/runner/index.ts";
import { type JobOutcome, JOB_FILES, readSpec, writeJson } from "./job-files.ts";

async function main(dir: string): Promise<number> {
  const host = hostname();
  const spec = readSpec(dir);
  const answer = (outcome: JobOutcome) => writeJson(dir, JOB_FILES.outcome, outcome);
  if (spec.kind === "probe") {
    answer({ kind: "probe", host, missing: spec.mustSee.filter((p) => !existsSync(p)) });
    return 0;
  }
  const o = spec.options;
  // For whoever reads slurm-N.out: what Slurm gave this job.
  process.stdout.write(`nightshift job ${spec.key} on ${host}: CUDA_VISIBLE_DEVICES=${process.env.CUDA_VISIBLE_DEVICES ?? "(unset)"} SLURM_CPUS_PER_TASK=${process.env.SLURM_CPUS_PER_TASK ?? "(unset)"}\n`);
  if (!existsSync(join(o.datasetDir, "manifest.json"))) {
    answer({ kind: "error", code: "NOT_SHARED", message: `the node ${host} cannot see the dataset ${o.datasetDir}: NIGHTSHIFT_HOME must be on a filesystem the nodes share`, host });
    return 1;
  }
  const env: Record<string, string | undefined> = { ...(o.env ?? {}) };
  for (const key of o.unsetEnv ?? []) env[key] = undefined;
  // The engine uses the cores Slurm gave the job, not every core of the node.
  const cpus = process.env.SLURM_CPUS_PER_TASK;
  if (cpus && /^\d+$/.test(cpus) && env.NIGHTSHIFT_NUM_THREADS === undefined) env.NIGHTSHIFT_NUM_THREADS = cpus;
  const abort = new AbortController();
  process.once("SIGTERM", () => abort.abort());
  process.once("SIGINT", () => abort.abort());
  const options: RunTrainOptions = { ...o, env, cwd: dir, signal: abort.signal };
  delete (options as { unsetEnv?: unknown }).unsetEnv;
  try {
    const result = await runTrain(options);
    answer({ kind: "result", result, host });
    return 0;
  } catch (err) {
    const e = err as { code?: unknown; message?: string };
    answer({ kind: "error", code: typeof e.code === "string" ? e.code : "HARNESS_FAILED", message: e.message ?? String(err), host });
    return 1;
  }
}

const dir = process.argv[2];
if (!dir) {
  process.stderr.write("job-entry: usage: job-entry.ts <job directory>\n");
  process.exit(2);
}
main(dir).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`job-entry: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
