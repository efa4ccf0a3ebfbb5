/**
 * The child process of a run (bundled with the train.ts by compile.ts, started by runTrain):
 * loads the dataset and the engine, then train.ts, calls train(ctx) under the budget clock,
 * evaluates the returned model with the harness metric, prints autoresearch's summary block
 * and sends the outcome to the parent on fd 3. It never trusts a loss train.ts computed, and it exits as soon as the
 * outcome is sent (a train.ts that left timers running must not hold the run open).
 */
import { writeSync } from "node:fs";
import { basename } from "node:path";
import { Worker } from "node:worker_threads";
import type * as EngineModule from "../../engine/index.ts";
import type * as DataloaderModule from "../dataloader.ts";
import type * as DatasetModule from "../dataset.ts";
import type * as EvaluateModule from "../evaluate.ts";
import { PROFILES } from "../constants.ts";
import type { RunSummary, TrainFunction, TrainedModel } from "../types.ts";
import { ConsoleProgress, buildTrainContext, createLogger, startBudgetClock } from "./context.ts";
import { TrainLoadError, oneLineError } from "./errors.ts";
import { type ChildConfig, type ChildMessage, type ChildOutcome, RESULT_FD } from "./protocol.ts";
import { StepTracker } from "./progress.ts";
import { formatSummary } from "./summary.ts";

let finished = false;

function send(message: ChildMessage): void {
  try {
    writeSync(RESULT_FD, `${JSON.stringify(message)}\n`);
  } catch {
    // The parent is gone (EPIPE): nobody is left to tell; the watchdog ends this process.
  }
}

/**
 * Makes writes to stdout and stderr synchronous. On Linux, Node writes to a pipe
 * asynchronously once the pipe is full: a train.ts printing 50 MB left 49.9 MB queued in this
 * process (process.stdout.writableLength), and process.exit() dropped all of it. Blocking
 * writes bound this process's memory (the parent drains the pipe) and lose nothing at exit.
 * `_handle.setBlocking` is libuv's uv_stream_set_blocking, what the set-blocking package uses.
 */
function makeOutputBlocking(): void {
  for (const stream of [process.stdout, process.stderr]) {
    const handle = (stream as unknown as { _handle?: { setBlocking?: (blocking: boolean) => void } })._handle;
    handle?.setBlocking?.(true);
  }
}

/** Prints the outcome, sends it to the parent and ends the process. */
function finish(outcome: ChildOutcome): never {
  if (!finished) {
    finished = true;
    if (outcome.status === "ok" && outcome.summary) process.stdout.write(`${formatSummary(outcome.summary)}\n`);
    else process.stdout.write(`FAIL (${outcome.status}): ${outcome.error ?? ""}\n`);
    send({ type: "result", outcome });
  }
  process.exit(outcome.status === "ok" ? 0 : 1);
}

function harnessFailed(code: string, err: unknown): never {
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`nightshift harness: ${message}\n`);
  send({ type: "harness-error", code, message });
  process.exit(70);
}

/** An error thrown by train.ts or by its model, as an outcome. */
function classifyError(err: unknown): ChildOutcome {
  const code = (err as { code?: unknown } | null)?.code;
  if (code === "OUT_OF_MEMORY") return { status: "out-of-memory", error: oneLineError(err) };
  if (err instanceof RangeError && /allocation failed|out of memory/i.test(err.message))
    return { status: "out-of-memory", error: oneLineError(err) };
  return { status: "crash", error: oneLineError(err) };
}

function reportCrash(err: unknown): never {
  // The stack (source-mapped to train.ts lines) goes to the log; the outcome keeps one line.
  if (!(err instanceof TrainLoadError))
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  finish(classifyError(err));
}

/**
 * Kills this process if the parent goes away (it was SIGKILLed, so it could not kill us). A
 * worker thread, so a train.ts that blocks the main thread for minutes is still watched.
 */
function watchParent(parentPid: number): void {
  if (process.ppid !== parentPid) process.kill(process.pid, "SIGKILL"); // orphaned already
  const code = `
    const { workerData } = require("node:worker_threads");
    setInterval(() => {
      if (process.ppid !== workerData.ppid) process.kill(process.pid, "SIGKILL");
    }, 500);
  `;
  const worker = new Worker(code, { eval: true, execArgv: [], workerData: { ppid: parentPid } });
  // A failed watchdog is a lost safety net, not a reason to fail the run.
  worker.on("error", () => {});
  worker.unref();
}

function checkModel(model: unknown): TrainedModel {
  const m = model as Partial<TrainedModel> | null;
  const problems: string[] = [];
  if (typeof m !== "object" || m === null) problems.push(`it returned ${m === null ? "null" : typeof m}`);
  else {
    if (typeof m.logits !== "function") problems.push("logits is not a function");
    for (const key of ["numParams", "flopsPerToken", "depth"] as const)
      if (typeof m[key] !== "number" || !Number.isFinite(m[key])) problems.push(`${key} is not a finite number`);
  }
  if (problems.length > 0)
    throw new TrainLoadError(
      "TRAIN_BAD_MODEL",
      `train(ctx) must return a TrainedModel { logits(idx), numParams, flopsPerToken, depth }: ${problems.join(", ")}`,
    );
  return m as TrainedModel;
}

/** The default export of a loaded train module, checked to be a function. */
function trainFunctionOf(mod: Record<string, unknown>, file: string): TrainFunction {
  const train = mod.default;
  if (typeof train !== "function") {
    const names = Object.keys(mod).filter((k) => k !== "default");
    const found = names.length > 0 ? `it exports ${names.join(", ")}` : "it has no exports";
    const what = train === undefined ? found : `its default export is a ${typeof train}`;
    throw new TrainLoadError(
      "TRAIN_NO_DEFAULT_EXPORT",
      `${basename(file)} does not export a default train(ctx) function (${what}): ` +
        "write `export default async function train(ctx: TrainContext): Promise<TrainedModel>`",
    );
  }
  return train as TrainFunction;
}

