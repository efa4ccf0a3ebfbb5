/**
 * Starting a run's child: the bundled program, the files it may see, the exchange file for its
 * logits, and the process itself, inside the bubblewrap sandbox when the run has one. The child
 * gets the train split only (manifest and train shards); never the held-out splits, the token
 * byte lengths, the lab's .git, the store, the project sources or the user's home.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readdirSync, rmSync, statfsSync, ftruncateSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { addonPath } from "../../engine/native.ts";
import { isCompiled as cudaCompiled } from "../../engine/cuda.ts";
import type { DatasetManifest } from "../types.ts";
import { processExists } from "../../util/processes.ts";
import type { ChildConfig } from "./protocol.ts";
import { DEFAULT_SANDBOX_TMP_BYTES, sandboxCommand, sandboxNodePath } from "./sandbox.ts";

/** Environment variables named like credentials: never passed to a child unless asked for. */
export const CREDENTIAL_NAME = /(?:API_?KEY|SECRET|TOKEN|PASSWORD|CREDENTIALS?)$/i;
/** The host variables a sandboxed child gets: the engine's settings and the GPU's selection. */
const SANDBOX_PASSTHROUGH = /^(?:NIGHTSHIFT_(?:NUM_THREADS|CUDA_MATMUL|CACHE_MB|PEAK_FLOPS)|CUDA_VISIBLE_DEVICES|CUDA_DEVICE_ORDER|OMP_NUM_THREADS)$/;
/** Where the train split and the exchange folder appear inside the sandbox. */
const SANDBOX_DATA_DIR = "/data";
const SANDBOX_EXCHANGE_DIR = "/exchange";

const RUN_DIR_PREFIX = "nightshift-run-";
const EXCHANGE_DIR_PREFIX = "nightshift-exchange-";

export interface LaunchSpec {
  bundle: string;
  /** The train.ts's name, for the log header. */
  file: string;
  datasetDir: string;
  manifest: DatasetManifest;
  config: Omit<ChildConfig, "trainDataDir" | "parentPid" | "exchange" | "file">;
  exchangeSlotBytes: number;
  sandboxed: boolean;
  /** Caller's extra environment (undefined removes a key). */
  env: Record<string, string | undefined>;
  nodeArgs: readonly string[];
  /** Working directory when not sandboxed (inside, the child works in its scratch /tmp). */
  cwd: string;
}

export interface Launched {
  child: ChildProcess;
  exchange: { path: string; slotBytes: number; slots: number };
}

/** Two slots: the child computes one batch while the evaluator scores the other. */
const EXCHANGE_SLOTS = 2;

/**
 * A private directory named after this process, in `base`. A kill -9 skips the removal, so
 * each call first removes those of processes that no longer exist.
 */
export function privateDir(base: string, prefix: string): string {
  let names: string[] = [];
  try {
    names = readdirSync(base);
  } catch {
    // An unreadable base: nothing to clean up.
  }
  for (const name of names) {
    const pid = new RegExp(`^${prefix}(\\d+)-`).exec(name)?.[1];
    if (pid !== undefined && !processExists(Number(pid))) rmSync(join(base, name), { recursive: true, force: true });
  }
  return mkdtempSync(join(base, `${prefix}${process.pid}-`));
}

/** A run's working directory (the bundle lives there). */
export function runDir(): string {
  return privateDir(tmpdir(), RUN_DIR_PREFIX);
}

/** Shared memory (/dev/shm) when it has room for the slots, else the temp folder. */
function exchangeBase(bytes: number): string {
  try {
    const fs = statfsSync("/dev/shm");
    if (fs.bavail * fs.bsize > 2 * bytes) return "/dev/shm";
  } catch {
    // No /dev/shm (not Linux): the temp folder.
  }
  return tmpdir();
}

/** Creates the exchange directory and file; returns the directory (removed by the caller). */
export function createExchange(slotBytes: number): { dir: string; path: string } {
  const dir = privateDir(exchangeBase(slotBytes * EXCHANGE_SLOTS), EXCHANGE_DIR_PREFIX);
  const path = join(dir, "logits.bin");
  const fd = openSync(path, "w+", 0o600);
  ftruncateSync(fd, slotBytes * EXCHANGE_SLOTS);
  closeSync(fd);
  return { dir, path };
}

