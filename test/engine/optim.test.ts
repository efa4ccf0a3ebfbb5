/**
 * The fused optimizer kernels (adamwStep, polarExpress, muonStep) against plain float64
 * TypeScript references written from autoresearch's formulas — no engine ops in the references.
 * Inputs come from a seeded JS PRNG; float32 runs start from the same float32-rounded values.
 */
import { describe, expect, it } from "vitest";
import { engineError } from "../support/engine-errors.ts";
import { seededRandom } from "../support/random.ts";
import {
  type DType,
  numThreads,
  optim,
  ops,
  setNumThreads,
  tensor,
  zeros,
} from "../../src/engine/index.ts";

// ---- seeded inputs --------------------------------------------------------------------


/** n N(0, std²) samples, rounded to float32 when the engine will run in float32. */
function randn(rand: () => number, n: number, dtype: DType, std = 1): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(rand(), 1e-12);
    const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand()) * std;
    out[i] = dtype === "float32" ? Math.fround(z) : z;
  }
  return out;
}

const asTensor = (data: Float64Array, shape: number[], dtype: DType) =>
  tensor(dtype === "float32" ? Float32Array.from(data) : Float64Array.from(data), shape, dtype);

const values = (t: { toArray(): ArrayLike<number> }) => Float64Array.from(t.toArray());

/** Largest |a - b| / (atol + rtol * |b|); ≤ 1 means within tolerance. */
function worst(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, atol: number): number {
  expect(actual.length).toBe(expected.length);
  let w = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i]!;
    w = Math.max(w, Math.abs(actual[i]! - e) / (atol + rtol * Math.abs(e)));
  }
  return w;
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, atol: number): void {
  expect(worst(actual, expected, rtol, atol)).toBeLessThanOrEqual(1);
}

// ---- float64 references ---------------------------------------------------------------

const lerp = (a: number, b: number, w: number) => a + w * (b - a);

interface AdamHyper {
  step: number;
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

function adamwRef(p: Float64Array, g: Float64Array, m: Float64Array, v: Float64Array, h: AdamHyper): void {
  const bias1 = 1 - h.beta1 ** h.step;
  const bias2 = 1 - h.beta2 ** h.step;
  for (let i = 0; i < p.length; i++) {
    p[i]! *= 1 - h.lr * h.weightDecay;
    m[i] = lerp(m[i]!, g[i]!, 1 - h.beta1);
    v[i] = lerp(v[i]!, g[i]! * g[i]!, 1 - h.beta2);
    const denom = Math.sqrt(v[i]! / bias2) + h.eps;
    p[i]! -= (h.lr / bias1) * (m[i]! / denom);
  }
}

/** op(a) @ op(b) for row-major a (r×c as stored), b likewise. */
function mm(
  a: Float64Array,
  ar: number,
  ac: number,
  ta: boolean,
  b: Float64Array,
  br: number,
  bc: number,
  tb: boolean,
): Float64Array {
  const M = ta ? ac : ar, K = ta ? ar : ac, N = tb ? br : bc;
  expect(tb ? bc : br).toBe(K);
  const out = new Float64Array(M * N);
  for (let i = 0; i < M; i++)
    for (let j = 0; j < N; j++) {
      let acc = 0;
      for (let k = 0; k < K; k++)
        acc += (ta ? a[k * ac + i]! : a[i * ac + k]!) * (tb ? b[j * bc + k]! : b[k * bc + j]!);
      out[i * N + j] = acc;
    }
  return out;
}

const COEFFS: [number, number, number][] = [
  [8.156554524902461, -22.48329292557795, 15.878769915207462],
  [4.042929935166739, -2.808917465908714, 0.5000178451051316],
  [3.8916678022926607, -2.772484153217685, 0.5060648178503393],
  [3.285753657755655, -2.3681294933425376, 0.46449024233003106],
  [2.3465413258596377, -1.7097828382687081, 0.42323551169305323],
];

/** x: (M, N) -> polar-express orthogonalisation, float64. */
function polarRef(x: Float64Array, M: number, N: number, steps: number): Float64Array {
  let norm = 0;
  for (const v of x) norm += v * v;
  const d = Math.sqrt(norm) * 1.02 + 1e-6;
  let X = x.map((v) => v / d);
  for (const [a, b, c] of COEFFS.slice(0, steps)) {
    const s = M > N ? N : M;
    const A = M > N ? mm(X, M, N, true, X, M, N, false) : mm(X, M, N, false, X, M, N, true);
    const AA = mm(A, s, s, false, A, s, s, false);
    const B = A.map((v, i) => b * v + c * AA[i]!);
    const prod = M > N ? mm(X, M, N, false, B, N, N, false) : mm(B, M, M, false, X, M, N, false);
    X = X.map((v, i) => a * v + prod[i]!);
  }
  return X;
}

interface MuonH {
  momentum: number;
  lr: number;
  weightDecay: number;
  beta2: number;
  nsSteps: number;
}

/** One muon_step_fused on K matrices (M, N); mbuf: K*M*N, sbuf: K*(M >= N ? M : N). In place. */
function muonRef(
  ps: Float64Array[],
  gs: Float64Array[],
  mbuf: Float64Array,
  sbuf: Float64Array,
  M: number,
  N: number,
  h: MuonH,
): void {
  const n = M * N;
  const rowStats = M >= N;
  const stats = rowStats ? M : N;
  const red = rowStats ? N : M;
  ps.forEach((p, k) => {
    const g = gs[k]!;
    const mixed = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      mbuf[k * n + i] = lerp(mbuf[k * n + i]!, g[i]!, 1 - h.momentum);
      mixed[i] = lerp(g[i]!, mbuf[k * n + i]!, h.momentum);
    }
    const X = polarRef(mixed, M, N, h.nsSteps);
    const vMean = new Float64Array(stats);
    for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) vMean[rowStats ? i : j]! += X[i * N + j]! ** 2 / red;
    const vNorm = Math.sqrt(vMean.reduce((s, v) => s + v, 0) * red);
    const stepSize = new Float64Array(stats);
    let scaled = 0;
    for (let s = 0; s < stats; s++) {
      sbuf[k * stats + s] = lerp(sbuf[k * stats + s]!, vMean[s]!, 1 - h.beta2);
      stepSize[s] = 1 / Math.sqrt(Math.max(sbuf[k * stats + s]!, 1e-10));
      scaled += vMean[s]! * red * stepSize[s]! ** 2;
    }
    const ratio = vNorm / Math.max(Math.sqrt(scaled), 1e-10);
    for (let i = 0; i < M; i++)
      for (let j = 0; j < N; j++) {
        const u = X[i * N + j]! * stepSize[rowStats ? i : j]! * ratio;
        const pv = p[i * N + j]!;
        const mask = u * pv >= 0 ? 1 : 0;
        p[i * N + j] = pv - (h.lr * u + h.lr * h.weightDecay * pv * mask);
      }
  });
}

