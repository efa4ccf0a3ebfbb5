/**
 * The lab on real git repositories in a temp folder: init and reopen, run-branch naming, the
 * commit / keep / discard chain, the only-train.ts rule, parallel slot worktrees, and recovery
 * from a simulated crash. Git state is checked with the git CLI itself, not through the lab.
 */
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Lab, LabError, type Worktree } from "../../src/lab/index.ts";

const TRAIN0 = 'export default async function train(ctx) {\n  const LR = 0.04;\n  return ctx;\n}\n';
const README = "# a lab\n";
const variant = (i: number | string) => TRAIN0.replace("0.04", `0.04 * ${i}`);

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "nightshift-lab-"));
});
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

let labCount = 0;
async function freshLab(): Promise<Lab> {
  return Lab.init(join(root, `lab-${++labCount}`), { trainTs: TRAIN0, readme: README });
}

/** The git CLI with the user's config shut out, for checking what the lab did. */
function git(cwd: string, ...args: string[]): string {
  return execFileSync("git", args, {
    cwd,
    encoding: "utf8",
    env: { PATH: process.env.PATH ?? "", HOME: root, GIT_CONFIG_NOSYSTEM: "1", GIT_CONFIG_GLOBAL: "/dev/null" },
  });
}

async function expectLabError(promise: Promise<unknown> | (() => unknown), code: string, message?: RegExp) {
  let err: unknown;
  try {
    await (typeof promise === "function" ? promise() : promise);
  } catch (e) {
    err = e;
  }
  expect(err, `expected LabError ${code}`).toBeInstanceOf(LabError);
  expect((err as LabError).code).toBe(code);
  if (message) expect((err as LabError).message).toMatch(message);
  expect((err as LabError).message).not.toContain("\n");
}

async function labWithSlot(slot = 0, org = "org") {
  const lab = await freshLab();
  const base = (await lab.branchHead("main"))!;
  const { branch } = await lab.startBranch("t1", org, base);
  const wt = await lab.addWorktree(slot, branch);
  return { lab, base, branch, wt };
}

describe("Lab.init", () => {
  it("creates a repo on main with train.ts, README.md and .gitignore in one commit", async () => {
    const lab = await freshLab();
    expect(lab.created).toBe(true);
    expect(git(lab.dir, "branch", "--show-current").trim()).toBe("main");
    expect(git(lab.dir, "rev-list", "--count", "main").trim()).toBe("1");
    expect(git(lab.dir, "ls-tree", "--name-only", "main").trim().split("\n")).toEqual([".gitignore", "README.md", "train.ts"]);
    expect(git(lab.dir, "show", "main:train.ts")).toBe(TRAIN0);
    expect(git(lab.dir, "show", "main:README.md")).toBe(README);
    expect(git(lab.dir, "config", "user.name").trim()).toBe("nightshift");
    expect(git(lab.dir, "config", "gc.auto").trim()).toBe("0");
    expect(git(lab.dir, "status", "--porcelain")).toBe("");
    // Created through a sibling staging folder: nothing of it is left.
    expect(readdirSync(root).filter((n) => n.includes(".init-"))).toEqual([]);
  });

  it("reopens an existing lab as it is", async () => {
    const lab = await freshLab();
    const head = await lab.branchHead("main");
    const again = await Lab.init(lab.dir, { trainTs: "something else", readme: "other" });
    expect(again.created).toBe(false);
    expect(await again.branchHead("main")).toBe(head);
    expect(readFileSync(join(lab.dir, "train.ts"), "utf8")).toBe(TRAIN0);
    expect((await Lab.open(lab.dir)).dir).toBe(lab.dir);
  });

  it("creates a lab in an existing empty directory", async () => {
    const dir = join(root, "empty-dir");
    mkdirSync(dir);
    const lab = await Lab.init(dir, { trainTs: TRAIN0, readme: README });
    expect(lab.created).toBe(true);
    expect(git(dir, "show", "main:train.ts")).toBe(TRAIN0);
  });

  it("refuses what is not a lab", async () => {
    const plain = join(root, "plain");
    mkdirSync(plain);
    writeFileSync(join(plain, "notes.txt"), "hi");
    await expectLabError(Lab.init(plain, { trainTs: TRAIN0, readme: README }), "LAB_DIR_NOT_EMPTY");
    await expectLabError(Lab.open(plain), "LAB_NOT_A_LAB", /no git repository/);

    const otherRepo = join(root, "other-repo");
    mkdirSync(otherRepo);
    git(otherRepo, "init", "-q", "-b", "main");
    await expectLabError(Lab.open(otherRepo), "LAB_NOT_A_LAB", /no train\.ts on branch main/);
    await expectLabError(Lab.open(join(root, "missing")), "LAB_NOT_A_LAB");
  });

  it("checks its options by name", async () => {
    const dir = join(root, "opts");
    await expectLabError(
      Lab.init(dir, { trainTs: TRAIN0, readme: README, readMe: "x" } as never),
      "LAB_INVALID_ARGUMENT",
      /unknown option 'readMe' — did you mean 'readme'\?/,
    );
    await expectLabError(Lab.init(dir, { trainTs: "", readme: README }), "LAB_INVALID_ARGUMENT", /trainTs/);
    expect(existsSync(dir)).toBe(false);
  });
});

