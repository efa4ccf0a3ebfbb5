/**
 * Finds planted secrets anywhere in a directory tree, for tests that check API keys never land
 * on disk: every file's raw bytes (the SQLite database, its -wal and -shm files, logs, the
 * lab's working trees), and, for each git repository found, every object decompressed (`git
 * cat-file --batch-all-objects`, loose and packed, reachable or not) plus `git log -p --all`,
 * since zlib-compressed objects would hide a key from a byte search. Test support only.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";

export interface SecretFinding {
  /** A path relative to the scanned directory, or "git:<repo> <what>" for git's own views. */
  where: string;
  /** The needle that was found. */
  needle: string;
}

export interface ScanOptions {
  /** Paths (relative to the scanned directory) to leave out of the raw file scan. */
  exclude?: (relativePath: string) => boolean;
}

/** Every place under `dir` where one of `needles` occurs; empty when there is none. */
export function scanForSecrets(dir: string, needles: readonly string[], options: ScanOptions = {}): SecretFinding[] {
  const findings: SecretFinding[] = [];
  const check = (where: string, data: Buffer) => {
    for (const needle of needles) if (data.includes(needle, 0, "utf8")) findings.push({ where, needle });
  };
  for (const file of walk(dir)) {
    const rel = relative(dir, file);
    if (options.exclude?.(rel)) continue;
    check(rel, readFileSync(file));
  }
  for (const gitDir of gitDirs(dir)) {
    const rel = relative(dir, gitDir) || ".";
    check(`git:${rel} cat-file --batch-all-objects`, git(gitDir, ["cat-file", "--batch-all-objects", "--batch"]));
    check(`git:${rel} log -p --all`, git(gitDir, ["log", "-p", "--all"]));
  }
  return findings;
}

function* walk(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(path);
    else if (entry.isFile()) yield path;
  }
}

/** Directories named .git that hold a repository (a worktree's .git is a file pointing back). */
function gitDirs(dir: string): string[] {
  const found: string[] = [];
  const visit = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      const path = join(d, entry.name);
      if (entry.name === ".git" && existsSync(join(path, "objects"))) found.push(path);
      else visit(path);
    }
  };
  visit(dir);
  return found;
}

function git(gitDir: string, args: string[]): Buffer {
  const r = spawnSync("git", ["--git-dir", gitDir, ...args], { maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`git ${args.join(" ")} in ${gitDir} failed: ${r.stderr.toString().trim()}`);
  return r.stdout;
}
