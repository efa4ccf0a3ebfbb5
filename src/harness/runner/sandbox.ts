/**
 * The sandbox a train.ts trains in (bubblewrap on Linux). This file decides what the
 * untrusted process can see: `sandboxCommand` turns a SandboxSpec into the argv that runs a
 * command inside bwrap, and `sandboxSupport` probes once whether that argv works here. It
 * never starts a run itself (the runner does); the probe is its only child process.
 *
 * Inside: new user, PID, IPC, UTS, cgroup and network namespaces (loopback only); uid/gid
 * 65534; no capabilities; no nested user namespaces; a new session (no TIOCSTI into the
 * runner's terminal); a fresh /proc, a minimal /dev, a size-capped tmpfs at /tmp; the system
 * directories read-only (/usr and the /bin, /lib… links or directories beside it), the
 * dynamic loader's cache, the Node install; then exactly the spec's mounts. Nothing else of the
 * host: no $HOME, no /etc beyond ld.so.cache, no /var, no /sys, no project tree. The root
 * itself is read-only, so /tmp and the read-write mounts are the only places to write.
 *
 * Usage (the runner):
 *   if (!sandboxSupport().available) ... // fall back or refuse, per SandboxMode
 *   const argv = sandboxCommand(spec, [sandboxNodePath(), "/prog/child.js"]);
 *   spawn(argv[0], argv.slice(1), { detached: true, stdio: [...] });
 */