describe("run branches", () => {
  let lab: Lab;
  let base: string;
  beforeAll(async () => {
    lab = await freshLab();
    base = (await lab.branchHead("main"))!;
  });

  it.each(["2026-11-24", "night_1.v2", "A-b.c_d", "x"])("accepts the tag %j", async (tag) => {
    const run = await lab.startBranch(tag, "default", base);
    expect(run).toEqual({ branch: `nightshift/${tag}/default`, head: base, created: true });
    expect(git(lab.dir, "rev-parse", `refs/heads/nightshift/${tag}/default`).trim()).toBe(base);
  });

  it.each([
    ["", /must not be empty/],
    ["a/b", /only letters, digits/],
    ["a b", /only letters, digits/],
    ["ü", /only letters, digits/],
    ["a~1", /only letters, digits/],
    ["a^", /only letters, digits/],
    ["a:b", /only letters, digits/],
    ["@{x}", /only letters, digits/],
    [".hidden", /must not start with '\.'/],
    ["-x", /must not start with '-'/],
    ["x.", /must not end with '\.'/],
    ["x.lock", /must not end with '\.lock'/],
    ["a..b", /must not contain '\.\.'/],
    ["x".repeat(101), /longer than 100/],
  ])("rejects the name %j as tag and as org", async (name, message) => {
    const before = await lab.runBranches();
    await expectLabError(lab.startBranch(name, "org", base), "LAB_INVALID_ARGUMENT", message);
    await expectLabError(lab.startBranch("tag", name, base), "LAB_INVALID_ARGUMENT", message);
    expect(await lab.runBranches()).toEqual(before);
  });

  it("reuses an existing branch only when asked", async () => {
    const first = await lab.startBranch("resume", "org", base);
    const wt = await lab.addWorktree(7, first.branch);
    const c = await lab.commitExperiment(wt, variant(2), "exp");
    await lab.keep(wt, c.commit);
    const dropped = await lab.commitExperiment(wt, variant(3), "dropped");
    await lab.discard(wt, dropped.parent);
    await expectLabError(lab.startBranch("resume", "org", base), "LAB_BRANCH_EXISTS", /resume: true/);
    expect(await lab.startBranch("resume", "org", base, { resume: true })).toEqual({
      branch: first.branch,
      head: c.commit,
      created: false,
    });
    await expectLabError(lab.startBranch("resume", "org", dropped.commit, { resume: true }), "LAB_NOT_ANCESTOR");
    await expectLabError(lab.startBranch("resume", "org", base, { resum: true } as never), "LAB_INVALID_ARGUMENT", /did you mean 'resume'/);
    await lab.removeWorktree(7);
  });

  it("resolves the base commit and rejects unknown ones", async () => {
    expect((await lab.startBranch("from-main", "org", "main")).head).toBe(base);
    await expectLabError(lab.startBranch("t", "o", "0".repeat(40)), "LAB_UNKNOWN_COMMIT");
    await expectLabError(lab.startBranch("t", "o", "--output=/tmp/x"), "LAB_INVALID_ARGUMENT");
  });
});

