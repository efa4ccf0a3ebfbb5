/**
 * kill -9 at random moments: a child process drives a loop of commitExperiment + keep/discard
 * on one slot and is killed with SIGKILL after a random delay, mid-git-command or not; the
 * parent then recovers the slot to the last head the child reported (what the store would have
 * recorded). After every trial `git status` is clean, the branch sits at that head, `git fsck`
 * passes and the kept commits still form one chain. Half the trials kill the whole process
 * group (git children die too and leave locks), half only the node process (its git children
 * finish as orphans, which recover must wait for).
 */
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Lab, type Recovery } from "../../src/lab/index.ts";

const TRIALS = 12;
const REPO_ROOT = resolve(import.meta.dirname, "..", "..");
const LAB_MODULE = pathToFileURL(join(REPO_ROOT, "src", "lab", "lab.ts")).href;

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "nightshift-crash-"));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

function git(cwd: string, ...args: string[]): string {
  return execFileSync("git", args, {
    cwd,
    encoding: "utf8",
    env: { PATH: process.env.PATH ?? "", HOME: root, GIT_CONFIG_NOSYSTEM: "1", GIT_CONFIG_GLOBAL: "/dev/null" },
  });
}

/** The child: commits forever, keeping even experiments and discarding odd ones, reporting each step. */
const childProgram = (dir: string, branch: string) => `
import { Lab } from ${JSON.stringify(LAB_MODULE)};
const lab = await Lab.open(${JSON.stringify(dir)});
const wt = await lab.addWorktree(0, ${JSON.stringify(branch)});
const say = (line) => process.stdout.write(line + "\\n");
say("ready");
for (let i = 0; ; i++) {
  const body = "export default async function train(ctx) { return ctx; }\\n// " + process.pid + " " + i + " " + Math.random() + "\\n" + "x".repeat(20000) + "\\n";
  const c = await lab.commitExperiment(wt, body, "experiment " + process.pid + "." + i);
  say("commit " + c.commit + " " + c.parent);
  if (i % 2 === 0) {
    await lab.keep(wt, c.commit);
    say("keep " + c.commit);
  } else {
    await lab.discard(wt, c.parent);
    say("discard " + c.parent);
  }
}
`;

interface Trial {
  killedAfterMs: number;
  group: boolean;
  reports: string[];
}

async function runAndKill(dir: string, branch: string, group: boolean, delayMs: number): Promise<Trial> {
  const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", childProgram(dir, branch)], {
    cwd: REPO_ROOT,
    detached: true, // its own process group, so the group kill reaches its git children too
    stdio: ["ignore", "pipe", "pipe"],
  });
  const reports: string[] = [];
  let stderr = "";
  let buffered = "";
  child.stderr.on("data", (d) => (stderr += d));
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  const ready = new Promise<void>((resolveReady, reject) => {
    child.stdout.on("data", (d: Buffer) => {
      buffered += d.toString();
      let nl: number;
      while ((nl = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (line === "ready") resolveReady();
        else reports.push(line);
      }
    });
    child.once("exit", (code) => reject(new Error(`child exited (${code}) before it was ready: ${stderr.slice(-2000)}`)));
  });
  await ready;
  await new Promise((r) => setTimeout(r, delayMs));
  process.kill(group ? -child.pid! : child.pid!, "SIGKILL");
  await exited;
  // Lines already written before the kill are still in the pipe: let them arrive.
  await new Promise((r) => setTimeout(r, 20));
  return { killedAfterMs: delayMs, group, reports };
}

describe("recover after kill -9", () => {
  it(`leaves the lab clean and consistent in ${TRIALS} random kills`, async () => {
    const lab = await Lab.init(join(root, "lab"), { trainTs: "export default async function train(ctx) { return ctx; }\n", readme: "# lab\n" });
    const base = (await lab.branchHead("main"))!;
    const { branch } = await lab.startBranch("crash", "org", base);
    const wt = await lab.addWorktree(0, branch);

    let recorded = base; // what a store would hold as the branch head
    const kept: string[] = [];
    const fixes: Recovery[] = [];
    let experiments = 0;
    for (let t = 0; t < TRIALS; t++) {
      const trial = await runAndKill(lab.dir, branch, t % 2 === 0, Math.floor(Math.random() * 600));
      for (const line of trial.reports) {
        const [kind, a, b] = line.split(" ");
        if (kind === "commit") {
          expect(b).toBe(recorded); // every experiment starts from the recorded head
          experiments++;
        } else if (kind === "keep") {
          recorded = a!;
          kept.push(a!);
        } else if (kind === "discard") {
          expect(a).toBe(recorded);
        }
      }
      const wtAgain = await lab.addWorktree(0, branch);
      expect(wtAgain).toEqual(wt);
      const fix = await lab.recover(wt, recorded);
      fixes.push(fix);

      expect(git(wt.path, "status", "--porcelain", "--ignored", "--untracked-files=all")).toBe("");
      expect(git(wt.path, "rev-parse", "HEAD").trim()).toBe(recorded);
      expect(git(lab.dir, "rev-parse", `refs/heads/${branch}`).trim()).toBe(recorded);
      git(lab.dir, "fsck", "--no-progress", "--strict");
    }

    // The kept experiments form one chain on the branch, in order, nothing else on it.
    const log = await lab.branchLog(branch, { since: base });
    expect(log.map((e) => e.commit)).toEqual([...kept].reverse());
    const after = await lab.commitExperiment(wt, "export const alive = true;\n", "after the storm");
    expect(after.parent).toBe(recorded);

    const count = (f: (r: Recovery) => boolean) => fixes.filter(f).length;
    console.log(
      `crash trials: ${TRIALS}, experiments reported ${experiments}, kept ${kept.length}; recoveries that ` +
        `removed locks ${count((r) => r.removedLocks.length > 0)}, reset an unrecorded head ${count((r) => r.resetFrom !== null)}, ` +
        `reverted files ${count((r) => r.reverted.length > 0)}, deleted untracked ${count((r) => r.removed.length > 0)}, ` +
        `reattached ${count((r) => r.reattached)}; locks: ${[...new Set(fixes.flatMap((r) => r.removedLocks))].join(", ") || "none"}`,
    );
  });
});
