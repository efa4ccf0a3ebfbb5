/**
 * runTrain: runs one train.ts in a child process under the time budget and returns its typed
 * outcome. The parent supervises: it streams the child's output (keeping a bounded tail),
 * reads the outcome from a dedicated channel (fd 3, never stdout), enforces the hard
 * wall-clock limit by killing the child's whole process group, and never returns or throws
 * while a process it started is still running.
 *
 *   const result = await runTrain({ file: "lab/train.ts", datasetDir, profile: "cpu", seed: 1 });
 *   if (result.status === "ok") console.log(result.summary!.val_bpb);
 */
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { StringDecoder } from "node:string_decoder";
import { PROFILES, type Profile } from "../constants.ts";
import type { RunResult } from "../types.ts";
import { unknownOption } from "../../util/suggest.ts";
import { HEAP_OOM, classifyRun } from "./classify.ts";
import { bundleRun } from "./compile.ts";
import { RunnerError, TrainLoadError } from "./errors.ts";
import { LineSplitter, TailBuffer } from "./log-tail.ts";
import { SANDBOX_MODES, type SandboxMode } from "./sandbox.ts";
import { killGroup, trackGroup, untrackGroup } from "./process-group.ts";
import { processExists } from "../../util/processes.ts";
import { type ChildConfig, type ChildOutcome, type ProgressSnapshot, RESULT_FD, parseChildMessage } from "./protocol.ts";

export type OutputStream = "stdout" | "stderr";

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
   * clock expires). Default: max(1 s, 5% of the budget).
   */
  overBudgetGrace?: number;
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
export const STARTUP_ALLOWANCE_SECONDS = 60;
/** After the child has sent its outcome it must exit within this long, or it is killed. */
const EXIT_AFTER_RESULT_MS = 5000;
/** The result channel carries a few small messages; more than this is not the harness talking. */
const MAX_CHANNEL_LINE = 1024 * 1024;

export function defaultOverBudgetGrace(timeBudget: number): number {
  return Math.max(1, 0.05 * timeBudget);
}

export function defaultHardLimit(timeBudget: number): number {
  return 1.5 * timeBudget + EVAL_ALLOWANCE_SECONDS + STARTUP_ALLOWANCE_SECONDS;
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
  hardLimit: number;
  killGraceMs: number;
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
  const seconds = (name: "timeBudget" | "overBudgetGrace" | "hardLimit", fallback: number): number =>
    options[name] === undefined ? fallback : positive(name, options[name]);
  const timeBudget = seconds("timeBudget", PROFILES[options.profile].timeBudget);
  const overBudgetGrace = seconds("overBudgetGrace", defaultOverBudgetGrace(timeBudget));
  const hardLimit = seconds("hardLimit", defaultHardLimit(timeBudget));
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
    hardLimit,
    killGraceMs: count("killGraceMs", options.killGraceMs, 2000, 0),
    logTailChars: count("logTailChars", options.logTailChars, 16384, 256),
    progressIntervalMs: count("progressIntervalMs", options.progressIntervalMs, 250, 0),
  };
}