/** Singular values (ascending) of x (M, N): square roots of the Gram matrix's eigenvalues, by cyclic Jacobi. */
function singularValues(x: Float64Array, M: number, N: number): number[] {
  const n = Math.min(M, N);
  const a = M > N ? mm(x, M, N, true, x, M, N, false) : mm(x, M, N, false, x, M, N, true);
  for (let sweep = 0; sweep < 50; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p * n + q]! ** 2;
    if (off < 1e-24) break;
    for (let p = 0; p < n; p++)
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q]!;
        if (apq === 0) continue;
        const theta = (a[q * n + q]! - a[p * n + p]!) / (2 * apq);
        const t = (theta >= 0 ? 1 : -1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1), s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p]!, akq = a[k * n + q]!;
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k]!, aqk = a[q * n + k]!;
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
      }
  }
  return Array.from({ length: n }, (_, i) => Math.sqrt(Math.max(a[i * n + i]!, 0))).sort((u, v) => u - v);
}

function expectEngineError(fn: () => unknown, pattern: RegExp): void {
  const err = engineError(fn);
  expect(err.code).toBe("INVALID_ARGUMENT");
  expect(err.message).toMatch(pattern);
}

// ---- AdamW ----------------------------------------------------------------------------

describe("adamwStep", () => {
  for (const dtype of ["float32", "float64"] as const)
    for (const weightDecay of [0, 0.1])
      it(`matches the float64 reference over steps 1..5 (${dtype}, wd ${weightDecay})`, () => {
        const rand = seededRandom(weightDecay === 0 ? 1 : 2);
        const shape = [37, 19];
        const n = 37 * 19;
        const p = randn(rand, n, dtype);
        const m = new Float64Array(n);
        const v = new Float64Array(n);
        const tp = asTensor(p, shape, dtype);
        const tm = zeros(shape, dtype);
        const tv = zeros(shape, dtype);
        for (let step = 1; step <= 5; step++) {
          const g = randn(rand, n, dtype, 0.5);
          const h = { step, lr: 0.01, beta1: 0.8, beta2: 0.95, eps: 1e-10, weightDecay };
          optim.adamwStep(tp, asTensor(g, shape, dtype), tm, tv, h);
          adamwRef(p, g, m, v, h);
        }
        // float32: each step is a handful of roundings of O(1) values.
        const [rtol, atol] = dtype === "float32" ? [1e-5, 1e-6] : [1e-12, 1e-14];
        expectClose(values(tp), p, rtol, atol);
        expectClose(values(tm), m, rtol, atol);
        expectClose(values(tv), v, rtol, atol);
      });

  it("rejects mismatched shapes, dtypes, non-contiguous tensors and step 0", () => {
    const p = zeros([2, 3]);
    const h = { step: 1, lr: 1, beta1: 0.9, beta2: 0.9, eps: 1e-8, weightDecay: 0 };
    expectEngineError(
      () => optim.adamwStep(p, zeros([2, 3]), zeros([3, 2]), zeros([2, 3]), h),
      /adamw_step: exp_avg shape \[3, 2\] must match p shape \[2, 3\]/,
    );
    expectEngineError(
      () => optim.adamwStep(p, zeros([2, 3], "float64"), zeros([2, 3]), zeros([2, 3]), h),
      /adamw_step: grad dtype float64 must match p dtype float32/,
    );
    expectEngineError(
      () => optim.adamwStep(p, ops.transpose(zeros([3, 2]), 0, 1), zeros([2, 3]), zeros([2, 3]), h),
      /adamw_step: grad must be contiguous \(shape \[2, 3\]\)/,
    );
    expectEngineError(
      () => optim.adamwStep(p, zeros([2, 3]), zeros([2, 3]), zeros([2, 3]), { ...h, step: 0 }),
      /adamw_step: step must be >= 1/,
    );
  });
});