function parseConfig(): ChildConfig {
  const raw = process.argv[2];
  if (!raw) throw new Error("usage: child.ts '<ChildConfig JSON>' (started by runTrain, not by hand)");
  return JSON.parse(raw) as ChildConfig;
}

/**
 * Runs the whole child side. `loadTrain` evaluates the train module (bundled alongside, loaded
 * only once the harness is ready so that its top-level errors are the run's outcome).
 */
export async function runChild(loadTrain: () => Promise<Record<string, unknown>>): Promise<void> {
  let config: ChildConfig;
  try {
    config = parseConfig();
  } catch (err) {
    harnessFailed("BAD_CONFIG", err);
  }
  makeOutputBlocking();
  watchParent(config.parentPid);
  process.on("uncaughtException", reportCrash);
  process.on("unhandledRejection", reportCrash);

  // Dynamic imports: a missing native addon or a broken dataset is the harness's failure, and
  // must reach the parent as such rather than as a stack trace.
  let engine: typeof EngineModule;
  let dataset: DatasetModule.Dataset;
  let makeBatchLoader: typeof DataloaderModule.makeBatchLoader;
  let evaluateBpb: typeof EvaluateModule.evaluateBpb;
  try {
    engine = await import("../../engine/index.ts");
    ({ makeBatchLoader } = await import("../dataloader.ts"));
    ({ evaluateBpb } = await import("../evaluate.ts"));
    const { openDataset } = await import("../dataset.ts");
    dataset = openDataset(config.datasetDir);
  } catch (err) {
    harnessFailed((err as { code?: string }).code ?? "SETUP", err);
  }

  const { manifest } = dataset;
  // The dataset a run trains on defines its vocabulary; the profile's value is what `prepare`
  // aims for. Everything else is the profile's, with the budget this run was given.
  const constants = { ...PROFILES[config.profile], timeBudget: config.timeBudget, vocabSize: manifest.vocabSize };
  const device = engine.deviceInfo();
  process.stdout.write(
    `nightshift: ${config.file} | profile ${config.profile} | budget ${config.timeBudget}s | seed ${config.seed} | ` +
      `${device.kind}: ${device.name}, ${device.threads} threads\n`,
  );

  let train: TrainFunction;
  try {
    train = trainFunctionOf(await loadTrain(), config.file);
  } catch (err) {
    reportCrash(err);
  }

  const tracker = new StepTracker(device.peakFlops);
  const progressLine = new ConsoleProgress();
  const trainTokens = dataset.split("train");
  // The budget clock starts here, right before train() (the context is built in microseconds):
  // startup, compiling and the dataset load are not training time.
  const clock = startBudgetClock(config.timeBudget);
  const logger = createLogger({
    clock,
    tracker,
    console: progressLine,
    progressIntervalMs: config.progressIntervalMs,
    onProgress: (progress) => send({ type: "progress", progress }),
    onNonFiniteLoss: ({ step, loss }) => {
      progressLine.end();
      finish({ status: "non-finite", error: `train.ts reported a non-finite training loss (${loss}) at step ${step}` });
    },
  });
  const ctx = buildTrainContext({
    profile: config.profile,
    constants,
    device,
    seed: config.seed,
    clock,
    vocabSize: manifest.vocabSize,
    bosId: manifest.bosId,
    logger,
    trainLoader: (batchSize, seqLen) => makeBatchLoader(trainTokens, manifest.bosId, batchSize, seqLen, { seed: config.seed }),
  });
  let returned: unknown;
  try {
    returned = await train(ctx);
  } catch (err) {
    logger.flush();
    reportCrash(err);
  }
  const trainingSeconds = clock.elapsed();
  logger.flush();

  const allowed = config.timeBudget + config.overBudgetGrace;
  if (trainingSeconds > allowed)
    finish({
      status: "over-budget",
      error:
        `train() returned after ${trainingSeconds.toFixed(1)}s; the budget is ${config.timeBudget}s ` +
        `(+${config.overBudgetGrace.toFixed(1)}s grace): stop when ctx.clock.expired()`,
    });

  let valBpb: number;
  let model: TrainedModel;
  try {
    model = checkModel(returned);
    valBpb = evaluateBpb(model, dataset, { evalTokens: constants.evalTokens, seqLen: constants.maxSeqLen }).bpb;
  } catch (err) {
    reportCrash(err);
  }
  if (!Number.isFinite(valBpb))
    finish({ status: "non-finite", error: `val_bpb is ${valBpb}: the model's logits are not finite` });

  const summary: RunSummary = {
    val_bpb: valBpb,
    training_seconds: trainingSeconds,
    total_seconds: performance.now() / 1000,
    // The GPU's peak when training ran there; the host's otherwise.
    peak_vram_mb: (device.kind === "cuda" ? engine.cuda.memoryStats(0) : engine.memoryStats()).peakBytes / 1024 / 1024,
    mfu_percent: tracker.mfuPercent(model.flopsPerToken, trainingSeconds),
    total_tokens_M: tracker.totalTokens / 1e6,
    num_steps: tracker.steps,
    num_params_M: model.numParams / 1e6,
    depth: model.depth,
  };
  let testBpb: number | undefined;
  if (config.evalTest)
    try {
      testBpb = evaluateBpb(model, dataset, { evalTokens: constants.evalTokens, seqLen: constants.maxSeqLen, split: "test" }).bpb;
    } catch (err) {
      reportCrash(err);
    }
  finish({ status: "ok", summary, ...(testBpb !== undefined ? { testBpb } : {}) });
}

