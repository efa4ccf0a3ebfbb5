/**
 * Validation of the names and values the lab turns into git refs and paths: run tags, org
 * names, slots, commit hashes. Each check throws LabError LAB_INVALID_ARGUMENT with the bad
 * value and the rule it broke, before any git command sees it.
 */
import { invalid } from "./errors.ts";

/** Every run branch lives under this prefix: nightshift/<tag>/<org>. */
export const BRANCH_PREFIX = "nightshift";

const NAME_CHARS = /^[A-Za-z0-9._-]+$/;
const MAX_NAME_LENGTH = 100;

/**
 * A tag or org name: one path component of a git ref. Letters, digits, '.', '_' and '-' only
 * (so no '/', no spaces, no '~^:?*[\\' and no '@{'), plus git's component rules: it may not
 * start with '.' or '-', end with '.' or '.lock', or contain '..'.
 */
export function checkRefComponent(what: "tag" | "org", value: unknown): string {
  if (typeof value !== "string") invalid(`${what} must be a string, got ${typeof value}`);
  const v = value;
  const show = JSON.stringify(v);
  if (v === "") invalid(`${what} must not be empty`);
  if (v.length > MAX_NAME_LENGTH) invalid(`${what} ${show} is longer than ${MAX_NAME_LENGTH} characters`);
  if (!NAME_CHARS.test(v)) invalid(`${what} ${show} may hold only letters, digits, '.', '_' and '-'`);
  if (v.startsWith(".")) invalid(`${what} ${show} must not start with '.'`);
  if (v.startsWith("-")) invalid(`${what} ${show} must not start with '-'`);
  if (v.endsWith(".")) invalid(`${what} ${show} must not end with '.'`);
  if (v.endsWith(".lock")) invalid(`${what} ${show} must not end with '.lock'`);
  if (v.includes("..")) invalid(`${what} ${show} must not contain '..'`);
  return v;
}

/** nightshift/<tag>/<org>, both parts validated. */
export function runBranchName(tag: string, org: string): string {
  return `${BRANCH_PREFIX}/${checkRefComponent("tag", tag)}/${checkRefComponent("org", org)}`;
}

/**
 * Each device slot of a run experiments on its own branch, nightshift-slots/<tag>/<org>/slot-<n>
 * (outside nightshift/, which holds only run branches: a ref cannot be both a branch and a
 * folder). The run branch itself moves only when an experiment is kept.
 */
export const SLOT_BRANCH_PREFIX = "nightshift-slots";

/** The slot branch of a run branch: nightshift-slots/<tag>/<org>/slot-<n>. */
export function slotBranchName(runBranch: string, slot: number): string {
  const parts = checkBranch(runBranch).split("/");
  if (parts[0] !== BRANCH_PREFIX) invalid(`slot branches belong to run branches, not ${JSON.stringify(runBranch)}`);
  return `${SLOT_BRANCH_PREFIX}/${parts[1]}/${parts[2]}/slot-${checkSlot(slot)}`;
}

/** A branch name the lab accepts from callers: main, a run branch or a slot branch. */
export function checkBranch(value: unknown): string {
  if (typeof value !== "string") invalid(`branch must be a string, got ${typeof value}`);
  if (value === "main") return value;
  const parts = value.split("/");
  if (parts.length === 3 && parts[0] === BRANCH_PREFIX) return runBranchName(parts[1]!, parts[2]!);
  const slot = /^slot-(\d{1,4})$/.exec(parts[3] ?? "");
  if (parts.length === 4 && parts[0] === SLOT_BRANCH_PREFIX && slot)
    return slotBranchName(runBranchName(parts[1]!, parts[2]!), Number(slot[1]));
  invalid(
    `branch ${JSON.stringify(value)} is not a lab branch (main, ${BRANCH_PREFIX}/<tag>/<org> or ${SLOT_BRANCH_PREFIX}/<tag>/<org>/slot-<n>)`,
  );
}

/** A device slot: a small non-negative integer (it names a directory, slot-<n>). */
export function checkSlot(value: unknown): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0 || value > 9999)
    invalid(`slot must be an integer in 0..9999, got ${JSON.stringify(value)}`);
  return value;
}

/** A full commit hash (SHA-1 or SHA-256), lower-case: what the store records. */
export function checkCommitHash(what: string, value: unknown): string {
  if (typeof value !== "string" || !/^(?:[0-9a-f]{40}|[0-9a-f]{64})$/.test(value))
    invalid(`${what} must be a full commit hash (40 or 64 lower-case hex digits), got ${JSON.stringify(value)}`);
  return value;
}
