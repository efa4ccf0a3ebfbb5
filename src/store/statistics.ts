/**
 * The statistics records: measurements (one training of one commit with one seed, recorded
 * when it ends, so that verification survives a kill and reuses what it already measured),
 * noise floors, and verification verdicts of claimed wins. Conclusions only: the statistics
 * themselves are computed in src/stats.
 */
import type { RunStatus } from "../harness/types.ts";
import type { StoreContext } from "./context.ts";
import { StoreError, checkKeys, invalid } from "./errors.ts";
import type { JsonValue } from "./secrets.ts";
import type { Measurement, MeasurementKey, NewMeasurement, NewNoiseFloor, NewVerification, NoiseFloor, Verdict, Verification } from "./types.ts";
import { checkCommit, checkCount, checkId, checkOneOf, checkSeed, checkText, show } from "./validate.ts";

const OUTCOMES: readonly RunStatus[] = ["ok", "crash", "timeout", "over-budget", "non-finite", "out-of-memory", "invalid"];
const VERDICTS: readonly Verdict[] = ["real", "noise", "negligible", "inconclusive", "flagged"];
const KEY_FIELDS = ["commit", "profile", "timeBudget", "deviceKind", "dataset"] as const;

function checkKey(where: string, key: MeasurementKey): void {
  checkCommit(where, "commit", key.commit);
  checkText(where, "profile", key.profile, { nonEmpty: true });
  finite(where, "timeBudget", key.timeBudget, { positive: true });
  checkText(where, "deviceKind", key.deviceKind, { nonEmpty: true });
  checkText(where, "dataset", key.dataset, { nonEmpty: true });
}

function finite(where: string, name: string, value: unknown, { positive = false } = {}): number {
  if (typeof value !== "number" || !Number.isFinite(value) || (positive && value <= 0))
    invalid(`${where}: ${name} must be a finite${positive ? " positive" : ""} number, got ${show(value)}`);
  return value;
}

const optional = (where: string, name: string, value: unknown): number | null => (value === undefined ? null : finite(where, name, value));

// ---- measurements ----------------------------------------------------------------------------

interface MeasurementRow {
  id: number;
  commit_hash: string;
  seed: number;
  profile: string;
  time_budget: number;
  device_kind: string;
  dataset: string;
  purpose: string;
  outcome: string;
  val_bpb: number | null;
  test_bpb: number | null;
  training_seconds: number | null;
  num_steps: number | null;
  error: string | null;
  log_path: string | null;
  created_at: string;
  sandboxed: number | null;
  session: string | null;
  tokens_per_second: number | null;
}

const toMeasurement = (r: MeasurementRow): Measurement => ({
  id: r.id,
  commit: r.commit_hash,
  seed: r.seed,
  profile: r.profile as Measurement["profile"],
  timeBudget: r.time_budget,
  deviceKind: r.device_kind,
  dataset: r.dataset,
  purpose: r.purpose as Measurement["purpose"],
  outcome: r.outcome as RunStatus,
  valBpb: r.val_bpb,
  testBpb: r.test_bpb,
  trainingSeconds: r.training_seconds,
  numSteps: r.num_steps,
  error: r.error,
  logPath: r.log_path,
  createdAt: r.created_at,
  sandboxed: r.sandboxed === null ? null : r.sandboxed === 1,
  session: r.session,
  tokensPerSecond: r.tokens_per_second,
});

export function recordMeasurement(ctx: StoreContext, m: NewMeasurement): Measurement {
  const where = "recordMeasurement";
  checkKeys(where, m, [...KEY_FIELDS, "seed", "purpose", "outcome", "valBpb", "testBpb", "trainingSeconds", "numSteps", "error", "logPath", "sandboxed", "session", "tokensPerSecond"]);
  checkKey(where, m);
  checkSeed(where, m.seed);
  checkOneOf(where, "purpose", m.purpose, ["noise", "verify"]);
  checkOneOf(where, "outcome", m.outcome, OUTCOMES);
  if ((m.outcome === "ok") !== (m.valBpb !== undefined)) invalid(`${where}: valBpb is given exactly when the outcome is "ok"`);
  if (m.outcome !== "ok" && !m.error) invalid(`${where}: a failed measurement needs its error`);
  const values = [optional(where, "valBpb", m.valBpb), optional(where, "testBpb", m.testBpb), optional(where, "trainingSeconds", m.trainingSeconds)];
  const steps = m.numSteps === undefined ? null : checkCount(where, "numSteps", m.numSteps);
  if (m.sandboxed !== undefined && typeof m.sandboxed !== "boolean") invalid(`${where}: sandboxed must be a boolean, got ${show(m.sandboxed)}`);
  const sandboxed = m.sandboxed === undefined ? null : m.sandboxed ? 1 : 0;
  const session = m.session === undefined ? null : checkText(where, "session", m.session, { nonEmpty: true });
  const tokensPerSecond = m.tokensPerSecond === undefined ? null : finite(where, "tokensPerSecond", m.tokensPerSecond);
  if (tokensPerSecond !== null && tokensPerSecond < 0) invalid(`${where}: tokensPerSecond must be ≥ 0, got ${tokensPerSecond}`);
  return ctx.write(where, () =>
    toMeasurement(
      ctx
        .stmt(
          `INSERT INTO measurements (commit_hash, seed, profile, time_budget, device_kind, dataset, purpose, outcome,
             val_bpb, test_bpb, training_seconds, num_steps, error, log_path, created_at, sandboxed, session, tokens_per_second)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *`,
        )
        .get(
          m.commit, m.seed, m.profile, m.timeBudget, m.deviceKind, m.dataset, m.purpose, m.outcome,
          ...values, steps, ctx.redactor.text(m.error ?? null), m.logPath ?? null, ctx.now(), sandboxed, session, tokensPerSecond,
        ) as MeasurementRow,
    ),
  );
}

