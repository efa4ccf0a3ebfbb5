/** Number formatting for the one-line reasons the statistics attach to their verdicts. */

/** Four significant digits, exponent form below 1e-4 (p-values, bpb gains). */
export function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (x !== 0 && Math.abs(x) < 1e-4) return x.toExponential(2);
  return String(Number(x.toPrecision(4)));
}
