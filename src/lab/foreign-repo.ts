/**
 * A read-only view of someone else's git repository: what `nightshift import` needs from an
 * autoresearch run's repo (its branch, the commits results.tsv names, their diffs and dates, a
 * file at a commit). It never writes to the repository — no checkout, no ref update, no gc —
 * and runs git with the lab's hardened environment (git.ts), so the repository's own config
 * cannot make nightshift run a program of its choosing: diffs pass --no-ext-diff and
 * --no-textconv, which the lab's fixed overrides cannot cover for driver names a foreign
 * .gitattributes picks.
 */
import { existsSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { LabError } from "./errors.ts";
import { Git } from "./git.ts";

/** Where a commit named by results.tsv was found. */
export type CommitFoundIn = "branch" | "reflog" | "objects";

export interface ForeignCommit {
  hash: string;
  /** First parent; null for a root commit. */
  parent: string | null;
  /** Committer date, ISO 8601 UTC. */
  committedAt: string;
  foundIn: CommitFoundIn;
}

const ABBREVIATED = /^[0-9a-f]{4,64}$/;
const DIFF_FLAGS = ["--no-ext-diff", "--no-textconv", "--no-color", "--no-renames"];

export class ForeignRepo {
  readonly dir: string;
  readonly #git: Git;
  /** Commits reachable from a branch, by branch; and every commit any reflog still names. */
  readonly #history = new Map<string, Set<string>>();
  #reflog: Set<string> | null = null;

  private constructor(dir: string) {
    this.dir = dir;
    this.#git = new Git(dir);
  }

  /** Opens the repository at `path` (its work tree or a bare repo); LAB_NOT_A_REPO when it is none. */
  static async open(path: string): Promise<ForeignRepo> {
    const dir = resolve(path);
    if (!existsSync(dir)) throw new LabError("LAB_NOT_A_REPO", `${dir} does not exist: give the autoresearch repository's directory`);
    if (!statSync(dir).isDirectory()) throw new LabError("LAB_NOT_A_REPO", `${dir} is not a directory: give the autoresearch repository's directory`);
    const repo = new ForeignRepo(dir);
    const r = await repo.#git.tryRun(["rev-parse", "--git-dir"]);
    if (r.code !== 0) throw new LabError("LAB_NOT_A_REPO", `${dir} is not a git repository (${r.message.trim().split("\n")[0] ?? "git rev-parse failed"})`);
    return repo;
  }

  /** The full hash at the tip of `branch`, or null when there is no such branch. */
  async branchHead(branch: string): Promise<string | null> {
    if (branch.startsWith("-")) throw new LabError("LAB_INVALID_ARGUMENT", `not a branch name: ${JSON.stringify(branch)}`);
    return this.#git.resolveCommit(`refs/heads/${branch}`);
  }

  /** Local branches whose names start with `prefix`, sorted. */
  async branches(prefix: string): Promise<string[]> {
    const out = await this.#git.run(["for-each-ref", "--format=%(refname:short)", `refs/heads/${prefix}`]);
    return out.split("\n").filter((l) => l !== "").sort();
  }

  /**
   * The commits abbreviated hashes name, in order: each looked up on `branch` first, then in the
   * reflogs (autoresearch resets a discarded commit away; its reflog keeps it until it expires),
   * then among the repository's objects (unreachable but not yet pruned). Null for one that is
   * gone; LAB_INVALID_ARGUMENT naming the hash when a prefix matches several commits of one of
   * those places. Their dates and parents are read in one git call, not one per commit.
   */
  async findCommits(abbreviated: readonly string[], branch: string): Promise<(ForeignCommit | null)[]> {
    const places: [CommitFoundIn, Set<string>][] = [
      ["branch", await this.#branchHistory(branch)],
      ["reflog", await this.#reflogCommits()],
    ];
    const located: ({ hash: string; foundIn: CommitFoundIn } | null)[] = [];
    for (const short of abbreviated) {
      if (!ABBREVIATED.test(short)) throw new LabError("LAB_INVALID_ARGUMENT", `not an abbreviated commit hash: ${JSON.stringify(short)}`);
      let hit: { hash: string; foundIn: CommitFoundIn } | null = null;
      for (const [foundIn, commits] of places) {
        const matches = [...commits].filter((c) => c.startsWith(short));
        if (matches.length > 1) throw new LabError("LAB_INVALID_ARGUMENT", `${short} is ambiguous: it names ${matches.length} commits (${matches.map((m) => m.slice(0, 12)).join(", ")})`);
        if (matches.length === 1) {
          hit = { hash: matches[0]!, foundIn };
          break;
        }
      }
      if (hit === null) {
        const hash = await this.#git.resolveCommit(short);
        if (hash !== null) hit = { hash, foundIn: "objects" };
      }
      located.push(hit);
    }
    const described = await this.#describe([...new Set(located.flatMap((l) => (l ? [l.hash] : [])))]);
    return located.map((l) => (l ? { ...described.get(l.hash)!, foundIn: l.foundIn } : null));
  }

  /** The unified diff from `from` to `to` (every file); from null: everything `to` adds as a root commit. */
  async diff(from: string | null, to: string): Promise<string> {
    if (from === null) return this.#git.run(["show", "--format=", "-p", ...DIFF_FLAGS, to, "--"]);
    return this.#git.run(["diff", ...DIFF_FLAGS, from, to, "--"]);
  }

  /** A file's text at a commit, or null when the commit has no such file. */
  async fileAt(commit: string, path: string): Promise<string | null> {
    const r = await this.#git.tryRun(["cat-file", "blob", `${commit}:${path}`]);
    return r.code === 0 ? r.stdout : null;
  }

  /** Parents and committer dates of full hashes, by hash: one `git log --no-walk` for all. */
  async #describe(hashes: readonly string[]): Promise<Map<string, Omit<ForeignCommit, "foundIn">>> {
    const out = new Map<string, Omit<ForeignCommit, "foundIn">>();
    if (hashes.length === 0) return out;
    const log = await this.#git.run(["log", "--no-walk=unsorted", "--format=%H%x00%P%x00%cI", ...hashes, "--"]);
    for (const line of log.split("\n")) {
      const [hash = "", parents = "", date = ""] = line.split("\0");
      if (hash !== "") out.set(hash, { hash, parent: parents.split(" ")[0] || null, committedAt: new Date(date).toISOString() });
    }
    return out;
  }

  async #branchHistory(branch: string): Promise<Set<string>> {
    let commits = this.#history.get(branch);
    if (!commits) {
      const head = await this.branchHead(branch);
      if (head === null) throw new LabError("LAB_NO_BRANCH", `${this.dir} has no branch ${branch}`);
      commits = new Set((await this.#git.run(["rev-list", head])).split("\n").filter((l) => l !== ""));
      this.#history.set(branch, commits);
    }
    return commits;
  }

  async #reflogCommits(): Promise<Set<string>> {
    if (!this.#reflog) {
      // A repository without reflogs (a bare clone) answers with an empty list, not an error.
      const out = await this.#git.tryRun(["reflog", "show", "--all", "--format=%H"]);
      this.#reflog = new Set(out.stdout.split("\n").filter((l) => /^[0-9a-f]{40,64}$/.test(l)));
    }
    return this.#reflog;
  }
}
