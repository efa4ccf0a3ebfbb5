/**
 * "k of N" and the time left, for the lines a long command prints as it goes (run, tournament):
 * the estimate is the mean seconds per item done so far in this invocation times the items
 * left. No estimate before the first item is done, nor once all are.
 */
export class ProgressCounter {
  private done = 0;
  private readonly startedAt: number;

  /** `already`: items done by an earlier invocation (a resume): counted, but not in the rate. */
  constructor(
    private readonly total: number | undefined,
    private readonly already = 0,
    private readonly now: () => number = Date.now,
  ) {
    this.startedAt = now();
  }

  /** Counts one item done; returns "k/N, ~3m left" (or "k" without a total). */
  tick(): string {
    this.done++;
    return this.describe();
  }

  describe(): string {
    const count = this.already + this.done;
    if (this.total === undefined) return `${count}`;
    const left = this.total - count;
    const eta = this.done > 0 && left > 0 ? `, ~${formatDuration(((this.now() - this.startedAt) / this.done) * left)} left` : "";
    return `${count}/${this.total}${eta}`;
  }
}

/** 45s, 3m05s, 2h10m: what a person reads at a glance. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`;
}
