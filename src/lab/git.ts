/**
 * The one door to git in nightshift: a thin runner over simple-git with an environment that
 * makes a lab behave the same on every machine, plus parsers for the porcelain formats the lab
 * reads. Nothing outside src/lab may import this file (DESIGN.md: nothing but lab/ touches git).
 */
import { simpleGit, type SimpleGit } from "simple-git";
import { LabError, gitFailure, withoutTrace } from "./errors.ts";

/**
 * Settings that beat the lab's own .git/config on every command. Whoever can write the lab's .git
 * (a train.ts run outside the sandbox could) must not get a program of theirs run by nightshift's
 * git calls, nor switch off what LOCAL_CONFIG (lab.ts) relies on. Environment config has command
 * scope, the highest precedence: a repo setting, or one it pulls in with include.path, loses.
 * - core.hooksPath=/dev/null: git looks for /dev/null/<hook>, which cannot exist, so no hook
 *   runs. --no-verify only skips pre-commit and commit-msg; before this, commit, checkout,
 *   reset, update-ref and worktree add ran prepare-commit-msg, post-commit, post-checkout,
 *   post-index-change and reference-transaction from .git/hooks (test/lab/hooks.test.ts).
 * - core.fsmonitor=false: status, reset and checkout would run a program it names.
 * - commit.gpgsign=false, log.showSignature=false: signing a commit or showing a signature
 *   runs gpg.program (or gpg.ssh.program, gpg.x509.program).
 * - gc.auto=0, maintenance.auto=false: a commit may start an automatic gc, which outlives the
 *   command and, with a repo-set gc.reflogExpireUnreachable / gc.pruneExpire, deletes the
 *   discarded experiments the lab keeps reachable by hash.
 * Left alone, on purpose: network settings (core.sshCommand, core.gitProxy, credential.helper,
 * protocol.*): no lab command talks to a remote; diff.external: every lab diff passes
 * --no-ext-diff; core.pager and core.editor: git pages only to a terminal, and the lab commits
 * with -m. Filter and textconv drivers (filter.<name>.*, diff.<name>.textconv) have names chosen
 * by whoever writes .git/info/attributes, so no fixed key can switch them off; keeping train.ts
 * away from the lab's .git (the sandbox) is the defence there.
 */
const LAB_OVERRIDES: readonly (readonly [string, string])[] = [
  ["core.hooksPath", "/dev/null"],
  ["core.fsmonitor", "false"],
  ["commit.gpgsign", "false"],
  ["log.showSignature", "false"],
  ["gc.auto", "0"],
  ["maintenance.auto", "false"],
];

/**
 * The environment every git command runs in. Built from scratch rather than copied from
 * process.env, for three reasons:
 * - The user's global and system config must not change what the lab does: a global
 *   `commit.gpgsign`, `core.hooksPath`, `core.autocrlf`, `diff.noprefix`, `core.excludesFile` or
 *   `status.showUntrackedFiles=no` would break commits, alter train.ts bytes or hide files from
 *   the foreign-change check. GIT_CONFIG_GLOBAL=/dev/null and GIT_CONFIG_NOSYSTEM=1 drop both;
 *   the lab's own settings live in its local config (written by Lab.init).
 * - Inherited GIT_DIR / GIT_WORK_TREE / GIT_INDEX_FILE (set when nightshift runs from a git
 *   hook, for one) would point every command at another repository.
 * - simple-git refuses to run when the environment it is given carries EDITOR, PAGER,
 *   GIT_SSH and similar variables; a minimal environment never has them.
 * LC_ALL=C keeps git's messages in English so that errors read the same in every report.
 *
 * GIT_TRACE=2 is a speed fix, not a debugging aid: simple-git waits a fixed 50 ms after any
 * command that printed nothing before it resolves (completion-detection plugin, `if
 * (deferClose) await delay(50)`, not configurable in 3.36). Silent commands (reset -q, clean,
 * merge-base --is-ancestor, config) took ~55 ms each where `git status` took 4 ms; with a trace
 * line on stderr every command completes as soon as git exits. The trace lines are dropped from
 * error messages (TRACE_LINE) and never reach stdout.
 *
 * LAB_OVERRIDES travel as GIT_CONFIG_COUNT / GIT_CONFIG_KEY_n / GIT_CONFIG_VALUE_n: see there.
 */
