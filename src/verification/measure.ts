/**
 * Measuring a commit: train the train.ts of one lab commit with one seed under the harness and
 * record the result as a measurement, with its throughput (tokens per second). A measurement
 * already in the store under the same conditions (commit, seed, profile, budget, device kind,
 * dataset) and the same session is reused, never retrained: verification after a kill resumes
 * where it stopped. A verification session (one claim against one parent) reuses only its own
 * measurements: a parent measured for another claim, minutes or hours before under another
 * load, would pair with this candidate across that change of load, and load moves val_bpb
 * under a wall-clock budget as much as a recipe change does.
 */
import { createHash } from "node:crypto";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import type { Profile } from "../harness/constants.ts";
import type { SandboxMode } from "../harness/runner/index.ts";
import type { Trainer, TrainingJob } from "../harness/trainer.ts";
import type { Lab } from "../lab/index.ts";
import type { Measurement, MeasurementKey, MeasurementPurpose, Store } from "../store/index.ts";

export interface MeasureSetup {
  store: Store;
  lab: Lab;
  /** Where run logs and the temporary train.ts copies go. */
  logsDir: string;
  /** What trains each measurement (the workspace's trainer). */
  trainer: Trainer;
  profile: Profile;
  timeBudget: number;
  datasetDir: string;
  deviceKind: string;
  hardLimit?: number;
  /** The runner's sandbox mode for every training (default "auto"; "off" for --no-sandbox). */
  sandbox?: SandboxMode;
  signal?: AbortSignal;
  /** Called before each training that is not already in the store. */
  onTraining?: (commit: string, seed: number) => void;
}

export function measurementKey(setup: MeasureSetup, commit: string): MeasurementKey {
  return { commit, profile: setup.profile, timeBudget: setup.timeBudget, deviceKind: setup.deviceKind, dataset: basename(setup.datasetDir) };
}

/**
 * How a measurement's training is named to a launcher: by everything that makes it this
 * measurement (conditions, seed, session, test split), so that a verification resumed after a
 * kill finds the Slurm job the killed one submitted and uses its result instead of training again.
 */
export function measurementJob(setup: MeasureSetup, commit: string, seed: number, purpose: MeasurementPurpose, options: { test?: boolean; session?: string }): TrainingJob {
  const key = measurementKey(setup, commit);
  const identity = JSON.stringify([key.profile, key.timeBudget, key.deviceKind, key.dataset, options.session ?? null, options.test === true]);
  const digest = createHash("sha256").update(identity).digest("hex").slice(0, 10);
  return {
    key: `measure-${commit.slice(0, 12)}-s${seed}-${digest}`,
    label: `${purpose} measurement of ${commit.slice(0, 12)}, seed ${seed}${options.session ? ` (${options.session})` : ""}`,
    device: setup.profile === "gpu" ? "gpu" : "cpu",
  };
}

/**
 * The val_bpb of `commit` at `seed` (and its test bpb when asked): from the store if measured
 * before, else trained now and recorded. A failed training is recorded too and returned as is.
 */
export async function measure(
  setup: MeasureSetup,
  commit: string,
  seed: number,
  purpose: MeasurementPurpose,
  options: { test?: boolean; session?: string } = {},
): Promise<Measurement> {
  const key = measurementKey(setup, commit);
  const session = options.session ?? null;
  const known = setup.store
    .findMeasurements(key)
    .find((m) => m.seed === seed && m.session === session && (m.outcome !== "ok" || !options.test || m.testBpb !== null));
  if (known) return known;

  setup.onTraining?.(commit, seed);
  const dir = join(setup.logsDir, "measure", `${commit.slice(0, 12)}-s${seed}-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, "train.ts");
  writeFileSync(file, await setup.lab.trainTsAt(commit));
  const logPath = join(setup.logsDir, `measure-${commit.slice(0, 12)}-s${seed}.log`);
  try {
    const result = await setup.trainer({
      file,
      datasetDir: setup.datasetDir,
      profile: setup.profile,
      seed,
      timeBudget: setup.timeBudget,
      logFile: logPath,
      evalTest: options.test === true,
      sandbox: setup.sandbox ?? "auto",
      ...(setup.hardLimit !== undefined ? { hardLimit: setup.hardLimit } : {}),
      ...(setup.signal ? { signal: setup.signal } : {}),
    }, measurementJob(setup, commit, seed, purpose, options));
    const s = result.summary;
    return setup.store.recordMeasurement({
      ...key,
      seed,
      purpose,
      outcome: result.status,
      logPath,
      sandboxed: result.sandboxed,
      ...(session !== null ? { session } : {}),
      ...(s ? { valBpb: s.val_bpb, trainingSeconds: s.training_seconds, numSteps: s.num_steps } : {}),
      ...(s && s.training_seconds > 0 ? { tokensPerSecond: (s.total_tokens_M * 1e6) / s.training_seconds } : {}),
      ...(result.testBpb !== undefined ? { testBpb: result.testBpb } : {}),
      ...(result.status !== "ok" ? { error: result.error ?? `the run ended ${result.status}` } : {}),
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
