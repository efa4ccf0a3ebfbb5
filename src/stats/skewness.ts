/**
 * The efficacy statistic of sequential verification: the paired t statistic, optionally with
 * Hall's (1992) skewness correction. One function, used by the rule (sequential.ts), by the
 * calibration of its levels (calibrate.ts) and by the sequential p-value (sequential-pvalue.ts),
 * so the three always agree; it must not decide anything itself.
 *
 * Why. A one-sided t test is anti-conservative when the gains are skewed towards losses: a
 * candidate that is usually a little better and now and then much worse (a learning rate that
 * sometimes diverges) gives gains with a long left tail, and a sample that has not yet seen a
 * loss has a high mean and a small sd together. Measured (bench/validity.ts, looks after seeds
 * 3..8, δ_min = 1 sd of a gain, gains a standardised gamma with skewness -1 centred at δ_min):
 * 0.088 false `real`s at alpha 0.05, against 0.043 for normal gains.
 *
 * Hall's transformation of t removes the first-order (1/√n) skewness term of its Edgeworth
 * expansion, like Johnson's (1978) modified t, but stays monotone in t (Johnson's does not:
 * for γ̂ < 0 a large enough gain would lower it). With γ̂ the sample skewness, a = γ̂ / √n,
 *
 *   T_H = t + a (1 + 2 t²) / 6 + a² t³ / 27,      dT_H/dt = (1 + a t / 3)² ≥ 0,
 *
 * referred to the t distribution with n - 1 df. At 3..8 seeds γ̂ is a poor estimate of the
 * skewness (|γ̂| ≤ 0.71 at n = 3), so the correction alone removes only part of the excess; the
 * rest is removed by spending alpha late (O'Brien–Fleming type), where n is largest. Both were
 * chosen by measurement; the numbers are in BENCHMARKS.md ("Verification validity").
 */

/** "t": the paired t statistic; "hall": Hall's skewness-corrected t (the default). */
export type EfficacyStatistic = "t" | "hall";

export const EFFICACY_STATISTICS = ["hall", "t"] as const;

/**
 * The statistic for H1: gain > at, from the sample's size n, mean m, sd s (n - 1 divisor) and
 * third central moment m3 (n divisor). ±Infinity for a constant sample off `at`, 0 on it.
 */
export function efficacyStatistic(kind: EfficacyStatistic, n: number, m: number, s: number, m3: number, at: number): number {
  const se = s / Math.sqrt(n);
  if (!(se > 0)) return m > at ? Infinity : m < at ? -Infinity : 0;
  const t = (m - at) / se;
  if (kind === "t") return t;
  const a = m3 / (s * s * s) / Math.sqrt(n);
  return t + (a * (1 + 2 * t * t)) / 6 + (a * a * t * t * t) / 27;
}

/** The third central moment (n divisor) of a sample with mean m. */
export function thirdMoment(values: readonly number[], m: number): number {
  let sum = 0;
  for (const v of values) {
    const d = v - m;
    sum += d * d * d;
  }
  return sum / values.length;
}