function gitEnv(): Record<string, string> {
  const env: Record<string, string> = {
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_CONFIG_GLOBAL: "/dev/null",
    GIT_TERMINAL_PROMPT: "0",
    GIT_OPTIONAL_LOCKS: "0",
    GIT_TRACE: "2",
    LC_ALL: "C",
    LANG: "C",
    GIT_CONFIG_COUNT: String(LAB_OVERRIDES.length),
  };
  LAB_OVERRIDES.forEach(([key, value], i) => {
    env[`GIT_CONFIG_KEY_${i}`] = key;
    env[`GIT_CONFIG_VALUE_${i}`] = value;
  });
  for (const key of ["PATH", "HOME", "TMPDIR", "SYSTEMROOT"]) {
    const value = process.env[key];
    if (value !== undefined) env[key] = value;
  }
  return env;
}

/** A failed git command's exit status, recovered from the message our error handler writes. */
const EXIT_PREFIX = /^\[git exit (\d+)\] /;

/** Runs git commands in one directory. Every non-zero exit is an error, even a silent one. */
export class Git {
  readonly dir: string;
  private readonly git: SimpleGit;

  constructor(dir: string) {
    this.dir = dir;
    this.git = simpleGit({
      baseDir: dir,
      binary: "git",
      maxConcurrentProcesses: 4,
      trimmed: false,
      // simple-git counts an exit without stderr as success (`merge-base --is-ancestor`,
      // `rev-parse --verify --quiet` answer that way); the lab needs every exit status.
      // Runs after simple-git's own handler; a positive exit status replaces its error with one
      // that carries the status (tryRun reads it back). Spawn failures, timeouts and aborts have
      // no such status and pass through as they are.
      errors(error, result) {
        if (typeof result.exitCode !== "number" || result.exitCode <= 0) return error;
        const text = withoutTrace(Buffer.concat([...result.stdErr, ...result.stdOut]).toString("utf8"));
        return Buffer.from(`[git exit ${result.exitCode}] ${text}`);
      },
      // simple-git refuses these settings in the environment, since they could name a program;
      // ours only switch programs off (GIT_CONFIG_GLOBAL=/dev/null and LAB_OVERRIDES: see
      // gitEnv). The same flags would let `-c core.hooksPath=...` through in args, and the lab
      // never puts a -c in them.
      unsafe: {
        allowUnsafeConfigPaths: true,
        allowUnsafeConfigEnvCount: true,
        allowUnsafeHooksPath: true,
        allowUnsafeFsMonitor: true,
      },
      // Git never waits on a lock, so a command silent for this long is hung: kill it.
      timeout: { block: 120_000 },
    }).env(gitEnv());
  }

  /** stdout of `git <args>`; throws LabError LAB_GIT with git's error line on failure. */
  async run(args: string[]): Promise<string> {
    try {
      return await this.git.raw(args);
    } catch (err) {
      throw gitFailure(args, err);
    }
  }

  /** Like run, but a non-zero exit is returned as its status instead of thrown. */
  async tryRun(args: string[]): Promise<{ code: number; stdout: string; message: string }> {
    try {
      return { code: 0, stdout: await this.git.raw(args), message: "" };
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      const m = EXIT_PREFIX.exec(message);
      if (!m) throw gitFailure(args, err);
      return { code: Number(m[1]), stdout: "", message: message.slice(m[0].length) };
    }
  }

  /** The full hash `rev` names as a commit, or null when it names none. */
  async resolveCommit(rev: string): Promise<string | null> {
    if (rev.startsWith("-")) throw new LabError("LAB_INVALID_ARGUMENT", `not a revision: ${JSON.stringify(rev)}`);
    const r = await this.tryRun(["rev-parse", "--verify", "--quiet", "--end-of-options", `${rev}^{commit}`]);
    return r.code === 0 ? r.stdout.trim() : null;
  }
}

// ---- porcelain parsers ---------------------------------------------------------------------

