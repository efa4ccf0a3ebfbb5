/**
 * Which experiments of a run claim a win. The baseline measures the unchanged train.ts and sets
 * the bar; it is the run's first kept experiment — nothing can be kept before the bar exists,
 * and a failed baseline ends the run — but not always its first experiment: a baseline cut
 * short by a kill is recorded as skipped and measured again on resume, with the next seq.
 * Every keep after it is a claim.
 */
import type { ExperimentBrief } from "../store/index.ts";

type Kept = Pick<ExperimentBrief, "id" | "status" | "seq">;

/** The run's baseline: its first kept experiment (undefined before one was kept). */
export function baselineOf<E extends Kept>(experiments: readonly E[]): E | undefined {
  let first: E | undefined;
  for (const e of experiments) if (e.status === "keep" && (first === undefined || e.seq < first.seq)) first = e;
  return first;
}

/** The claims of a run: its kept experiments after the baseline, in order. */
export function claimsOf<E extends Kept>(experiments: readonly E[]): E[] {
  const baseline = baselineOf(experiments);
  return experiments.filter((e) => e.status === "keep" && e.id !== baseline?.id).sort((a, b) => a.seq - b.seq);
}
