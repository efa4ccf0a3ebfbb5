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
 * A causality row splices a row that is scored later, so its cut also serves the first-sight
 * test (first-sight.ts). The randomness comes from the trusted process; the model never sees
 * it. Pure: no I/O.
 */
import { type Splice, cutPositions, forEachSplice } from "./first-sight.ts";
import type { EvalBatch } from "./score.ts";

export type ProbeKind = "causality" | "statelessness";

/** One row of a probe batch: which scored row it re-sends and which positions are compared. */
export interface ProbeRow {
  kind: ProbeKind;
  /** The scored row it is compared with. */
  source: { batch: number; row: number };
  /** causality: the last position kept from the source row (tokens after it are replaced). */
  cut: number;
  /**
   * causality: the source was drawn uniformly from scored batches firstSightFrom..S-1, none
   * of them sent before this probe; null when it was not (a single scored batch).
   */
  firstSightFrom: number | null;
  /** causality: where the tokens after the cut come from, when drawn from first-sight.ts's splices. */
  splice: Splice | null;
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
 * The tail a causality row gets after its cut: T-cut-1 tokens of another scored row from some
 * offset, drawn uniformly from the splices of first-sight.ts (first token unlike the source's),
 * so the first-sight test knows the draw's distribution exactly. With no such splice, another
 * row's tokens at the same positions (or, with a single row, the source's own tail reversed),
 * and no splice to test.
 */
function continuation(
  scored: readonly EvalBatch[],
  B: number,
  T: number,
  source: number,
  cut: number,
  random: () => number,
): { tail: Int32Array; splice: Splice | null } {
  const rowsTotal = scored.length * B;
  const rowIds = (k: number): Int32Array => scored[Math.floor(k / B)]!.ids.subarray((k % B) * T, (k % B + 1) * T);
  const length = T - cut - 1;
  if (rowsTotal < 2) return { tail: rowIds(source).slice(cut + 1).reverse(), splice: null };
  const avoid = rowIds(source)[cut + 1]!;
  const take = (splice: Splice) => ({ tail: rowIds(splice.row).slice(splice.offset, splice.offset + length), splice });
  // Rejection sampling is uniform over the accepted splices; enumeration only when it keeps missing.
  for (let attempt = 0; attempt < 64; attempt++) {
    let row = randomInt(random, rowsTotal - 1);
    if (row >= source) row += 1;
    const offset = randomInt(random, cut + 2);
    if (rowIds(row)[offset] !== avoid) return take({ row, offset });
  }
  const all: Splice[] = [];
  forEachSplice(scored, B, T, source, cut, (row, offset) => all.push({ row, offset }));
  if (all.length > 0) return take(all[randomInt(random, all.length)]!);
  const other = source === 0 ? 1 : 0;
  return { tail: rowIds(other).slice(cut + 1), splice: null };
}

/** The row kinds of one probe batch: half causality (rounded up), half statelessness, shuffled. */
function rowKinds(B: number, random: () => number): ProbeKind[] {
  const kinds = Array.from({ length: B }, (_, r): ProbeKind => (r < Math.ceil(B / 2) ? "causality" : "statelessness"));
  for (let i = B - 1; i > 0; i--) {
    const j = randomInt(random, i + 1);
    [kinds[i], kinds[j]] = [kinds[j]!, kinds[i]!];
  }
  return kinds;
}

/**
 * Plans the probe batches for `scored` and where they go in the schedule. Each probe batch
 * goes after at least one scored batch and, when there are two or more, before at least one:
 * its statelessness rows re-send rows of scored batches sent before it, its causality rows
 * splice rows of scored batches sent after it.
 */
export function planProbes(scored: readonly EvalBatch[], options: ProbePlanOptions): ProbePlan {
  const { batchSize: B, seqLen: T, random } = options;
  const S = scored.length;
  const count = options.probeBatches ?? defaultProbeBatches(S);
  const perRow = options.positionsPerRow ?? DEFAULT_POSITIONS_PER_ROW;
  // Insertion points: probe j is sent right after scored batch after[j] (0-based).
  const after = Array.from({ length: count }, () => randomInt(random, Math.max(1, S - 1))).sort((a, b) => a - b);
  const probes: ProbeBatch[] = [];
  for (let j = 0; j < count; j++) {
    const ids = new Int32Array(B * T);
    const rows: ProbeRow[] = [];
    for (const [r, kind] of rowKinds(B, random).entries()) {
      if (kind === "statelessness") {
        const batch = randomInt(random, after[j]! + 1);
        const row = randomInt(random, B);
        ids.set(scored[batch]!.ids.subarray(row * T, (row + 1) * T), r * T);
        rows.push({ kind, source: { batch, row }, cut: T - 1, firstSightFrom: null, splice: null, positions: samplePositions(random, T - 1, perRow, [T - 1]) });
        continue;
      }
      const from = after[j]! + 1 < S ? after[j]! + 1 : null;
      const batch = from === null ? randomInt(random, S) : from + randomInt(random, S - from);
      const row = randomInt(random, B);
      const cut = randomInt(random, cutPositions(T));
      const src = scored[batch]!.ids.subarray(row * T, (row + 1) * T);
      ids.set(src.subarray(0, cut + 1), r * T);
      const { tail, splice } = continuation(scored, B, T, batch * B + row, cut, random);
      ids.set(tail, r * T + cut + 1);
      rows.push({ kind, source: { batch, row }, cut, firstSightFrom: from, splice, positions: samplePositions(random, cut, perRow, [cut, cut - 1]) });
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
