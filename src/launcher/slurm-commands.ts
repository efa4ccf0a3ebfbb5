/**
 * The Slurm client commands nightshift uses — sbatch, squeue, sacct, scancel — run as child
 * processes with a timeout, their answers parsed, their failures raised as LauncherErrors that
 * quote what the command said. Nothing else in nightshift runs them; nothing here decides what
 * a job's state means for a training (slurm.ts does).
 */
import { execFile } from "node:child_process";
import { CREDENTIAL_NAME } from "../harness/runner/launch.ts";
import { LauncherError } from "./types.ts";

/** Seconds a client command may take: slurmctld answers in milliseconds unless it is in trouble. */
const COMMAND_TIMEOUT_MS = 60_000;

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Set when the program could not be started at all (ENOENT: not installed). */
  startError?: NodeJS.ErrnoException;
}

/**
 * sbatch hands the job this environment (its default, --export=ALL), and slurmctld keeps it with
 * the job: API keys have no business on a compute node, nor in the controller's state files.
 */
function withoutCredentials(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([name]) => !CREDENTIAL_NAME.test(name)));
}

function runCommand(program: string, args: readonly string[]): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(program, args, { timeout: COMMAND_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024, encoding: "utf8", env: withoutCredentials(process.env) }, (error, stdout, stderr) => {
      const err = error as (NodeJS.ErrnoException & { code?: string | number }) | null;
      if (err && typeof err.code === "string") resolve({ code: null, stdout, stderr, startError: err });
      else resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

function missing(program: string, ran: Ran): LauncherError {
  const why = ran.startError?.code === "ENOENT" ? "is not on PATH" : `could not be run (${ran.startError?.message ?? "unknown error"})`;
  return new LauncherError(
    "SLURM_UNAVAILABLE",
    `the Slurm launcher needs ${program}, which ${why}: run nightshift where the Slurm client commands work (a login node; Debian: apt-get install slurm-client), or use --launcher local`,
  );
}

const said = (ran: Ran) => (ran.stderr.trim() || ran.stdout.trim() || `exit code ${ran.code}`).split("\n").slice(-3).join(" / ");

/**
 * Submits `script` with `args` and returns the job id. Throws SLURM_REFUSED with sbatch's own
 * words when it refuses (a bad partition, account, or option).
 */
export async function sbatch(args: readonly string[], script: string): Promise<string> {
  const ran = await runCommand("sbatch", ["--parsable", ...args, script]);
  if (ran.startError) throw missing("sbatch", ran);
  const id = ran.stdout.trim().split(";")[0] ?? "";
  if (ran.code !== 0 || !/^\d+(_\d+)?$/.test(id)) throw new LauncherError("SLURM_REFUSED", `sbatch refused the job: ${said(ran)}`);
  return id;
}

/** sbatch --test-only: whether Slurm would accept the job, without submitting it; null when it would. */
export async function sbatchTestOnly(args: readonly string[], script: string): Promise<string | null> {
  const ran = await runCommand("sbatch", ["--test-only", ...args, script]);
  if (ran.startError) throw missing("sbatch", ran);
  return ran.code === 0 ? null : said(ran);
}

export interface QueueState {
  /** PENDING, RUNNING, COMPLETING, COMPLETED, FAILED, CANCELLED, TIMEOUT, PREEMPTED, NODE_FAIL, … */
  state: string;
  /** squeue's reason (NonZeroExitCode, Priority, Resources, …). */
  reason: string;
}

/**
 * Jobs as slurmctld knows them now, finished ones included while it still holds them
 * (MinJobAge). A job it no longer knows is absent from the map.
 */
export async function squeue(ids: readonly string[]): Promise<Map<string, QueueState>> {
  const states = new Map<string, QueueState>();
  if (ids.length === 0) return states;
  const ran = await runCommand("squeue", ["-h", "-t", "all", "-j", ids.join(","), "-o", "%i|%T|%r"]);
  if (ran.startError) throw missing("squeue", ran);
  if (ran.code !== 0) {
    // squeue fails outright when no listed job is known any more: that is an answer, not an error.
    if (/invalid job id/i.test(ran.stderr)) return states;
    throw new LauncherError("SLURM_COMMAND_FAILED", `squeue -j ${ids.join(",")} failed: ${said(ran)}`);
  }
  for (const line of ran.stdout.split("\n")) {
    const [id, state, reason] = line.trim().split("|");
    if (id && state) states.set(id, { state, reason: reason ?? "" });
  }
  return states;
}

/** The id of the job named `name` that slurmctld still holds, or null. */
export async function squeueByName(name: string): Promise<string | null> {
  const ran = await runCommand("squeue", ["-h", "-t", "all", "-n", name, "-o", "%i"]);
  if (ran.startError) throw missing("squeue", ran);
  const id = ran.code === 0 ? (ran.stdout.split("\n").find((l) => l.trim() !== "") ?? "").trim() : "";
  return /^\d+(_\d+)?$/.test(id) ? id : null;
}

/**
 * A finished job's state and exit code from accounting, or null when accounting cannot say
 * (no slurmdbd: "accounting storage is disabled", or the job is not recorded).
 */
export async function sacct(id: string): Promise<{ state: string; exitCode: string } | null> {
  const ran = await runCommand("sacct", ["-n", "-X", "-P", "-j", id, "-o", "State,ExitCode"]);
  if (ran.startError || ran.code !== 0) return null;
  const line = ran.stdout.split("\n").find((l) => l.trim() !== "");
  if (!line) return null;
  const [state, exitCode] = line.trim().split("|");
  // "CANCELLED by 0" → CANCELLED
  return state ? { state: state.split(" ")[0]!, exitCode: exitCode ?? "" } : null;
}

/** Cancels these jobs (scancel); a job already gone is not an error. */
export async function scancel(ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  const ran = await runCommand("scancel", [...ids]);
  if (ran.startError) throw missing("scancel", ran);
  if (ran.code !== 0 && !/invalid job id|already completing or completed/i.test(ran.stderr))
    throw new LauncherError("SLURM_COMMAND_FAILED", `scancel ${ids.join(" ")} failed: ${said(ran)}`);
}