function childEnv(spec: LaunchSpec): Record<string, string> {
  const env: Record<string, string> = {};
  if (spec.sandboxed) {
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined && SANDBOX_PASSTHROUGH.test(k)) env[k] = v;
    Object.assign(env, { PATH: "/usr/local/bin:/usr/bin:/bin", HOME: "/tmp", TMPDIR: "/tmp", LANG: "C.UTF-8", NIGHTSHIFT_ENGINE_PATH: addonPath });
  } else {
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !CREDENTIAL_NAME.test(k)) env[k] = v;
  }
  for (const [k, v] of Object.entries(spec.env)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

/** Starts the child (its own process group); the caller supervises it. */
export function launchChild(spec: LaunchSpec, exchangePath: string): Launched {
  const exchange = { path: exchangePath, slotBytes: spec.exchangeSlotBytes, slots: EXCHANGE_SLOTS };
  const env = childEnv(spec);
  const config: ChildConfig = {
    ...spec.config,
    file: basename(spec.file),
    trainDataDir: spec.sandboxed ? SANDBOX_DATA_DIR : spec.datasetDir,
    parentPid: spec.sandboxed ? null : process.pid,
    exchange: spec.sandboxed ? { ...exchange, path: join(SANDBOX_EXCHANGE_DIR, basename(exchangePath)) } : exchange,
  };
  const nodeArgs = ["--enable-source-maps", ...spec.nodeArgs, spec.bundle, JSON.stringify(config)];
  let argv: string[];
  if (spec.sandboxed) {
    const data = [
      { host: join(spec.datasetDir, "manifest.json"), inside: join(SANDBOX_DATA_DIR, "manifest.json") },
      ...spec.manifest.splits.train.shards.map((s) => ({ host: join(spec.datasetDir, s.file), inside: join(SANDBOX_DATA_DIR, s.file) })),
    ];
    const gpu = cudaCompiled() && env.CUDA_VISIBLE_DEVICES !== "" && env.CUDA_VISIBLE_DEVICES !== "-1";
    argv = sandboxCommand(
      {
        readOnly: [{ host: dirname(spec.bundle) }, { host: dirname(addonPath) }, ...data],
        // The file alone, not its folder: the child cannot create files in the host's /dev/shm.
        readWrite: [{ host: exchangePath, inside: join(SANDBOX_EXCHANGE_DIR, basename(exchangePath)) }],
        cwd: "/tmp",
        env,
        gpu,
      },
      [sandboxNodePath(), ...nodeArgs],
    );
  } else argv = [process.execPath, ...nodeArgs];
  const options = {
    cwd: spec.sandboxed ? "/" : spec.cwd,
    env,
    // Its own process group, so killing the run kills everything it started.
    detached: true,
    stdio: ["ignore", "pipe", "pipe", "pipe"] as ("ignore" | "pipe")[],
  };
  if (process.platform === "win32") return { child: spawn(argv[0]!, argv.slice(1), options), exchange };
  // Through sh to set limits: no core dumps (a native abort of a process holding gigabytes must
  // not leave a core file in the lab) and, sandboxed, a file size cap (see fileSizeBlocks).
  // `exec` keeps the pid (and process group) the same.
  const limits = ["ulimit -c 0 2>/dev/null;"];
  if (spec.sandboxed) limits.push(`ulimit -f ${fileSizeBlocks(spec.exchangeSlotBytes * EXCHANGE_SLOTS)} || exit 126;`);
  const child = spawn("/bin/sh", ["-c", `${limits.join(" ")} exec "$0" "$@"`, ...argv], options);
  return { child, exchange };
}

/**
 * RLIMIT_FSIZE for a sandboxed child, in the 512-byte blocks of POSIX sh's `ulimit -f`. The
 * exchange file is the one host file the child can write, and it lives in the host's /dev/shm
 * (memory): without a cap, writing past its end would grow it without bound. Files on the
 * sandbox's /tmp are capped by its tmpfs, so the limit is the larger of the two sizes; a write
 * past it fails with EFBIG (Node ignores SIGXFSZ).
 */
export function fileSizeBlocks(exchangeBytes: number): number {
  return Math.ceil(Math.max(exchangeBytes, DEFAULT_SANDBOX_TMP_BYTES) / 512);
}
