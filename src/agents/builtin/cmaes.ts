/**
 * CMA-ES (the covariance matrix adaptation evolution strategy), small and plain, following
 * Hansen's tutorial (arXiv:1604.00772): a Gaussian search distribution N(m, σ²C) whose mean
 * moves to the weighted recombination of each generation's best μ points, whose covariance
 * learns from the evolution path (rank-one update) and from the successful steps themselves
 * (rank-μ update), and whose step size follows the conjugate evolution path (CSA).
 *
 * It lives in the normalized [0,1]^d knob space and is driven from outside: the caller replays
 * the observed generations through cmaUpdate and draws the next point with cmaSample. Points
 * the distribution did not produce (uniform exploration, rounded or clamped values) are
 * "injected" solutions: their steps are shortened to a plausible Mahalanobis length, as the
 * tutorial recommends, so one far-off point cannot blow up the covariance. Pure arithmetic, no
 * randomness of its own (the caller passes the normal draws), so a replay is deterministic.
 */

export interface CmaParameters {
  dim: number;
  /** Population size λ: the points per generation. */
  lambda: number;
  /** Parents μ: the best points that move the mean. */
  mu: number;
  /** Recombination weights of the μ best, decreasing, summing to 1. */
  weights: number[];
  muEff: number;
  cSigma: number;
  dSigma: number;
  cC: number;
  c1: number;
  cMu: number;
  /** E‖N(0, I)‖. */
  chiN: number;
}

export interface CmaState {
  mean: number[];
  sigma: number;
  /** Covariance C, symmetric positive definite (d × d). */
  cov: number[][];
  /** Evolution paths of σ (conjugate) and of C. */
  pSigma: number[];
  pC: number[];
  /** Completed generations. */
  generation: number;
}

/** Default population size for d dimensions: 4 + ⌊3 ln d⌋. */
export function defaultPopulation(dim: number): number {
  return 4 + Math.floor(3 * Math.log(dim));
}

export function cmaParameters(dim: number, lambda = defaultPopulation(dim)): CmaParameters {
  const mu = Math.floor(lambda / 2);
  const raw = Array.from({ length: mu }, (_, i) => Math.log((lambda + 1) / 2) - Math.log(i + 1));
  const total = raw.reduce((a, b) => a + b, 0);
  const weights = raw.map((w) => w / total);
  const muEff = 1 / weights.reduce((a, w) => a + w * w, 0);
  const n = dim;
  const cSigma = (muEff + 2) / (n + muEff + 5);
  const dSigma = 1 + 2 * Math.max(0, Math.sqrt((muEff - 1) / (n + 1)) - 1) + cSigma;
  const cC = (4 + muEff / n) / (n + 4 + (2 * muEff) / n);
  const c1 = 2 / ((n + 1.3) ** 2 + muEff);
  const cMu = Math.min(1 - c1, (2 * (muEff - 2 + 1 / muEff)) / ((n + 2) ** 2 + muEff));
  const chiN = Math.sqrt(n) * (1 - 1 / (4 * n) + 1 / (21 * n * n));
  return { dim, lambda, mu, weights, muEff, cSigma, dSigma, cC, c1, cMu, chiN };
}

export function cmaInit(mean: readonly number[], sigma: number): CmaState {
  const d = mean.length;
  return {
    mean: [...mean],
    sigma,
    cov: identity(d),
    pSigma: new Array<number>(d).fill(0),
    pC: new Array<number>(d).fill(0),
    generation: 0,
  };
}

/** One point of N(m, σ²C), clamped into [0,1]^d; `normal` draws a standard normal. */
export function cmaSample(state: CmaState, normal: () => number): number[] {
  const { values, vectors } = symmetricEigen(state.cov);
  const d = state.mean.length;
  const z = values.map((lambda) => Math.sqrt(Math.max(lambda, 0)) * normal()); // D z
  const x = new Array<number>(d);
  for (let i = 0; i < d; i++) {
    let step = 0;
    for (let j = 0; j < d; j++) step += vectors[i]![j]! * z[j]!; // B D z
    x[i] = Math.min(1, Math.max(0, state.mean[i]! + state.sigma * step));
  }
  return x;
}

/**
 * The state after one generation. `fitness`: lower is better; Infinity for a failed point
 * (it ranks last). A generation without a single finite fitness says only "too far": the mean
 * stays and σ halves.
 */
