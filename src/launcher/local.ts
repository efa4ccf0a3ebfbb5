/**
 * The local launcher: every training is a child process of nightshift (the harness runner,
 * sandboxed), as before launchers existed. Such a child dies with its parent (the runner's
 * watchdog), so a kill leaves nothing to recover: a resume records what was in flight as
 * interrupted.
 */
import { type Trainer, sandboxedTrainer } from "../harness/trainer.ts";
import type { Launcher, Recovered } from "./types.ts";

export function localLauncher(trainer: Trainer = sandboxedTrainer): Launcher {
  return {
    kind: "local",
    settings: { kind: "local" },
    train: trainer,
    recover: (): Promise<Recovered> => Promise.resolve({ kind: "lost", why: "a local training ends with the process that ran it" }),
    // The loop's own abort signal kills local children; there is nothing else to cancel.
    cancelInFlight: () => Promise.resolve(0),
    describe: () => "local child processes",
  };
}