/** Every measurement made under `key`, oldest first (any seed, any purpose). */
export function findMeasurements(ctx: StoreContext, key: MeasurementKey): Measurement[] {
  checkKey("findMeasurements", key);
  return (
    ctx
      .stmt(
        `SELECT * FROM measurements WHERE commit_hash = ? AND profile = ? AND time_budget = ? AND device_kind = ? AND dataset = ?
         ORDER BY id`,
      )
      .all(key.commit, key.profile, key.timeBudget, key.deviceKind, key.dataset) as MeasurementRow[]
  ).map(toMeasurement);
}

// ---- noise floors ----------------------------------------------------------------------------

interface NoiseFloorRow {
  id: number;
  commit_hash: string;
  profile: string;
  time_budget: number;
  device_kind: string;
  dataset: string;
  seeds: number;
  mean: number;
  sd: number;
  mde: number;
  created_at: string;
}

const toNoiseFloor = (r: NoiseFloorRow): NoiseFloor => ({
  id: r.id,
  commit: r.commit_hash,
  profile: r.profile as NoiseFloor["profile"],
  timeBudget: r.time_budget,
  deviceKind: r.device_kind,
  dataset: r.dataset,
  seeds: r.seeds,
  mean: r.mean,
  sd: r.sd,
  mde: r.mde,
  createdAt: r.created_at,
});

export function recordNoiseFloor(ctx: StoreContext, n: NewNoiseFloor): NoiseFloor {
  const where = "recordNoiseFloor";
  checkKeys(where, n, [...KEY_FIELDS, "seeds", "mean", "sd", "mde"]);
  checkKey(where, n);
  if (!Number.isSafeInteger(n.seeds) || n.seeds < 2) invalid(`${where}: seeds must be an integer >= 2, got ${show(n.seeds)}`);
  const [mean, sd, mde] = [finite(where, "mean", n.mean), finite(where, "sd", n.sd), finite(where, "mde", n.mde)];
  if (sd < 0 || mde < 0) invalid(`${where}: sd and mde must be >= 0`);
  return ctx.write(where, () =>
    toNoiseFloor(
      ctx
        .stmt(
          `INSERT INTO noise_floors (commit_hash, profile, time_budget, device_kind, dataset, seeds, mean, sd, mde, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *`,
        )
        .get(n.commit, n.profile, n.timeBudget, n.deviceKind, n.dataset, n.seeds, mean, sd, mde, ctx.now()) as NoiseFloorRow,
    ),
  );
}

/** The latest noise floor measured under the same conditions (any commit), if any. */
export function latestNoiseFloor(ctx: StoreContext, key: Omit<MeasurementKey, "commit">): NoiseFloor | undefined {
  const row = ctx
    .stmt(
      `SELECT * FROM noise_floors WHERE profile = ? AND time_budget = ? AND device_kind = ? AND dataset = ?
       ORDER BY id DESC LIMIT 1`,
    )
    .get(key.profile, key.timeBudget, key.deviceKind, key.dataset) as NoiseFloorRow | undefined;
  return row && toNoiseFloor(row);
}

// ---- verifications ---------------------------------------------------------------------------

interface VerificationRow {
  id: number;
  experiment_id: number;
  parent_commit: string;
  commit_hash: string;
  verdict: string;
  seeds: number;
  mean_gain: number | null;
  p_value: number | null;
  p_adjusted: number | null;
  test_bpb: number | null;
  parent_test_bpb: number | null;
  reason: string;
  details_json: string;
  created_at: string;
}