import { spawnSync } from "node:child_process";
import { accessSync, constants, lstatSync, readdirSync, readlinkSync, realpathSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { basename, dirname, posix } from "node:path";
import { CodedError } from "../../util/errors.ts";

/** "auto": sandbox when bubblewrap works here; "required": refuse to run without it; "off": never. */
export type SandboxMode = "auto" | "required" | "off";

export const SANDBOX_MODES: readonly SandboxMode[] = ["auto", "required", "off"];

export interface SandboxSupport {
  available: boolean;
  /** Why the sandbox cannot be used here (missing bwrap, user namespaces off), when it cannot. */
  reason?: string;
}

export type SandboxErrorCode =
  | "BAD_SANDBOX_SPEC" // sandboxCommand got a spec it cannot turn into a safe argv
  | "SANDBOX_UNAVAILABLE"; // no bwrap binary to put in the argv

export class SandboxError extends CodedError<SandboxErrorCode> {}

/** A host file or directory made visible inside the sandbox. */
export interface SandboxMount {
  /** Absolute host path (a file or a directory; it must exist when bwrap starts). */
  host: string;
  /** Absolute path inside the sandbox; defaults to `host`. Missing parent directories are created. */
  inside?: string;
}

/** What a sandboxed command may see. Every path is absolute and normalized (no `..`). */
export interface SandboxSpec {
  /**
   * Bound read-only (writes fail with EROFS). The runner passes the bundled program's
   * directory, the native engine's build directory, the train-split shard files (mapped into a
   * /data folder) and the manifest file.
   */
  readOnly: readonly SandboxMount[];
  /** Bound read-write; writes are visible on the host. The runner passes one private exchange directory. */
  readWrite: readonly SandboxMount[];
  /**
   * Working directory inside, created when missing: a path under /tmp gives a private scratch
   * directory on the sandbox's tmpfs (inside a read-write mount it would be created on the host).
   */
  cwd: string;
  /**
   * The complete environment inside: nothing of the host's environment gets in. bubblewrap
   * adds PWD (= cwd) after changing directory, as a shell would; that is the only addition.
   */
  env: Readonly<Record<string, string>>;
  /**
   * Bind the NVIDIA device nodes (`gpuDevices`) with device access. False: no GPU device node
   * exists inside at all, whatever CUDA_VISIBLE_DEVICES says.
   */
  gpu: boolean;
  /**
   * The device nodes bound when `gpu` is true (ignored when false); default: those of
   * `nvidiaDeviceNodes()` that exist now. A runner can pass a subset (/dev/nvidiactl,
   * /dev/nvidia-uvm and one /dev/nvidiaN) to confine a slot to one GPU; note /dev/nvidiaN's N
   * is the driver's minor number, which need not be the CUDA device index.
   */
  gpuDevices?: readonly string[];
  /**
   * Size cap of the tmpfs at /tmp, in bytes (tmpfs lives in memory: an unbounded one lets a
   * train.ts fill the host's RAM by writing files). Default DEFAULT_SANDBOX_TMP_BYTES; writes
   * past it fail with ENOSPC.
   */
  tmpBytes?: number;
}

/** The uid and gid inside (nobody/nogroup). See the comment in `namespaceArgs` for why it works. */
export const SANDBOX_UID = 65534;
export const SANDBOX_GID = 65534;
export const DEFAULT_SANDBOX_TMP_BYTES = 1024 * 1024 * 1024;

const SPEC_KEYS: ReadonlySet<string> = new Set(["readOnly", "readWrite", "cwd", "env", "gpu", "gpuDevices", "tmpBytes"]);
const MOUNT_KEYS: ReadonlySet<string> = new Set(["host", "inside"]);
/** Top-level directories whose layout (directory, or link into /usr) is mirrored read-only. */
const SYSTEM_DIRS = ["/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32"] as const;
/** Mount points the sandbox owns: a spec's `inside` may not be one of these or under them ("/tmp" itself only). */
const RESERVED_TREES = ["/proc", "/dev", "/etc", ...SYSTEM_DIRS];
const RESERVED_EXACT = ["/", "/tmp"];
const NVIDIA_NODE = /^nvidia(?:ctl|-uvm|-uvm-tools|-modeset|\d+)$/;
const PROBE_TIMEOUT_MS = 10_000;
const INSTALL_HINT = "apt-get install bubblewrap";

// ---------------------------------------------------------------------------------------------
// Host layout: where bwrap, env, Node and the system directories are.

/** `name` if it is a path to an executable, else its first executable match on PATH. */
function findExecutable(name: string, pathVar: string | undefined): string | undefined {
  const isExecutable = (path: string): boolean => {
    try {
      accessSync(path, constants.X_OK);
      return statSync(path).isFile();
    } catch {
      return false;
    }
  };
  if (name.includes("/")) return isExecutable(name) ? posix.resolve(name) : undefined;
  for (const dir of (pathVar ?? "").split(":")) {
    if (dir === "") continue;
    const candidate = posix.join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

type BwrapLookup = { path: string } | { missing: string };

/** The bwrap binary: NIGHTSHIFT_BWRAP (a path or a name) when set, else `bwrap` on PATH. */
function findBwrap(): BwrapLookup {
  const override = process.env.NIGHTSHIFT_BWRAP;
  if (override !== undefined && override !== "") {
    const path = findExecutable(override, process.env.PATH);
    return path
      ? { path }
      : { missing: `bubblewrap (bwrap) not found at NIGHTSHIFT_BWRAP=${override}: ${INSTALL_HINT}, or point NIGHTSHIFT_BWRAP at bwrap` };
  }
  const path = findExecutable("bwrap", process.env.PATH);
  return path ? { path } : { missing: `bubblewrap (bwrap) is not installed: ${INSTALL_HINT}` };
}

/**
 * The Node binary to run inside: process.execPath with its links resolved, since the sandbox
 * binds the real install (a version manager's link farm outside it would dangle).
 */
export function sandboxNodePath(): string {
  return realpathSync(process.execPath);
}

/** True when `path` is `dir` or below it. */
function isWithin(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir === "/" ? "/" : `${dir}/`);
}

type SystemEntry = { kind: "dir"; path: string } | { kind: "symlink"; path: string; target: string };

interface HostLayout {
  system: readonly SystemEntry[];
  /** Read-only binds for the Node install when it lives outside the system directories. */
  node: readonly string[];
}

let cachedLayout: HostLayout | undefined;

/** The host's system-directory layout and Node install, read once per process. */
function hostLayout(): HostLayout {
  if (cachedLayout) return cachedLayout;
  const system: SystemEntry[] = [];
  for (const path of SYSTEM_DIRS) {
    try {
      const stat = lstatSync(path);
      // Merged-/usr systems make /bin, /lib… links into /usr: recreate the link, bind /usr once.
      if (stat.isSymbolicLink()) system.push({ kind: "symlink", path, target: readlinkSync(path) });
      else if (stat.isDirectory()) system.push({ kind: "dir", path });
    } catch {
      // Absent on this host (e.g. /lib32): nothing to mirror.
    }
  }
  const realSystemDirs = system.filter((e) => e.kind === "dir").map((e) => e.path);
  const node = sandboxNodePath();
  let nodeBinds: string[] = [];
  if (!realSystemDirs.some((dir) => isWithin(node, dir))) {
    // Bind the install prefix (…/bin/node → …), which holds any libnode and Node's own files,
    // unless that prefix would expose a home directory, the working tree or the whole root:
    // then only the binary itself.
    const binDir = dirname(node);
    const prefix = basename(binDir) === "bin" ? dirname(binDir) : binDir;
    const sensitive = [homedir(), process.cwd()];
    const exposesTooMuch = prefix === "/" || sensitive.some((dir) => isWithin(dir, prefix));
    nodeBinds = [exposesTooMuch ? node : prefix];
  }
  cachedLayout = { system, node: nodeBinds };
  return cachedLayout;
}

/** The NVIDIA device nodes present in `devDir` (full paths, sorted), MIG's nvidia-caps folder included. */
export function nvidiaDeviceNodes(devDir = "/dev"): string[] {
  let names: string[];
  try {
    names = readdirSync(devDir);
  } catch {
    return [];
  }
  return names
    .filter((name) => NVIDIA_NODE.test(name) || name === "nvidia-caps")
    .sort()
    .map((name) => posix.join(devDir, name));
}

// ---------------------------------------------------------------------------------------------
// The argv.

function badSpec(message: string): never {
  throw new SandboxError("BAD_SANDBOX_SPEC", `sandbox spec: ${message}`);
}

function checkAbsolute(what: string, path: unknown): string {
  if (typeof path !== "string" || path === "") badSpec(`${what} must be a non-empty string, got ${JSON.stringify(path)}`);
  if (path.includes("\0")) badSpec(`${what} contains a NUL byte`);
  if (!path.startsWith("/")) badSpec(`${what} must be an absolute path, got ${JSON.stringify(path)}`);
  const normal = posix.normalize(path).replace(/(.)\/+$/, "$1");
  if (normal !== path) badSpec(`${what} must be normalized (${JSON.stringify(normal)}), got ${JSON.stringify(path)}`);
  return path;
}

function checkInside(what: string, inside: string, nodeBinds: readonly string[]): void {
  const clash =
    RESERVED_EXACT.find((p) => inside === p) ??
    [...RESERVED_TREES, ...nodeBinds].find((tree) => isWithin(inside, tree));
  if (clash !== undefined) badSpec(`${what} ${JSON.stringify(inside)} is the sandbox's own ${clash}; pick another path`);
}

function checkMounts(what: string, mounts: unknown, nodeBinds: readonly string[]): { host: string; inside: string }[] {
  if (!Array.isArray(mounts)) badSpec(`${what} must be an array`);
  return mounts.map((mount: unknown, i) => {
    if (typeof mount !== "object" || mount === null) badSpec(`${what}[${i}] must be an object`);
    for (const key of Object.keys(mount)) if (!MOUNT_KEYS.has(key)) badSpec(`unknown key '${key}' in ${what}[${i}]`);
    const { host, inside } = mount as SandboxMount;
    checkAbsolute(`${what}[${i}].host`, host);
    const target = inside === undefined ? host : checkAbsolute(`${what}[${i}].inside`, inside);
    checkInside(`${what}[${i}].inside`, target, nodeBinds);
    return { host, inside: target };
  });
}

function checkEnv(env: unknown): [string, string][] {
  if (typeof env !== "object" || env === null || Array.isArray(env)) badSpec("env must be an object of strings");
  return Object.entries(env).map(([name, value]) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) badSpec(`env name ${JSON.stringify(name)} is not a valid variable name`);
    if (typeof value !== "string") badSpec(`env.${name} must be a string, got ${typeof value}`);
    if (value.includes("\0")) badSpec(`env.${name} contains a NUL byte`);
    return [name, value];
  });
}