// ---- polar express --------------------------------------------------------------------

describe("polarExpress", () => {
  const cases: [string, number[]][] = [
    ["tall", [40, 12]],
    ["wide", [12, 40]],
    ["square", [16, 16]],
    ["batched", [3, 20, 8]],
    ["batched wide", [2, 6, 21]],
  ];
  for (const dtype of ["float32", "float64"] as const)
    for (const [label, shape] of cases)
      it(`matches the float64 reference on a ${label} input ${JSON.stringify(shape)} (${dtype})`, () => {
        const rand = seededRandom(shape.reduce((a, b) => a * 31 + b, 7));
        const [M, N] = shape.slice(-2) as [number, number];
        const K = shape.length === 3 ? shape[0]! : 1;
        const x = randn(rand, K * M * N, dtype);
        for (const steps of [1, 2, 5]) {  // odd and even counts end in different buffers
          const out = optim.polarExpress(asTensor(x, shape, dtype), steps);
          expect(out.shape).toEqual(shape);
          expect(out.dtype).toBe(dtype);
          const expected = new Float64Array(K * M * N);
          for (let k = 0; k < K; k++)
            expected.set(polarRef(x.subarray(k * M * N, (k + 1) * M * N), M, N, steps), k * M * N);
          // Entries are O(1/sqrt(max(M, N))); float32 loses a few ulps per gemm over 5 iterations.
          const [rtol, atol] = dtype === "float32" ? [1e-4, 1e-5] : [1e-10, 1e-12];
          expectClose(values(out), expected, rtol, atol);
        }
      });

  it("squeezes the singular values of a well-conditioned input into about [0.86, 1.14]", () => {
    // A Gaussian (64, 16) has singular values spread over a factor of ~3. Polar express does not
    // converge to exactly 1: after 5 iterations they sit in about [0.86, 1.14] (measured over
    // several seeds and shapes); the test allows [0.8, 1.2] for both orientations.
    const M = 64, N = 16;
    const x = randn(seededRandom(99), M * N, "float32");
    const inSv = singularValues(x, M, N);
    expect(inSv[N - 1]! / inSv[0]!).toBeGreaterThan(2);
    for (const [rows, cols] of [[M, N], [N, M]] as const) {
      const out = values(optim.polarExpress(asTensor(x, [rows, cols], "float32"), 5));
      const sv = singularValues(out, rows, cols);
      expect(sv[0]!).toBeGreaterThan(0.8);
      expect(sv[sv.length - 1]!).toBeLessThan(1.2);
    }
  });

  it("leaves its input unchanged and accepts non-contiguous views", () => {
    const x = randn(seededRandom(5), 12 * 7, "float64");
    const t = asTensor(x, [12, 7], "float64");
    const viaView = optim.polarExpress(ops.transpose(asTensor(x, [7, 12], "float64"), 0, 1), 3);
    const direct = optim.polarExpress(ops.contiguous(ops.transpose(asTensor(x, [7, 12], "float64"), 0, 1)), 3);
    expect(values(viaView)).toEqual(values(direct));
    optim.polarExpress(t, 3);
    expect(values(t)).toEqual(x);
  });

  it("rejects bad ranks, dtypes and step counts", () => {
    expectEngineError(
      () => optim.polarExpress(zeros([5]), 5),
      /polar_express: expected x \(M, N\) or \(K, M, N\), got \[5\]/,
    );
    expectEngineError(() => optim.polarExpress(zeros([2, 2, 3, 4]), 5), /polar_express: .*got \[2, 2, 3, 4\]/);
    expectEngineError(
      () => optim.polarExpress(zeros([3, 4], "int32"), 5),
      /polar_express: x must be float32 or float64, got int32 with shape \[3, 4\]/,
    );
    expectEngineError(() => optim.polarExpress(zeros([3, 4]), 6), /polarExpress: steps must be in 1\.\.5, got 6/);
    expectEngineError(() => optim.polarExpress(zeros([3, 4]), 0), /polarExpress: steps must be in 1\.\.5, got 0/);
  });
});

