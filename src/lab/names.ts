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

/** A branch name the lab accepts from callers: main or a run branch. */
export function checkBranch(value: unknown): string {
  if (typeof value !== "string") invalid(`branch must be a string, got ${typeof value}`);
  if (value === "main") return value;
  const parts = value.split("/");
  if (parts.length !== 3 || parts[0] !== BRANCH_PREFIX)
    invalid(`branch ${JSON.stringify(value)} is not a lab branch (main or ${BRANCH_PREFIX}/<tag>/<org>)`);
  return runBranchName(parts[1]!, parts[2]!);
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
