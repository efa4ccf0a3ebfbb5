/**
 * runTrain: runs one train.ts and returns its typed outcome. The train.ts is untrusted: it
 * trains in a child process (inside the bubblewrap sandbox when there is one) that sees the
 * train split only; this process, the trusted side, times the training on its own clock, then
 * asks the child's model for logits and scores them itself (evaluation/trusted.ts), with probes
 * that catch a model looking ahead. Nothing the child says can become a result. The runner
 * kills the child's whole process group at the limits, and never returns or throws while a
 * process it started is still running.
 *
 *   const result = await runTrain({ file: "lab/train.ts", datasetDir, profile: "cpu", seed: 1 });
 *   if (result.status === "ok") console.log(result.summary!.val_bpb);
 */
import { existsSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { PROFILES, type Profile } from "../constants.ts";
import type { RunResult } from "../types.ts";
import { unknownOption } from "../../util/suggest.ts";
import { Redactor, environmentSecrets } from "../../util/secrets.ts";
import { classifyRun } from "./classify.ts";
import { defaultOverBudgetGrace, graceFor } from "./grace.ts";
import { RunnerError, TrainLoadError } from "./errors.ts";
import { SANDBOX_MODES, type SandboxMode, sandboxSupport } from "./sandbox.ts";
import type { ProgressSnapshot } from "./protocol.ts";
import { FIRST_ANSWER_SECONDS, type OutputStream, ServerGone } from "./session.ts";
import { ChildSession } from "./session.ts";
import { createExchange, launchChild, runDir } from "./launch.ts";
import { type HeldOutData, loadHeldOutData } from "./held-out.ts";
import { type TrustedEvaluation, evaluateServedModel } from "../evaluation/trusted.ts";
import { bundleRun } from "./compile.ts";
import { formatSummary } from "./summary.ts";

export type { OutputStream } from "./session.ts";

export interface RunTrainOptions {
  /** The train.ts to run (must `export default async function train(ctx)`). */
  file: string;
  /** A prepared dataset directory (manifest.json, shards, token_bytes). */
  datasetDir: string;
  profile: Profile;
  /** The run's seed: train.ts derives init and data order from it. Non-negative integer. */
  seed: number;
  /** Training budget in seconds; default: the profile's TIME_BUDGET. */
  timeBudget?: number;
  /**
   * Seconds past the budget train() may return in and still count (a step in flight when the
   * clock expires), at least: twice the measured step time when that is longer, up to 10% of the
   * budget (grace.ts). Default: max(1 s, 5% of the budget).
   */
  overBudgetGrace?: number;
  /**
   * Seconds from spawn the child may take to start training (Node, the engine, the data,
   * compiling train.ts): train() must have returned by spawn + this + budget + grace, by this
   * process's clock, or the run is killed and over budget. Default STARTUP_ALLOWANCE_SECONDS.
   */
  startupAllowance?: number;
  /**
   * Seconds the model may take for its first batch of logits, by this process's clock; more is
   * work after train() returned (training inside logits()) and the run is over budget.
   * Default FIRST_ANSWER_SECONDS (30).
   */
  firstAnswerAllowance?: number;
  /**
   * Wall-clock seconds from spawn after which the child's process group is killed and the run
   * is a timeout. Default: 1.5 × budget + 120 s for evaluation + 60 s for startup.
   */
  hardLimit?: number;
  /** Milliseconds between SIGTERM and SIGKILL when the runner kills a child. Default 2000. */
  killGraceMs?: number;
  /** Characters of output kept for RunResult.logTail. Default 16384. */
  logTailChars?: number;
  /** Also write the complete raw output (stdout and stderr, as they arrive) to this file. */
  logFile?: string;
  /** Minimum milliseconds between live progress updates. Default 250. */
  progressIntervalMs?: number;
  /**
   * Extra environment for the child, merged over process.env less its credentials (names ending
   * in API_KEY, SECRET, TOKEN, PASSWORD, CREDENTIALS); undefined removes a key.
   */
  env?: Record<string, string | undefined>;
  /**
   * Where train.ts runs: "auto" (default) in the bubblewrap sandbox when it works here, else on
   * the host (RunResult.sandboxed says which); "required" rejects with SANDBOX_UNAVAILABLE
   * instead; "off" never sandboxes.
   */
  sandbox?: SandboxMode;
  /** Also measure bpb on the held-out test split (RunResult.testBpb). Default false. */
  evalTest?: boolean;
  /** Extra Node.js flags for the child, e.g. ["--max-old-space-size=4096"]. */
  nodeArgs?: string[];
  /** Working directory of the child. Default: process.cwd(). */
  cwd?: string;
  /** Aborting kills the child and rejects with RunnerError RUN_ABORTED. */
  signal?: AbortSignal;
  /** Raw output as it arrives (progress lines included, `\r` and all): pipe it to a terminal. */
  onOutput?(chunk: string, stream: OutputStream): void;
  /** Complete output lines, `\r`-rewrites collapsed to what a terminal would show. */
  onLine?(line: string, stream: OutputStream): void;
  /** Live training progress (throttled to progressIntervalMs). */
  onProgress?(progress: ProgressSnapshot): void;
  /** Called once with the child's pid (its process-group id) right after it starts. */
  onSpawn?(pid: number): void;
}

const OPTION_KEYS: readonly (keyof RunTrainOptions)[] = [
  "file",
  "datasetDir",
  "profile",
  "seed",
  "timeBudget",
  "overBudgetGrace",
  "startupAllowance",
  "firstAnswerAllowance",
  "hardLimit",
  "killGraceMs",
  "logTailChars",
  "logFile",
  "progressIntervalMs",
  "env",
  "evalTest",
  "sandbox",
  "nodeArgs",
  "cwd",
  "signal",
  "onOutput",
  "onLine",
  "onProgress",
  "onSpawn",
];

/** Seconds the default hard limit allows for evaluation and for startup, beyond 1.5 × budget. */
export const EVAL_ALLOWANCE_SECONDS = 120;
export const HARD_LIMIT_STARTUP_SECONDS = 60;
/**
 * The fixed start-up allowance: seconds from spawn, beyond budget + grace, by which train() must
 * have returned. It covers starting Node, loading the engine and the train split and compiling
 * train.ts (about 1 s on a CPU, a few with CUDA); a train.ts that trains before the harness
 * starts its clock gains at most this.
 */
export const STARTUP_ALLOWANCE_SECONDS = 10;

export function defaultHardLimit(timeBudget: number): number {
  return 1.5 * timeBudget + EVAL_ALLOWANCE_SECONDS + HARD_LIMIT_STARTUP_SECONDS;
}

function invalid(message: string): never {
  throw new RunnerError("INVALID_OPTION", `runTrain: ${message}`);
}

function positive(name: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0)
    invalid(`'${name}' must be a positive number of seconds, got ${String(value)}`);
  return value;
}

