/**
 * Every child a run starts leads its own process group (spawned detached), so the whole group —
 * train.ts, anything it spawned — is killed together. This module remembers the live groups and
 * kills them when the parent exits or is interrupted, so no run outlives its runner. POSIX
 * semantics; on Windows only the child itself is killed.
 */
import { readdirSync, readFileSync } from "node:fs";

const liveGroups = new Set<number>();
const SIGNALS: readonly NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];
let exitHookInstalled = false;
let signalHooksInstalled = false;

/**
 * Sends `signal` to the process group led by `pid`; a group already gone is not an error.
 *
 * A SIGKILL first goes to the leader's direct children too. In a sandboxed run the leader is
 * bwrap, and its child is the sandbox's PID 1 in a session of its own (--new-session), so not in
 * the group. That child normally dies with bwrap (--die-with-parent), but a kill of bwrap in
 * the first milliseconds of its set-up left the sandbox running, orphaned (10 of 60 kills aimed
 * there). Killing the namespace's PID 1 ends every process in it, whatever bwrap had armed.
 */
export function killGroup(pid: number, signal: NodeJS.Signals): void {
  if (signal === "SIGKILL" && process.platform === "linux") for (const child of sessionsStartedBy(pid)) sendSignal(child, signal);
  sendSignal(process.platform === "win32" ? pid : -pid, signal);
}

/**
 * The direct children of `pid` that lead a session of their own (bwrap's PID 1), provided `pid`
 * still leads its group: a leader already reaped may have left its pid to an unrelated process,
 * whose children are none of this run's business.
 */
function sessionsStartedBy(pid: number): number[] {
  if (procStat(pid)?.pgrp !== pid) return [];
  return directChildren(pid).filter((child) => procStat(child)?.session === child);
}

/** Process group and session of `pid` from /proc/<pid>/stat (null when gone or unreadable). */
function procStat(pid: number): { pgrp: number; session: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // After "pid (comm) ": state ppid pgrp session …; comm may hold spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { pgrp: Number(fields[2]), session: Number(fields[3]) };
  } catch {
    return null;
  }
}

function sendSignal(target: number, signal: NodeJS.Signals): void {
  try {
    process.kill(target, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ESRCH") throw err;
  }
}

/** The pids `pid`'s threads have started and not yet lost (Linux /proc; empty when unreadable). */
function directChildren(pid: number): number[] {
  const children: number[] = [];
  try {
    for (const task of readdirSync(`/proc/${pid}/task`))
      for (const child of readFileSync(`/proc/${pid}/task/${task}/children`, "utf8").split(" "))
        if (/^\d+$/.test(child)) children.push(Number(child));
  } catch {
    // Gone already, or a kernel without /proc/<pid>/task/<tid>/children: the group kill remains.
  }
  return children;
}

/** True while a process with this pid exists (a zombie counts until it is reaped). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

function killAllNow(): void {
  for (const pid of liveGroups) killGroup(pid, "SIGKILL");
}

// The parent was interrupted. If nobody else listens for the signal, kill the runs and let the
// signal do what it would have done (end the process); if someone does, they own the shutdown
// and will abort runs (or exit, which the exit hook covers).
function onSignal(signal: NodeJS.Signals): void {
  if (process.listenerCount(signal) > 1) return;
  killAllNow();
  removeSignalHooks();
  process.kill(process.pid, signal);
}

function removeSignalHooks(): void {
  if (!signalHooksInstalled) return;
  for (const s of SIGNALS) process.off(s, onSignal);
  signalHooksInstalled = false;
}

export function trackGroup(pid: number): void {
  liveGroups.add(pid);
  if (!exitHookInstalled) {
    // 'exit' handlers must be synchronous: process.kill is.
    process.on("exit", killAllNow);
    exitHookInstalled = true;
  }
  if (!signalHooksInstalled) {
    for (const s of SIGNALS) process.on(s, onSignal);
    signalHooksInstalled = true;
  }
}

export function untrackGroup(pid: number): void {
  liveGroups.delete(pid);
  if (liveGroups.size === 0) removeSignalHooks();
}

/** Groups still tracked (for tests and diagnostics). */
export function liveGroupCount(): number {
  return liveGroups.size;
}
