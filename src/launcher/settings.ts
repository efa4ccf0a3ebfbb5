/**
 * Launcher settings: checked from the command line's flags, stored with a run or a tournament
 * (so that `--resume` submits to the same partition and account), and read back from the store.
 * Every check names the flag and says how to fix it.
 */
import { DEFAULT_POLL_SECONDS, LAUNCHER_KINDS, type LauncherKind, LauncherError, type LauncherSettings } from "./types.ts";

export interface LauncherFlags {
  launcher?: string;
  partition?: string;
  account?: string;
  /** --slurm-arg, repeatable: each value is one sbatch argument. */
  extraArgs?: readonly string[];
  cpus?: number;
  pollSeconds?: number;
}

function bad(message: string): never {
  throw new LauncherError("BAD_LAUNCHER_OPTION", message);
}

/** Whether any --slurm-* flag was given (they mean nothing with the local launcher). */
function slurmFlagsGiven(f: LauncherFlags): string[] {
  const given: string[] = [];
  if (f.partition !== undefined) given.push("--slurm-partition");
  if (f.account !== undefined) given.push("--slurm-account");
  if ((f.extraArgs ?? []).length > 0) given.push("--slurm-arg");
  if (f.cpus !== undefined) given.push("--slurm-cpus");
  if (f.pollSeconds !== undefined) given.push("--slurm-poll");
  return given;
}

/** A slurm name (partition, account): no blanks, no comma lists hiding a typo, not empty. */
function slurmName(flag: string, value: string): string {
  if (value.trim() === "" || /\s/.test(value)) bad(`${flag} ${JSON.stringify(value)} is not a name: give one ${flag.slice("--slurm-".length)}, e.g. ${flag} gpu`);
  return value;
}

/**
 * The settings the flags ask for; undefined when no launcher flag was given (a resumed run then
 * keeps its stored launcher). --slurm-* flags without `--launcher slurm` are an error, not
 * silently ignored.
 */
export function launcherFromFlags(f: LauncherFlags): LauncherSettings | undefined {
  const slurmOnly = slurmFlagsGiven(f);
  if (f.launcher === undefined) {
    if (slurmOnly.length > 0) bad(`${slurmOnly.join(", ")} ${slurmOnly.length === 1 ? "applies" : "apply"} only to the Slurm launcher: add --launcher slurm`);
    return undefined;
  }
  if (!(LAUNCHER_KINDS as readonly string[]).includes(f.launcher)) bad(`--launcher must be one of ${LAUNCHER_KINDS.join(", ")}, got ${JSON.stringify(f.launcher)}`);
  const kind = f.launcher as LauncherKind;
  if (kind === "local") {
    if (slurmOnly.length > 0) bad(`${slurmOnly.join(", ")} ${slurmOnly.length === 1 ? "applies" : "apply"} only to the Slurm launcher: use --launcher slurm, or drop them`);
    return { kind };
  }
  if (f.cpus !== undefined && !(Number.isInteger(f.cpus) && f.cpus >= 1)) bad(`--slurm-cpus must be an integer ≥ 1 (CPUs per job), got ${f.cpus}`);
  if (f.pollSeconds !== undefined && !(Number.isFinite(f.pollSeconds) && f.pollSeconds >= 0.1 && f.pollSeconds <= 3600))
    bad(`--slurm-poll must be seconds between 0.1 and 3600, got ${f.pollSeconds}`);
  const extraArgs = [...(f.extraArgs ?? [])];
  for (const arg of extraArgs) {
    if (typeof arg !== "string" || arg.trim() === "") bad(`--slurm-arg needs a value: one sbatch argument, e.g. --slurm-arg=--qos=high`);
    if (!arg.startsWith("-")) bad(`--slurm-arg ${JSON.stringify(arg)} is not an sbatch option: give each as one argument, e.g. --slurm-arg=--qos=high`);
  }
  return {
    kind,
    ...(f.partition !== undefined ? { partition: slurmName("--slurm-partition", f.partition) } : {}),
    ...(f.account !== undefined ? { account: slurmName("--slurm-account", f.account) } : {}),
    extraArgs,
    ...(f.cpus !== undefined ? { cpusPerTask: f.cpus } : {}),
    pollSeconds: f.pollSeconds ?? DEFAULT_POLL_SECONDS,
  };
}

/** The settings as stored with a run or a tournament (plain JSON). */
export function launcherJson(s: LauncherSettings): { [key: string]: string | number | string[] } {
  return { ...s } as { [key: string]: string | number | string[] };
}

/** Stored settings read back; a run stored before launchers existed ran locally. */
export function launcherFromStore(value: unknown): LauncherSettings {
  if (value === undefined || value === null) return { kind: "local" };
  if (typeof value !== "object") bad(`the stored launcher setting is not an object: ${JSON.stringify(value)}`);
  const v = value as Record<string, unknown>;
  const str = (x: unknown) => (typeof x === "string" ? x : undefined);
  const num = (x: unknown) => (typeof x === "number" ? x : undefined);
  const extra = Array.isArray(v.extraArgs) ? v.extraArgs.filter((a): a is string => typeof a === "string") : [];
  const flags: LauncherFlags = { launcher: str(v.kind) ?? "local" };
  if (flags.launcher === "slurm") {
    const partition = str(v.partition);
    const account = str(v.account);
    const cpus = num(v.cpusPerTask);
    const poll = num(v.pollSeconds);
    Object.assign(flags, {
      ...(partition !== undefined ? { partition } : {}),
      ...(account !== undefined ? { account } : {}),
      extraArgs: extra,
      ...(cpus !== undefined ? { cpus } : {}),
      ...(poll !== undefined ? { pollSeconds: poll } : {}),
    });
  }
  return launcherFromFlags(flags)!;
}
