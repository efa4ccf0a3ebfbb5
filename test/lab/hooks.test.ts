/**
 * The lab never runs a program that someone with write access to the lab's .git planted there:
 * hooks in .git/hooks, or a hooks folder, fsmonitor or gpg program named in .git/config. Each
 * planted program only touches a marker file; the tests drive every Lab operation that runs git
 * and check that no marker appeared. A control test shows the same plants do run under plain git,
 * so an empty marker folder means the lab blocked them, not that the plants were broken.
 */
import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Lab } from "../../src/lab/index.ts";

const TRAIN0 = "export default async function train(ctx) {\n  const LR = 0.04;\n  return ctx;\n}\n";
const variant = (i: number) => TRAIN0.replace("0.04", `0.04 * ${i}`);

/** Hooks that git commands the lab runs (commit, checkout, reset, update-ref, worktree add, gc) would fire. */
const HOOKS = [
  "pre-commit",
  "prepare-commit-msg",
  "commit-msg",
  "post-commit",
  "post-checkout",
  "post-rewrite",
  "post-index-change",
  "reference-transaction",
  "pre-auto-gc",
];

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "nightshift-hooks-"));
});
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

/** The git CLI with the user's config shut out: the attacker's tool, and the control. */
function git(cwd: string, ...args: string[]): string {
  return execFileSync("git", args, {
    cwd,
    encoding: "utf8",
    env: { PATH: process.env.PATH ?? "", HOME: root, GIT_CONFIG_NOSYSTEM: "1", GIT_CONFIG_GLOBAL: "/dev/null" },
  });
}

/** An executable shell script that records its run as <markers>/<name> and exits with `exitCode`. */
function plantScript(path: string, markers: string, name: string, exitCode = 0): void {
  writeFileSync(path, `#!/bin/sh\ntouch '${join(markers, name)}'\nexit ${exitCode}\n`);
  chmodSync(path, 0o755);
}

let labCount = 0;
/** A fresh lab plus an empty marker folder for the programs planted in it. */
async function freshLab(): Promise<{ lab: Lab; base: string; markers: string }> {
  const n = ++labCount;
  const lab = await Lab.init(join(root, `lab-${n}`), { trainTs: TRAIN0, readme: "# a lab\n" });
  const markers = join(root, `markers-${n}`);
  mkdirSync(markers);
  return { lab, base: (await lab.branchHead("main"))!, markers };
}

/** Plants every hook of HOOKS in `dir` (the lab's .git/hooks, or a folder named by core.hooksPath). */
function plantHooks(dir: string, markers: string): void {
  mkdirSync(dir, { recursive: true });
  for (const hook of HOOKS) plantScript(join(dir, hook), markers, hook);
}

const ran = (markers: string) => readdirSync(markers).sort();

/**
 * Drives every Lab operation that runs git, checking after each that no planted program ran:
 * branches, worktrees (plain and slot), the commit / keep / discard chain, advanceBranch,
 * resetBranch, recover (also when it reattaches a detached HEAD), the read paths, removal.
 */
async function driveEveryOperation(lab: Lab, base: string, markers: string): Promise<void> {
  const step = async <T>(what: string, op: () => Promise<T>): Promise<T> => {
    const result = await op();
    expect(ran(markers), `programs the lab ran during ${what}`).toEqual([]);
    return result;
  };
  const { branch } = await step("startBranch", () => lab.startBranch("t1", "org", base));
  const wt = await step("addWorktree", () => lab.addWorktree(0, branch));
  const c1 = await step("commitExperiment", () => lab.commitExperiment(wt, variant(1), "experiment 1"));
  await step("keep", () => lab.keep(wt, c1.commit));
  const c2 = await step("commitExperiment", () => lab.commitExperiment(wt, variant(2), "experiment 2"));
  await step("discard", () => lab.discard(wt, c2.parent));
  await step("diff, trainTsAt, branchLog, headCommit", async () => {
    await lab.diff(base, c1.commit);
    await lab.trainTsAt(c2.commit);
    await lab.branchLog(branch);
    await lab.headCommit(wt);
  });
  await step("recover after a kill", async () => {
    writeFileSync(join(wt.path, "stray.txt"), "left by a killed run\n");
    writeFileSync(join(wt.path, "train.ts"), variant(9));
    return lab.recover(wt, c2.commit);
  });
  // Detach HEAD by hand, with the plants switched off so that this step records nothing.
  git(wt.path, "-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false", "checkout", "-q", "--detach", base);
  await step("recover of a detached HEAD", () => lab.recover(wt, c1.commit));

  const run = await step("startBranch", () => lab.startBranch("t2", "org", base));
  const slot = await step("addSlot", () => lab.addSlot(1, run.branch));
  const c3 = await step("commitExperiment", () => lab.commitExperiment(slot, variant(3), "experiment 3"));
  await step("advanceBranch", () => lab.advanceBranch(run.branch, base, c3.commit));
  await step("removeWorktree", () => lab.removeWorktree(1));
  await step("resetBranch", () => lab.resetBranch(run.branch, base));
  await step("Lab.open", () => Lab.open(lab.dir));
}

describe("lab git runs no hooks", () => {
  it("control: the planted hooks run under plain git", async () => {
    const { lab, markers } = await freshLab();
    plantHooks(join(lab.dir, ".git", "hooks"), markers);
    git(lab.dir, "commit", "-q", "--allow-empty", "-m", "by hand");
    git(lab.dir, "checkout", "-q", "-b", "by-hand");
    expect(ran(markers)).toEqual(expect.arrayContaining(["post-checkout", "post-commit", "pre-commit", "reference-transaction"]));
  });

  it("never runs a hook planted in the lab's .git/hooks", async () => {
    const { lab, base, markers } = await freshLab();
    plantHooks(join(lab.dir, ".git", "hooks"), markers);
    await driveEveryOperation(lab, base, markers);
  });
});

describe("lab git ignores programs named in the lab's .git/config", () => {
  it("ignores a core.hooksPath set by an attacker", async () => {
    const { lab, base, markers } = await freshLab();
    const planted = join(root, "planted-hooks");
    plantHooks(planted, markers);
    git(lab.dir, "config", "core.hooksPath", planted);
    await driveEveryOperation(lab, base, markers);
  });

  it("ignores a core.fsmonitor program set by an attacker", async () => {
    const { lab, base, markers } = await freshLab();
    const monitor = join(root, `fsmonitor-${labCount}`);
    plantScript(monitor, markers, "fsmonitor");
    git(lab.dir, "config", "core.fsmonitor", monitor);
    git(lab.dir, "status", "--porcelain");
    expect(ran(markers), "control: plain git status runs the planted fsmonitor").toEqual(["fsmonitor"]);
    rmSync(join(markers, "fsmonitor"));
    await driveEveryOperation(lab, base, markers);
  });

  it("ignores commit signing with a gpg.program set by an attacker", async () => {
    const { lab, base, markers } = await freshLab();
    const gpg = join(root, `gpg-${labCount}`);
    plantScript(gpg, markers, "gpg", 1);
    git(lab.dir, "config", "commit.gpgsign", "true");
    git(lab.dir, "config", "gpg.program", gpg);
    await driveEveryOperation(lab, base, markers);
  });
});
