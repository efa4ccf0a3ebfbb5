/**
 * An autoresearch run as the store records a run: its branch `autoresearch/<tag>` (one commit
 * per kept experiment of train.py) and its results.tsv (every experiment, kept or not) become
 * an imported run whose rows are results.tsv's, in order, each with its commit and its diff
 * from git. Reads the repository (through lab/ForeignRepo) and the file; writes nothing — the
 * command hands the result to store.importRun.
 *
 * The mapping, row by row:
 * - The head starts at the first row's commit, the baseline: autoresearch measures the
 *   unchanged train.py first, on the commit the branch was made from (its diff is empty).
 * - Each row was tried against the head: its parent is the latest kept commit before it, and its
 *   diff is git's from that head to its commit. A keep moves the head.
 * - Commits are looked up on the branch, then in the reflogs (a discarded commit is reset away;
 *   the reflog keeps it until it expires), then among unreachable objects. A discarded or crashed
 *   commit gone from all three is recorded by results.tsv's short hash, without a diff; a kept
 *   one gone means the file is not this branch's, and is refused.
 * - keep and discard carry val_bpb; memory_gb × 1024 is peak memory in MB (0.0: none recorded).
 *   A crash has no result: results.tsv's 0.000000 is not a measurement.
 * - autoresearch records no times: rows have none; the run's start and end are the earliest and
 *   latest commit dates of its own commits (the baseline's is older: it is upstream's).
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { type ForeignCommit, type ForeignRepo, LabError } from "../lab/index.ts";
import type { NewImportedExperiment, NewImportedRun } from "../store/index.ts";
import { ImportError } from "./errors.ts";
import { type ResultsRow, parseResultsTsv } from "./results-tsv.ts";

/** autoresearch's TIME_BUDGET (prepare.py), used when the repository's prepare.py does not say. */
export const AUTORESEARCH_TIME_BUDGET = 300;
export const AUTORESEARCH_BRANCH_PREFIX = "autoresearch/";
/** The org an import runs under unless --org names one; the repository's program.md is its text. */
export const DEFAULT_IMPORT_ORG = "autoresearch";
/** What an imported run's device kind says: results.tsv does not record the GPU it trained on. */
export const IMPORTED_DEVICE_KIND = "unknown (imported)";
const NO_PROGRAM_MD = "(imported from autoresearch: the repository holds no program.md at the branch head)\n";
const CRASH_REASON = "crashed (autoresearch's results.tsv records no log or cause)";

export interface AutoresearchSource {
  /** The repository (work tree or bare). */
  repo: ForeignRepo;
  tag: string;
  /** results.tsv (default: the repository's own, untracked at its root). */
  resultsPath: string;
  /** The run's name in the store (default: the branch, autoresearch/<tag>). */
  name: string;
  org: string;
  /** The clock for a run whose own commits give no time (tests pin it). */
  now?: () => Date;
}

/** How the rows' commits were found: what the command reports. */
export interface FoundCounts {
  branch: number;
  reflog: number;
  objects: number;
  /** Gone from the repository: recorded by short hash, without a diff. */
  missing: number;
}

export interface MappedRun {
  run: NewImportedRun;
  found: FoundCounts;
  /** Things a reader should know that do not stop the import (kept commits off the branch). */
  notes: string[];
}