/**
 * The namespace and identity flags. The uid/gid map is 65534 inside → the runner's uid
 * outside, so host files the runner owns (the exchange directory, shards, the bundle) look
 * owned by the sandbox user and keep their owner permissions; files of other host users show
 * as the overflow uid (also 65534) but are checked against their real owner, so only their
 * "other" bits apply. No capability survives a non-zero uid; --cap-drop ALL says so anyway.
 */
function namespaceArgs(): string[] {
  return [
    "--unshare-all", // user, ipc, pid, net, uts, cgroup; the network namespace has only loopback
    "--unshare-user", // explicit: --disable-userns requires it
    "--disable-userns", // no nested user namespaces (a large kernel attack surface)
    "--uid", String(SANDBOX_UID),
    "--gid", String(SANDBOX_GID),
    "--cap-drop", "ALL",
    "--hostname", "nightshift-sandbox",
    "--die-with-parent", // SIGKILL the sandbox when bwrap's parent (the runner) dies
    "--new-session", // setsid: no controlling terminal, so no TIOCSTI keystroke injection
  ];
}

/**
 * Limits. Only what is cheap and reliable everywhere is set here:
 * - /tmp is a tmpfs capped at spec.tmpBytes.
 * - No process-count limit: RLIMIT_NPROC is not enforced for a runner running as root (the
 *   kernel exempts the init user, which our uid maps to), counts threads (Node and the
 *   engine's thread pool alone use dozens on a large machine) and, for other users, counts
 *   every process of that user on the host. The pids cgroup is the right tool.
 * - No memory limit: cgroup v2 needs a delegated subtree (systemd's, or a writable
 *   /sys/fs/cgroup) and this project's machines include cgroup v1 hosts without systemd;
 *   bwrap itself sets none. The runner's wall-clock watchdog and the host's OOM killer remain.
 * Core dumps are the runner's (its `ulimit -c 0` is inherited through bwrap).
 */