export interface StatusEntry {
  /** "1" changed, "2" renamed/copied, "u" unmerged, "?" untracked, "!" ignored. */
  kind: "1" | "2" | "u" | "?" | "!";
  /** Path relative to the worktree root. */
  path: string;
  /** The source path of a rename or copy. */
  origPath?: string;
}

export interface Status {
  /** The commit HEAD points at; null on an unborn branch. */
  head: string | null;
  /** The checked-out branch (short name), or null when HEAD is detached. */
  branch: string | null;
  entries: StatusEntry[];
}

/** Parses `git status --porcelain=v2 -z --branch` (paths NUL-terminated, never quoted). */
export function parseStatusV2(out: string): Status {
  const status: Status = { head: null, branch: null, entries: [] };
  const records = out.split("\0");
  for (let i = 0; i < records.length; i++) {
    const rec = records[i]!;
    if (rec === "") continue;
    if (rec.startsWith("# ")) {
      const [, key, value = ""] = /^# (\S+) ?(.*)$/.exec(rec) ?? [];
      if (key === "branch.oid") status.head = value === "(initial)" ? null : value;
      else if (key === "branch.head") status.branch = value === "(detached)" ? null : value;
      continue;
    }
    const kind = rec[0] as StatusEntry["kind"];
    // Fields before the path: "1 XY sub mH mI mW hH hI path" has 8, "2 ..." 9 (plus the
    // score), "u ..." 10, "? path" and "! path" 1.
    const fieldsBeforePath = { "1": 8, "2": 9, u: 10, "?": 1, "!": 1 }[kind];
    if (fieldsBeforePath === undefined) throw new LabError("LAB_GIT", `unreadable git status record: ${JSON.stringify(rec)}`);
    let cut = 0;
    for (let f = 0; f < fieldsBeforePath; f++) cut = rec.indexOf(" ", cut) + 1;
    const entry: StatusEntry = { kind, path: rec.slice(cut) };
    if (kind === "2") entry.origPath = records[++i] ?? "";
    status.entries.push(entry);
  }
  return status;
}

export interface WorktreeRecord {
  path: string;
  head: string | null;
  /** Short branch name; null when detached. */
  branch: string | null;
  locked: boolean;
  prunable: boolean;
}

/**
 * Parses `git worktree list --porcelain` (one attribute a line, a blank line between
 * worktrees). Not -z: that needs git 2.36, and the lab's own paths never hold a newline.
 */
export function parseWorktreeList(out: string): WorktreeRecord[] {
  const records: WorktreeRecord[] = [];
  let current: WorktreeRecord | null = null;
  for (const line of out.split("\n")) {
    if (line === "") {
      if (current) records.push(current);
      current = null;
      continue;
    }
    const space = line.indexOf(" ");
    const key = space < 0 ? line : line.slice(0, space);
    const value = space < 0 ? "" : line.slice(space + 1);
    if (key === "worktree") {
      if (current) records.push(current);
      current = { path: value, head: null, branch: null, locked: false, prunable: false };
    } else if (current) {
      if (key === "HEAD") current.head = value;
      else if (key === "branch") current.branch = value.replace(/^refs\/heads\//, "");
      else if (key === "locked") current.locked = true;
      else if (key === "prunable") current.prunable = true;
    }
  }
  if (current) records.push(current);
  return records;
}

export interface LogEntry {
  commit: string;
  /** First parent; null for the root commit. */
  parent: string | null;
  /** Author date, ISO 8601. */
  date: string;
  /** The first line of the message. */
  subject: string;
  /** The whole message, trailing newline removed. */
  message: string;
}

/** `git log` format read by parseLog: fields NUL-separated, records ended by RS (0x1e). */
export const LOG_FORMAT = "--format=%H%x00%P%x00%aI%x00%B%x1e";

export function parseLog(out: string): LogEntry[] {
  const entries: LogEntry[] = [];
  for (const raw of out.split("\x1e")) {
    const rec = raw.replace(/^\n/, "");
    if (rec.trim() === "") continue;
    const [commit = "", parents = "", date = "", ...rest] = rec.split("\0");
    const message = rest.join("\0").replace(/\n+$/, "");
    entries.push({
      commit,
      parent: parents.split(" ")[0] || null,
      date,
      subject: message.split("\n")[0] ?? "",
      message,
    });
  }
  return entries;
}
