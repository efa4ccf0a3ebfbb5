/**
 * A workspace: one directory holding everything a user's runs produce — the SQLite store
 * (nightshift.db), the lab git repo (lab/) and the run logs (logs/) — and the trainer that
 * trains its experiments. Commands open it once and hand it to the loop, the tournament and
 * verification. Opening is idempotent.
 */
import { existsSync, mkdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Profile } from "../harness/constants.ts";
import type { Trainer } from "../harness/trainer.ts";
import { type Launcher, type LauncherSettings, createLauncher, localLauncher } from "../launcher/index.ts";
import { Lab, baselineTrainTs, labReadme } from "../lab/index.ts";
import { type Store, openStore } from "../store/index.ts";
import { CodedError } from "../util/errors.ts";

export const DEFAULT_WORKSPACE = "nightshift-workspace";

export interface Workspace {
  dir: string;
  store: Store;
  lab: Lab;
  logsDir: string;
  /** Trains one train.ts: the launcher's trainer (or a test's fake). */
  trainer: Trainer;
  /** Where trainings run (local children or Slurm jobs), and how a resume finds them again. */
  launcher: Launcher;
}

export class WorkspaceError extends CodedError<"STORE_EMPTIED"> {}

export interface OpenWorkspaceOptions {
  /** What trains experiments (default: the launcher's; tests pass a fake, run locally). */
  trainer?: Trainer;
  /** Where trainings run (default: local child processes). */
  launcher?: LauncherSettings;
}

function launcherFor(root: string, options: OpenWorkspaceOptions): Launcher {
  if (options.trainer) return localLauncher(options.trainer);
  return createLauncher(options.launcher ?? { kind: "local" }, root);
}

export async function openWorkspace(dir: string, profile: Profile, options: OpenWorkspaceOptions = {}): Promise<Workspace> {
  const root = resolve(dir);
  const logsDir = join(root, "logs");
  mkdirSync(logsDir, { recursive: true });
  const lab = await Lab.init(join(root, "lab"), { trainTs: baselineTrainTs(), readme: labReadme({ profile }) });
  const db = join(root, "nightshift.db");
  await checkStoreNotEmptied(db, lab);
  const launcher = launcherFor(root, options);
  return { dir: root, store: openStore(db), lab, logsDir, trainer: launcher.train, launcher };
}

/**
 * An existing workspace, as `noise` and `verify` measure in: nothing is created (a missing lab
 * is an error, LAB_NOT_A_LAB), and the store is refused when it was emptied.
 */
export async function openExistingWorkspace(dir: string, options: OpenWorkspaceOptions = {}): Promise<Workspace> {
  const root = resolve(dir);
  const lab = await Lab.open(join(root, "lab"));
  const db = join(root, "nightshift.db");
  await checkStoreNotEmptied(db, lab);
  const launcher = launcherFor(root, options);
  return { dir: root, store: openStore(db), lab, logsDir: join(root, "logs"), trainer: launcher.train, launcher };
}

/**
 * SQLite opens a 0-byte file as an empty database, so an emptied store (truncated by a full
 * disk, a bad copy, a user's `> nightshift.db`) would silently become a fresh one and the
 * record of every run would be gone without a word. A store nightshift made is never empty
 * once a run exists, so a 0-byte store beside a lab that has run branches lost its contents:
 * refuse, and say how to recover. (A 0-byte file in a workspace without runs is what a kill
 * while the store was first created leaves: it is made anew.)
 */
export async function checkStoreNotEmptied(db: string, lab: Lab): Promise<void> {
  if (!existsSync(db) || statSync(db).size > 0) return;
  const runs = await lab.runBranches();
  if (runs.length === 0) return;
  const wal = existsSync(`${db}-wal`) ? ` Copy ${db}-wal too: it may still hold the latest writes.` : "";
  throw new WorkspaceError(
    "STORE_EMPTIED",
    `the store ${db} is empty (0 bytes) but the lab has ${runs.length} run branch${runs.length === 1 ? "" : "es"} (${runs[0]}…): its records were lost, and opening it would start a fresh store over them. ` +
      `Restore nightshift.db from a backup;${wal} or, to start over knowing the records are gone, move it aside (mv ${db} ${db}.empty).`,
  );
}

/** The same workspace training through another launcher (a resumed run's stored one). */
export function withLauncherOf(ws: Workspace, settings: LauncherSettings): Workspace {
  if (ws.launcher.settings.kind === settings.kind && settings.kind === "local") return ws;
  const launcher = createLauncher(settings, ws.dir);
  return { ...ws, launcher, trainer: launcher.train };
}