function tmpArgs(bytes: number): string[] {
  return ["--size", String(bytes), "--tmpfs", "/tmp"];
}

/**
 * The argv that runs `command` inside the sandbox described by `spec`.
 *
 * It starts with `env -i`: bwrap's own process stays in the sandbox as PID 1 (the reaper), and
 * /proc/1/environ there shows the environment bwrap was started with, so bwrap must start with
 * an empty one — the runner's API keys would otherwise be readable inside. (--clearenv only
 * clears what the command inherits.) With this prefix the spawn's env option does not matter.
 * Spawn it detached so it leads its own process group, and kill that group to end the run.
 *
 * Throws SandboxError: BAD_SANDBOX_SPEC for a spec that is malformed or mounts over the
 * sandbox's own directories, SANDBOX_UNAVAILABLE when there is no bwrap binary.
 */
export function sandboxCommand(spec: SandboxSpec, command: readonly string[]): string[] {
  if (typeof spec !== "object" || spec === null) badSpec("the spec must be an object");
  for (const key of Object.keys(spec)) if (!SPEC_KEYS.has(key)) badSpec(`unknown key '${key}'`);
  if (!Array.isArray(command) || command.length === 0 || command.some((a) => typeof a !== "string"))
    badSpec("the command must be a non-empty array of strings");
  if (typeof spec.gpu !== "boolean") badSpec(`gpu must be a boolean, got ${JSON.stringify(spec.gpu)}`);
  const tmpBytes = spec.tmpBytes ?? DEFAULT_SANDBOX_TMP_BYTES;
  if (!Number.isSafeInteger(tmpBytes) || tmpBytes <= 0) badSpec(`tmpBytes must be a positive integer, got ${tmpBytes}`);

  const layout = hostLayout();
  const readOnly = checkMounts("readOnly", spec.readOnly, layout.node);
  const readWrite = checkMounts("readWrite", spec.readWrite, layout.node);
  const cwd = checkAbsolute("cwd", spec.cwd);
  const env = checkEnv(spec.env);
  const gpuDevices = spec.gpu ? [...(spec.gpuDevices ?? nvidiaDeviceNodes())] : [];
  gpuDevices.forEach((dev, i) => {
    checkAbsolute(`gpuDevices[${i}]`, dev);
    if (!isWithin(dev, "/dev") || dev === "/dev") badSpec(`gpuDevices[${i}] must be a device under /dev, got ${JSON.stringify(dev)}`);
  });

  const bwrap = findBwrap();
  if ("missing" in bwrap) throw new SandboxError("SANDBOX_UNAVAILABLE", bwrap.missing);
  const envBinary = findExecutable("/usr/bin/env", undefined) ?? findExecutable("env", process.env.PATH);
  if (!envBinary) throw new SandboxError("SANDBOX_UNAVAILABLE", "the env binary (coreutils) is not installed");

  const argv = [envBinary, "-i", bwrap.path, ...namespaceArgs()];
  // bwrap applies mounts in order: system directories, then /proc, /dev and /tmp, then the
  // spec's mounts (which may land inside /tmp), then the root goes read-only.
  for (const entry of layout.system) {
    if (entry.kind === "dir") argv.push("--ro-bind", entry.path, entry.path);
    else argv.push("--symlink", entry.target, entry.path);
  }
  // The loader's cache (libraries outside the default paths, e.g. CUDA's, are found through
  // it). Node needs nothing else from /etc: no users, no DNS, no TLS roots without a network.
  argv.push("--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache");
  for (const path of layout.node) argv.push("--ro-bind", path, path);
  argv.push("--proc", "/proc", "--dev", "/dev");
  for (const dev of gpuDevices) argv.push("--dev-bind", dev, dev);
  argv.push(...tmpArgs(tmpBytes));
  for (const m of readOnly) argv.push("--ro-bind", m.host, m.inside);
  for (const m of readWrite) argv.push("--bind", m.host, m.inside);
  argv.push("--dir", cwd, "--remount-ro", "/", "--chdir", cwd, "--clearenv");
  for (const [name, value] of env) argv.push("--setenv", name, value);
  argv.push("--", ...command);
  return argv;
}

