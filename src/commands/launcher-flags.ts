/**
 * --launcher and its --slurm-* flags, shared by `run`, `verify`, `noise` and `tournament`, and
 * what a command does with them before it trains: check the flags, ask Slurm whether it would
 * accept the jobs, and check with a probe job that the nodes see the workspace and the dataset.
 */
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Argv } from "yargs";
import { defaultHardLimit } from "../harness/runner/index.ts";
import { LAUNCHER_KINDS, type LauncherSettings, SlurmLauncher, launcherFromFlags, launcherFromStore, preflightSlurm } from "../launcher/index.ts";
import { openStore } from "../store/index.ts";
import type { Workspace } from "../workspace/workspace.ts";

export interface LauncherArgs {
  launcher?: string;
  "slurm-partition"?: string;
  "slurm-account"?: string;
  "slurm-arg"?: string | string[];
  "slurm-cpus"?: number;
  "slurm-poll"?: number;
}

export function withLauncher<T>(y: Argv<T>) {
  const group = "Launcher:";
  return y
    .option("launcher", { choices: LAUNCHER_KINDS, group, describe: "where trainings run: local child processes (default), or one Slurm batch job each (workspace and NIGHTSHIFT_HOME on a shared filesystem); stored with a run, so --resume keeps it" })
    .option("slurm-partition", { type: "string", group, describe: "sbatch --partition for every job" })
    .option("slurm-account", { type: "string", group, describe: "sbatch --account for every job" })
    // Not `array: true`, which would swallow the positionals that follow; a repeated option is an array anyway.
    .option("slurm-arg", { type: "string", group, describe: "an extra sbatch argument, repeatable (e.g. --slurm-arg=--qos=high --slurm-arg=--constraint=a100)" })
    .option("slurm-cpus", { type: "number", group, describe: "sbatch -c per job (default: a CPU job gets a local CPU slot's share of this machine's cores; a GPU job Slurm's default)" })
    .option("slurm-poll", { type: "number", group, describe: "seconds between two looks at the queue (default 10)" });
}

/** The launcher the flags ask for; undefined when none was given. Throws BAD_LAUNCHER_OPTION (exit 2). */
export function launcherFromArgs(argv: LauncherArgs): LauncherSettings | undefined {
  const extra = argv["slurm-arg"];
  return launcherFromFlags({
    ...(argv.launcher !== undefined ? { launcher: argv.launcher } : {}),
    ...(argv["slurm-partition"] !== undefined ? { partition: argv["slurm-partition"] } : {}),
    ...(argv["slurm-account"] !== undefined ? { account: argv["slurm-account"] } : {}),
    ...(extra !== undefined ? { extraArgs: ([] as unknown[]).concat(extra).map(String) } : {}),
    ...(argv["slurm-cpus"] !== undefined ? { cpus: argv["slurm-cpus"] } : {}),
    ...(argv["slurm-poll"] !== undefined ? { pollSeconds: argv["slurm-poll"] } : {}),
  });
}

/**
 * The launcher a run was started with, for its --resume without launcher flags: local when the
 * workspace or the run does not exist (the loop then says so itself).
 */
export function storedRunLauncher(workspace: string, branch: string): LauncherSettings {
  const db = join(resolve(workspace), "nightshift.db");
  if (!existsSync(db)) return { kind: "local" };
  const store = openStore(db);
  try {
    return launcherFromStore(store.findRunByBranch(branch)?.settings.launcher);
  } finally {
    store.close();
  }
}

/**
 * Before a Slurm launcher's first job: sbatch --test-only with the jobs' arguments, then a probe
 * job that must see the workspace and the dataset. Nothing for the local launcher.
 */
export async function checkLauncher(
  ws: Workspace,
  o: { datasetDir: string; devices: ("gpu" | "cpu")[]; timeBudget: number; hardLimit?: number; signal?: AbortSignal },
): Promise<void> {
  if (!(ws.launcher instanceof SlurmLauncher)) return;
  const settings = ws.launcher.settings;
  process.stderr.write(`nightshift: trainings run as ${ws.launcher.describe()}\n`);
  await preflightSlurm({
    launcher: ws.launcher,
    workspaceDir: ws.dir,
    mustSee: [o.datasetDir, ws.dir],
    devices: o.devices,
    hardLimitSeconds: o.hardLimit ?? defaultHardLimit(o.timeBudget),
    pollSeconds: settings.pollSeconds,
    log: (line) => process.stderr.write(`nightshift: ${line}\n`),
    ...(o.signal ? { signal: o.signal } : {}),
  });
}
