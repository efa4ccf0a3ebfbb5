/**
 * Runs `bin/nightshift.js` as a real child process without blocking the test process — needed
 * when the test itself serves the CLI (the scripted LLM server must keep answering while the
 * child runs, which spawnSync would prevent). Collects stdout/stderr and the exit; stopAll()
 * ends whatever is still running (SIGTERM first, so the CLI's runner takes its training process
 * group down with it, then SIGKILL). Test support only.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const BIN = fileURLToPath(new URL("../../bin/nightshift.js", import.meta.url));

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Wall-clock time from spawn to exit. */
  ms: number;
}

export interface CliProcess {
  readonly child: ChildProcess;
  readonly done: Promise<CliResult>;
}

const live = new Set<ChildProcess>();

export function startCli(args: readonly string[], env: NodeJS.ProcessEnv): CliProcess {
  const started = Date.now();
  const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
  live.add(child);
  let stdout = "";
  let stderr = "";
  child.stdout!.setEncoding("utf8").on("data", (s: string) => (stdout += s));
  child.stderr!.setEncoding("utf8").on("data", (s: string) => (stderr += s));
  const done = new Promise<CliResult>((resolve, reject) => {
    child.once("error", reject);
    // "close", not "exit": both pipes are drained by then.
    child.once("close", (code, signal) => {
      live.delete(child);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started });
    });
  });
  return { child, done };
}

/** Ends every CLI process started here that is still running, and waits for each to go. */
export async function stopAll(graceMs = 5_000): Promise<void> {
  await Promise.all(
    [...live].map(async (child) => {
      const gone = new Promise<void>((resolve) => child.once("close", () => resolve()));
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      await gone;
      clearTimeout(timer);
    }),
  );
}