interface ResolvedOptions {
  file: string;
  datasetDir: string;
  profile: Profile;
  seed: number;
  timeBudget: number;
  overBudgetGrace: number;
  startupAllowance: number;
  firstAnswerAllowance: number;
  hardLimit: number;
  killGraceMs: number;
  sandbox: SandboxMode;
  logTailChars: number;
  progressIntervalMs: number;
}

function resolveOptions(options: RunTrainOptions): ResolvedOptions {
  if (typeof options !== "object" || options === null) invalid("expected an options object");
  const problem = unknownOption(options, OPTION_KEYS);
  if (problem) invalid(problem);
  if (typeof options.file !== "string" || options.file === "") invalid("'file' (the train.ts to run) is required");
  const file = resolve(options.file);
  if (!existsSync(file) || !statSync(file).isFile()) invalid(`train file ${file} does not exist`);
  if (typeof options.datasetDir !== "string" || options.datasetDir === "")
    invalid("'datasetDir' (a prepared dataset directory) is required");
  const datasetDir = resolve(options.datasetDir);
  if (!existsSync(join(datasetDir, "manifest.json")))
    invalid(`no prepared dataset at ${datasetDir} (manifest.json missing): run \`nightshift prepare\` first`);
  if (options.profile !== "gpu" && options.profile !== "cpu")
    invalid(`'profile' must be "gpu" or "cpu", got ${JSON.stringify(options.profile)}`);
  if (!Number.isSafeInteger(options.seed) || options.seed < 0)
    invalid(`'seed' must be a non-negative integer, got ${String(options.seed)}`);
  const seconds = (name: "timeBudget" | "overBudgetGrace" | "startupAllowance" | "firstAnswerAllowance" | "hardLimit", fallback: number): number =>
    options[name] === undefined ? fallback : positive(name, options[name]);
  const timeBudget = seconds("timeBudget", PROFILES[options.profile].timeBudget);
  const overBudgetGrace = seconds("overBudgetGrace", defaultOverBudgetGrace(timeBudget));
  const hardLimit = seconds("hardLimit", defaultHardLimit(timeBudget));
  const startupAllowance = seconds("startupAllowance", STARTUP_ALLOWANCE_SECONDS);
  const firstAnswerAllowance = seconds("firstAnswerAllowance", FIRST_ANSWER_SECONDS);
  const count = (name: string, value: number | undefined, fallback: number, min: number): number => {
    if (value === undefined) return fallback;
    if (!Number.isInteger(value) || value < min) invalid(`'${name}' must be an integer >= ${min}, got ${String(value)}`);
    return value;
  };
  if (options.sandbox !== undefined && !SANDBOX_MODES.includes(options.sandbox))
    invalid(`'sandbox' must be one of ${SANDBOX_MODES.map((m) => `"${m}"`).join(", ")}, got ${JSON.stringify(options.sandbox)}`);
  for (const name of ["onOutput", "onLine", "onProgress", "onSpawn"] as const)
    if (options[name] !== undefined && typeof options[name] !== "function") invalid(`'${name}' must be a function`);
  return {
    file,
    datasetDir,
    profile: options.profile,
    seed: options.seed,
    timeBudget,
    overBudgetGrace,
    startupAllowance,
    firstAnswerAllowance,
    hardLimit,
    sandbox: options.sandbox ?? "auto",
    killGraceMs: count("killGraceMs", options.killGraceMs, 2000, 0),
    logTailChars: count("logTailChars", options.logTailChars, 16384, 256),
    progressIntervalMs: count("progressIntervalMs", options.progressIntervalMs, 250, 0),
  };
}


