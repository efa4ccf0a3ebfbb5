/**
 * autoresearch's summary block: printed by the child after evaluation, parsed back by anyone
 * who only has the log (`grep "^val_bpb:" run.log`). The numbers in RunResult.summary are the
 * unrounded ones; the block rounds as autoresearch's train.py does.
 */
import type { RunSummary } from "../types.ts";

const FIELDS: readonly { key: keyof RunSummary; digits: number }[] = [
  { key: "val_bpb", digits: 6 },
  { key: "training_seconds", digits: 1 },
  { key: "total_seconds", digits: 1 },
  { key: "peak_vram_mb", digits: 1 },
  { key: "mfu_percent", digits: 2 },
  { key: "total_tokens_M", digits: 1 },
  { key: "num_steps", digits: 0 },
  { key: "num_params_M", digits: 1 },
  { key: "depth", digits: 0 },
];

/** The block, starting with its `---` line, without a trailing newline. */
export function formatSummary(summary: RunSummary): string {
  const lines = ["---"];
  for (const { key, digits } of FIELDS) lines.push(`${`${key}:`.padEnd(18)}${summary[key].toFixed(digits)}`);
  return lines.join("\n");
}

/** The last complete summary block in a log, or null when there is none. */
export function parseSummary(log: string): RunSummary | null {
  const lines = log.split(/\r?\n/);
  for (let start = lines.lastIndexOf("---"); start >= 0; start = lines.lastIndexOf("---", start - 1)) {
    const found: Partial<Record<keyof RunSummary, number>> = {};
    for (const line of lines.slice(start + 1, start + 1 + FIELDS.length)) {
      const m = /^(\w+):\s+(\S+)$/.exec(line);
      if (!m) break;
      const value = Number(m[2]);
      if (FIELDS.some((f) => f.key === m[1])) found[m[1] as keyof RunSummary] = value;
    }
    if (FIELDS.every((f) => found[f.key] !== undefined)) return found as RunSummary;
    if (start === 0) break;
  }
  return null;
}
