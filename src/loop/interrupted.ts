/**
 * Experiments abandoned in flight: recorded as skipped with one of these reasons, and counted by
 * nobody (not against a tournament grant, not in an agent's history). Defined once, here, so
 * that what the loop writes and what the tournament and the store's counts read cannot drift.
 */
import type { Experiment } from "../store/index.ts";

/** The prefix every interrupted reason starts with (the store counts by it in SQL). */
export const INTERRUPTED = "interrupted";
/** A training the user (or a failing slot) aborted. */
export const INTERRUPTED_BY_ABORT = `${INTERRUPTED} by the user`;
/** What a killed process left in flight, found by the next --resume. */
export const INTERRUPTED_BY_KILL = `${INTERRUPTED}: nightshift stopped while it was in flight`;

export function isInterrupted(e: Pick<Experiment, "status" | "reason">): boolean {
  return e.status === "skipped" && (e.reason ?? "").startsWith(INTERRUPTED);
}
