/**
 * What trains one train.ts and says how it went: the seam between the trusted drivers (the
 * loop, verification, the tournament) and the process that runs untrusted code. Production
 * uses the sandboxed child-process runner; tests of the drivers' logic (the keep rule,
 * pipelining, slots, verification, resume) pass a deterministic fake and run in milliseconds.
 */
import { type RunTrainOptions, runTrain } from "./runner/index.ts";
import type { RunResult } from "./types.ts";

export type Trainer = (options: RunTrainOptions) => Promise<RunResult>;

/** The production trainer: each train.ts in its own sandboxed child process (runner/). */
export const sandboxedTrainer: Trainer = runTrain;
