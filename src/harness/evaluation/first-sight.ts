/**
 * The first-sight test: catches a model that looks ahead and hides it behind a memory.
 *
 * Comparing logits (probes.ts) catches a model that looks ahead, but not one that remembers: a
 * model that answers a prefix it has seen before with the logits it gave the first time passes
 * every comparison, yet can look ahead on the first sight of each prefix, which is when scored
 * rows are usually seen. So causality probes are sent before the rows they splice are scored:
 * the first time such a model sees the prefix up to a probe's cut, the token after the cut is
 * a spliced one. If it looked ahead then, two things show, and each cut gives a p-value for each:
 *
 * - splice: the spliced token's logit at the cut ranks high. The splice was drawn uniformly
 *   from a known set (another row's tokens from some offset, first token unlike the source's),
 *   independently of the prefix, so for a causal model the share of that set whose first
 *   token's logit is at least the spliced one's is a (super-)uniform p-value.
 * - loss: the scored row's loss at the cut is poor (it backed the wrong token). The cut was
 *   drawn uniformly from the positions of rows of the batches sent after the probe, so for a
 *   model whose scored logits do not depend on the probes, the share of those positions with a
 *   loss at least as high is a (super-)uniform p-value.
 *
 * Fisher's method combines them; the model is invalid below FIRST_SIGHT_ALPHA. Exact for any
 * model and data: a false alarm on an honest model costs one evaluation in a million.
 */
import type { EvalBatch } from "./score.ts";

/** Combined p-value below which a model is invalid: the false-alarm rate on honest models. */
export const FIRST_SIGHT_ALPHA = 1e-6;

/** Where a causality row's tail comes from: scored row `row` (batch · B + row), tokens from `offset` on. */
export interface Splice {
  row: number;
  offset: number;
}

/**
 * Calls `visit` for every splice a causality row with source row `source` cut at `cut` may be
 * drawn from: another row, any offset 0..cut+1 (so that T-cut-1 tokens follow), whose first
 * token is not the source's token at cut+1.
 */
export function forEachSplice(
  scored: readonly EvalBatch[],
  B: number,
  T: number,
  source: number,
  cut: number,
  visit: (row: number, offset: number, token: number) => void,
): void {
  const sourceIds = scored[Math.floor(source / B)]!.ids;
  const avoid = sourceIds[(source % B) * T + cut + 1];
  for (let row = 0; row < scored.length * B; row++) {
    if (row === source) continue;
    const ids = scored[Math.floor(row / B)]!.ids;
    for (let offset = 0; offset <= cut + 1 && offset < T; offset++) {
      const token = ids[(row % B) * T + offset]!;
      if (token !== avoid) visit(row, offset, token);
    }
  }
}

/** A causality probe's cut, sent before its source row was scored. */
export interface FirstSightCut {
  batch: number;
  row: number;
  cut: number;
  /** The source was drawn uniformly from scored batches from..S-1 (rows and cuts uniform). */
  from: number;
  /** Where the probe's tail came from, and the probe's logits at the cut (V). */
  splice: Splice | null;
  logitsAtCut: Float32Array;
}

export interface FirstSightResult {
  cuts: number;
  /** Fisher's combined p-value (1 when there are no cuts). */
  pValue: number;
  /** Cuts where the spliced token outranked 99% of the splices it was drawn from. */
  splicedTop: number;
  /** Cuts whose scored loss was among the worst 1% of the positions they were drawn from. */
  lossWorst: number;
}

/** The positions a causality probe may cut a row of T tokens at: 0..T-2 (at least one token follows). */
export function cutPositions(T: number): number {
  return Math.max(1, T - 1);
}

/**
 * Runs the test. `losses[s]` holds the per-position cross-entropy of scored batch s (B × T,
 * row-major) as scored; `scored` holds the batches' ids.
 */