// ---- Muon -----------------------------------------------------------------------------

interface Group {
  params: Float64Array[];
  momentum: Float64Array;
  second: Float64Array;
}

/** Runs `steps` muon steps on a group of K (M, N) matrices in the engine and the reference. */
function runMuon(
  K: number,
  M: number,
  N: number,
  dtype: DType,
  seed: number,
  steps: number,
  withRef = true,
  nsSteps = 5,
) {
  const rand = seededRandom(seed);
  const n = M * N;
  const stats = M >= N ? M : N;
  const ref: Group = {
    params: Array.from({ length: K }, () => randn(rand, n, dtype, 0.1)),
    momentum: new Float64Array(K * n),
    second: new Float64Array(K * stats),
  };
  const params = ref.params.map((p) => asTensor(p, [M, N], dtype));
  const momentum = zeros([K, M, N], dtype);
  const second = zeros(M >= N ? [K, M, 1] : [K, 1, N], dtype);
  const h = { momentum: 0.95, lr: 0.02 * Math.sqrt(Math.max(1, M / N)), weightDecay: 0.2, beta2: 0.95, nsSteps };
  for (let s = 0; s < steps; s++) {
    const g = Array.from({ length: K }, () => randn(rand, n, dtype));
    const grads = g.map((gk) => asTensor(gk, [M, N], dtype));
    optim.muonStep(params, grads, momentum, second, h);
    grads.forEach((t, k) => expect(values(t)).toEqual(g[k]));  // grads are read, never written
    if (withRef) muonRef(ref.params, g, ref.momentum, ref.second, M, N, h);
  }
  return { ref, params: params.map(values), momentum: values(momentum), second: values(second) };
}

