/**
 * A small repository shaped like an autoresearch run, made with real git the way autoresearch's
 * agent makes one: upstream commits on master (prepare.py, train.py, program.md), a branch
 * autoresearch/<tag> made from it, the baseline measured on that commit, then one commit of
 * train.py per experiment — kept by staying, discarded or crashed by `git reset --hard HEAD~1`,
 * so that only the reflog still names it — and results.tsv written untracked at the root, as
 * program.md tells the agent to. Every commit has a fixed date (one experiment every 6 minutes),
 * so tests can check the times an import derives. Test support only.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface PlannedExperiment {
  status: "keep" | "discard" | "crash";
  description: string;
  /** What results.tsv records (crashes: 0.000000 / 0.0, as autoresearch writes them). */
  valBpb: number;
  memoryGb: number;
}

export interface AutoresearchRepo {
  dir: string;
  tag: string;
  branch: string;
  resultsPath: string;
  /** The commit the branch was made from: the baseline's. */
  baseCommit: string;
  /** Per results.tsv row: the planned experiment and its full commit (the baseline's is baseCommit). */
  rows: (PlannedExperiment & { commit: string })[];
  /** Committer dates of the run's own commits (after the baseline), ISO 8601. */
  commitDates: string[];
}

/** A run of seven: baseline, two keeps, two discards, a crash, a keep after them. */
export const SEVEN_EXPERIMENTS: PlannedExperiment[] = [
  { status: "keep", description: "baseline", valBpb: 0.9979, memoryGb: 44.0 },
  { status: "keep", description: "increase LR to 0.04", valBpb: 0.9932, memoryGb: 44.2 },
  { status: "discard", description: "switch to GeLU activation", valBpb: 1.0051, memoryGb: 44.0 },
  { status: "crash", description: "double model width (OOM)", valBpb: 0, memoryGb: 0 },
  { status: "keep", description: "warmup 200 steps", valBpb: 0.9901, memoryGb: 44.2 },
  { status: "discard", description: "weight decay 0.2", valBpb: 0.9915, memoryGb: 44.2 },
  { status: "keep", description: "value embeddings every layer", valBpb: 0.9874, memoryGb: 46.5 },
];

const FIRST_DATE = Date.parse("2026-03-05T21:00:00Z");
const STEP_MS = 6 * 60 * 1000;

export const PROGRAM_MD = "# autoresearch\n\nThis is an experiment to have the LLM do its own research.\n";

export interface BuildOptions {
  tag?: string;
  experiments?: PlannedExperiment[];
  /** results.tsv elsewhere than the repository's root (the file is the same). */
  resultsPath?: string;
  /**
   * Lines of weights every experiment rewrites (default none): makes each diff about 2× this
   * many lines, for a test that needs an import's write to take a while.
   */
  trainPyLines?: number;
}

export function buildAutoresearchRepo(dir: string, options: BuildOptions = {}): AutoresearchRepo {
  const tag = options.tag ?? "mar5";
  const planned = options.experiments ?? SEVEN_EXPERIMENTS;
  if (planned[0]?.status !== "keep") throw new Error("buildAutoresearchRepo: the first experiment is the baseline, a keep");
  mkdirSync(dir, { recursive: true });
  let clock = FIRST_DATE - 24 * 3600 * 1000; // upstream's commits are a day older than the run
  const git = (...args: string[]) => {
    const when = new Date(clock).toISOString();
    return execFileSync("git", args, {
      cwd: dir,
      encoding: "utf8",
      env: {
        PATH: process.env.PATH ?? "",
        HOME: dir,
        GIT_CONFIG_GLOBAL: "/dev/null",
        GIT_CONFIG_NOSYSTEM: "1",
        GIT_AUTHOR_NAME: "agent",
        GIT_AUTHOR_EMAIL: "agent@example.invalid",
        GIT_COMMITTER_NAME: "agent",
        GIT_COMMITTER_EMAIL: "agent@example.invalid",
        GIT_AUTHOR_DATE: when,
        GIT_COMMITTER_DATE: when,
      },
    }).trim();
  };
  git("init", "-q", "-b", "master");
  writeFileSync(join(dir, "prepare.py"), "MAX_SEQ_LEN = 2048\nTIME_BUDGET = 300\nEVAL_TOKENS = 40 * 524288\n");
  writeFileSync(join(dir, "program.md"), PROGRAM_MD);
  writeFileSync(join(dir, ".gitignore"), "results.tsv\nrun.log\n");
  const weights = (n: number) => Array.from({ length: options.trainPyLines ?? 0 }, (_, j) => `W_${j} = ${n}\n`).join("");
  // The kept text so far, without the weights (each experiment writes its own).
  let kept = "DEPTH = 8\nMATRIX_LR = 0.02\nWARMUP = 0\nACTIVATION = 'relu2'\n";
  writeFileSync(join(dir, "train.py"), kept + weights(0));
  git("add", "-A");
  git("commit", "-q", "-m", "upstream: the baseline recipe");
  const baseCommit = git("rev-parse", "HEAD");
  git("checkout", "-q", "-b", `autoresearch/${tag}`);

  const rows: AutoresearchRepo["rows"] = [{ ...planned[0]!, commit: baseCommit }];
  const commitDates: string[] = [];
  planned.slice(1).forEach((e, i) => {
    clock = FIRST_DATE + (i + 1) * STEP_MS;
    // The tag in the text keeps two runs' commits apart (same upstream, same dates otherwise).
    const tried = `${kept}# experiment ${i + 1} of ${tag}: ${e.description}\nSETTING_${i + 1} = ${i + 1}\n`;
    writeFileSync(join(dir, "train.py"), tried + weights(i + 1));
    git("commit", "-q", "-am", e.description);
    rows.push({ ...e, commit: git("rev-parse", "HEAD") });
    commitDates.push(new Date(clock).toISOString());
    if (e.status === "keep") kept = tried;
    else git("reset", "-q", "--hard", "HEAD~1");
  });

  const resultsPath = options.resultsPath ?? join(dir, "results.tsv");
  writeFileSync(resultsPath, resultsTsv(rows));
  return { dir, tag, branch: `autoresearch/${tag}`, resultsPath, baseCommit, rows, commitDates };
}

/** results.tsv as autoresearch writes it: short hashes, 6 decimals of val_bpb, 1 of memory. */
export function resultsTsv(rows: readonly (PlannedExperiment & { commit: string })[]): string {
  const lines = rows.map((r) => `${r.commit.slice(0, 7)}\t${r.valBpb.toFixed(6)}\t${r.memoryGb.toFixed(1)}\t${r.status}\t${r.description}`);
  return `commit\tval_bpb\tmemory_gb\tstatus\tdescription\n${lines.join("\n")}\n`;
}

/**
 * What time does to a repository: reflogs expire and gc prunes what they no longer name. The
 * discarded commits are then gone, and an import records them by short hash, without a diff.
 */
export function forgetDiscarded(repo: AutoresearchRepo): void {
  const env = { PATH: process.env.PATH ?? "", HOME: repo.dir, GIT_CONFIG_GLOBAL: "/dev/null", GIT_CONFIG_NOSYSTEM: "1" };
  execFileSync("git", ["reflog", "expire", "--expire=now", "--expire-unreachable=now", "--all"], { cwd: repo.dir, env });
  execFileSync("git", ["gc", "-q", "--prune=now"], { cwd: repo.dir, env });
}
