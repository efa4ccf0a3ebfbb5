/**
 * Finds the processes a test's children left behind, by what they touch rather than by who
 * their parent is: after a kill -9 an orphan is re-parented to init, so the process tree no
 * longer leads to it. A process "belongs" to a test directory when its command line names a
 * path under it or its working directory is under it. Linux only (/proc). Only
 * endTestProcesses signals anything, and only what its caller names: the process groups the
 * test started and the processes under the test's own directory.
 */
import { readFileSync, readdirSync, readlinkSync } from "node:fs";
import { sep } from "node:path";

export interface TestProcess {
  pid: number;
  /** The executable's short name (/proc/PID/comm): "node", "git", "sh", ... */
  comm: string;
  /** The command line, arguments joined by spaces (truncated to 300 characters). */
  cmdline: string;
}

/** Live (not zombie) processes, other than this one, whose command line or cwd is under `dir`. */
export function processesUnder(dir: string, marker?: string): TestProcess[] {
  const prefix = dir.endsWith(sep) ? dir : dir + sep;
  const found: TestProcess[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      // Field 3, after the parenthesised comm (which may itself hold spaces or parentheses).
      const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
      if (state === "Z" || state === "X") continue;
      const cmdline = readFileSync(`/proc/${name}/cmdline`, "utf8").split("\0").join(" ").trim();
      let cwd = "";
      try {
        cwd = readlinkSync(`/proc/${name}/cwd`);
      } catch {
        // Another user's process: its cwd is hidden, its command line still tells.
      }
      if (cmdline.includes(prefix) || cwd === dir || cwd.startsWith(prefix) || (marker !== undefined && cmdline.includes(marker)))
        found.push({ pid: Number(name), comm: readFileSync(`/proc/${name}/comm`, "utf8").trim(), cmdline: cmdline.slice(0, 300) });
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}

/**
 * Polls until no process is under `dir`; returns how long that took and what was there at the
 * first look. `stillThere` is non-empty when `timeoutMs` passed first.
 */
export async function waitUntilNoneUnder(
  dir: string,
  timeoutMs: number,
  marker?: string,
): Promise<{ first: TestProcess[]; goneAfterMs: number; stillThere: TestProcess[] }> {
  const t0 = Date.now();
  const first = processesUnder(dir, marker);
  let now = first;
  while (now.length > 0 && Date.now() - t0 < timeoutMs) {
    await new Promise((r) => setTimeout(r, 25));
    now = processesUnder(dir, marker);
  }
  return { first, goneAfterMs: Date.now() - t0, stillThere: now };
}

/**
 * Teardown for tests that start CLIs in their own process groups and kill them: SIGKILLs each
 * group in `groups` (by leader pid), then whatever is still under `dir` (orphans re-parented
 * to init after a kill). Processes already gone are skipped.
 */
export function endTestProcesses(groups: Iterable<number>, dir: string): void {
  const kill = (pid: number) => {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  };
  for (const leader of groups) kill(-leader);
  for (const p of processesUnder(dir)) kill(p.pid);
}
