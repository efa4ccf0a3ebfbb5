/**
 * Lab: the git repository of train.ts variants. One branch per org run
 * (nightshift/<tag>/<org>), one commit per experiment. A run's slots each experiment in their
 * own worktree on their own slot branch; a kept experiment moves the run branch by
 * compare-and-swap (advanceBranch). A worktree can also sit on the run branch itself, where
 * keep = the branch stays on the commit and discard/crash = reset it to the parent. Only
 * train.ts ever changes: anything else found in a worktree is reverted and reported. recover()
 * returns a worktree to a known commit after a kill -9 at any moment. It never runs train.ts
 * and never writes to the store.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, realpathSync, rmSync, statSync } from "node:fs";
import { readFile, rename, rm, writeFile } from "node:fs/promises";
import { basename, dirname, isAbsolute, join, relative, resolve } from "node:path";
import { LabError, checkOptions, invalid } from "./errors.ts";
import { Git, LOG_FORMAT, type LogEntry, type Status, parseLog, parseStatusV2, parseWorktreeList } from "./git.ts";
import { processExists } from "../util/processes.ts";
import { KeyedMutex } from "./mutex.ts";
import { BRANCH_PREFIX, checkBranch, checkCommitHash, checkSlot, runBranchName, slotBranchName } from "./names.ts";
import { removeStaleLocks, waitForGitToLeave, worktreeGitDir } from "./stale.ts";
import type {
  BranchLogOptions,
  CommitExperimentOptions,
  ExperimentCommit,
  LabInitOptions,
  RecoverOptions,
  Recovery,
  RunBranch,
  StartBranchOptions,
  Worktree,
  WorktreeInfo,
} from "./types.ts";

/** The one file experiments change. */
export const TRAIN_FILE = "train.ts";
/** The agents' README, committed once on main. */
export const README_FILE = "README.md";
export const MAIN_BRANCH = "main";
/** Slot worktrees live in <lab>/.worktrees/slot-<n>; the lab's .gitignore hides the folder. */
export const WORKTREES_DIR = ".worktrees";

const GITIGNORE = "# nightshift: the device-slot worktrees of this lab\n/.worktrees/\n";

/**
 * The lab's local git config. The identity makes commits work on machines with none; the gc
 * settings keep every experiment's commit (discarded ones included) reachable by hash, and keep
 * git from starting a background gc that would outlive the process or hold locks at a kill.
 */
const LOCAL_CONFIG: readonly (readonly [string, string])[] = [
  ["user.name", "nightshift"],
  ["user.email", "nightshift@localhost"],
  ["commit.gpgsign", "false"],
  ["core.autocrlf", "false"],
  ["gc.auto", "0"],
  ["maintenance.auto", "false"],
  ["gc.reflogExpire", "never"],
  ["gc.reflogExpireUnreachable", "never"],
  ["gc.pruneExpire", "never"],
  ["nightshift.lab", "1"],
];

/** How long recover waits for a git process left running in a worktree (an orphan of the kill). */
const DEFAULT_BUSY_WAIT_MS = 10_000;

// ---- the lab -------------------------------------------------------------------------------

const FULL_HASH = /^[0-9a-f]{40}$/;
/** Commits whose train.ts a Lab keeps in memory (~20 KB each). */
const TRAIN_TS_CACHE = 32;

export class Lab {
  /** Absolute, symlink-free path of the lab repository (its main checkout, on `main`). */
  readonly dir: string;
  /** True when Lab.init created the repository in this call. */
  readonly created: boolean;
  private readonly git: Git;
  private readonly slotGits = new Map<string, Git>();
  private readonly mutex = new KeyedMutex();
  /** train.ts of recently read commits, by full hash (a commit's content never changes). */
  private readonly trainTsByHash = new Map<string, string>();

  private constructor(dir: string, created: boolean) {
    this.dir = dir;
    this.created = created;
    this.git = new Git(dir);
  }

