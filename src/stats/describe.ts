/**
 * Descriptive statistics of a sample: mean, sample variance (n - 1) and standard deviation.
 * Two-pass with a correction term, so that val_bpb values that agree to six digits (the usual
 * case for seed reruns) still give an accurate spread.
 */

/** Arithmetic mean; the caller guarantees a non-empty list. */
export function mean(values: readonly number[]): number {
  let sum = 0;
  for (const v of values) sum += v;
  const m = sum / values.length;
  // Second pass removes the rounding error of the first (Higham, "Accuracy and Stability", §1.9).
  let correction = 0;
  for (const v of values) correction += v - m;
  return m + correction / values.length;
}

/** Sample variance with the n - 1 denominator; the caller guarantees at least two values. */
export function variance(values: readonly number[]): number {
  const m = mean(values);
  let ss = 0;
  let s = 0;
  for (const v of values) {
    const d = v - m;
    ss += d * d;
    s += d;
  }
  return (ss - (s * s) / values.length) / (values.length - 1);
}

/** Sample standard deviation (n - 1 denominator). */
export function sd(values: readonly number[]): number {
  return Math.sqrt(Math.max(0, variance(values)));
}
