/**
 * A workspace: one directory holding everything a user's runs produce — the SQLite store
 * (nightshift.db), the lab git repo (lab/) and the run logs (logs/). Opening is idempotent.
 */
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Profile } from "../harness/constants.ts";
import { Lab, baselineTrainTs, labReadme } from "../lab/index.ts";
import { type Store, openStore } from "../store/index.ts";

export const DEFAULT_WORKSPACE = "nightshift-workspace";

export interface Workspace {
  dir: string;
  store: Store;
  lab: Lab;
  logsDir: string;
}

export async function openWorkspace(dir: string, profile: Profile): Promise<Workspace> {
  const root = resolve(dir);
  const logsDir = join(root, "logs");
  mkdirSync(logsDir, { recursive: true });
  const store = openStore(join(root, "nightshift.db"));
  try {
    const lab = await Lab.init(join(root, "lab"), { trainTs: baselineTrainTs(), readme: labReadme({ profile }) });
    return { dir: root, store, lab, logsDir };
  } catch (err) {
    store.close();
    throw err;
  }
}