describe("experiments", () => {
  it("keeps form a chain on the branch; discards reset it but stay reachable by hash", async () => {
    const { lab, base, branch, wt } = await labWithSlot();
    const kept: string[] = [];
    const discarded: { commit: string; parent: string; diff: string; text: string }[] = [];
    for (let i = 1; i <= 6; i++) {
      const text = variant(i);
      const c = await lab.commitExperiment(wt, text, `experiment ${i}\n\nhypothesis: LR x${i}`);
      expect(c.parent).toBe(kept.at(-1) ?? base);
      expect(c.diff).toContain(`+  const LR = 0.04 * ${i};`);
      expect(c.diff).toMatch(/^diff --git a\/train\.ts b\/train\.ts/);
      expect(await lab.headCommit(wt)).toBe(c.commit);
      if (i % 3 === 0) {
        await lab.discard(wt, c.parent);
        discarded.push({ ...c, text });
        expect(await lab.headCommit(wt)).toBe(c.parent);
        expect(await lab.readTrainTs(wt)).toBe(kept.length ? variant(i - 1) : TRAIN0);
      } else {
        await lab.keep(wt, c.commit);
        kept.push(c.commit);
      }
    }
    expect(git(wt.path, "status", "--porcelain")).toBe("");
    expect(await lab.branchHead(branch)).toBe(kept.at(-1));
    const log = await lab.branchLog(branch, { since: base });
    expect(log.map((e) => e.commit)).toEqual([...kept].reverse());
    for (let i = 0; i < log.length - 1; i++) expect(log[i]!.parent).toBe(log[i + 1]!.commit);
    expect(log.at(-1)!.parent).toBe(base);
    expect(log[0]!.subject).toBe("experiment 5");
    expect(log[0]!.message).toBe("experiment 5\n\nhypothesis: LR x5");
    expect((await lab.branchLog(branch, { limit: 2 })).length).toBe(2);
    expect((await lab.branchLog(branch)).at(-1)!.commit).toBe(base);

    for (const d of discarded) {
      expect(git(lab.dir, "cat-file", "-t", d.commit).trim()).toBe("commit");
      expect(git(lab.dir, "branch", "--contains", d.commit).trim()).toBe("");
      expect(await lab.diff(d.parent, d.commit)).toBe(d.diff);
      expect(await lab.trainTsAt(d.commit)).toBe(d.text);
    }
    // Read again (from the lab's cache of recent commits), and by an abbreviated hash (never
    // cached: only full hashes are), the same text comes back.
    for (const d of discarded) {
      expect(await lab.trainTsAt(d.commit)).toBe(d.text);
      expect(await lab.trainTsAt(d.commit.slice(0, 12))).toBe(d.text);
    }
    // A manual gc does not prune them either (the lab's reflogs and gc config keep them).
    git(lab.dir, "gc", "--quiet", "--prune=now");
    for (const d of discarded) expect(git(lab.dir, "cat-file", "-t", d.commit).trim()).toBe("commit");
    git(lab.dir, "fsck", "--no-progress");
  });

  it("asserts the head on keep and the ancestry on discard", async () => {
    const { lab, base, wt } = await labWithSlot();
    const a = await lab.commitExperiment(wt, variant("a"), "a");
    await expectLabError(lab.keep(wt, base), "LAB_UNEXPECTED_HEAD", /expected nightshift\/t1\/org/);
    await lab.discard(wt, a.parent);
    await expectLabError(lab.keep(wt, a.commit), "LAB_UNEXPECTED_HEAD");
    await expectLabError(lab.discard(wt, a.commit), "LAB_NOT_ANCESTOR");
    await expectLabError(lab.discard(wt, "f".repeat(40)), "LAB_UNKNOWN_COMMIT");
    await expectLabError(lab.discard(wt, "HEAD~1"), "LAB_INVALID_ARGUMENT", /full commit hash/);
    await expectLabError(lab.keep(wt, a.commit.slice(0, 12)), "LAB_INVALID_ARGUMENT");
    expect(await lab.headCommit(wt)).toBe(base);
  });

  it("refuses an unchanged train.ts unless allowEmpty", async () => {
    const { lab, base, wt } = await labWithSlot();
    await expectLabError(lab.commitExperiment(wt, TRAIN0, "same"), "LAB_NO_CHANGE");
    const c = await lab.commitExperiment(wt, TRAIN0, "baseline rerun", { allowEmpty: true });
    expect(c.parent).toBe(base);
    expect(c.diff).toBe("");
    await expectLabError(lab.commitExperiment(wt, variant(1), "   "), "LAB_INVALID_ARGUMENT", /message/);
    await expectLabError(lab.commitExperiment(wt, variant(1), "m", { alowEmpty: true } as never), "LAB_INVALID_ARGUMENT", /allowEmpty/);
  });

  it.each([
    ["a new prepare.ts", (p: string) => writeFileSync(join(p, "prepare.ts"), "export {};\n"), ["prepare.ts"]],
    ["an edited README.md", (p: string) => writeFileSync(join(p, "README.md"), "# mine now\n"), ["README.md"]],
    ["a deleted .gitignore", (p: string) => unlinkSync(join(p, ".gitignore")), [".gitignore"]],
    [
      "files in a new folder, and a staged one",
      (p: string) => {
        mkdirSync(join(p, "data"));
        writeFileSync(join(p, "data", "x.bin"), "1");
        writeFileSync(join(p, "notes.md"), "n");
        git(p, "add", "notes.md");
      },
      ["data/x.bin", "notes.md"],
    ],
  ])("rejects %s: LAB_FOREIGN_CHANGE, tree clean after", async (_name, change, files) => {
    const { lab, base, wt } = await labWithSlot();
    change(wt.path);
    let err: LabError | undefined;
    try {
      await lab.commitExperiment(wt, variant(9), "sneaky");
    } catch (e) {
      err = e as LabError;
    }
    expect(err?.code).toBe("LAB_FOREIGN_CHANGE");
    for (const f of files) expect(err!.message).toContain(f);
    expect(err!.message).toMatch(/only train\.ts may change/);
    expect(git(wt.path, "status", "--porcelain", "--ignored", "--untracked-files=all")).toBe("");
    expect(await lab.headCommit(wt)).toBe(base);
    expect(await lab.readTrainTs(wt)).toBe(TRAIN0);
    // The slot works on afterwards.
    const c = await lab.commitExperiment(wt, variant(10), "honest");
    expect(c.parent).toBe(base);
  });

  it("runs two slots' worktrees independently and in parallel", async () => {
    const lab = await freshLab();
    const base = (await lab.branchHead("main"))!;
    const a = await lab.startBranch("night", "alpha", base);
    const b = await lab.startBranch("night", "beta", base);
    const [wa, wb] = await Promise.all([lab.addWorktree(0, a.branch), lab.addWorktree(1, b.branch)]);
    expect(wa.path).toBe(resolve(lab.dir, ".worktrees", "slot-0"));
    expect(git(lab.dir, "status", "--porcelain")).toBe(""); // the .worktrees folder is ignored

    const advance = async (wt: Worktree, tag: string) => {
      const commits: string[] = [];
      for (let i = 0; i < 5; i++) {
        const c = await lab.commitExperiment(wt, variant(`${tag}${i}`), `${tag} ${i}`);
        if (i === 2) await lab.discard(wt, c.parent);
        else {
          await lab.keep(wt, c.commit);
          commits.push(c.commit);
        }
      }
      return commits;
    };
    const [ca, cb] = await Promise.all([advance(wa, "1"), advance(wb, "2")]);
    expect((await lab.branchLog(a.branch, { since: base })).map((e) => e.commit)).toEqual(ca.reverse());
    expect((await lab.branchLog(b.branch, { since: base })).map((e) => e.commit)).toEqual(cb.reverse());
    expect(await lab.readTrainTs(wa)).toBe(variant("14"));
    expect(await lab.readTrainTs(wb)).toBe(variant("24"));
    expect(readFileSync(join(lab.dir, "train.ts"), "utf8")).toBe(TRAIN0); // main is untouched

    const listed = await lab.worktrees();
    expect(listed.map((w) => [w.slot, w.branch, w.head])).toEqual([
      [0, a.branch, ca[0]],
      [1, b.branch, cb[0]],
    ]);
    expect(await lab.addWorktree(0, a.branch)).toEqual(wa); // same slot, same branch: reused
    await expectLabError(lab.addWorktree(2, a.branch), "LAB_BRANCH_BUSY", /slot-0/);
    await expectLabError(lab.addWorktree(0, b.branch), "LAB_SLOT_BUSY", /removeWorktree\(0\)/);
    await expectLabError(lab.addWorktree(3, "nightshift/night/nobody"), "LAB_NO_BRANCH");
    await expectLabError(lab.addWorktree(-1, a.branch), "LAB_INVALID_ARGUMENT");
    await expectLabError(lab.addWorktree(3, "feature/x"), "LAB_INVALID_ARGUMENT", /not a lab branch/);

    expect(await lab.removeWorktree(1)).toBe(true);
    expect(existsSync(wb.path)).toBe(false);
    expect(await lab.removeWorktree(1)).toBe(false);
    expect(await lab.branchHead(b.branch)).toBe(cb[0]); // the branch outlives its worktree
    expect((await lab.worktrees()).map((w) => w.slot)).toEqual([0]);
    expect(await lab.worktree(1)).toBeNull();
    const again = await lab.addWorktree(1, b.branch);
    expect(await lab.headCommit(again)).toBe(cb[0]);
  });

  it("rebuilds a slot folder left half-made", async () => {
    const lab = await freshLab();
    const { branch } = await lab.startBranch("t", "o", "main");
    // A folder git never registered (killed before `worktree add` wrote anything)...
    mkdirSync(join(lab.worktreesDir, "slot-3"), { recursive: true });
    writeFileSync(join(lab.worktreesDir, "slot-3", "junk"), "x");
    const wt = await lab.addWorktree(3, branch);
    expect(readdirSync(wt.path).sort()).toEqual([".git", ".gitignore", "README.md", "train.ts"]);
    // ...and one git registered but left locked ("initializing": killed during the checkout).
    git(lab.dir, "worktree", "lock", "--reason", "initializing", wt.path);
    unlinkSync(join(wt.path, "train.ts"));
    const again = await lab.addWorktree(3, branch);
    expect(readFileSync(join(again.path, "train.ts"), "utf8")).toBe(TRAIN0);
    expect((await lab.worktrees())[0]!.locked).toBe(false);
    // A slot whose folder was deleted by hand is recreated too.
    rmSync(wt.path, { recursive: true, force: true });
    await expectLabError(lab.recover(wt, (await lab.branchHead(branch))!), "LAB_INVALID_ARGUMENT", /addWorktree\(3/);
    expect((await lab.worktrees())[0]!.prunable).toBe(true);
    await lab.addWorktree(3, branch);
    expect(await lab.readTrainTs(wt)).toBe(TRAIN0);
  });

  it("measures a commit + discard and a commit + keep cycle", async () => {
    const { lab, wt } = await labWithSlot();
    const n = 20;
    let t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const c = await lab.commitExperiment(wt, variant(`d${i}`), `d ${i}`);
      await lab.discard(wt, c.parent);
    }
    const discardMs = (performance.now() - t0) / n;
    t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const c = await lab.commitExperiment(wt, variant(`k${i}`), `k ${i}`);
      await lab.keep(wt, c.commit);
    }
    const keepMs = (performance.now() - t0) / n;
    console.log(`lab timing: commit+discard ${discardMs.toFixed(1)} ms, commit+keep ${keepMs.toFixed(1)} ms (mean of ${n})`);
    expect(discardMs).toBeLessThan(2000);
  });
});