const toVerification = (r: VerificationRow): Verification => ({
  id: r.id,
  experimentId: r.experiment_id,
  parentCommit: r.parent_commit,
  commit: r.commit_hash,
  verdict: r.verdict as Verdict,
  seeds: r.seeds,
  meanGain: r.mean_gain,
  pValue: r.p_value,
  pAdjusted: r.p_adjusted,
  testBpb: r.test_bpb,
  parentTestBpb: r.parent_test_bpb,
  reason: r.reason,
  details: JSON.parse(r.details_json) as { [key: string]: JsonValue },
  createdAt: r.created_at,
});

const probability = (where: string, name: string, v: unknown): number | null => {
  if (v === undefined) return null;
  const p = finite(where, name, v);
  if (p < 0 || p > 1) invalid(`${where}: ${name} must be in [0, 1], got ${show(v)}`);
  return p;
};

export function recordVerification(ctx: StoreContext, v: NewVerification): Verification {
  const where = "recordVerification";
  checkKeys(where, v, ["experimentId", "parentCommit", "commit", "verdict", "seeds", "meanGain", "pValue", "pAdjusted", "testBpb", "parentTestBpb", "reason", "details"]);
  checkId(where, "experimentId", v.experimentId);
  checkCommit(where, "parentCommit", v.parentCommit);
  checkCommit(where, "commit", v.commit);
  checkOneOf(where, "verdict", v.verdict, VERDICTS);
  checkCount(where, "seeds", v.seeds);
  checkText(where, "reason", v.reason, { nonEmpty: true });
  const numbers = [optional(where, "meanGain", v.meanGain), probability(where, "pValue", v.pValue), probability(where, "pAdjusted", v.pAdjusted), optional(where, "testBpb", v.testBpb), optional(where, "parentTestBpb", v.parentTestBpb)];
  let details: string;
  try {
    details = JSON.stringify(v.details ?? {});
  } catch (err) {
    invalid(`${where}: details must be JSON: ${(err as Error).message}`);
  }
  return ctx.write(where, () => {
    if (!ctx.stmt("SELECT 1 FROM experiments WHERE id = ?").get(v.experimentId))
      throw new StoreError("STORE_UNKNOWN_EXPERIMENT", `${where}: no experiment ${v.experimentId}`);
    return toVerification(
      ctx
        .stmt(
          `INSERT INTO verifications (experiment_id, parent_commit, commit_hash, verdict, seeds, mean_gain, p_value, p_adjusted,
             test_bpb, parent_test_bpb, reason, details_json, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *`,
        )
        .get(v.experimentId, v.parentCommit, v.commit, v.verdict, v.seeds, ...numbers, ctx.redactor.text(v.reason), details, ctx.now()) as VerificationRow,
    );
  });
}

/** The latest verification of each experiment of a run that has one, in experiment order. */
export function runVerifications(ctx: StoreContext, runId: number): Verification[] {
  checkId("runVerifications", "runId", runId);
  return (
    ctx
      .stmt(
        `SELECT v.* FROM verifications v JOIN experiments e ON e.id = v.experiment_id
         WHERE e.run_id = ? AND v.id = (SELECT max(id) FROM verifications WHERE experiment_id = v.experiment_id)
         ORDER BY e.seq`,
      )
      .all(runId) as VerificationRow[]
  ).map(toVerification);
}

/** runVerifications of several runs in one statement, by run (in the order given) then seq. */
export function verificationsOfRuns(ctx: StoreContext, runIds: readonly number[]): Verification[] {
  if (!Array.isArray(runIds)) invalid(`verificationsOfRuns: runIds must be an array of ids, got ${show(runIds)}`);
  const ids = [...new Set(runIds.map((id, i) => checkId("verificationsOfRuns", `runIds[${i}]`, id)))];
  if (ids.length === 0) return [];
  const order = new Map(ids.map((id, i) => [id, i]));
  const rows = ctx
    .stmt(
      `SELECT v.*, e.run_id AS run_id_, e.seq AS seq_ FROM verifications v JOIN experiments e ON e.id = v.experiment_id
       WHERE e.run_id IN (SELECT value FROM json_each(?)) AND v.id = (SELECT max(id) FROM verifications WHERE experiment_id = v.experiment_id)`,
    )
    .all(JSON.stringify(ids)) as (VerificationRow & { run_id_: number; seq_: number })[];
  rows.sort((a, b) => order.get(a.run_id_)! - order.get(b.run_id_)! || a.seq_ - b.seq_);
  return rows.map(toVerification);
}
