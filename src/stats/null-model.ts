/**
 * The null model of autoresearch's naive keep rule — keep a run when its val_bpb is lower than
 * the best so far — under pure noise: if every run of a night is an exchangeable draw (no edit
 * changes anything), run i is kept exactly when it is the lowest of the first i, which has
 * probability 1/i independently of the others (Rényi's record theorem). Over N runs, the first
 * of which is the baseline (as in autoresearch's results.tsv), the number of keeps is
 *
 *     E = Σ_{i=2..N} 1/i = H_N - 1,        Var = Σ_{i=2..N} (1/i)(1 - 1/i) = H_N - H_N^(2)
 *
 * (H_N the harmonic number, H_N^(2) = Σ 1/i²): about 4.19 ± 1.88 false keeps in 100 runs. Reports
 * put this next to the number of keeps that verification confirmed.
 */
import { integerAtLeast } from "./validate.ts";

/** H_n = 1 + 1/2 + … + 1/n (summed from the small terms up, for accuracy). */
export function harmonic(n: number): number {
  integerAtLeast("harmonic", "n", n, 0);
  let sum = 0;
  for (let i = n; i >= 1; i--) sum += 1 / i;
  return sum;
}

export interface NaiveKeeps {
  /** Runs counted, the baseline included. */
  runs: number;
  /** Expected keeps under pure noise, H_runs - 1. */
  expected: number;
  /** Standard deviation of the number of keeps, √(H_runs - H_runs^(2)). */
  sd: number;
}

/** Expected false keeps of the naive rule in `runs` runs (baseline included) under pure noise. */
export function naiveKeepsUnderNoise(runs: number): NaiveKeeps {
  integerAtLeast("naiveKeepsUnderNoise", "runs", runs, 1);
  let h = 0;
  let h2 = 0;
  for (let i = runs; i >= 1; i--) {
    h += 1 / i;
    h2 += 1 / (i * i);
  }
  return { runs, expected: h - 1, sd: Math.sqrt(Math.max(0, h - h2)) };
}
