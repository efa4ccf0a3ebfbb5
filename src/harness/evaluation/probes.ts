/**
 * Probes that make a cheating model visible, planned and judged by the trusted evaluator:
 *
 * - causality: a scored row is sent again with every token after a random cut replaced by the
 *   same positions of another scored row (real text, spliced). The logits at positions up to the
 *   cut must not change: if they do, the model looked at tokens it is asked to predict.
 * - statelessness: a scored row is sent again, later, in another batch at another slot. Its
 *   logits must not change: a model that answers differently the second time (caches, counts
 *   calls, learns from what it is shown) is not a function of its input.
 *
 * Probe rows travel in probe batches that look like scored ones (B rows of real text, same
 * shape), placed at random points of the schedule, so the model cannot tell when it is watched.
 * The randomness comes from the trusted process; the model never sees it. Pure: no I/O.
 */
import type { EvalBatch } from "./score.ts";

export type ProbeKind = "causality" | "statelessness";

/** One row of a probe batch: which scored row it re-sends and which positions are compared. */
export interface ProbeRow {
  kind: ProbeKind;
  /** The scored row it is compared with. */
  source: { batch: number; row: number };
  /** causality: the last position kept from the source row (tokens after it are replaced). */
  cut: number;
  /** Positions whose logits are compared (ascending). */
  positions: number[];
}

export interface ProbeBatch {
  ids: Int32Array;
  rows: ProbeRow[];
}

/** A request of the evaluation schedule: a scored batch or a probe batch, by index. */
export type ScheduledBatch = { kind: "scored"; index: number } | { kind: "probe"; index: number };

export interface ProbePlan {
  probes: ProbeBatch[];
  /** Every scored and probe batch, in the order they are sent. */
  order: ScheduledBatch[];
}

export interface ProbePlanOptions {
  batchSize: number;
  seqLen: number;
  /** Probe batches to add. Default: one per 16 scored batches, at least 2. */
  probeBatches?: number;
  /** Positions compared per probe row (the cut and the one before it always among them). */
  positionsPerRow?: number;
  /** Uniform in [0, 1): the trusted process's randomness (crypto-seeded in production). */
  random: () => number;
}

export const DEFAULT_POSITIONS_PER_ROW = 16;

export function defaultProbeBatches(scoredBatches: number): number {
  return Math.max(2, Math.ceil(scoredBatches / 16));
}

function randomInt(random: () => number, n: number): number {
  return Math.min(n - 1, Math.floor(random() * n));
}

function sortedUnique(values: number[]): number[] {
  return [...new Set(values)].sort((a, b) => a - b);
}

/** `count` distinct positions in [0, last], always including `must` (those within range). */
function samplePositions(random: () => number, last: number, count: number, must: number[]): number[] {
  const picked = new Set(must.filter((p) => p >= 0 && p <= last));
  const target = Math.min(count, last + 1);
  while (picked.size < target) picked.add(randomInt(random, last + 1));
  return sortedUnique([...picked]);
}

/**
 * Tokens cut+1..T-1 of another scored row (any batch, not the source row), preferring one whose
 * first replaced token differs from the source's, so a model that peeks one token ahead moves.
 * With a single row to draw from, the source's own tail reversed.
 */
function continuation(scored: readonly EvalBatch[], B: number, T: number, source: number, cut: number, random: () => number): Int32Array {
  const rowsTotal = scored.length * B;
  const rowIds = (k: number): Int32Array => scored[Math.floor(k / B)]!.ids.subarray((k % B) * T, (k % B + 1) * T);
  const own = rowIds(source);
  if (rowsTotal < 2) return own.slice(cut + 1).reverse();
  let pick = -1;
  for (let attempt = 0; attempt < 8; attempt++) {
    let k = randomInt(random, rowsTotal - 1);
    if (k >= source) k += 1;
    pick = k;
    if (rowIds(k)[cut + 1] !== own[cut + 1]) break;
  }
  return rowIds(pick).slice(cut + 1);
}

/**
 * Plans the probe batches for `scored` and where they go in the schedule. Each probe batch
 * goes after at least one scored batch; its statelessness rows re-send rows of scored batches
 * sent before it, its causality rows splice rows of any scored batch (sent before or after it).
 */