/** Runs `options.file` under the budget and returns its typed outcome, scored by this process. */
export async function runTrain(options: RunTrainOptions): Promise<RunResult> {
  const opts = resolveOptions(options);
  const aborted = (): RunnerError => new RunnerError("RUN_ABORTED", "runTrain: aborted before the run started");
  if (options.signal?.aborted) throw aborted();
  const sandboxed = useSandbox(opts.sandbox);
  let heldOut: HeldOutData;
  try {
    heldOut = loadHeldOutData(opts.datasetDir, opts.profile);
  } catch (err) {
    const code = (err as { code?: string }).code ?? "SETUP";
    throw new RunnerError("HARNESS_FAILED", `runTrain: the evaluation data cannot be used (${code}): ${(err as Error).message}`, { cause: err });
  }
  const work = runDir();
  let exchangeDir: string | null = null;
  try {
    const bundle = join(work, "train.mjs");
    try {
      await bundleRun(opts.file, bundle);
    } catch (err) {
      if (err instanceof TrainLoadError) return compileFailure(opts, options, err, sandboxed);
      throw err instanceof RunnerError ? err : new RunnerError("HARNESS_FAILED", `runTrain: ${String(err)}`, { cause: err });
    }
    if (options.signal?.aborted) throw aborted();
    const { shape } = heldOut;
    const slotBytes = shape.batchSize * shape.seqLen * shape.vocabSize * 4;
    const exchange = createExchange(slotBytes);
    exchangeDir = exchange.dir;
    return await supervise(opts, options, heldOut, sandboxed, { bundle, exchangePath: exchange.path, slotBytes });
  } finally {
    rmSync(work, { recursive: true, force: true });
    if (exchangeDir) rmSync(exchangeDir, { recursive: true, force: true });
  }
}