function spawnChild(opts: ResolvedOptions, options: RunTrainOptions, bundle: string): ChildProcess {
  const config: ChildConfig = {
    file: opts.file,
    datasetDir: opts.datasetDir,
    profile: opts.profile,
    seed: opts.seed,
    timeBudget: opts.timeBudget,
    overBudgetGrace: opts.overBudgetGrace,
    progressIntervalMs: opts.progressIntervalMs,
    parentPid: process.pid,
    evalTest: options.evalTest === true,
  };
  const nodeArgs = ["--enable-source-maps", ...(options.nodeArgs ?? []), bundle, JSON.stringify(config)];
  // train.ts is code an agent wrote: it gets no credentials (an LLM key printed to the log
  // would leak into the workspace), unless the caller passes one explicitly.
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!CREDENTIAL_NAME.test(k)) env[k] = v;
  for (const [k, v] of Object.entries(options.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  const spawnOptions = {
    cwd: options.cwd ?? process.cwd(),
    env,
    // Its own process group, so killing the run kills everything it started.
    detached: true,
    stdio: ["ignore", "pipe", "pipe", "pipe"] as ("ignore" | "pipe")[],
  };
  if (process.platform === "win32") return spawn(process.execPath, nodeArgs, spawnOptions);
  // Through sh only to switch core dumps off: a native abort of a process holding gigabytes
  // must not leave a core file in the lab. `exec` keeps the pid (and process group) the same.
  return spawn("/bin/sh", ["-c", 'ulimit -c 0 2>/dev/null; exec "$0" "$@"', process.execPath, ...nodeArgs], spawnOptions);
}

/** Environment variables that hold credentials, by the usual naming conventions. */
const CREDENTIAL_NAME = /(?:API_?KEY|SECRET|TOKEN|PASSWORD|CREDENTIALS?)$/i;

/** Runs `options.file` under the budget in a child process and returns its typed outcome. */
export async function runTrain(options: RunTrainOptions): Promise<RunResult> {
  const opts = resolveOptions(options);
  if (options.signal?.aborted) throw new RunnerError("RUN_ABORTED", "runTrain: aborted before the run started");
  removeOrphanedBundles();
  const bundleDir = mkdtempSync(join(tmpdir(), `${BUNDLE_DIR_PREFIX}${process.pid}-`));
  try {
    const bundle = join(bundleDir, "train.mjs");
    try {
      await bundleRun(opts.file, bundle);
    } catch (err) {
      if (err instanceof TrainLoadError) return compileFailure(opts, options, err);
      throw err instanceof RunnerError ? err : new RunnerError("HARNESS_FAILED", `runTrain: ${String(err)}`, { cause: err });
    }
    if (options.signal?.aborted) throw new RunnerError("RUN_ABORTED", "runTrain: aborted before the run started");
    return await superviseChild(opts, options, bundle);
  } finally {
    rmSync(bundleDir, { recursive: true, force: true });
  }
}

/**
 * Bundle folders are named after the runner's pid; a kill -9 skips their removal, so each run
 * first removes those of runners that no longer exist.
 */
const BUNDLE_DIR_PREFIX = "nightshift-run-";

function removeOrphanedBundles(): void {
  let names: string[];
  try {
    names = readdirSync(tmpdir());
  } catch {
    return;
  }
  for (const name of names) {
    const pid = new RegExp(`^${BUNDLE_DIR_PREFIX}(\\d+)-`).exec(name)?.[1];
    if (pid === undefined || processExists(Number(pid))) continue;
    rmSync(join(tmpdir(), name), { recursive: true, force: true });
  }
}

/** A train.ts that does not compile is a crash, reported without starting a child. */
function compileFailure(opts: ResolvedOptions, options: RunTrainOptions, err: TrainLoadError): RunResult {
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
    sandboxed: false,
  };
}