export async function mapAutoresearchRun(source: AutoresearchSource): Promise<MappedRun> {
  const { repo, tag } = source;
  const branch = `${AUTORESEARCH_BRANCH_PREFIX}${tag}`;
  const head = await repo.branchHead(branch);
  if (head === null) {
    const known = await repo.branches(AUTORESEARCH_BRANCH_PREFIX);
    throw new ImportError(
      "IMPORT_BAD_SOURCE",
      `${repo.dir} has no branch ${branch}: ${known.length > 0 ? `its autoresearch runs are ${known.map((b) => b.slice(AUTORESEARCH_BRANCH_PREFIX.length)).join(", ")}` : "it holds no autoresearch/<tag> branch"} (--tag names the run)`,
    );
  }
  const resultsPath = resolve(source.resultsPath);
  const bytes = readResults(resultsPath);
  const rows = parseResultsTsv(bytes.toString("utf8"), resultsPath);
  if (rows[0]!.status !== "keep")
    throw new ImportError("IMPORT_BAD_RESULTS", `${resultsPath}:${rows[0]!.line}: the first row must be the baseline (status keep), as autoresearch records it first; got ${rows[0]!.status}`);

  const commits = await lookUp(repo, rows, branch, resultsPath);
  const base = commits[0];
  if (!base || base.foundIn !== "branch")
    throw new ImportError(
      "IMPORT_BAD_SOURCE",
      `${resultsPath}:${rows[0]!.line}: the baseline commit ${rows[0]!.commit} is ${base ? "not on" : "not in the repository, so not on"} ${branch}: is this results.tsv from another run? (check --tag and --results)`,
    );

  // A kept commit stays on the branch (or, after a rewind, in the reflog): one the repository
  // never had means results.tsv belongs to another run, and its keeps would be recorded blind.
  const lostKeep = rows.findIndex((row, i) => row.status === "keep" && commits[i] === null);
  if (lostKeep >= 0)
    throw new ImportError(
      "IMPORT_BAD_SOURCE",
      `${resultsPath}:${rows[lostKeep]!.line}: kept commit ${rows[lostKeep]!.commit} is not in the repository: a kept commit stays on ${branch}, so this results.tsv is not from its run (check --tag and --results)`,
    );

  const found: FoundCounts = { branch: 0, reflog: 0, objects: 0, missing: 0 };
  const offBranchKeeps: string[] = [];
  const experiments: NewImportedExperiment[] = [];
  let current = base.hash;
  for (const [i, row] of rows.entries()) {
    const commit = commits[i]!;
    if (commit) found[commit.foundIn]++;
    else found.missing++;
    if (row.status === "keep" && commit && commit.foundIn !== "branch") offBranchKeeps.push(row.commit);
    const id = commit?.hash ?? row.commit;
    experiments.push({
      parentCommit: current,
      commit: id,
      diff: commit === null ? null : id === current ? "" : await repo.diff(isFullHash(current) ? current : commit.parent, commit.hash),
      description: row.description,
      status: row.status,
      valBpb: row.status === "crash" ? null : row.valBpb,
      peakVramMb: row.status === "crash" || row.memoryGb === 0 ? null : row.memoryGb * 1024,
      ...(row.status === "crash" ? { reason: CRASH_REASON } : {}),
    });
    if (row.status === "keep") current = id;
  }

  const notes: string[] = [];
  if (offBranchKeeps.length > 0)
    notes.push(`${offBranchKeeps.length} kept commit${offBranchKeeps.length === 1 ? " is" : "s are"} not on ${branch} (${offBranchKeeps.slice(0, 5).join(", ")}${offBranchKeeps.length > 5 ? ", …" : ""}): the run went back to an earlier commit after keeping ${offBranchKeeps.length === 1 ? "it" : "them"}`);
  // The run's own commits: the baseline's date is upstream's, not the run's.
  const times = commits.filter((c): c is ForeignCommit => c !== null && c.hash !== base.hash).map((c) => Date.parse(c.committedAt));
  const now = (source.now ?? (() => new Date()))().toISOString();
  const startedAt = times.length > 0 ? new Date(Math.min(...times)).toISOString() : now;
  const endedAt = times.length > 0 ? new Date(Math.max(...times)).toISOString() : now;

  return {
    run: {
      tag,
      org: { name: source.org, programMd: (await repo.fileAt(head, "program.md")) ?? NO_PROGRAM_MD },
      branch: source.name,
      profile: "gpu",
      timeBudget: timeBudgetOf(await repo.fileAt(head, "prepare.py")),
      deviceKind: IMPORTED_DEVICE_KIND,
      agent: "autoresearch",
      baseCommit: base.hash,
      startedAt,
      endedAt,
      source: { kind: "autoresearch", repo: repo.dir, branch, tag, head, resultsPath, resultsSha256: resultsDigest(bytes) },
      experiments,
    },
    found,
    notes,
  };
}

/** What identifies a results.tsv: the sha256 of its bytes (with the branch head, what makes an import the same). */
export function resultsDigest(bytes: Buffer): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function readResults(path: string): Buffer {
  if (!existsSync(path)) throw new ImportError("IMPORT_BAD_RESULTS", `no results.tsv at ${path}: autoresearch leaves it untracked in the repository's root; give its path with --results`);
  if (!statSync(path).isFile()) throw new ImportError("IMPORT_BAD_RESULTS", `${path} is not a file: give the results.tsv with --results`);
  return readFileSync(path);
}

async function lookUp(repo: ForeignRepo, rows: readonly ResultsRow[], branch: string, file: string): Promise<(ForeignCommit | null)[]> {
  try {
    return await repo.findCommits(rows.map((r) => r.commit), branch);
  } catch (err) {
    // The hash the reader names is results.tsv's: point at its line.
    const ambiguous = err instanceof LabError && err.code === "LAB_INVALID_ARGUMENT" ? rows.find((r) => err.message.startsWith(`${r.commit} `)) : undefined;
    if (ambiguous) throw new ImportError("IMPORT_BAD_RESULTS", `${file}:${ambiguous.line}: ${(err as Error).message}: write more of its hash`);
    throw err;
  }
}

const isFullHash = (commit: string) => /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/.test(commit);

/** prepare.py's `TIME_BUDGET = 300` (seconds), or autoresearch's default when it says nothing readable. */
export function timeBudgetOf(preparePy: string | null): number {
  const m = preparePy === null ? null : /^TIME_BUDGET\s*=\s*(\d+(?:\.\d+)?)\b/m.exec(preparePy);
  const seconds = m ? Number(m[1]) : NaN;
  return seconds > 0 ? seconds : AUTORESEARCH_TIME_BUDGET;
}
