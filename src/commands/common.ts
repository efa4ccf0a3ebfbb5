/**
 * Shared pieces of the commands: the errors that are the user's to fix (printed as one line,
 * exit code 2), the --profile option and the --sandbox / --no-sandbox flag.
 */
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Argv } from "yargs";
import type { Profile } from "../harness/constants.ts";
import { latestDatasetDir } from "../harness/data/cache.ts";
import { datasetsDir } from "../harness/paths.ts";
import { PROFILE_NAMES, detectProfile } from "../harness/profile.ts";
import type { Run, Store } from "../store/index.ts";
import { CodedError } from "../util/errors.ts";

/** Bad command-line input found by a command itself (yargs reports its own). */
export class UsageError extends CodedError<"USAGE"> {
  constructor(message: string) {
    super("USAGE", message);
  }
}

/**
 * Errors whose message tells the user what to do: printed as one line, without a stack.
 * Every module raises those as a CodedError; anything else is a bug and shows its stack.
 */
export function isUserError(err: unknown): err is CodedError {
  return err instanceof CodedError;
}

export function withProfile<T>(y: Argv<T>) {
  return y.option("profile", {
    choices: PROFILE_NAMES,
    describe: "constants profile (default: gpu when a CUDA device is present, else cpu)",
  });
}

/**
 * --sandbox / --no-sandbox: whether train.ts trains inside the bubblewrap sandbox. Left unset
 * (undefined) so that a resumed run or tournament keeps the setting it was started with.
 */
export function withSandbox<T>(y: Argv<T>) {
  return y.option("sandbox", {
    type: "boolean",
    describe:
      "train train.ts inside the bubblewrap sandbox, the default where it works; --no-sandbox trains it on the host, at your own risk (without bubblewrap, LLM agents refuse to run unless given --no-sandbox)",
  });
}

/** A one-line warning on stderr (the sandbox cannot run, and known code trains without it). */
export function warn(line: string | null): void {
  if (line) process.stderr.write(`nightshift: ${line}\n`);
}

export function resolveProfile(given: string | undefined): Profile {
  return (given as Profile | undefined) ?? detectProfile();
}

/**
 * The dataset a command trains on: --dataset, else the latest `prepare` for the profile.
 * Checked before anything is written, so a bad path costs nothing.
 */
export function resolveDatasetDir(given: string | undefined, profile: Profile): string {
  const dir = given ? resolve(given) : latestDatasetDir(datasetsDir(), profile);
  if (!dir) throw new UsageError(`no prepared dataset for the ${profile} profile: run \`nightshift prepare\` first`);
  if (!existsSync(join(dir, "manifest.json")))
    throw new UsageError(`no prepared dataset at ${dir} (manifest.json missing): run \`nightshift prepare\` or fix --dataset`);
  return dir;
}

/** The store file of an existing workspace; a clear error when there is none. */
export function workspaceDb(workspace: string): string {
  const db = join(resolve(workspace), "nightshift.db");
  if (!existsSync(db)) throw new UsageError(`no nightshift workspace at ${resolve(workspace)}: run \`nightshift run\` first or pass --workspace`);
  return db;
}

/** A run by id, branch or tag (the most recent of that tag); default: the most recent run. */
export function pickRun(store: Store, which: string | undefined): Run {
  const runs = store.listRuns();
  if (runs.length === 0) throw new UsageError("this workspace has no runs yet: start one with `nightshift run`");
  const latest = (rs: Run[]) => rs.reduce((a, b) => (b.id > a.id ? b : a));
  if (which === undefined) return latest(runs);
  const byTag = runs.filter((r) => r.tag === which);
  const found = /^\d+$/.test(which) ? runs.find((r) => r.id === Number(which)) : (store.findRunByBranch(which) ?? (byTag.length > 0 ? latest(byTag) : undefined));
  if (!found) throw new UsageError(`no run '${which}' in this workspace; runs: ${runs.map((r) => `${r.id} (${r.branch})`).join(", ")}`);
  return found;
}
