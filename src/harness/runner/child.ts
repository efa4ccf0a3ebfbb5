/**
 * The child process of a run (bundled with the train.ts by compile.ts, started by runTrain,
 * inside the sandbox when there is one): loads the train split and the engine, then train.ts,
 * calls train(ctx), and then serves the returned model: for each batch of ids the parent sends
 * it writes the logits to the exchange file. It never sees held-out data, never computes the
 * metric and cannot report a result: everything it says is checked or timed by the parent.
 */
import { openSync, readSync, writeSync } from "node:fs";
import { basename } from "node:path";
import { Worker } from "node:worker_threads";
import type * as EngineModule from "../../engine/index.ts";
import type * as DataloaderModule from "../dataloader.ts";
import type * as DatasetModule from "../dataset.ts";
import type * as EvaluateModule from "../evaluate.ts";
import { PROFILES } from "../constants.ts";
import type { TrainFunction, TrainedModel } from "../types.ts";
import { ConsoleProgress, buildTrainContext, createLogger, startBudgetClock } from "./context.ts";
import { TrainLoadError, oneLineError } from "./errors.ts";
import { CHANNEL_FD, type ChildConfig, type ChildFailure, type ChildMessage, decodeIds, parseParentMessage } from "./protocol.ts";
import { StepTracker } from "./progress.ts";

let finished = false;