describe("recover", () => {
  it("cleans up a simulated crash: stale index.lock, dirty train.ts, untracked files, unrecorded commit", async () => {
    const { lab, wt, branch } = await labWithSlot();
    const kept = await lab.commitExperiment(wt, variant(1), "kept");
    await lab.keep(wt, kept.commit);
    // An experiment committed but never recorded (the process died right after the commit)...
    const lost = await lab.commitExperiment(wt, variant(2), "in flight");
    // ...then a half-done next step: a lock, a dirty train.ts, stray files.
    const gitDir = resolve(wt.path, git(wt.path, "rev-parse", "--git-dir").trim());
    writeFileSync(join(gitDir, "index.lock"), "");
    writeFileSync(join(wt.path, "train.ts"), "half written");
    writeFileSync(join(wt.path, ".train.ts.123.tmp"), "temp");
    mkdirSync(join(wt.path, "out"));
    writeFileSync(join(wt.path, "out", "ckpt.bin"), "x");
    // The lock really blocks git:
    await expectLabError(lab.discard(wt, kept.commit), "LAB_GIT", /index\.lock/);

    const fixed = await lab.recover(wt, kept.commit);
    expect(fixed.removedLocks).toEqual([".git/worktrees/slot-0/index.lock"]);
    expect(fixed.resetFrom).toBe(lost.commit);
    expect(fixed.reverted).toEqual(["train.ts"]);
    expect(fixed.removed.sort()).toEqual([".train.ts.123.tmp", "out/ckpt.bin"]);
    expect(fixed.reattached).toBe(false);

    expect(git(wt.path, "status", "--porcelain", "--ignored", "--untracked-files=all")).toBe("");
    expect(git(lab.dir, "rev-parse", branch).trim()).toBe(kept.commit);
    expect(await lab.readTrainTs(wt)).toBe(variant(1));
    git(lab.dir, "fsck", "--no-progress");
    expect(await lab.recover(wt, kept.commit)).toEqual({ removedLocks: [], resetFrom: null, reverted: [], removed: [], reattached: false });
    const next = await lab.commitExperiment(wt, variant(3), "next");
    expect(next.parent).toBe(kept.commit);
  });

  it("clears the ref lock a kill leaves on a run or slot branch, so creating and moving it works again", async () => {
    const lab = await freshLab();
    const base = (await lab.branchHead("main"))!;
    const refLock = (branch: string) => join(lab.dir, ".git", "refs", "heads", `${branch}.lock`);
    // Killed inside `git branch nightshift/lock/org`: the directories and the lock exist, the ref does not.
    mkdirSync(join(lab.dir, ".git", "refs", "heads", "nightshift", "lock"), { recursive: true });
    writeFileSync(refLock("nightshift/lock/org"), "");
    expect(git(lab.dir, "branch", "--no-track", "nightshift/other/x", base)).toBe(""); // unrelated branches still work
    const run = await lab.startBranch("lock", "org", base);
    expect(run.created).toBe(true);
    expect(existsSync(refLock(run.branch))).toBe(false);
    // Killed inside `git update-ref` of a keep: the next keep must still land.
    const wt = await lab.addSlot(0, run.branch);
    const c = await lab.commitExperiment(wt, variant(1), "one");
    writeFileSync(refLock(run.branch), "");
    await lab.advanceBranch(run.branch, base, c.commit);
    expect(await lab.branchHead(run.branch)).toBe(c.commit);
    writeFileSync(refLock(run.branch), "");
    await lab.removeWorktree(0);
    await lab.resetBranch(run.branch, base);
    expect(await lab.branchHead(run.branch)).toBe(base);
    git(lab.dir, "fsck", "--no-progress");
  });

  it("puts a detached HEAD back on the slot's branch", async () => {
    const { lab, base, wt, branch } = await labWithSlot();
    const c = await lab.commitExperiment(wt, variant(1), "one");
    git(wt.path, "checkout", "-q", "--detach", base);
    await expectLabError(lab.commitExperiment(wt, variant(2), "two"), "LAB_UNEXPECTED_HEAD", /recover/);
    const fixed = await lab.recover(wt, c.commit);
    expect(fixed.reattached).toBe(true);
    expect(git(wt.path, "symbolic-ref", "HEAD").trim()).toBe(`refs/heads/${branch}`);
    expect(await lab.headCommit(wt)).toBe(c.commit);
  });

  it("leaves a lock alone while a git process still works in the worktree", async () => {
    const { lab, base, wt } = await labWithSlot();
    const gitDir = resolve(wt.path, git(wt.path, "rev-parse", "--git-dir").trim());
    writeFileSync(join(gitDir, "index.lock"), "");
    // A live git with its cwd in the worktree: `cat-file --batch` waits on stdin until closed.
    const live = spawn("git", ["cat-file", "--batch"], { cwd: wt.path, stdio: ["pipe", "ignore", "ignore"] });
    try {
      await new Promise((r) => setTimeout(r, 100));
      await expectLabError(lab.recover(wt, base, { waitMs: 300 }), "LAB_BUSY", new RegExp(`git process ${live.pid}`));
      expect(existsSync(join(gitDir, "index.lock"))).toBe(true);
    } finally {
      live.stdin.end();
      await new Promise((r) => live.once("exit", r));
    }
    const fixed = await lab.recover(wt, base);
    expect(fixed.removedLocks.length).toBe(1);
    expect(existsSync(join(gitDir, "index.lock"))).toBe(false);
  });

  it("rejects a worktree that is not this lab's", async () => {
    const { lab, base, wt } = await labWithSlot();
    await expectLabError(lab.recover({ ...wt, path: "/tmp" }, base), "LAB_INVALID_ARGUMENT", /is not slot 0/);
    await expectLabError(lab.recover(wt, "0".repeat(40)), "LAB_UNKNOWN_COMMIT");
  });
});