// ---------------------------------------------------------------------------------------------
// The probe.

let cachedSupport: SandboxSupport | undefined;

/** Runs Node in the smallest sandbox sandboxCommand builds, and says why not when that fails. */
function probeSandbox(): SandboxSupport {
  if (process.platform !== "linux")
    return { available: false, reason: `the bubblewrap sandbox needs Linux (this is ${process.platform})` };
  const bwrap = findBwrap();
  if ("missing" in bwrap) return { available: false, reason: bwrap.missing };
  let argv: string[];
  try {
    argv = sandboxCommand({ readOnly: [], readWrite: [], cwd: "/tmp", env: {}, gpu: false }, [sandboxNodePath(), "-e", ""]);
  } catch (err) {
    return { available: false, reason: err instanceof Error ? err.message : String(err) };
  }
  const [file, ...args] = argv as [string, ...string[]];
  const result = spawnSync(file, args, { encoding: "utf8", timeout: PROBE_TIMEOUT_MS, stdio: ["ignore", "ignore", "pipe"] });
  if (result.error) {
    const timedOut = (result.error as NodeJS.ErrnoException).code === "ETIMEDOUT";
    return {
      available: false,
      reason: timedOut
        ? `bubblewrap (${bwrap.path}) did not start a sandbox within ${PROBE_TIMEOUT_MS / 1000} s`
        : `bubblewrap (${bwrap.path}) could not be started: ${result.error.message}`,
    };
  }
  if (result.status === 0) return { available: true };
  const line =
    (result.stderr ?? "").split("\n").map((l) => l.trim()).find((l) => l !== "") ??
    `exit status ${result.status ?? result.signal}, no message`;
  if (/unknown option|unrecognized option/i.test(line))
    return { available: false, reason: `bubblewrap (${bwrap.path}) is too old, nightshift needs 0.8 or newer: ${line}` };
  if (/namespace|uid map|gid map|operation not permitted|permission denied/i.test(line))
    return { available: false, reason: `bubblewrap cannot create its namespaces here (unprivileged user namespaces disabled?): ${line}` };
  return { available: false, reason: `bubblewrap (${bwrap.path}) failed to start a sandbox: ${line}` };
}

/** Whether bubblewrap can build a sandbox on this machine (probed once, then cached). */
export function sandboxSupport(): SandboxSupport {
  cachedSupport ??= probeSandbox();
  return cachedSupport;
}

/** Forgets the cached probe, so a test can change NIGHTSHIFT_BWRAP and probe again. */
export function resetSandboxProbeForTests(): void {
  cachedSupport = undefined;
}