  /**
   * Opens the lab at `dir`, creating it first when the directory is absent or empty: git init
   * on branch main, the local config, a .gitignore, and one commit of train.ts + README.md.
   * An existing lab is opened as it is (trainTs and readme are then not used). Creation happens
   * in a sibling temp directory renamed into place, so a kill never leaves half a lab.
   */
  static async init(dir: string, options: LabInitOptions): Promise<Lab> {
    checkOptions("Lab.init", options, ["trainTs", "readme"]);
    if (typeof dir !== "string" || dir === "") invalid("Lab.init: dir must be a non-empty path");
    if (typeof options?.trainTs !== "string" || options.trainTs.trim() === "")
      invalid("Lab.init: trainTs must be the non-empty content of the baseline train.ts");
    if (typeof options.readme !== "string" || options.readme.trim() === "")
      invalid("Lab.init: readme must be the non-empty content of README.md");
    const target = resolve(dir);
    if (existsSync(target)) {
      if (!statSync(target).isDirectory()) throw new LabError("LAB_NOT_A_LAB", `${target} is a file, not a lab directory`);
      if (existsSync(join(target, ".git"))) return Lab.open(target);
      if (readdirSync(target).length > 0)
        throw new LabError("LAB_DIR_NOT_EMPTY", `${target} is not empty and holds no lab; give an empty or new directory`);
    }
    mkdirSync(dirname(target), { recursive: true });
    removeOrphanedStaging(target);
    const staging = `${target}.init-${process.pid}-${randomBytes(4).toString("hex")}`;
    mkdirSync(staging);
    try {
      const git = new Git(staging);
      await git.run(["init", "-q", "-b", MAIN_BRANCH]);
      for (const [key, value] of LOCAL_CONFIG) await git.run(["config", key, value]);
      await writeFile(join(staging, TRAIN_FILE), options.trainTs);
      await writeFile(join(staging, README_FILE), options.readme);
      await writeFile(join(staging, ".gitignore"), GITIGNORE);
      await git.run(["add", "--", TRAIN_FILE, README_FILE, ".gitignore"]);
      await git.run(["commit", "-q", "--no-verify", "-m", "nightshift lab: baseline train.ts and README.md"]);
      try {
        // rename(2) replaces an empty directory, so an existing empty target is fine too.
        await rename(staging, target);
      } catch (err) {
        // Another process created the lab meanwhile: use theirs.
        if (existsSync(join(target, ".git"))) return Lab.open(target);
        throw new LabError("LAB_GIT", `cannot move the new lab into ${target}: ${(err as Error).message}`, { cause: err });
      }
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
    return new Lab(realpathSync(target), true);
  }

  /** Opens an existing lab; LAB_NOT_A_LAB unless `dir` is a git repository with train.ts on main. */
  static async open(dir: string): Promise<Lab> {
    if (typeof dir !== "string" || dir === "") invalid("Lab.open: dir must be a non-empty path");
    const target = resolve(dir);
    const dotGit = join(target, ".git");
    if (!existsSync(dotGit) || !statSync(dotGit).isDirectory())
      throw new LabError("LAB_NOT_A_LAB", `${target} is not a nightshift lab (no git repository there)`);
    const real = realpathSync(target);
    const lab = new Lab(real, false);
    const top = await lab.git.tryRun(["rev-parse", "--show-toplevel"]);
    if (top.code !== 0 || realpathSync(top.stdout.trim()) !== real)
      throw new LabError("LAB_NOT_A_LAB", `${target} is not a nightshift lab (not the top of a git work tree)`);
    const train = await lab.git.tryRun(["cat-file", "-e", `${MAIN_BRANCH}:${TRAIN_FILE}`]);
    if (train.code !== 0)
      throw new LabError("LAB_NOT_A_LAB", `${target} is not a nightshift lab (no ${TRAIN_FILE} on branch ${MAIN_BRANCH})`);
    return lab;
  }

  /** Where slot worktrees live. */
  get worktreesDir(): string {
    return join(this.dir, WORKTREES_DIR);
  }

  /** The worktree path of a slot (whether or not it exists). */
  slotPath(slot: number): string {
    return join(this.worktreesDir, `slot-${checkSlot(slot)}`);
  }

  // ---- branches ------------------------------------------------------------------------------

  /**
   * Creates nightshift/<tag>/<org> at baseCommit (a hash or any commit-ish, e.g. "main").
   * An existing branch is an error (LAB_BRANCH_EXISTS) unless `resume: true`, which returns it
   * as it is — after checking that its history contains baseCommit.
   */
  async startBranch(tag: string, org: string, baseCommit: string, options: StartBranchOptions = {}): Promise<RunBranch> {
    checkOptions("startBranch", options, ["resume"]);
    const branch = runBranchName(tag, org);
    if (typeof baseCommit !== "string" || baseCommit === "") invalid("startBranch: baseCommit must be a commit hash");
    return this.mutex.with("repo", async () => {
      const base = await this.git.resolveCommit(baseCommit);
      if (!base) throw new LabError("LAB_UNKNOWN_COMMIT", `startBranch: ${JSON.stringify(baseCommit)} names no commit in the lab`);
      const existing = await this.git.resolveCommit(`refs/heads/${branch}`);
      if (existing) {
        if (options.resume !== true)
          throw new LabError(
            "LAB_BRANCH_EXISTS",
            `branch ${branch} already exists (at ${existing.slice(0, 12)}); pass resume: true to continue it or pick another tag`,
          );
        if (!(await this.isAncestor(this.git, base, existing)))
          throw new LabError("LAB_NOT_ANCESTOR", `cannot resume ${branch}: its history does not contain ${base.slice(0, 12)}`);
        return { branch, head: existing, created: false };
      }
      await this.clearStaleRefLock(branch);
      await this.git.run(["branch", "--no-track", branch, base]);
      return { branch, head: base, created: true };
    });
  }

  /**
   * A kill -9 while git writes a branch (branch, update-ref) leaves refs/heads/<branch>.lock,
   * and every later write of that branch fails with "cannot lock ref". Deletes it, once no git
   * process works in the lab (a live one's lock is not stale: LAB_BUSY after the wait). Call
   * under the "repo" mutex, which keeps this process's own git commands out.
   */
  private async clearStaleRefLock(branch: string): Promise<void> {
    const lock = join(this.dir, ".git", "refs", "heads", `${branch}.lock`);
    if (!existsSync(lock)) return;
    await waitForGitToLeave(this.dir, DEFAULT_BUSY_WAIT_MS);
    rmSync(lock, { force: true });
  }

  /** The commit a branch points at, or null when it does not exist. */
  async branchHead(branch: string): Promise<string | null> {
    return this.git.resolveCommit(`refs/heads/${checkBranch(branch)}`);
  }

  /** The full hash of a commit-ish (a hash or its prefix, a branch), or null when it names none. */
  async resolveCommit(rev: string): Promise<string | null> {
    if (typeof rev !== "string" || rev === "" || rev.startsWith("-")) invalid(`resolveCommit: expected a commit, got ${JSON.stringify(rev)}`);
    return this.git.resolveCommit(rev);
  }

  /** The branches of runs in this lab (nightshift/...), sorted. */
  async runBranches(): Promise<string[]> {
    const out = await this.git.run(["for-each-ref", "--format=%(refname:short)", "refs/heads/nightshift/"]);
    return out.split("\n").filter((l) => l !== "").sort();
  }

  // ---- worktrees -----------------------------------------------------------------------------

  /**
   * Checks `branch` out in the slot's worktree, creating it. A slot already holding the same
   * branch is returned as it is (call recover to clean it after a restart); a slot holding
   * another branch is LAB_SLOT_BUSY; a branch checked out in another slot is LAB_BRANCH_BUSY.
   * A slot directory left half-made by a kill is removed and made again.
   */
  async addWorktree(slot: number, branch: string): Promise<Worktree> {
    const path = this.slotPath(slot);
    checkBranch(branch);
    return this.mutex.with("repo", () =>
      this.mutex.with(path, async () => {
        if (!(await this.git.resolveCommit(`refs/heads/${branch}`)))
          throw new LabError("LAB_NO_BRANCH", `addWorktree: no branch ${branch} in the lab (startBranch first)`);
        const records = await this.listWorktreeRecords();
        const mine = records.find((r) => r.path === path);
        // We never lock worktrees; a locked one is an `add` that a kill interrupted.
        if (mine && !mine.prunable && !mine.locked && existsSync(join(path, ".git"))) {
          if (mine.branch === branch) return { slot, path, branch };
          throw new LabError(
            "LAB_SLOT_BUSY",
            `slot ${slot} holds ${mine.branch ?? "a detached HEAD"}, not ${branch}; removeWorktree(${slot}) first`,
          );
        }
        const holder = records.find((r) => r.branch === branch && r.path !== path);
        if (holder) throw new LabError("LAB_BRANCH_BUSY", `branch ${branch} is already checked out in ${holder.path}`);
        if (mine || existsSync(path)) await this.dropSlotDir(path, mine !== undefined);
        mkdirSync(this.worktreesDir, { recursive: true });
        await this.git.run(["worktree", "add", "--quiet", path, branch]);
        return { slot, path, branch };
      }),
    );
  }

  /**
   * The slot's worktree for experiments of a run: checks out the slot branch
   * (nightshift-slots/<tag>/<org>/slot-<n>, created at the run branch's head when missing), so
   * that several slots can experiment on one run at once. A slot holding another branch (another
   * run's, or a run branch from an older lab) is removed and made again: slots hold no state
   * that the store does not. Call recover(wt, head) before each experiment.
   */
  async addSlot(slot: number, runBranch: string): Promise<Worktree> {
    const branch = slotBranchName(runBranch, slot);
    await this.mutex.with("repo", async () => {
      const head = await this.git.resolveCommit(`refs/heads/${runBranch}`);
      if (!head) throw new LabError("LAB_NO_BRANCH", `addSlot: no branch ${runBranch} in the lab (startBranch first)`);
      if (!(await this.git.resolveCommit(`refs/heads/${branch}`))) {
        await this.clearStaleRefLock(branch);
        await this.git.run(["branch", "--no-track", branch, head]);
      }
    });
    const held = await this.worktree(slot);
    if (held && held.branch !== branch) await this.removeWorktree(slot);
    return this.addWorktree(slot, branch);
  }

  /**
   * Moves a run branch from `from` to `to` (a descendant) atomically: git update-ref with the
   * old value, so a branch that moved meanwhile is LAB_UNEXPECTED_HEAD and stays where it is.
   * This is how a kept experiment lands on its run.
   */
  async advanceBranch(branch: string, from: string, to: string): Promise<void> {
    const run = this.checkRunBranch("advanceBranch", branch);
    checkCommitHash("advanceBranch: from", from);
    checkCommitHash("advanceBranch: to", to);
    await this.mutex.with("repo", async () => {
      if (!(await this.isAncestor(this.git, from, to)))
        throw new LabError("LAB_NOT_ANCESTOR", `advanceBranch: ${to.slice(0, 12)} does not descend from ${from.slice(0, 12)}`);
      await this.clearStaleRefLock(run);
      const r = await this.git.tryRun(["update-ref", "-m", "nightshift: keep", `refs/heads/${run}`, to, from]);
      if (r.code !== 0) {
        const now = await this.git.resolveCommit(`refs/heads/${run}`);
        throw new LabError(
          "LAB_UNEXPECTED_HEAD",
          `advanceBranch: ${run} is at ${now?.slice(0, 12) ?? "(none)"}, not ${from.slice(0, 12)}; it was left there`,
        );
      }
    });
  }

  /**
   * Puts a run branch at `commit`, wherever it was (recovery: the store's head is the truth
   * after a kill between moving the branch and recording the keep). LAB_BRANCH_BUSY when a
   * worktree has the branch checked out, since its files would silently go stale.
   */
  async resetBranch(branch: string, commit: string): Promise<void> {
    const run = this.checkRunBranch("resetBranch", branch);
    const hash = await this.requireCommit("resetBranch", checkCommitHash("resetBranch: commit", commit));
    await this.mutex.with("repo", async () => {
      const holder = (await this.listWorktreeRecords()).find((r) => r.branch === run);
      if (holder) throw new LabError("LAB_BRANCH_BUSY", `resetBranch: ${run} is checked out in ${holder.path}`);
      await this.clearStaleRefLock(run);
      await this.git.run(["update-ref", "-m", "nightshift: recover", `refs/heads/${run}`, hash]);
    });
  }

  /** Removes the slot's worktree (the branch stays). False when there was none. */
  async removeWorktree(slot: number): Promise<boolean> {
    const path = this.slotPath(slot);
    return this.mutex.with("repo", () =>
      this.mutex.with(path, async () => {
        const registered = (await this.listWorktreeRecords()).some((r) => r.path === path);
        if (!registered && !existsSync(path)) return false;
        await this.dropSlotDir(path, registered);
        this.slotGits.delete(path);
        return true;
      }),
    );
  }

  /** The slot worktrees of this lab, by slot. */
  async worktrees(): Promise<WorktreeInfo[]> {
    const infos: WorktreeInfo[] = [];
    for (const r of await this.listWorktreeRecords()) {
      if (dirname(r.path) !== this.worktreesDir) continue;
      const m = /^slot-(\d+)$/.exec(basename(r.path));
      if (!m || r.branch === null) continue;
      infos.push({ slot: Number(m[1]), path: r.path, branch: r.branch, head: r.head, locked: r.locked, prunable: r.prunable });
    }
    return infos.sort((a, b) => a.slot - b.slot);
  }

  /** The slot's worktree, or null when the slot has none. */
  async worktree(slot: number): Promise<Worktree | null> {
    const path = this.slotPath(slot);
    const found = (await this.worktrees()).find((w) => w.path === path && !w.prunable);
    return found ? { slot: found.slot, path: found.path, branch: found.branch } : null;
  }

  // ---- experiments ---------------------------------------------------------------------------

  /**
   * Writes train.ts in the worktree, checks that it is the only change, and commits it on the
   * slot's branch. Any other change (a new, edited or deleted file) is reverted — the worktree
   * is reset to its head and cleaned — and reported as LAB_FOREIGN_CHANGE naming the files.
   * An unchanged train.ts is LAB_NO_CHANGE unless allowEmpty.
   */
  async commitExperiment(
    worktree: Worktree,
    newTrainTs: string,
    message: string,
    options: CommitExperimentOptions = {},
  ): Promise<ExperimentCommit> {
    const wt = this.checkWorktree(worktree);
    checkOptions("commitExperiment", options, ["allowEmpty"]);
    if (typeof newTrainTs !== "string") invalid(`commitExperiment: newTrainTs must be a string, got ${typeof newTrainTs}`);
    if (typeof message !== "string" || message.trim() === "") invalid("commitExperiment: message must be a non-empty string");
    return this.mutex.with(wt.path, async () => {
      const git = this.slotGit(wt.path);
      // Write-then-rename: a kill mid-write leaves the old train.ts plus a temp file (which
      // recover deletes), never a truncated train.ts.
      const temp = join(wt.path, `.${TRAIN_FILE}.${process.pid}.tmp`);
      await writeFile(temp, newTrainTs);
      await rename(temp, join(wt.path, TRAIN_FILE));

      const status = await this.status(git);
      if (status.branch !== wt.branch || status.head === null) {
        await this.resetAndClean(git, "HEAD");
        throw new LabError(
          "LAB_UNEXPECTED_HEAD",
          `slot ${wt.slot} is not on ${wt.branch} (HEAD: ${status.branch ?? "detached"}); call recover first`,
        );
      }
      const foreign = foreignPaths(status);
      if (foreign.length > 0) {
        await this.resetAndClean(git, "HEAD");
        throw new LabError(
          "LAB_FOREIGN_CHANGE",
          `only ${TRAIN_FILE} may change, but the worktree of slot ${wt.slot} also changed: ${listPaths(foreign)} (reverted)`,
        );
      }
      const changed = status.entries.some((e) => e.path === TRAIN_FILE);
      if (!changed && options.allowEmpty !== true)
        throw new LabError("LAB_NO_CHANGE", `the new ${TRAIN_FILE} is identical to the head's (${status.head.slice(0, 12)})`);

      const parent = status.head;
      // -a rather than `-- train.ts`: train.ts is the only change (checked above), and -a
      // commits through the one index.lock, where a pathspec commit adds a temp index file.
      await git.run(["commit", "-q", "-a", "--no-verify", "--allow-empty", "-m", message]);
      const commit = (await git.run(["rev-parse", "HEAD"])).trim();
      const diff = await this.git.run(["diff", "--no-color", "--no-ext-diff", parent, commit, "--"]);
      return { commit, parent, diff };
    });
  }

  /**
   * Keeping needs no git write — the branch already points at the experiment's commit — but it
   * asserts that: LAB_UNEXPECTED_HEAD when the slot's branch is not at `commit`.
   */
  async keep(worktree: Worktree, commit: string): Promise<void> {
    const wt = this.checkWorktree(worktree);
    checkCommitHash("keep: commit", commit);
    await this.mutex.with(wt.path, async () => {
      const status = await this.status(this.slotGit(wt.path));
      if (status.branch !== wt.branch || status.head !== commit)
        throw new LabError(
          "LAB_UNEXPECTED_HEAD",
          `keep: slot ${wt.slot} is at ${status.branch ?? "detached"} ${status.head?.slice(0, 12) ?? "(none)"}, expected ${wt.branch} ${commit.slice(0, 12)}`,
        );
    });
  }

  /**
   * Resets the slot's branch and worktree to parentCommit (an ancestor of the head, normally the
   * discarded experiment's parent) and deletes untracked files. The discarded commit stays in
   * the repository, reachable by hash. A crash is discarded the same way.
   */
  async discard(worktree: Worktree, parentCommit: string): Promise<void> {
    const wt = this.checkWorktree(worktree);
    checkCommitHash("discard: parentCommit", parentCommit);
    await this.mutex.with(wt.path, async () => {
      const git = this.slotGit(wt.path);
      const status = await this.status(git);
      if (status.branch !== wt.branch || status.head === null)
        throw new LabError(
          "LAB_UNEXPECTED_HEAD",
          `discard: slot ${wt.slot} is not on ${wt.branch} (HEAD: ${status.branch ?? "detached"}); call recover instead`,
        );
      const ancestry = await git.tryRun(["merge-base", "--is-ancestor", parentCommit, status.head]);
      if (ancestry.code === 1)
        throw new LabError(
          "LAB_NOT_ANCESTOR",
          `discard: ${parentCommit.slice(0, 12)} is not an ancestor of ${wt.branch} (at ${status.head.slice(0, 12)})`,
        );
      if (ancestry.code !== 0) throw new LabError("LAB_UNKNOWN_COMMIT", `discard: ${parentCommit} names no commit in the lab`);
      await git.run(["reset", "-q", "--hard", parentCommit]);
      // reset --hard leaves untracked files alone and creates none: clean only when there are some.
      if (status.entries.some((e) => e.kind === "?" || e.kind === "!")) await git.run(["clean", "-q", "-f", "-d", "-x"]);
    });
  }

  /**
   * Brings a slot's worktree back to `expectedHead` after a kill at any moment: waits for (or
   * refuses, LAB_BUSY) a git process still working there, deletes the stale lock files a killed
   * git left (index.lock, HEAD.lock, the branch's ref lock), puts HEAD back on the slot's branch,
   * resets branch and files to expectedHead and deletes untracked files. Idempotent.
   */
  async recover(worktree: Worktree, expectedHead: string, options: RecoverOptions = {}): Promise<Recovery> {
    const wt = this.checkWorktree(worktree);
    checkCommitHash("recover: expectedHead", expectedHead);
    checkOptions("recover", options, ["waitMs"]);
    const waitMs = options.waitMs ?? DEFAULT_BUSY_WAIT_MS;
    if (!Number.isFinite(waitMs) || waitMs < 0) invalid(`recover: waitMs must be a non-negative number, got ${waitMs}`);
    return this.mutex.with(wt.path, async () => {
      const report: Recovery = { removedLocks: [], resetFrom: null, reverted: [], removed: [], reattached: false };
      const gitDir = worktreeGitDir(wt.path);
      if (gitDir === null)
        invalid(`recover: slot ${wt.slot} has no worktree at ${wt.path}; addWorktree(${wt.slot}, ${JSON.stringify(wt.branch)}) first`);
      await waitForGitToLeave(wt.path, waitMs);
      report.removedLocks = removeStaleLocks(this.dir, gitDir, wt.branch);

      const git = this.slotGit(wt.path);
      if (!(await git.resolveCommit(expectedHead)))
        throw new LabError("LAB_UNKNOWN_COMMIT", `recover: ${expectedHead} names no commit in the lab`);
      let status = await this.status(git);
      if (status.branch !== wt.branch) {
        await git.run(["checkout", "-q", "-f", wt.branch, "--"]);
        report.reattached = true;
        status = await this.status(git);
      }
      if (status.head !== expectedHead) report.resetFrom = status.head;
      for (const e of status.entries) {
        if (e.kind === "?" || e.kind === "!") report.removed.push(e.path);
        else report.reverted.push(e.path);
      }
      if (report.resetFrom !== null || report.reverted.length > 0) await git.run(["reset", "-q", "--hard", expectedHead]);
      if (report.removed.length > 0) await git.run(["clean", "-q", "-f", "-d", "-x"]);

      const after = await this.status(git);
      if (after.head !== expectedHead || after.branch !== wt.branch || after.entries.length > 0)
        throw new LabError(
          "LAB_GIT",
          `recover: slot ${wt.slot} is still not clean at ${expectedHead.slice(0, 12)}: ${listPaths(after.entries.map((e) => e.path))}`,
        );
      return report;
    });
  }

  // ---- reading -------------------------------------------------------------------------------

  /** The train.ts in the slot's worktree (its head's, when the worktree is clean). */
  async readTrainTs(worktree: Worktree): Promise<string> {
    const wt = this.checkWorktree(worktree);
    return readFile(join(wt.path, TRAIN_FILE), "utf8");
  }

  /**
   * The train.ts of any commit (e.g. a discarded experiment, for a rerun). Verification reads
   * the same few commits once per seed: the last TRAIN_TS_CACHE read by full hash are kept.
   */
  async trainTsAt(commit: string): Promise<string> {
    const known = FULL_HASH.test(commit) ? this.trainTsByHash.get(commit) : undefined;
    if (known !== undefined) {
      this.trainTsByHash.delete(commit); // most recently used last
      this.trainTsByHash.set(commit, known);
      return known;
    }
    const hash = await this.requireCommit("trainTsAt", commit);
    const text = await this.git.run(["show", `${hash}:${TRAIN_FILE}`]);
    this.trainTsByHash.set(hash, text);
    if (this.trainTsByHash.size > TRAIN_TS_CACHE) this.trainTsByHash.delete(this.trainTsByHash.keys().next().value!);
    return text;
  }

  /** The commit the slot's worktree is at. */
  async headCommit(worktree: Worktree): Promise<string> {
    const wt = this.checkWorktree(worktree);
    return (await this.slotGit(wt.path).run(["rev-parse", "--verify", "HEAD"])).trim();
  }

  /** Unified diff a → b (commit hashes, or any commit-ish such as a branch name). */
  async diff(a: string, b: string): Promise<string> {
    const from = await this.requireCommit("diff", a);
    const to = await this.requireCommit("diff", b);
    return this.git.run(["diff", "--no-color", "--no-ext-diff", from, to, "--"]);
  }

  /** The first-parent history of a branch, newest first. */
  async branchLog(branch: string, options: BranchLogOptions = {}): Promise<LogEntry[]> {
    checkOptions("branchLog", options, ["limit", "since"]);
    checkBranch(branch);
    const head = await this.branchHead(branch);
    if (!head) throw new LabError("LAB_NO_BRANCH", `branchLog: no branch ${branch} in the lab`);
    const args = ["log", "--first-parent", LOG_FORMAT];
    if (options.limit !== undefined) {
      if (!Number.isSafeInteger(options.limit) || options.limit < 1)
        invalid(`branchLog: limit must be a positive integer, got ${options.limit}`);
      args.push(`--max-count=${options.limit}`);
    }
    if (options.since !== undefined) args.push(`^${await this.requireCommit("branchLog", options.since)}`);
    args.push(head, "--");
    return parseLog(await this.git.run(args));
  }

  // ---- internals -----------------------------------------------------------------------------

  private slotGit(path: string): Git {
    let git = this.slotGits.get(path);
    if (!git) {
      if (!existsSync(path)) invalid(`no worktree at ${path}; addWorktree first`);
      git = new Git(path);
      this.slotGits.set(path, git);
    }
    return git;
  }

  private checkWorktree(worktree: Worktree): Worktree {
    if (typeof worktree !== "object" || worktree === null) invalid("expected a Worktree (from addWorktree)");
    const slot = checkSlot(worktree.slot);
    const branch = checkBranch(worktree.branch);
    if (worktree.path !== this.slotPath(slot))
      invalid(`worktree path ${JSON.stringify(worktree.path)} is not slot ${slot} of the lab at ${this.dir}`);
    return { slot, path: worktree.path, branch };
  }

  private checkRunBranch(where: string, branch: string): string {
    const b = checkBranch(branch);
    if (!b.startsWith(`${BRANCH_PREFIX}/`)) invalid(`${where}: ${JSON.stringify(branch)} is not a run branch (${BRANCH_PREFIX}/<tag>/<org>)`);
    return b;
  }

  private async status(git: Git): Promise<Status> {
    return parseStatusV2(
      await git.run(["status", "--porcelain=v2", "-z", "--branch", "--untracked-files=all", "--ignored=matching"]),
    );
  }

  private async resetAndClean(git: Git, to: string): Promise<void> {
    await git.run(["reset", "-q", "--hard", to]);
    await git.run(["clean", "-q", "-f", "-d", "-x"]);
  }

  private async isAncestor(git: Git, ancestor: string, descendant: string): Promise<boolean> {
    const r = await git.tryRun(["merge-base", "--is-ancestor", ancestor, descendant]);
    if (r.code > 1) throw new LabError("LAB_GIT", `git merge-base failed: ${r.message.split("\n")[0]}`);
    return r.code === 0;
  }

  private async requireCommit(where: string, rev: string): Promise<string> {
    if (typeof rev !== "string" || rev === "") invalid(`${where}: expected a commit hash, got ${JSON.stringify(rev)}`);
    const hash = await this.git.resolveCommit(rev);
    if (!hash) throw new LabError("LAB_UNKNOWN_COMMIT", `${where}: ${JSON.stringify(rev)} names no commit in the lab`);
    return hash;
  }

  private async listWorktreeRecords() {
    return parseWorktreeList(await this.git.run(["worktree", "list", "--porcelain"]));
  }

  /** Deletes a slot directory (always inside .worktrees) and git's record of it. */
  private async dropSlotDir(path: string, registered: boolean): Promise<void> {
    if (relative(this.worktreesDir, path).startsWith("..") || isAbsolute(relative(this.worktreesDir, path)))
      throw new LabError("LAB_INVALID_ARGUMENT", `refusing to delete ${path}: not inside ${this.worktreesDir}`);
    if (registered) {
      // --force twice: also when the worktree is dirty or still locked by an interrupted add.
      const r = await this.git.tryRun(["worktree", "remove", "--force", "--force", path]);
      if (r.code !== 0 && existsSync(path)) rmSync(path, { recursive: true, force: true });
    } else {
      rmSync(path, { recursive: true, force: true });
    }
    await this.git.run(["worktree", "prune"]);
  }
}

/** Deletes the staging folders of Lab.init calls whose process was killed mid-way. */
function removeOrphanedStaging(target: string): void {
  const prefix = `${basename(target)}.init-`;
  for (const name of readdirSync(dirname(target))) {
    const pid = name.startsWith(prefix) ? /^(\d+)-/.exec(name.slice(prefix.length))?.[1] : undefined;
    if (pid !== undefined && !processExists(Number(pid))) rmSync(join(dirname(target), name), { recursive: true, force: true });
  }
}

/** Paths in a status other than train.ts (a rename counts both its ends). */
function foreignPaths(status: Status): string[] {
  const paths = new Set<string>();
  for (const e of status.entries) {
    if (e.path !== TRAIN_FILE) paths.add(e.path);
    if (e.origPath !== undefined && e.origPath !== TRAIN_FILE) paths.add(e.origPath);
  }
  return [...paths].sort();
}

function listPaths(paths: string[]): string {
  const shown = paths.slice(0, 8).join(", ");
  return paths.length > 8 ? `${shown} and ${paths.length - 8} more` : shown;
}