describe("slots of one run", () => {
  it("gives each slot its own branch at the run's head; keeps land on the run branch by compare-and-swap", async () => {
    const lab = await freshLab();
    const base = (await lab.branchHead("main"))!;
    const { branch } = await lab.startBranch("t1", "org", base);
    const a = await lab.addSlot(0, branch);
    const b = await lab.addSlot(1, branch);
    expect([a.branch, b.branch]).toEqual(["nightshift-slots/t1/org/slot-0", "nightshift-slots/t1/org/slot-1"]);
    expect(git(a.path, "rev-parse", "HEAD").trim()).toBe(base);
    expect(await lab.runBranches()).toEqual([branch]); // slot branches are not runs

    // Both slots experiment on the same head at once; the first keep wins the run branch.
    const [ca, cb] = await Promise.all([lab.commitExperiment(a, variant(2), "a"), lab.commitExperiment(b, variant(3), "b")]);
    expect(ca.parent).toBe(base);
    expect(cb.parent).toBe(base);
    await lab.advanceBranch(branch, base, ca.commit);
    expect(await lab.branchHead(branch)).toBe(ca.commit);
    await expectLabError(lab.advanceBranch(branch, base, cb.commit), "LAB_UNEXPECTED_HEAD", /is at .*, not /);
    expect(await lab.branchHead(branch)).toBe(ca.commit); // left where it was
    await expectLabError(lab.advanceBranch(branch, cb.commit, ca.commit), "LAB_NOT_ANCESTOR");

    // The losing slot starts its next experiment from the new head.
    await lab.recover(b, ca.commit);
    expect(await lab.readTrainTs(b)).toBe(variant(2));
    expect(git(b.path, "status", "--porcelain")).toBe("");
  });

  it("resets a run branch to the recorded head, but not one a worktree holds", async () => {
    const lab = await freshLab();
    const base = (await lab.branchHead("main"))!;
    const { branch } = await lab.startBranch("t1", "org", base);
    const slot = await lab.addSlot(0, branch);
    const c = await lab.commitExperiment(slot, variant(2), "x");
    await lab.advanceBranch(branch, base, c.commit);
    await lab.resetBranch(branch, base); // a keep moved the branch but was never recorded
    expect(await lab.branchHead(branch)).toBe(base);
    expect(git(lab.dir, "cat-file", "-t", c.commit).trim()).toBe("commit"); // still reachable by hash

    const { branch: other } = await lab.startBranch("t2", "org", base);
    await lab.addWorktree(3, other);
    await expectLabError(lab.resetBranch(other, base), "LAB_BRANCH_BUSY", /checked out in/);
    await expectLabError(lab.resetBranch("main", base), "LAB_INVALID_ARGUMENT", /not a run branch/);
  });

  it("moves a slot off another branch it held (an older lab's slot on the run branch itself)", async () => {
    const { lab, branch, wt } = await labWithSlot(0);
    expect(wt.branch).toBe(branch);
    const slot = await lab.addSlot(0, branch);
    expect(slot.branch).toBe("nightshift-slots/t1/org/slot-0");
    expect(git(slot.path, "rev-parse", "--abbrev-ref", "HEAD").trim()).toBe(slot.branch);
    await expectLabError(lab.addSlot(0, "nightshift/t1/nope"), "LAB_NO_BRANCH");
    await expectLabError(lab.addWorktree(0, "nightshift-slots/t1/org/slot-x"), "LAB_INVALID_ARGUMENT", /not a lab branch/);
  });
});