function superviseChild(opts: ResolvedOptions, options: RunTrainOptions, bundle: string): Promise<RunResult> {
  return new Promise<RunResult>((resolvePromise, rejectPromise) => {
    const tail = new TailBuffer(opts.logTailChars);
    const logFd = options.logFile ? openSync(options.logFile, "w") : null;
    let child: ChildProcess;
    try {
      child = spawnChild(opts, options, bundle);
    } catch (err) {
      if (logFd !== null) closeSync(logFd);
      const message = `runTrain: could not start the child: ${(err as Error).message}`;
      rejectPromise(new RunnerError("SPAWN_FAILED", message, { cause: err }));
      return;
    }
    const pid = child.pid;

    let outcome: ChildOutcome | null = null;
    let harnessError: { code: string; message: string } | null = null;
    let timedOut = false;
    let aborted = false;
    let callbackError: unknown = null;
    let spawnError: Error | null = null;
    // V8 prints its heap-exhaustion message and a native stack before aborting; watch stderr as
    // it streams so a long stack cannot push the message out of the tail.
    let heapOutOfMemory = false;
    let stderrCarry = "";
    let exitCode: number | null = null;
    let exitSignal: NodeJS.Signals | null = null;
    const timers: NodeJS.Timeout[] = [];

    let terminating = false;
    const terminate = (): void => {
      if (terminating || pid === undefined) return;
      terminating = true;
      killGroup(pid, "SIGTERM");
      timers.push(setTimeout(() => killGroup(pid, "SIGKILL"), opts.killGraceMs));
    };

    // A callback that throws must not leave the child running: kill it, report the error.
    const guarded =
      <A extends unknown[]>(fn: ((...args: A) => void) | undefined) =>
      (...args: A): void => {
        if (!fn || callbackError !== null) return;
        try {
          fn(...args);
        } catch (err) {
          callbackError = err;
          terminate();
        }
      };
    const onOutput = guarded(options.onOutput);
    const onLine = guarded(options.onLine);
    const onProgress = guarded(options.onProgress);

    if (pid !== undefined) {
      trackGroup(pid);
      guarded(options.onSpawn)(pid);
    }

    for (const name of ["stdout", "stderr"] as const) {
      const decoder = new StringDecoder("utf8");
      const lines = options.onLine ? new LineSplitter((line) => onLine(line, name)) : null;
      const stream = child[name]!;
      stream.on("data", (buf: Buffer) => {
        if (logFd !== null) writeSync(logFd, buf);
        const text = decoder.write(buf);
        tail.append(text);
        if (name === "stderr" && !heapOutOfMemory) {
          heapOutOfMemory = HEAP_OOM.test(stderrCarry + text);
          stderrCarry = text.slice(-200);
        }
        onOutput(text, name);
        lines?.push(text);
      });
      stream.on("end", () => {
        const rest = decoder.end();
        if (rest) {
          tail.append(rest);
          onOutput(rest, name);
          lines?.push(rest);
        }
        lines?.end();
      });
    }

    const channel = child.stdio[RESULT_FD] as NodeJS.ReadableStream | null;
    let pending = "";
    channel?.setEncoding("utf8");
    channel?.on("data", (text: string) => {
      pending += text;
      let nl = pending.indexOf("\n");
      while (nl >= 0) {
        const message = parseChildMessage(pending.slice(0, nl));
        pending = pending.slice(nl + 1);
        nl = pending.indexOf("\n");
        if (!message) continue;
        if (message.type === "progress") onProgress(message.progress);
        else if (message.type === "harness-error") harnessError = { code: message.code, message: message.message };
        else if (outcome === null) {
          outcome = message.outcome;
          // The outcome is in; a child that then fails to exit is killed, the outcome kept.
          timers.push(setTimeout(terminate, EXIT_AFTER_RESULT_MS));
        }
      }
      if (pending.length > MAX_CHANNEL_LINE) pending = "";
    });

    timers.push(
      setTimeout(() => {
        if (outcome !== null) return;
        timedOut = true;
        terminate();
      }, opts.hardLimit * 1000),
    );

    const onAbort = (): void => {
      aborted = true;
      terminate();
    };
    options.signal?.addEventListener("abort", onAbort, { once: true });

    child.on("error", (err) => {
      // Spawn failure (no 'exit' follows when the process never started).
      spawnError = err;
      if (pid === undefined) finish();
    });
    child.on("exit", (code, signal) => {
      exitCode = code;
      exitSignal = signal;
      // Whatever the child started in its group goes with it (it may hold our pipes open).
      if (pid !== undefined) killGroup(pid, "SIGKILL");
    });
    child.on("close", () => finish());

    let finished = false;
    function finish(): void {
      if (finished) return;
      finished = true;
      for (const t of timers) clearTimeout(t);
      options.signal?.removeEventListener("abort", onAbort);
      if (pid !== undefined) untrackGroup(pid);
      if (logFd !== null) closeSync(logFd);

      if (spawnError && pid === undefined) {
        const message = `runTrain: could not start the child: ${spawnError.message}`;
        rejectPromise(new RunnerError("SPAWN_FAILED", message, { cause: spawnError }));
        return;
      }
      if (callbackError !== null) {
        const message = callbackError instanceof Error ? callbackError.message : String(callbackError);
        const text = `runTrain: a callback threw (${message}); the run was killed`;
        rejectPromise(new RunnerError("CALLBACK_FAILED", text, { cause: callbackError }));
        return;
      }
      if (aborted) {
        rejectPromise(new RunnerError("RUN_ABORTED", "runTrain: aborted by the caller; the run was killed"));
        return;
      }
      const logTail = tail.text();
      if (harnessError !== null) {
        const { code, message } = harnessError as { code: string; message: string };
        const text = `runTrain: the harness failed before train.ts ran (${code}): ${message}`;
        rejectPromise(new RunnerError("HARNESS_FAILED", text));
        return;
      }
      const verdict = classifyRun({
        outcome,
        timedOut,
        exitCode,
        signal: exitSignal,
        logTail,
        heapOutOfMemory,
        timeBudget: opts.timeBudget,
        overBudgetGrace: opts.overBudgetGrace,
        hardLimit: opts.hardLimit,
      });
      resolvePromise({
        status: verdict.status,
        ...(verdict.summary ? { summary: verdict.summary } : {}),
        ...(verdict.testBpb !== undefined ? { testBpb: verdict.testBpb } : {}),
        ...(verdict.error !== undefined ? { error: verdict.error } : {}),
        logTail,
        seed: opts.seed,
        profile: opts.profile,
        timeBudget: opts.timeBudget,
        sandboxed: false,
      });
    }
  });
}