export function planProbes(scored: readonly EvalBatch[], options: ProbePlanOptions): ProbePlan {
  const { batchSize: B, seqLen: T, random } = options;
  const S = scored.length;
  const count = options.probeBatches ?? defaultProbeBatches(S);
  const perRow = options.positionsPerRow ?? DEFAULT_POSITIONS_PER_ROW;
  // Insertion points: probe j is sent right after scored batch after[j] (0-based).
  const after = Array.from({ length: count }, () => randomInt(random, S)).sort((a, b) => a - b);
  const probes: ProbeBatch[] = [];
  for (let j = 0; j < count; j++) {
    const ids = new Int32Array(B * T);
    const rows: ProbeRow[] = [];
    for (let r = 0; r < B; r++) {
      const kind: ProbeKind = random() < 0.5 ? "causality" : "statelessness";
      if (kind === "statelessness") {
        const batch = randomInt(random, after[j]! + 1);
        const row = randomInt(random, B);
        ids.set(scored[batch]!.ids.subarray(row * T, (row + 1) * T), r * T);
        rows.push({ kind, source: { batch, row }, cut: T - 1, positions: samplePositions(random, T - 1, perRow, [T - 1]) });
        continue;
      }
      const batch = randomInt(random, S);
      const row = randomInt(random, B);
      const cut = T < 2 ? 0 : randomInt(random, T - 1); // at least one token after the cut
      const src = scored[batch]!.ids.subarray(row * T, (row + 1) * T);
      ids.set(src.subarray(0, cut + 1), r * T);
      ids.set(continuation(scored, B, T, batch * B + row, cut, random), r * T + cut + 1);
      rows.push({ kind, source: { batch, row }, cut, positions: samplePositions(random, cut, perRow, [cut, cut - 1]) });
    }
    probes.push({ ids, rows });
  }
  const order: ScheduledBatch[] = [];
  let next = 0;
  for (let s = 0; s < S; s++) {
    order.push({ kind: "scored", index: s });
    while (next < count && after[next] === s) order.push({ kind: "probe", index: next++ });
  }
  return { probes, order };
}

/** Absolute and relative (to the row's largest |logit|) tolerance of a probe comparison. */
export const PROBE_ABS_TOLERANCE = 1e-3;
export const PROBE_REL_TOLERANCE = 1e-3;

export interface ProbeFinding {
  kind: ProbeKind;
  /** Scored batch and row the probe re-sent, and the position whose logits moved. */
  batch: number;
  row: number;
  position: number;
  cut: number;
  /** Largest |difference| of a logit at that position, and the tolerance it broke. */
  difference: number;
  tolerance: number;
}

/**
 * Compares one position's logits as scored (a) and as probed (b). Returns the largest
 * difference and the tolerance, or null when they agree. Equal non-finite values agree
 * (a -Infinity mask is a legitimate logit); any other non-finite difference does not.
 */
export function compareLogits(a: Float32Array, b: Float32Array): { difference: number; tolerance: number } | null {
  let scale = 0;
  let worst = 0;
  for (let v = 0; v < a.length; v++) {
    const x = a[v]!;
    const y = b[v]!;
    if (Number.isFinite(x)) scale = Math.max(scale, Math.abs(x));
    if (x === y || (Number.isNaN(x) && Number.isNaN(y))) continue;
    const d = Math.abs(x - y);
    worst = Number.isNaN(d) ? Infinity : Math.max(worst, d);
  }
  const tolerance = PROBE_ABS_TOLERANCE + PROBE_REL_TOLERANCE * scale;
  return worst > tolerance ? { difference: worst, tolerance } : null;
}

/** The one line a failing probe leaves as the run's error. */
export function describeFinding(f: ProbeFinding, probeCount: number): string {
  const where = `scored batch ${f.batch}, row ${f.row}, position ${f.position}`;
  const diff = `${f.difference === Infinity ? "a non-finite amount" : f.difference.toPrecision(3)} (tolerance ${f.tolerance.toPrecision(3)})`;
  const what =
    f.kind === "causality"
      ? `the logits moved by ${diff} when only tokens after position ${f.cut} changed: the model looks ahead at the tokens it predicts`
      : `the logits moved by ${diff} when the same row was sent again later: the model's answer depends on more than its input`;
  return `${f.kind} probe failed (${where}; ${probeCount} probe rows): ${what}`;
}