function send(message: ChildMessage): void {
  try {
    writeSync(CHANNEL_FD, `${JSON.stringify(message)}\n`);
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

/** Tells the parent the run failed, and ends the process. */
function fail(status: ChildFailure, error: string): never {
  if (!finished) {
    finished = true;
    process.stdout.write(`FAIL (${status}): ${error}\n`);
    send({ type: "failed", status, error });
  }
  process.exit(1);
}

function harnessFailed(code: string, err: unknown): never {
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`nightshift harness: ${message}\n`);
  send({ type: "harness-error", code, message });
  process.exit(70);
}

/** An error thrown by train.ts or by its model, as a failure status. */
function classifyError(err: unknown): ChildFailure {
  const code = (err as { code?: unknown } | null)?.code;
  if (code === "OUT_OF_MEMORY") return "out-of-memory";
  if (err instanceof RangeError && /allocation failed|out of memory/i.test(err.message)) return "out-of-memory";
  return "crash";
}

function reportCrash(err: unknown): never {
  // The stack (source-mapped to train.ts lines) goes to the log; the failure keeps one line.
  if (!(err instanceof TrainLoadError))
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  fail(classifyError(err), oneLineError(err));
}

/**
 * Kills this process if the parent goes away (it was SIGKILLed, so it could not kill us). A
 * worker thread, so a train.ts that blocks the main thread for minutes is still watched.
 * Outside the sandbox only: inside, bubblewrap ends the whole sandbox with its parent.
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
      if (typeof m[key] !== "number" || !Number.isFinite(m[key]) || m[key] < 0) problems.push(`${key} is not a finite number ≥ 0`);
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

/** Blocking line reads from the channel: the serving loop has nothing else to wait for. */
class ChannelReader {
  readonly #buffer = Buffer.alloc(1 << 16);
  readonly #sleeper = new Int32Array(new SharedArrayBuffer(4));
  #pending = "";

  /** The next line, or null once the parent closed the channel. */
  next(): string | null {
    for (;;) {
      const nl = this.#pending.indexOf("\n");
      if (nl >= 0) {
        const line = this.#pending.slice(0, nl);
        this.#pending = this.#pending.slice(nl + 1);
        return line;
      }
      let n: number;
      try {
        n = readSync(CHANNEL_FD, this.#buffer, 0, this.#buffer.length, null);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EAGAIN") return null;
        Atomics.wait(this.#sleeper, 0, 0, 1);
        continue;
      }
      if (n === 0) return null;
      this.#pending += this.#buffer.toString("utf8", 0, n);
    }
  }
}

/**
 * Answers the parent's requests until it says done: the logits of each batch of ids, written
 * to the request's slot of the exchange file, then announced on the channel.
 */
function serve(
  model: TrainedModel,
  config: ChildConfig,
  vocabSize: number,
  device: "cpu" | "cuda",
  modelLogits: typeof EvaluateModule.modelLogits,
): never {
  const exchange = openSync(config.exchange.path, "r+");
  const shape = { batchSize: config.eval.batchSize, seqLen: config.eval.seqLen, vocabSize };
  const reader = new ChannelReader();
  const out = new Float32Array(shape.batchSize * shape.seqLen * shape.vocabSize);
  for (;;) {
    const line = reader.next();
    if (line === null) process.exit(0); // the parent is gone or finished
    const request = parseParentMessage(line);
    if (request === null) harnessFailed("PROTOCOL", `unreadable request from the parent: ${line.slice(0, 200)}`);
    if (request.type === "done") process.exit(0);
    const ids = decodeIds(request.ids);
    let logits: Float32Array;
    try {
      logits = modelLogits(model, ids, shape, device, out);
    } catch (err) {
      reportCrash(err);
    }
    const bytes = Buffer.from(logits.buffer, logits.byteOffset, logits.byteLength);
    const slot = request.id % config.exchange.slots;
    for (let done = 0; done < bytes.length; )
      done += writeSync(exchange, bytes, done, bytes.length - done, slot * config.exchange.slotBytes + done);
    send({ type: "logits", id: request.id, shape: [shape.batchSize, shape.seqLen, shape.vocabSize] });
  }
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
  if (config.parentPid !== null) watchParent(config.parentPid);
  process.on("uncaughtException", reportCrash);
  process.on("unhandledRejection", reportCrash);

  // Dynamic imports: a missing native addon or a broken dataset is the harness's failure, and
  // must reach the parent as such rather than as a stack trace.
  let engine: typeof EngineModule;
  let dataset: DatasetModule.Dataset;
  let makeBatchLoader: typeof DataloaderModule.makeBatchLoader;
  let modelLogits: typeof EvaluateModule.modelLogits;
  try {
    engine = await import("../../engine/index.ts");
    ({ makeBatchLoader } = await import("../dataloader.ts"));
    ({ modelLogits } = await import("../evaluate.ts"));
    const { openDataset } = await import("../dataset.ts");
    dataset = openDataset(config.trainDataDir, { part: "train" });
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
  // train.ts's own clock, for its schedule, started once the parent has been told. The budget
  // itself is the parent's: it times the run from the "started" message on.
  send({ type: "started" });
  const clock = startBudgetClock(config.timeBudget);
  const logger = createLogger({
    clock,
    tracker,
    console: progressLine,
    progressIntervalMs: config.progressIntervalMs,
    onProgress: (progress) => send({ type: "progress", progress }),
    onNonFiniteLoss: ({ step, loss }) => {
      progressLine.end();
      fail("non-finite", `train.ts reported a non-finite training loss (${loss}) at step ${step}`);
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
  let model: TrainedModel;
  try {
    model = checkModel(await train(ctx));
  } catch (err) {
    logger.flush();
    reportCrash(err);
  }
  logger.flush();
  send({
    type: "ready",
    stats: {
      numParams: model.numParams,
      flopsPerToken: model.flopsPerToken,
      depth: model.depth,
      steps: tracker.steps,
      totalTokens: tracker.totalTokens,
      // The GPU's peak when training ran there; the host's otherwise.
      peakBytes: (device.kind === "cuda" ? engine.cuda.memoryStats(0) : engine.memoryStats()).peakBytes,
      mfuPercent: tracker.mfuPercent(model.flopsPerToken, clock.elapsed()),
    },
  });
  serve(model, config, manifest.vocabSize, device.kind === "cuda" ? "cuda" : "cpu", modelLogits);
}
