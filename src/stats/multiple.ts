/**
 * Multiple-comparison control for the many claims of a night (or the many org pairs of a
 * comparison): Benjamini–Hochberg (false discovery rate) and Holm (family-wise error)
 * adjusted p-values with R's p.adjust semantics — same ordering, same cumulative min/max, same
 * clamping at 1 — so a claim is kept at level alpha exactly when its adjusted p-value is below it.
 */
import { StatsError } from "./errors.ts";
import { finiteSample, oneOf } from "./validate.ts";

export type AdjustMethod = "BH" | "holm";

/**
 * Adjusted p-values, in the order given.
 *   holm: p_(i) · (n - i + 1), running maximum from the smallest p up, capped at 1;
 *   BH:   p_(i) · n / i, running minimum from the largest p down, capped at 1.
 */
export function adjustPValues(pValues: readonly number[], method: AdjustMethod): number[] {
  const where = "adjustPValues";
  const p = finiteSample(where, "pValues", pValues, 1);
  oneOf(where, "method", method, ["BH", "holm"] as const, "BH");
  p.forEach((v, i) => {
    if (v < 0 || v > 1)
      throw new StatsError("STATS_INVALID_ARGUMENT", `${where}: pValues[${i}] = ${v} is not in [0, 1]`);
  });
  const n = p.length;
  // Stable sort of indices, as R's order() (ties keep their input order).
  const ascending = p.map((_, i) => i).sort((a, b) => p[a]! - p[b]! || a - b);
  const adjusted = new Array<number>(n);
  if (method === "holm") {
    let running = 0;
    ascending.forEach((index, rank) => {
      running = Math.max(running, (n - rank) * p[index]!);
      adjusted[index] = Math.min(1, running);
    });
  } else {
    // R orders decreasing (order(p, decreasing = TRUE) is also stable), then takes cummin.
    const descending = p.map((_, i) => i).sort((a, b) => p[b]! - p[a]! || a - b);
    let running = Infinity;
    descending.forEach((index, k) => {
      const i = n - k; // rank from the bottom: n, n-1, …, 1
      running = Math.min(running, (n / i) * p[index]!);
      adjusted[index] = Math.min(1, running);
    });
  }
  return adjusted;
}
