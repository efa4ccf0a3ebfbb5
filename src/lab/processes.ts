/**
 * "Is a git process still working in this directory?" — asked before recover deletes a lock
 * file, because a lock held by a live git is not stale: deleting it would let two writers race.
 * Read-only: it never signals or waits on any process.
 */
import { execFile } from "node:child_process";
import { readFileSync, readdirSync, readlinkSync } from "node:fs";
import { sep } from "node:path";

/**
 * PIDs of live git processes whose working directory is `dir` or below it. On Linux it reads
 * /proc (precise: a git working in another lab, or a zombie left by a killed parent, does not
 * count). Elsewhere it cannot see working directories, so it conservatively reports every live
 * git process on the machine.
 */
export async function gitProcessesIn(dir: string): Promise<number[]> {
  if (process.platform === "linux") return linuxGitProcessesIn(dir);
  return anyGitProcess();
}

function linuxGitProcessesIn(dir: string): number[] {
  const found: number[] = [];
  let pids: string[];
  try {
    pids = readdirSync("/proc").filter((name) => /^\d+$/.test(name));
  } catch {
    return [];
  }
  const prefix = dir.endsWith(sep) ? dir : dir + sep;
  for (const pid of pids) {
    try {
      const comm = readFileSync(`/proc/${pid}/comm`, "utf8").trim();
      // git re-executes itself for some commands (git-upload-pack, git-remote-http, ...).
      if (comm !== "git" && !comm.startsWith("git-")) continue;
      // Field 3 of /proc/PID/stat is the state; a zombie (Z) or dead (X) process holds nothing.
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
      if (state === "Z" || state === "X") continue;
      const cwd = readlinkSync(`/proc/${pid}/cwd`);
      if (cwd === dir || cwd.startsWith(prefix)) found.push(Number(pid));
    } catch {
      // The process ended while we looked, or belongs to another user: it holds nothing of ours
      // that we could see either way.
    }
  }
  return found;
}

function anyGitProcess(): Promise<number[]> {
  return new Promise((resolve) => {
    execFile("ps", ["-A", "-o", "pid=,comm="], (err, stdout) => {
      if (err) return resolve([]);
      const pids: number[] = [];
      for (const line of stdout.split("\n")) {
        const m = /^\s*(\d+)\s+(.*)$/.exec(line);
        if (m && /(^|\/)git(-[\w-]+)?$/.test(m[2]!.trim()) && Number(m[1]) !== process.pid) pids.push(Number(m[1]));
      }
      resolve(pids);
    });
  });
}
