/**
 * What a kill -9 can leave behind in a slot's worktree, and how recover finds it: the
 * worktree's private git dir, git processes still working there, and stale lock files. It
 * deletes only lock files, and only once no live git process works in the worktree.
 */
import { existsSync, readFileSync, readdirSync, unlinkSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { LabError } from "./errors.ts";
import { gitProcessesIn } from "./processes.ts";

/** The worktree's private git dir, from the `gitdir:` line of its .git file; null if none. */
export function worktreeGitDir(worktreePath: string): string | null {
  const dotGit = join(worktreePath, ".git");
  if (!existsSync(dotGit)) return null;
  const m = /^gitdir: (.+)$/m.exec(readFileSync(dotGit, "utf8"));
  if (!m) throw new LabError("LAB_GIT", `${dotGit} does not name a git directory`);
  const dir = resolve(worktreePath, m[1]!.trim());
  return existsSync(dir) ? dir : null;
}

/**
 * Waits until no git process works in `path`: after a kill of the parent only, its git child
 * runs on as an orphan and finishes its command. LAB_BUSY after `waitMs`.
 */
export async function waitForGitToLeave(path: string, waitMs: number): Promise<void> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const pids = await gitProcessesIn(path);
    if (pids.length === 0) return;
    if (Date.now() > deadline)
      throw new LabError("LAB_BUSY", `git process ${pids.join(", ")} is still working in ${path}; its locks were left alone`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Deletes the lock files a killed git can leave for a worktree: every *.lock in its private git
 * dir (index.lock, HEAD.lock, ORIG_HEAD.lock, ...) and the branch's ref lock in the common dir.
 * Call only once no git process works in the worktree; the branch's ref lock is the slot's own
 * (a branch is checked out in one worktree only), so no other slot can be holding it.
 * Returns the deleted files relative to `labDir`.
 */
export function removeStaleLocks(labDir: string, wtGitDir: string, branch: string): string[] {
  const candidates = [
    ...readdirSync(wtGitDir)
      .filter((name) => name.endsWith(".lock"))
      .map((name) => join(wtGitDir, name)),
    join(labDir, ".git", "refs", "heads", `${branch}.lock`),
  ];
  const removed: string[] = [];
  for (const file of candidates) {
    if (!existsSync(file)) continue;
    unlinkSync(file);
    removed.push(relative(labDir, file));
  }
  return removed;
}
