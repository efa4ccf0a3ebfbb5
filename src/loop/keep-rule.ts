/**
 * The keep rule, as autoresearch's program.md states it and nightshift's adds to it: a run is
 * kept only when it is ok (within budget, finite) and its val_bpb is lower than the branch
 * head's by more than the org's simplicity threshold. A failed run is a crash, except one the
 * trusted evaluator found invalid (see decide).
 */
import type { RunResult } from "../harness/types.ts";

export interface Decision {
  status: "keep" | "discard" | "crash" | "invalid";
  reason?: string;
}

/**
 * headBpb: the branch head's val_bpb (null before the baseline has been measured).
 *
 * An invalid run (the evaluator's probes caught its logits looking ahead at future tokens, or
 * changing when the same rows were sent again) gets its own status rather than "crash": a crash
 * is a bug the loop asks the agent to fix, while an invalid model trained and evaluated fine and
 * cheated. Fixing it would mean helping it cheat less visibly, so it is a discarded attempt with
 * the probe's evidence as its reason; whatever val_bpb it claims is never looked at.
 */
export function decide(result: RunResult, headBpb: number | null, simplicityThreshold = 0): Decision {
  if (result.status === "invalid") return { status: "invalid", reason: result.error ?? "the evaluator's probes found the model invalid" };
  if (result.status !== "ok" || !result.summary) return { status: "crash", reason: result.error ?? `run ended ${result.status}` };
  const bpb = result.summary.val_bpb;
  if (headBpb === null) return { status: "keep" };
  if (bpb < headBpb - simplicityThreshold) return { status: "keep" };
  const bar = simplicityThreshold > 0 ? ` by more than ${simplicityThreshold}` : "";
  return { status: "discard", reason: `val_bpb ${bpb.toFixed(6)} is not below the head's ${headBpb.toFixed(6)}${bar}` };
}
