/**
 * Group-sequential boundaries by alpha spending (Lan & DeMets 1983): for a one-sided test
 * looked at K times, at information fractions t_1 < … < t_K = 1, find z-scale boundaries
 * c_1 … c_K such that under H0 the probability of first crossing at look k is exactly
 * α(t_k) - α(t_{k-1}). Then the overall false-rejection rate is α(1) = alpha however many looks
 * are taken, which is what lets sequential reruns stop early without inflating false `real`s.
 *
 * The crossing probabilities are those of Brownian motion observed at t_k (Z_k = S_k / √t_k,
 * independent increments), computed by the recursive numerical integration of Armitage,
 * McPherson & Rowe (1969) as set out in Jennison & Turnbull (2000), ch. 19: the sub-density of
 * Z_k on the continuation region is carried from look to look on a grid (Simpson's rule), and
 * each c_k is found by bisection. Only normal CDFs (@stdlib) and the normal density enter.
 * Boundaries are upper only (continuation region (-∞, c_k]); a futility rule is non-binding and
 * only lowers the false-rejection rate, so it is not part of this computation.
 */
import { pnormUpper, qnorm } from "./distributions.ts";

/** Lan–DeMets spending function families. */
export type SpendingFunction = "obrien-fleming" | "pocock";

/**
 * Cumulative alpha spent by information fraction t (0 ≤ t ≤ 1), one-sided level alpha:
 *   O'Brien–Fleming type: α(t) = 2 - 2 Φ(Φ⁻¹(1 - alpha/2) / √t)  (spends almost nothing early)
 *   Pocock type:          α(t) = alpha · ln(1 + (e - 1) t)       (spends evenly)
 */
export function spentAlpha(kind: SpendingFunction, alpha: number, t: number): number {
  if (t <= 0) return 0;
  if (t >= 1) return alpha;
  if (kind === "pocock") return alpha * Math.log(1 + (Math.E - 1) * t);
  return 2 * pnormUpper(qnorm(1 - alpha / 2) / Math.sqrt(t));
}

export interface Boundaries {
  /** Information fractions of the looks, increasing, the last one 1. */
  fractions: number[];
  /** z-scale boundary of each look (Infinity where nothing is spent). */
  z: number[];
  /** Nominal one-sided p-value threshold of each look, P(Z ≥ z_k). */
  nominal: number[];
  /** Cumulative alpha spent up to and including each look. */
  spent: number[];
}

/** Grid step on the z scale: ~10 points per sd of the narrowest transition kernel used here. */
const STEP = 0.02;
/** Lower end of the grid: below -10 the sub-density is under 1e-22. */
const LOWEST = -10;
/** A boundary that cannot be crossed in double precision (P(Z ≥ 40) underflows). */
const UNREACHABLE = 40;

/** One-sided efficacy boundaries for level alpha at the given looks (see the file comment). */
export function efficacyBoundaries(alpha: number, fractions: readonly number[], kind: SpendingFunction): Boundaries {
  const z: number[] = [];
  const nominal: number[] = [];
  const spent: number[] = [];
  let grid: Grid | undefined; // sub-density of Z_{k-1} on its continuation region
  let previousSpent = 0;
  let previousT = 0;
  for (let k = 0; k < fractions.length; k++) {
    const t = fractions[k]!;
    const cumulative = spentAlpha(kind, alpha, t);
    const increment = cumulative - previousSpent;
    let c: number;
    if (grid === undefined) {
      c = increment > 0 ? -qnorm(increment) : UNREACHABLE;
    } else {
      const g = grid;
      const scale = Math.sqrt(t - previousT);
      const crossing = (cz: number): number => {
        let p = 0;
        for (let i = 0; i < g.z.length; i++)
          p += g.w[i]! * g.f[i]! * pnormUpper((cz * Math.sqrt(t) - g.z[i]! * Math.sqrt(previousT)) / scale);
        return p;
      };
      c = increment > 0 ? solveDecreasing(crossing, increment) : UNREACHABLE;
    }
    z.push(c);
    nominal.push(c >= UNREACHABLE ? 0 : pnormUpper(c));
    spent.push(cumulative);
    if (k < fractions.length - 1) grid = advance(grid, previousT, t, c);
    previousSpent = cumulative;
    previousT = t;
  }
  return { fractions: [...fractions], z, nominal, spent };
}

interface Grid {
  z: Float64Array; // grid points on the z scale
  w: Float64Array; // Simpson weights (including the step)
  f: Float64Array; // sub-density of Z_k at each point
}

/** Simpson grid on [LOWEST, upper] with an even number of intervals of about STEP. */
function simpsonGrid(upper: number): Grid {
  const top = Math.min(upper, 12); // beyond 12 the density is below 1e-31
  const intervals = Math.max(2, 2 * Math.ceil((top - LOWEST) / (2 * STEP)));
  const h = (top - LOWEST) / intervals;
  const z = new Float64Array(intervals + 1);
  const w = new Float64Array(intervals + 1);
  for (let i = 0; i <= intervals; i++) {
    z[i] = LOWEST + i * h;
    w[i] = (h / 3) * (i === 0 || i === intervals ? 1 : i % 2 === 1 ? 4 : 2);
  }
  return { z, w, f: new Float64Array(intervals + 1) };
}

const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/** The sub-density of Z_k on (-∞, c] from that of Z_{k-1} (undefined before the first look). */
function advance(previous: Grid | undefined, previousT: number, t: number, c: number): Grid {
  const next = simpsonGrid(c);
  if (previous === undefined) {
    for (let i = 0; i < next.z.length; i++) next.f[i] = INV_SQRT_2PI * Math.exp(-0.5 * next.z[i]! ** 2);
    return next;
  }
  // Z_k = (Z_{k-1} √t_{k-1} + W) / √t_k with W ~ N(0, t_k - t_{k-1}).
  const scale = Math.sqrt(t - previousT);
  const a = Math.sqrt(t) / scale;
  const b = Math.sqrt(previousT) / scale;
  const last = previous.z.length - 1;
  const h = previous.z[1]! - previous.z[0]!;
  for (let j = 0; j < next.z.length; j++) {
    const u = next.z[j]! * a;
    // Only previous points within 9 kernel sds contribute (the kernel is below 1e-17 further out).
    const from = Math.max(0, Math.floor(((u - 9) / b - LOWEST) / h));
    const to = Math.min(last, Math.ceil(((u + 9) / b - LOWEST) / h));
    let sum = 0;
    for (let i = from; i <= to; i++) {
      const d = u - previous.z[i]! * b;
      sum += previous.w[i]! * previous.f[i]! * Math.exp(-0.5 * d * d);
    }
    next.f[j] = sum * INV_SQRT_2PI * a;
  }
  return next;
}

/** The c with fn(c) = target for fn decreasing from ~mass (c = LOWEST) to 0 (c = UNREACHABLE). */
function solveDecreasing(fn: (c: number) => number, target: number): number {
  let lo = LOWEST;
  let hi = 12;
  if (fn(lo) <= target) return lo; // cannot spend that much: reject whenever the look is reached
  if (fn(hi) >= target) return hi;
  for (let i = 0; i < 60 && hi - lo > 1e-10; i++) {
    const mid = (lo + hi) / 2;
    if (fn(mid) > target) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}