export function cmaUpdate(state: CmaState, p: CmaParameters, points: readonly number[][], fitness: readonly number[]): CmaState {
  const d = p.dim;
  if (points.length !== p.lambda || fitness.length !== p.lambda || points.some((x) => x.length !== d) || state.mean.length !== d)
    throw new Error(`cmaUpdate: expected ${p.lambda} points of dimension ${d} and ${p.lambda} fitnesses`);
  if (!fitness.some(Number.isFinite)) return { ...state, sigma: state.sigma / 2, generation: state.generation + 1 };

  const { values, vectors } = symmetricEigen(state.cov);
  // C^{-1/2} v = B D^{-1} Bᵀ v
  const invSqrt = (v: readonly number[]): number[] => {
    const t = values.map((lambda, k) => {
      let dot = 0;
      for (let i = 0; i < d; i++) dot += vectors[i]![k]! * v[i]!;
      return dot / Math.sqrt(Math.max(lambda, 1e-300));
    });
    return Array.from({ length: d }, (_, i) => t.reduce((s, tk, k) => s + vectors[i]![k]! * tk, 0));
  };

  // Steps y = (x - m) / σ, shortened to the injection bound α = √d + 2d/(d+2) in C's metric.
  const alpha = Math.sqrt(d) + (2 * d) / (d + 2);
  const steps = points.map((x) => {
    const y = x.map((xi, i) => (xi - state.mean[i]!) / state.sigma);
    const length = norm(invSqrt(y));
    return length > alpha ? y.map((yi) => (yi * alpha) / length) : y;
  });
  const order = fitness.map((f, i) => ({ f, i })).sort((a, b) => a.f - b.f || a.i - b.i || 0);
  const best = order.slice(0, p.mu).map(({ i }) => steps[i]!);

  const yW = new Array<number>(d).fill(0);
  best.forEach((y, r) => y.forEach((yi, i) => (yW[i]! += p.weights[r]! * yi)));
  const mean = state.mean.map((m, i) => Math.min(1, Math.max(0, m + state.sigma * yW[i]!)));

  const generation = state.generation + 1;
  const cs = Math.sqrt(p.cSigma * (2 - p.cSigma) * p.muEff);
  const whitened = invSqrt(yW);
  const pSigma = state.pSigma.map((ps, i) => (1 - p.cSigma) * ps + cs * whitened[i]!);
  const pSigmaNorm = norm(pSigma);
  // h_σ stalls the rank-one path while σ is growing fast, so C does not grow with it.
  const hSigma = pSigmaNorm / Math.sqrt(1 - (1 - p.cSigma) ** (2 * generation)) < (1.4 + 2 / (d + 1)) * p.chiN ? 1 : 0;
  const cc = Math.sqrt(p.cC * (2 - p.cC) * p.muEff);
  const pC = state.pC.map((pc, i) => (1 - p.cC) * pc + hSigma * cc * yW[i]!);
  const deltaH = (1 - hSigma) * p.cC * (2 - p.cC);

  const cov = state.cov.map((row, i) =>
    row.map((cij, j) => {
      let rankMu = 0;
      best.forEach((y, r) => (rankMu += p.weights[r]! * y[i]! * y[j]!));
      const rankOne = pC[i]! * pC[j]! + deltaH * cij;
      return (1 - p.c1 - p.cMu) * cij + p.c1 * rankOne + p.cMu * rankMu;
    }),
  );
  symmetrize(cov);

  // CSA: lengthen σ when steps add up (the path is longer than a random walk's), shorten it
  // when they cancel. Capped at 1, the width of the whole space.
  const sigma = Math.min(1, state.sigma * Math.exp((p.cSigma / p.dSigma) * (pSigmaNorm / p.chiN - 1)));
  return { mean, sigma, cov, pSigma, pC, generation };
}

/**
 * Eigen-decomposition of a small symmetric matrix by cyclic Jacobi rotations: A = B diag(values) Bᵀ,
 * the eigenvectors in B's columns. Exact to rounding for the sizes here (a few dozen knobs).
 */
export function symmetricEigen(matrix: readonly (readonly number[])[]): { values: number[]; vectors: number[][] } {
  const n = matrix.length;
  const a = matrix.map((row) => [...row]);
  const v = identity(n);
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) off += a[i]![j]! ** 2;
    if (off < 1e-30) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p]![q]!;
        if (Math.abs(apq) < 1e-300) continue;
        // The rotation angle that zeroes a[p][q] (Numerical Recipes' stable form).
        const theta = (a[q]![q]! - a[p]![p]!) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k]![p]!;
          const akq = a[k]![q]!;
          a[k]![p] = c * akp - s * akq;
          a[k]![q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p]![k]!;
          const aqk = a[q]![k]!;
          a[p]![k] = c * apk - s * aqk;
          a[q]![k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k]![p]!;
          const vkq = v[k]![q]!;
          v[k]![p] = c * vkp - s * vkq;
          v[k]![q] = s * vkp + c * vkq;
        }
      }
    }
  }
  return { values: a.map((row, i) => row[i]!), vectors: v };
}

function identity(n: number): number[][] {
  return Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : 0)));
}

function symmetrize(m: number[][]): void {
  for (let i = 0; i < m.length; i++)
    for (let j = i + 1; j < m.length; j++) {
      const avg = (m[i]![j]! + m[j]![i]!) / 2;
      m[i]![j] = avg;
      m[j]![i] = avg;
    }
}

function norm(v: readonly number[]): number {
  return Math.sqrt(v.reduce((s, x) => s + x * x, 0));
}
