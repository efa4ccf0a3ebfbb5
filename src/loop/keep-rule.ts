/**
 * The keep rule, as autoresearch's program.md states it and nightshift's adds to it: a run is
 * kept only when it is ok (within budget, finite) and its val_bpb is lower than the branch
 * head's by more than the org's simplicity threshold. A failed run is a crash.
 */
import type { RunResult } from "../harness/types.ts";

export interface Decision {
  status: "keep" | "discard" | "crash";
  reason?: string;
}

/** headBpb: the branch head's val_bpb (null before the baseline has been measured). */
export function decide(result: RunResult, headBpb: number | null, simplicityThreshold = 0): Decision {
  if (result.status !== "ok" || !result.summary) return { status: "crash", reason: result.error ?? `run ended ${result.status}` };
  const bpb = result.summary.val_bpb;
  if (headBpb === null) return { status: "keep" };
  if (bpb < headBpb - simplicityThreshold) return { status: "keep" };
  const bar = simplicityThreshold > 0 ? ` by more than ${simplicityThreshold}` : "";
  return { status: "discard", reason: `val_bpb ${bpb.toFixed(6)} is not below the head's ${headBpb.toFixed(6)}${bar}` };
}
