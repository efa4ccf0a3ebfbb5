/**
 * Checks made before a Slurm run writes anything, so that a bad flag or a cluster that cannot
 * serve the workspace costs a one-line error (exit 2), not a night of failed jobs:
 *   1. sbatch --test-only with the jobs' own arguments (partition, account, --slurm-arg, GPU,
 *      CPUs, time): Slurm says whether it would accept them, and why not.
 *   2. A probe job (one CPU, one minute, same partition, account and arguments) that must see
 *      the workspace and NIGHTSHIFT_HOME's dataset: it writes its answer into the workspace, and
 *      this process must read it there. On a node without the shared filesystem the job cannot
 *      even write, and the answer never comes.
 */
import { randomUUID } from "node:crypto";
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { JOB_FILES, type JobSpec, readOutcome, writeJson } from "./job-files.ts";
import { SlurmLauncher, writeJobScript } from "./slurm.ts";
import { sbatch, sbatchTestOnly, scancel, squeue } from "./slurm-commands.ts";
import { LauncherError } from "./types.ts";

export interface PreflightInput {
  launcher: SlurmLauncher;
  workspaceDir: string;
  /** Paths a job must see: the dataset directory (under NIGHTSHIFT_HOME), the workspace. */
  mustSee: string[];
  /** The devices the jobs will ask for. */
  devices: ("gpu" | "cpu")[];
  /** The runner's hard limit for one training, in seconds. */
  hardLimitSeconds: number;
  pollSeconds: number;
  log?: (line: string) => void;
  signal?: AbortSignal;
}

/** How long the probe may take to start before nightshift says it is still waiting. */
const PROBE_NOTICE_SECONDS = 30;
/** After Slurm says the probe ended, how long its answer may take to show (NFS attribute caches). */
const PROBE_ANSWER_LAG_SECONDS = 60;

export async function preflightSlurm(p: PreflightInput): Promise<void> {
  const probeDir = join(p.workspaceDir, "slurm", "probes", randomUUID());
  writeJson(probeDir, JOB_FILES.spec, { kind: "probe", key: "probe", label: "probe", mustSee: p.mustSee } satisfies JobSpec);
  const script = writeJobScript(probeDir);
  try {
    for (const device of new Set(p.devices)) {
      const refused = await sbatchTestOnly(p.launcher.sbatchArgs(device, undefined, p.hardLimitSeconds), script);
      if (refused !== null) throw new LauncherError("SLURM_REFUSED", `Slurm would refuse the ${device === "gpu" ? "GPU" : "CPU"} jobs (sbatch --test-only): ${refused}; fix --slurm-partition, --slurm-account or --slurm-arg`);
    }
    const probeArgs = p.launcher.sbatchArgs("cpu", 1, 0).filter((a) => !a.startsWith("--time=")).concat(["--time=2", `--output=${join(probeDir, "slurm-%j.out")}`, `--chdir=${probeDir}`, "--job-name=nightshift-probe"]);
    const id = await sbatch(probeArgs, script);
    p.log?.(`slurm: probe job ${id} checks that the nodes see the workspace and the dataset`);
    const started = Date.now();
    let endedAt: number | null = null;
    let noticed = false;
    for (;;) {
      const answer = readOutcome(probeDir);
      if (answer?.kind === "probe") {
        if (answer.missing.length > 0)
          throw new LauncherError("NOT_SHARED", `the Slurm node ${answer.host} cannot see ${answer.missing.join(" and ")}: the workspace and NIGHTSHIFT_HOME must be on a filesystem the nodes share (move them there, e.g. --workspace /shared/... and NIGHTSHIFT_HOME=/shared/...)`);
        return;
      }
      if (p.signal?.aborted) {
        await scancel([id]);
        throw new LauncherError("SLURM_COMMAND_FAILED", `interrupted while the probe job ${id} waited; it was cancelled`);
      }
      if (endedAt === null) {
        const state = (await squeue([id])).get(id);
        if (!state || ["COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "BOOT_FAIL", "OUT_OF_MEMORY", "PREEMPTED"].includes(state.state)) endedAt = Date.now();
        else if (!noticed && Date.now() - started > PROBE_NOTICE_SECONDS * 1000) {
          noticed = true;
          p.log?.(`slurm: still waiting for probe job ${id} to run (${state.state}${state.reason ? `, ${state.reason}` : ""})`);
        }
      } else if (Date.now() - endedAt > PROBE_ANSWER_LAG_SECONDS * 1000) {
        const out = existsSync(probeDir) ? "" : " (the workspace's probe directory is gone)";
        throw new LauncherError(
          "NOT_SHARED",
          `the probe job ${id} ended but its answer never appeared in ${probeDir}${out}: the workspace and NIGHTSHIFT_HOME must be on a filesystem the Slurm nodes share (see the job's output with: scontrol show job ${id})`,
        );
      }
      await new Promise((r) => setTimeout(r, Math.min(1000, p.pollSeconds * 1000)));
    }
  } finally {
    rmSync(probeDir, { recursive: true, force: true });
  }
}