describe("muonStep", () => {
  const groups: [string, number, number][] = [
    ["tall", 24, 10],
    ["wide", 10, 24],
    ["square", 12, 12],
  ];
  for (const dtype of ["float32", "float64"] as const)
    for (const [label, M, N] of groups)
      it(`matches the float64 reference over 3 steps, ${label} group K=2 of (${M}, ${N}) (${dtype})`, () => {
        const r = runMuon(2, M, N, dtype, M * 100 + N, 3);
        // float32: the update goes through 5 polar-express iterations (≈1e-5 relative) and is
        // scaled by lr = 0.02, so parameters (O(0.1)) agree to ~1e-6; state to ~1e-4 relative.
        const [rtol, atol] = dtype === "float32" ? [1e-4, 1e-6] : [1e-10, 1e-13];
        r.params.forEach((p, k) => expectClose(p, r.ref.params[k]!, rtol, atol));
        expectClose(r.momentum, r.ref.momentum, rtol, atol);
        expectClose(r.second, r.ref.second, rtol, atol);
      });

  it("matches the reference with an even ns_steps (2), tall and wide, float64", () => {
    for (const [M, N] of [[18, 7], [7, 18]] as const) {
      const r = runMuon(2, M, N, "float64", 3, 2, true, 2);
      r.params.forEach((p, k) => expectClose(p, r.ref.params[k]!, 1e-10, 1e-13));
      expectClose(r.momentum, r.ref.momentum, 1e-10, 1e-13);
      expectClose(r.second, r.ref.second, 1e-10, 1e-13);
    }
  });

  it("gives bit-identical results with 1 and 2 threads (one task per matrix, or threads within one)", () => {
    // (160, 128) is big enough that the elementwise passes, the row/column statistics and the
    // gemms split across threads when K=1; K=3 runs one matrix per task instead.
    const before = numThreads();
    try {
      for (const [K, M, N] of [[1, 160, 128], [1, 128, 160], [3, 160, 128]] as const) {
        setNumThreads(1);
        const one = runMuon(K, M, N, "float32", 11, 2, false);
        setNumThreads(2);
        const two = runMuon(K, M, N, "float32", 11, 2, false);
        expect(two.params).toEqual(one.params);
        expect(two.momentum).toEqual(one.momentum);
        expect(two.second).toEqual(one.second);
      }
    } finally {
      setNumThreads(before);
    }
  });

  describe("rejects bad groups, naming the op and shapes", () => {
    const h = { momentum: 0.95, lr: 0.02, weightDecay: 0, beta2: 0.95, nsSteps: 5 };
    const tall = () => [zeros([6, 4]), zeros([6, 4])];

    it("params/grads count mismatch", () => {
      expectEngineError(
        () => optim.muonStep(tall(), [zeros([6, 4])], zeros([2, 6, 4]), zeros([2, 6, 1]), h),
        /muonStep: needs as many grads as params \(got 2 params, 1 grads\)/,
      );
    });
    it("params of different shapes", () => {
      expectEngineError(
        () => optim.muonStep([zeros([6, 4]), zeros([4, 6])], tall(), zeros([2, 6, 4]), zeros([2, 6, 1]), h),
        /muon_step: params\[1\] has shape \[4, 6\] but params\[0\] has \[6, 4\]/,
      );
    });
    it("grads of the wrong shape or dtype", () => {
      expectEngineError(
        () => optim.muonStep(tall(), [zeros([6, 4]), zeros([6, 5])], zeros([2, 6, 4]), zeros([2, 6, 1]), h),
        /muon_step: grads\[1\] has shape \[6, 5\] but must match the params' shape \[6, 4\]/,
      );
      expectEngineError(
        () => optim.muonStep(tall(), [zeros([6, 4]), zeros([6, 4], "float64")], zeros([2, 6, 4]), zeros([2, 6, 1]), h),
        /muon_step: grads\[1\] dtype float64 mismatch with params float32/,
      );
    });
    it("non-matrix params", () => {
      expectEngineError(
        () => optim.muonStep([zeros([24])], [zeros([24])], zeros([1, 24]), zeros([1, 24]), h),
        /muon_step: params must be matrices \(M, N\), params\[0\] has shape \[24\]/,
      );
    });
    it("wrong momentum buffer shape", () => {
      expectEngineError(
        () => optim.muonStep(tall(), tall(), zeros([1, 6, 4]), zeros([2, 6, 1]), h),
        /muon_step: momentum_buffer must have shape \[2, 6, 4\] for 2 params of shape \[6, 4\], got \[1, 6, 4\]/,
      );
    });
    it("second momentum buffer on the wrong side", () => {
      expectEngineError(
        () => optim.muonStep(tall(), tall(), zeros([2, 6, 4]), zeros([2, 1, 4]), h),
        /muon_step: second_momentum_buffer must have shape \[2, 6, 1\] for 2 params of shape \[6, 4\], got \[2, 1, 4\]/,
      );
      const wide = () => [zeros([4, 6]), zeros([4, 6])];
      expectEngineError(
        () => optim.muonStep(wide(), wide(), zeros([2, 4, 6]), zeros([2, 4, 1]), h),
        /muon_step: second_momentum_buffer must have shape \[2, 1, 6\] for 2 params of shape \[4, 6\], got \[2, 4, 1\]/,
      );
    });
    it("ns_steps out of range", () => {
      for (const nsSteps of [0, 6])
        expectEngineError(
          () => optim.muonStep(tall(), tall(), zeros([2, 6, 4]), zeros([2, 6, 1]), { ...h, nsSteps }),
          new RegExp(`muon_step: ns_steps must be in 1\\.\\.5, got ${nsSteps}`),
        );
    });
  });
});
