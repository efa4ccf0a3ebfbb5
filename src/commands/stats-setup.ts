/**
 * What `noise` and `verify` share: an existing workspace opened for measuring (store + lab), the
 * conditions measurements are taken under (a run's profile, budget and dataset, or the flags'),
 * and the progress line they print while training.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { deviceInfo } from "../engine/index.ts";
import type { Profile } from "../harness/constants.ts";
import { Lab } from "../lab/index.ts";
import type { MeasureSetup } from "../stats/reruns/measure.ts";
import { type Run, type Store, openStore } from "../store/index.ts";
import { resolveDatasetDir, workspaceDb } from "./common.ts";

export interface OpenedForMeasuring {
  store: Store;
  lab: Lab;
  logsDir: string;
  close(): void;
}

export async function openForMeasuring(workspace: string): Promise<OpenedForMeasuring> {
  const db = workspaceDb(workspace);
  const store = openStore(db);
  try {
    const dir = join(db, "..");
    const lab = await Lab.open(join(dir, "lab"));
    return { store, lab, logsDir: join(dir, "logs"), close: () => store.close() };
  } catch (err) {
    store.close();
    throw err;
  }
}

/** Measuring conditions: a run's own, unless flags override them (a different dataset is the caller's call). */
export function measureSetup(
  opened: OpenedForMeasuring,
  conditions: { profile: Profile; timeBudget: number; dataset?: string; run?: Run; hardLimit?: number; quiet: boolean },
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
    profile: conditions.profile,
    timeBudget: conditions.timeBudget,
    datasetDir,
    deviceKind: conditions.run?.deviceKind ?? deviceInfo().kind,
    ...(conditions.hardLimit !== undefined ? { hardLimit: conditions.hardLimit } : {}),
    onTraining: (commit, seed) => {
      if (!conditions.quiet) process.stderr.write(`  training ${commit.slice(0, 7)} with seed ${seed} (${conditions.timeBudget} s)\n`);
    },
  };
}
