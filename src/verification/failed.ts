/**
 * What a failed rerun of a claim says about it. Pure: no training, no store. A rerun the
 * trusted evaluator found invalid (the model's logits looked ahead at future tokens, or changed
 * when the same rows were sent again) flags the claim, since a model that cheats under
 * measurement has no gain to credit; any other failure (a crash, a timeout) stops the reruns
 * with the claim inconclusive, since nothing is known against it.
 */
import type { Measurement } from "../store/index.ts";

export type RerunFailure = { verdict: "flagged" | "inconclusive"; reason: string };

type Rerun = Pick<Measurement, "outcome" | "error">;

/** null when both trainings of the seed are ok; else the claim's verdict and why. */
export function rerunFailure(parent: Rerun, candidate: Rerun, seed: number): RerunFailure | null {
  const name = (m: Rerun) => (m === candidate ? "the candidate" : "the parent");
  // The candidate first: it is the claim under test. A cheating parent flags it too: the
  // candidate is built on the parent's code, and a gain against a cheat measures nothing.
  const cheat = [candidate, parent].find((m) => m.outcome === "invalid");
  if (cheat)
    return {
      verdict: "flagged",
      reason: `not credited: the rerun of ${name(cheat)} at seed ${seed} was invalid (the evaluator's probes caught the model cheating): ${cheat.error ?? "no evidence recorded"}`,
    };
  const failed = [parent, candidate].find((m) => m.outcome !== "ok");
  if (failed) return { verdict: "inconclusive", reason: `the rerun of ${name(failed)} at seed ${seed} failed (${failed.outcome}): ${failed.error ?? ""}`.trim() };
  return null;
}