export function firstSightTest(
  cuts: readonly FirstSightCut[],
  scored: readonly EvalBatch[],
  losses: readonly Float32Array[],
  B: number,
  T: number,
): FirstSightResult {
  const sortedLosses = lossesByBatch(losses, B, T);
  const pValues: number[] = [];
  let splicedTop = 0;
  let lossWorst = 0;
  for (const c of cuts) {
    const loss = lossPValue(c, T, losses, sortedLosses);
    pValues.push(loss);
    if (loss <= 0.01) lossWorst++;
    if (c.splice) {
      const splice = splicePValue(c, scored, B, T);
      pValues.push(splice);
      if (splice <= 0.01) splicedTop++;
    }
  }
  const fisher = pValues.reduce((sum, p) => sum - 2 * Math.log(p), 0);
  const pValue = pValues.length === 0 ? 1 : chiSquareUpperTailEvenDf(fisher, 2 * pValues.length);
  return { cuts: cuts.length, pValue, splicedTop, lossWorst };
}

/** Per batch, the losses at the positions a cut can fall on, sorted (built on first use). */
function lossesByBatch(losses: readonly Float32Array[], B: number, T: number): (s: number) => Float32Array {
  const C = cutPositions(T);
  const sorted = new Map<number, Float32Array>();
  return (s) => {
    let out = sorted.get(s);
    if (!out) {
      out = new Float32Array(B * C);
      for (let r = 0; r < B; r++) out.set(losses[s]!.subarray(r * T, r * T + C), r * C);
      sorted.set(s, out.sort());
    }
    return out;
  };
}

function lossPValue(c: FirstSightCut, T: number, losses: readonly Float32Array[], sorted: (s: number) => Float32Array): number {
  const loss = losses[c.batch]![c.row * T + c.cut]!;
  let atLeast = 0;
  let total = 0;
  for (let s = c.from; s < losses.length; s++) {
    const values = sorted(s);
    atLeast += values.length - lowerBound(values, loss);
    total += values.length;
  }
  // A NaN loss counts as the worst (non-finite logits are reported as such before this test).
  return Number.isNaN(loss) ? 1 / total : Math.max(atLeast, 1) / total;
}

function splicePValue(c: FirstSightCut, scored: readonly EvalBatch[], B: number, T: number): number {
  const { splice, logitsAtCut } = c;
  const ids = scored[Math.floor(splice!.row / B)]!.ids;
  const spliced = logitsAtCut[ids[(splice!.row % B) * T + splice!.offset]!]!;
  if (Number.isNaN(spliced)) return 1;
  let atLeast = 0;
  let total = 0;
  forEachSplice(scored, B, T, c.batch * B + c.row, c.cut, (_row, _offset, token) => {
    total++;
    if (!(logitsAtCut[token]! < spliced)) atLeast++;
  });
  return Math.max(atLeast, 1) / total;
}

/** The first index whose value is >= x (values sorted ascending). */
function lowerBound(values: Float32Array, x: number): number {
  let lo = 0;
  let hi = values.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (values[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * P(X >= x) for X ~ chi-square with an even number of degrees of freedom 2k:
 * e^(-x/2) Σ_{j<k} (x/2)^j / j!, summed in log space so that large x and k do not overflow.
 */
export function chiSquareUpperTailEvenDf(x: number, df: number): number {
  if (!(df > 0 && df % 2 === 0)) throw new RangeError(`chiSquareUpperTailEvenDf: df must be a positive even number, got ${df}`);
  if (x <= 0) return 1;
  const half = x / 2;
  const logHalf = Math.log(half);
  const logTerms = [-half];
  for (let j = 1; j < df / 2; j++) logTerms.push(logTerms[j - 1]! + logHalf - Math.log(j));
  const max = Math.max(...logTerms);
  const sum = logTerms.reduce((acc, t) => acc + Math.exp(t - max), 0);
  return Math.min(1, Math.exp(max + Math.log(sum)));
}

/** The one line a failed test leaves as the run's error. */
export function describeFirstSight(r: FirstSightResult): string {
  return (
    `first-sight probe failed (${r.cuts} causality probes sent before their rows were scored; combined p = ${r.pValue.toPrecision(3)} < ${FIRST_SIGHT_ALPHA}): ` +
    `at ${r.splicedTop} cuts the model favoured the spliced token that followed, at ${r.lossWorst} the scored loss was among the worst 1%: ` +
    `it looks ahead the first time it sees a text and answers later sights from memory`
  );
}
