/**
 * The launcher seam's public face: a launcher from its settings, the flags' parsing and storage,
 * and the Slurm checks a command makes before it writes anything.
 */
import { localLauncher } from "./local.ts";
import { SlurmLauncher } from "./slurm.ts";
import type { Launcher, LauncherSettings } from "./types.ts";

export { LAUNCHER_KINDS, LauncherError, DEFAULT_POLL_SECONDS, type Launcher, type LauncherKind, type LauncherSettings, type Recovered, type SlurmSettings } from "./types.ts";
export { launcherFromFlags, launcherFromStore, launcherJson, type LauncherFlags } from "./settings.ts";
export { localLauncher } from "./local.ts";
export { SlurmLauncher } from "./slurm.ts";
export { preflightSlurm } from "./preflight.ts";

/** The launcher a workspace trains with. */
export function createLauncher(settings: LauncherSettings, workspaceDir: string): Launcher {
  return settings.kind === "slurm" ? new SlurmLauncher(settings, workspaceDir) : localLauncher();
}
