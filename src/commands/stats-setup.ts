/**
 * What `noise` and `verify` share: an existing workspace opened for measuring, the
 * conditions measurements are taken under (a run's profile, budget and dataset, or the flags'),
 * the sandbox they train in, and the progress line they print while training.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { deviceInfo } from "../engine/index.ts";
import type { Profile } from "../harness/constants.ts";
import type { SandboxMode } from "../harness/runner/index.ts";
import type { MeasureSetup } from "../verification/measure.ts";
import { type Run, type Store, StoreError, openStore } from "../store/index.ts";
import { type CodeAuthor, authorOfAgent, checkSandbox } from "../workspace/sandbox.ts";
import { type Workspace, openExistingWorkspace, withLauncherOf } from "../workspace/workspace.ts";
import { type LauncherSettings, launcherFromStore } from "../launcher/index.ts";
import { UsageError, resolveDatasetDir, warn, workspaceDb } from "./common.ts";

export interface OpenedForMeasuring extends Workspace {
  close(): void;
}

export async function openForMeasuring(workspace: string): Promise<OpenedForMeasuring> {
  const ws = await openExistingWorkspace(join(workspaceDb(workspace), ".."));
  return { ...ws, close: () => ws.store.close() };
}

/**
 * Refuses an imported run (nightshift import) before anything is opened for measuring: its
 * commits are train.py files in another repository, written for autoresearch's harness and
 * data, so there is nothing here to retrain — and a workspace that holds only imports has no lab
 * for openForMeasuring to open, which would otherwise be the error the user sees. A store older
 * than the import (read-only open refused as outdated or empty) holds no imported run: the
 * command goes on and migrates it as before.
 */
export function refuseImportedRun(workspace: string, command: "verify" | "noise", pick: (store: Store) => Run | undefined): void {
  let store: Store;
  try {
    store = openStore(workspaceDb(workspace), { readonly: true });
  } catch (err) {
    if (err instanceof StoreError && (err.code === "STORE_OUTDATED" || err.code === "STORE_EMPTY")) return;
    throw err;
  }
  try {
    const run = pick(store);
    const from = run?.importedFrom;
    if (run && from)
      throw new UsageError(
        `${command} cannot rerun run ${run.branch}: it was imported from ${from.kind} (${from.branch} of ${from.repo}), and its experiments are train.py files for ${from.kind}'s own harness and data, which nightshift does not train; \`nightshift report --run ${run.branch}\` shows its keeps beside the null model's expected false keeps instead`,
      );
  } finally {
    store.close();
  }
}

/**
 * The workspace measuring through the launcher the flags name, else the one the run was started
 * with (a verification of a Slurm run trains on Slurm), else locally. On Slurm, Ctrl-C cancels the
 * jobs in flight before exiting: a measurement's job left running would hold a node for nothing
 * (a rerun of the command finds finished jobs by their key and uses them).
 */
export function withMeasuringLauncher(opened: OpenedForMeasuring, flag: LauncherSettings | undefined, run: Run | undefined): OpenedForMeasuring {
  const settings = flag ?? launcherFromStore(run?.settings.launcher);
  if (settings.kind === "local") return opened;
  const ws = withLauncherOf(opened, settings);
  const onSigint = () => {
    process.stderr.write("\nnightshift: cancelling the Slurm jobs in flight (scancel)\n");
    void ws.launcher.cancelInFlight().finally(() => process.exit(130));
  };
  process.on("SIGINT", onSigint);
  return {
    ...ws,
    close: () => {
      process.off("SIGINT", onSigint);
      opened.close();
    },
  };
}

/**
 * Who wrote the train.ts of these commits: an LLM when one of them is an experiment that changed
 * train.ts in a run of an LLM agent (its claims, its head), else known code (the recipe and its
 * unchanged baselines, a builtin agent's knob changes).
 */
export function authorOfCommits(store: Store, commits: readonly string[]): CodeAuthor {
  const runs = new Map(store.listRuns().map((r) => [r.id, r]));
  const edited = (e: { commit: string | null; diff: string | null }) => e.commit !== null && commits.includes(e.commit) && (e.diff ?? "").trim() !== "";
  // Through the commit index: the experiments of these commits only, not every run's rows.
  for (const commit of new Set(commits)) {
    const prefix = commit.slice(0, 40);
    if (!/^[0-9a-f]{4,40}$/.test(prefix)) continue;
    for (const e of store.findExperimentsByCommit(prefix)) if (authorOfAgent(runs.get(e.runId)?.agent ?? "") === "llm" && edited(e)) return "llm";
  }
  return "known";
}

/**
 * The sandbox mode of the trainings (--no-sandbox: "off", else "auto"), checked before any
 * training: an LLM agent's train.ts is refused where the sandbox cannot run (as `run` refuses
 * it), known code trains unsandboxed with a warning.
 */
export function sandboxFor(flag: boolean | undefined, author: CodeAuthor): SandboxMode {
  const mode: SandboxMode = flag === false ? "off" : "auto";
  warn(checkSandbox(author, mode, author === "llm" ? "an LLM agent's train.ts" : "the train.ts"));
  return mode;
}

/** Measuring conditions: a run's own, unless flags override them (a different dataset is the caller's call). */
export function measureSetup(
  opened: OpenedForMeasuring,
  conditions: { profile: Profile; timeBudget: number; dataset?: string; run?: Run; hardLimit?: number; sandbox: SandboxMode; quiet: boolean },
): MeasureSetup {
  const recorded = conditions.run?.settings.dataset;
  const datasetDir =
    conditions.dataset === undefined && typeof recorded === "string" && existsSync(join(recorded, "manifest.json"))
      ? recorded
      : resolveDatasetDir(conditions.dataset, conditions.profile);
  return {
    store: opened.store,
    lab: opened.lab,
    logsDir: opened.logsDir,
    trainer: opened.trainer,
    profile: conditions.profile,
    timeBudget: conditions.timeBudget,
    datasetDir,
    deviceKind: conditions.run?.deviceKind ?? deviceInfo().kind,
    ...(conditions.hardLimit !== undefined ? { hardLimit: conditions.hardLimit } : {}),
    sandbox: conditions.sandbox,
    onTraining: (commit, seed) => {
      if (!conditions.quiet) process.stderr.write(`  training ${commit.slice(0, 7)} with seed ${seed} (${conditions.timeBudget} s)\n`);
    },
  };
}
