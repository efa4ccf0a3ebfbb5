/**
 * Progress of a long prepare step, told three ways: cli-progress bars when stderr is a
 * terminal, plain periodic lines when it is not (logs, CI, a child process), nothing when
 * quiet. Narration goes to stderr so that stdout carries only the summary. Must not decide
 * anything about the data.
 */
import cliProgress from "cli-progress";

export interface ProgressTask {
  /** Adds `amount` units of work done. */
  advance(amount: number): void;
  /** Ends the task (also when it stopped early) and reports its duration. */
  done(): void;
}

export interface Progress {
  /** One line of narration. */
  note(line: string): void;
  /** A task with a known total amount of work, counted in `unit`. */
  task(label: string, total: number, unit: string): ProgressTask;
}

export type ProgressMode = "bars" | "lines" | "none";

export function progressMode(quiet: boolean): ProgressMode {
  if (quiet) return "none";
  return process.stderr.isTTY ? "bars" : "lines";
}

const silentTask: ProgressTask = { advance() {}, done() {} };

/** Seconds between two plain progress lines of one task. */
const LINE_INTERVAL_MS = 5000;

export function createProgress(mode: ProgressMode, write: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): Progress {
  if (mode === "none") return { note() {}, task: () => silentTask };
  if (mode === "lines") {
    return {
      note: write,
      task(label, total, unit) {
        const started = Date.now();
        let value = 0;
        let lastLine = started;
        write(`${label}: 0/${formatCount(total)} ${unit}`);
        return {
          advance(amount) {
            value += amount;
            const now = Date.now();
            if (now - lastLine >= LINE_INTERVAL_MS) {
              lastLine = now;
              const pct = total > 0 ? Math.floor((100 * value) / total) : 100;
              write(`${label}: ${formatCount(value)}/${formatCount(total)} ${unit} (${pct}%)`);
            }
          },
          done() {
            write(`${label}: ${formatCount(value)} ${unit} in ${formatSeconds((Date.now() - started) / 1000)}`);
          },
        };
      },
    };
  }
  return {
    note: write,
    task(label, total, unit) {
      const bar = new cliProgress.SingleBar(
        {
          format: `${label.padEnd(22)} [{bar}] {percentage}% | {done}/${formatCount(total)} ${unit} | {duration_formatted}`,
          stream: process.stderr,
          hideCursor: true,
          barsize: 30,
        },
        cliProgress.Presets.shades_classic,
      );
      bar.start(Math.max(total, 1), 0, { done: "0" });
      let value = 0;
      return {
        advance(amount) {
          value += amount;
          bar.update(value, { done: formatCount(value) });
        },
        done() {
          bar.update(Math.max(total, 1), { done: formatCount(value) });
          bar.stop();
        },
      };
    },
  };
}

export function formatCount(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

export function formatSeconds(seconds: number): string {
  return seconds < 10 ? `${seconds.toFixed(2)}s` : `${seconds.toFixed(1)}s`;
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}
