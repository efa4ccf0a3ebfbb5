/**
 * The verification section of a run, from the store's verification records (runVerifications:
 * the latest verdict per claimed win) beside the naive keep rule, with the false keeps the
 * null model expects from noise alone (src/stats). Absent — undefined — until a run has been
 * verified, so the report shows the section exactly when there is something to show.
 */
import { naiveKeepsUnderNoise } from "../../stats/null-model.ts";
import type { Verification } from "../../store/index.ts";
import type { ExperimentRow, Interval, RunSection, VerdictRow, VerdictSection } from "../types.ts";

/**
 * The gain interval a verification recorded: `details.interval` = [lower, upper] of the mean
 * gain, at confidence 1 − 2·alpha (`details.alpha`), as src/verification/verify.ts writes them.
 * Anything else reads as no interval rather than a wrong one.
 */
export function gainInterval(v: Verification): Interval | null {
  const interval = v.details.interval;
  if (!Array.isArray(interval) || interval.length !== 2) return null;
  const [low, high] = interval;
  if (typeof low !== "number" || typeof high !== "number" || !Number.isFinite(low) || !Number.isFinite(high)) return null;
  const alpha = v.details.alpha;
  const level = typeof alpha === "number" && alpha > 0 && alpha < 0.5 ? 1 - 2 * alpha : Number.NaN;
  return { estimate: v.meanGain ?? (low + high) / 2, low, high, level };
}

/**
 * The run's verdicts from its verifications (the store's runVerifications), with the run's
 * every experiment row by id (a section's table may show only some of them).
 */
export function buildVerdicts(verifications: readonly Verification[], section: RunSection, byId: ReadonlyMap<number, ExperimentRow>): VerdictSection | undefined {
  if (verifications.length === 0) return undefined;
  const rows: VerdictRow[] = [];
  for (const v of verifications) {
    const e = byId.get(v.experimentId);
    if (!e) continue;
    rows.push({
      org: section.org.name,
      seq: e.seq,
      commit: v.commit.slice(0, 7),
      description: e.description,
      naiveKeep: e.status === "keep",
      verdict: v.verdict,
      meanGain: v.meanGain,
      gain: gainInterval(v),
      pAdjusted: v.pAdjusted,
      margin: typeof v.details.margin === "number" ? v.details.margin : null,
      reruns: v.seeds,
      reason: v.reason,
    });
  }
  const finished = section.counts.keep + section.counts.discard + section.counts.crash + section.counts.invalid;
  return {
    rows,
    naiveKeeps: section.keptTotal,
    verifiedKeeps: rows.filter((r) => r.verdict === "real").length,
    expectedFalseKeeps: finished > 0 ? naiveKeepsUnderNoise(finished).expected : null,
    noiseSd: null,
  };
}

/** The champion's test-split bpb, when its verification measured one. */
export function championTestBpb(verifications: readonly Verification[], championSeq: number, rows: readonly ExperimentRow[]): number | undefined {
  const experiment = rows.find((e) => e.seq === championSeq);
  const v = experiment && verifications.find((x) => x.experimentId === experiment.id);
  return v?.testBpb ?? undefined;
}