/** Whether this run is sandboxed; "required" without a working bubblewrap is an error. */
function useSandbox(mode: SandboxMode): boolean {
  if (mode === "off") return false;
  const support = sandboxSupport();
  if (support.available) return true;
  if (mode === "required")
    throw new RunnerError(
      "SANDBOX_UNAVAILABLE",
      `runTrain: the sandbox is required but cannot run here: ${support.reason ?? "unknown reason"}`,
    );
  return false;
}

/** A train.ts that does not compile is a crash, reported without starting a child. */
function compileFailure(opts: ResolvedOptions, options: RunTrainOptions, err: TrainLoadError, sandboxed: boolean): RunResult {
  const text = `FAIL (crash): ${err.message}\n`;
  if (options.logFile) writeFileSync(options.logFile, text);
  options.onOutput?.(text, "stderr");
  options.onLine?.(text.trimEnd(), "stderr");
  return {
    status: "crash",
    error: err.message,
    logTail: text.trimEnd(),
    seed: opts.seed,
    profile: opts.profile,
    timeBudget: opts.timeBudget,
    sandboxed,
  };
}

interface Prepared {
  bundle: string;
  exchangePath: string;
  slotBytes: number;
}

async function supervise(
  opts: ResolvedOptions,
  options: RunTrainOptions,
  heldOut: HeldOutData,
  sandboxed: boolean,
  prepared: Prepared,
): Promise<RunResult> {
  const { shape } = heldOut;
  let launched;
  try {
    launched = launchChild(
      {
        bundle: prepared.bundle,
        file: opts.file,
        datasetDir: opts.datasetDir,
        manifest: heldOut.manifest,
        config: {
          profile: opts.profile,
          seed: opts.seed,
          timeBudget: opts.timeBudget,
          progressIntervalMs: opts.progressIntervalMs,
          eval: { batchSize: shape.batchSize, seqLen: shape.seqLen },
        },
        exchangeSlotBytes: prepared.slotBytes,
        sandboxed,
        env: options.env ?? {},
        nodeArgs: options.nodeArgs ?? [],
        cwd: options.cwd ?? process.cwd(),
      },
      prepared.exchangePath,
    );
  } catch (err) {
    throw new RunnerError("SPAWN_FAILED", `runTrain: could not start the child: ${(err as Error).message}`, { cause: err });
  }
  const spawnError = new Promise<Error>((resolveError) => launched.child.once("error", resolveError));
  if (launched.child.pid === undefined) {
    const err = await spawnError;
    throw new RunnerError("SPAWN_FAILED", `runTrain: could not start the child: ${err.message}`, { cause: err });
  }
  // Seconds from spawn by which train() must have returned, by this process's clock.
  const graceAfter = (stepSeconds: number | null) => graceFor(opts.overBudgetGrace, opts.timeBudget, stepSeconds);
  const trainingDeadline = (stepSeconds: number | null) => opts.startupAllowance + opts.timeBudget + graceAfter(stepSeconds).seconds;
  // A child's error message can carry what it read (outside the sandbox, the runner's environment).
  const secrets = [...environmentSecrets(process.env), ...environmentSecrets(options.env ?? {})];
  const redactor = new Redactor(secrets);
  const session = new ChildSession(launched.child, {
    logTailChars: opts.logTailChars,
    ...(options.logFile ? { logFile: options.logFile } : {}),
    killGraceMs: opts.killGraceMs,
    hardLimit: opts.hardLimit,
    trainingDeadline,
    firstAnswerSeconds: opts.firstAnswerAllowance,
    secrets,
    exchange: launched.exchange,
    logitsPerBatch: shape.batchSize * shape.seqLen * shape.vocabSize,
    ...(options.onOutput ? { onOutput: options.onOutput } : {}),
    ...(options.onLine ? { onLine: options.onLine } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    ...(options.onSpawn ? { onSpawn: options.onSpawn } : {}),
  });
  let abortedByCaller = false;
  const onAbort = (): void => {
    abortedByCaller = true;
    session.kill();
  };
  options.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    const stats = await session.trained;
    let evaluation: TrustedEvaluation | null = null;
    let evaluationEnd = performance.now();
    let evaluationError: unknown = null;
    const trained = session.trainingSeconds();
    // No progress arrives once train() returned: the step time, and so the grace, are final.
    const grace = graceAfter(session.stepSeconds());
    // Over budget by this process's clock: nothing to evaluate, the verdict is already clear.
    if (stats !== null && trained !== null && trained <= opts.timeBudget + grace.seconds) {
      try {
        evaluation = await evaluateServedModel(session, { shape, tokenBytes: heldOut.tokenBytes, val: heldOut.val, ...(options.evalTest ? { test: heldOut.test() } : {}) });
        evaluationEnd = performance.now();
      } catch (err) {
        if (!(err instanceof ServerGone)) evaluationError = err;
      }
    }
    session.finish();
    const record = await session.closed;
    if (record.callbackError !== null) {
      const message = record.callbackError instanceof Error ? record.callbackError.message : String(record.callbackError);
      throw new RunnerError("CALLBACK_FAILED", `runTrain: a callback threw (${message}); the run was killed`, { cause: record.callbackError });
    }
    if (abortedByCaller) throw new RunnerError("RUN_ABORTED", "runTrain: aborted by the caller; the run was killed");
    if (record.harnessError !== null) {
      const { code, message } = record.harnessError;
      throw new RunnerError("HARNESS_FAILED", `runTrain: the harness failed before train.ts ran (${code}): ${message}`);
    }
    if (evaluationError !== null)
      throw new RunnerError("HARNESS_FAILED", `runTrain: the trusted evaluation failed: ${(evaluationError as Error).message}`, { cause: evaluationError });
    const verdict = classifyRun({
      failure: record.failure ?? (record.protocolError !== null ? { status: "crash", error: record.protocolError } : null),
      trainingSeconds: session.trainingSeconds(),
      trainingDeadline: record.trainingDeadlineHit ? record.trainingDeadlineSeconds : null,
      firstAnswerLate: record.firstAnswerLate ? opts.firstAnswerAllowance : null,
      stats: record.stats,
      evaluation,
      totalSeconds: (evaluationEnd - session.spawnedAt) / 1000,
      timedOut: record.timedOut,
      exitCode: record.exitCode,
      signal: record.signal,
      logTail: record.logTail,
      heapOutOfMemory: record.heapOutOfMemory,
      timeBudget: opts.timeBudget,
      grace,
      hardLimit: opts.hardLimit,
    });
    // The trusted side's last word in the log: the summary block, or why there is none.
    if (verdict.status === "ok") session.emit(`${formatSummary(verdict.summary!)}\n`);
    else if (record.failure === null) session.emit(redactor.text(`FAIL (${verdict.status}): ${verdict.error ?? ""}\n`));
    return {
      status: verdict.status,
      ...(verdict.summary ? { summary: verdict.summary } : {}),
      ...(verdict.testBpb !== undefined ? { testBpb: verdict.testBpb } : {}),
      ...(verdict.error !== undefined ? { error: redactor.text(verdict.error) } : {}),
      logTail: session.tail(),
      seed: opts.seed,
      profile: opts.profile,
      timeBudget: opts.timeBudget,
      sandboxed,
    };
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
    session.kill();
    await session.closed;
    session.dispose();
  }
}
