/**
 * Fused causal attention (native/src/ops/attention.cpp) against a naive float64 reference
 * written out here: explicit (T, T) scores with the causal/window mask, softmax, P @ V, and the
 * textbook backward. Forward and all three gradients are compared on tiny, odd, grouped-query,
 * windowed and block-straddling shapes, in float32 and float64, plus float64 finite-difference
 * gradchecks, thread-count determinism, a memory bound for long sequences and input checks.
 */
import { afterAll, describe, expect, it } from "vitest";
import {
  Generator,
  type Tensor,
  memoryStats,
  noGrad,
  numThreads,
  ops,
  resetPeakMemory,
  scope,
  setNumThreads,
  tensor,
  zeros,
} from "../../src/engine/index.ts";
import { gradcheck, param } from "../support/gradcheck.ts";

interface Case {
  B: number;
  T: number;
  H: number;
  Hkv: number;
  D: number;
  window: number;
  scale?: number;
}

interface Reference {
  out: Float64Array;
  dq: Float64Array;
  dk: Float64Array;
  dv: Float64Array;
}

/** Query i sees key j when i - window <= j <= i (window < 0: every j <= i). */
function visible(i: number, j: number, window: number): boolean {
  return j <= i && (window < 0 || i - j <= window);
}

/**
 * The naive attention in float64. q, dOut: (B, T, H, D); k, v: (B, T, Hkv, D), row-major.
 * Scores are materialised per (b, h) as a full (T, T) matrix with masked entries at -Infinity.
 */
function referenceAttention(
  c: Case,
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  dOut: ArrayLike<number>,
): Reference {
  const { B, T, H, Hkv, D, window } = c;
  const scale = c.scale ?? 1 / Math.sqrt(D);
  const G = H / Hkv;
  const qi = (b: number, t: number, h: number, d: number): number => ((b * T + t) * H + h) * D + d;
  const ki = (b: number, t: number, h: number, d: number): number => ((b * T + t) * Hkv + h) * D + d;
  const out = new Float64Array(B * T * H * D);
  const dq = new Float64Array(B * T * H * D);
  const dk = new Float64Array(B * T * Hkv * D);
  const dv = new Float64Array(B * T * Hkv * D);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++) {
      const hk = Math.floor(h / G);
      // P = softmax(mask(scale * q @ k^T)), one (T, T) matrix
      const P = new Float64Array(T * T);
      for (let i = 0; i < T; i++) {
        let max = -Infinity;
        for (let j = 0; j < T; j++) {
          let s = -Infinity;
          if (visible(i, j, window)) {
            s = 0;
            for (let d = 0; d < D; d++) s += q[qi(b, i, h, d)]! * k[ki(b, j, hk, d)]!;
            s *= scale;
          }
          P[i * T + j] = s;
          max = Math.max(max, s);
        }
        let sum = 0;
        for (let j = 0; j < T; j++) {
          const e = Math.exp(P[i * T + j]! - max);
          P[i * T + j] = e;
          sum += e;
        }
        for (let j = 0; j < T; j++) P[i * T + j]! /= sum;
      }
      // out = P @ V
      for (let i = 0; i < T; i++)
        for (let j = 0; j < T; j++) {
          const p = P[i * T + j]!;
          if (p === 0) continue;
          for (let d = 0; d < D; d++) out[qi(b, i, h, d)]! += p * v[ki(b, j, hk, d)]!;
        }
      // dP = dO @ V^T, dS = P * (dP - rowsum(P * dP)), dq = scale dS @ K, dk = scale dS^T @ Q, dv = P^T @ dO
      for (let i = 0; i < T; i++) {
        const dP = new Float64Array(T);
        let rowDot = 0;
        for (let j = 0; j < T; j++) {
          let s = 0;
          for (let d = 0; d < D; d++) s += dOut[qi(b, i, h, d)]! * v[ki(b, j, hk, d)]!;
          dP[j] = s;
          rowDot += P[i * T + j]! * s;
        }
        for (let j = 0; j < T; j++) {
          const p = P[i * T + j]!;
          if (p === 0) continue;
          const dS = p * (dP[j]! - rowDot);
          for (let d = 0; d < D; d++) {
            dq[qi(b, i, h, d)]! += scale * dS * k[ki(b, j, hk, d)]!;
            dk[ki(b, j, hk, d)]! += scale * dS * q[qi(b, i, h, d)]!;
            dv[ki(b, j, hk, d)]! += p * dOut[qi(b, i, h, d)]!;
          }
        }
      }
    }
  return { out, dq, dk, dv };
}

interface Engine {
  out: Float64Array;
  dq: Float64Array;
  dk: Float64Array;
  dv: Float64Array;
  q: Float64Array;
  k: Float64Array;
  v: Float64Array;
  dOut: Float64Array;
}

/** Runs the engine's attention forward and backward (with a random upstream gradient). */
function runEngine(c: Case, dtype: "float32" | "float64", seed: number): Engine {
  return scope(() => {
    const gen = new Generator(seed);
    const q = gen.normal([c.B, c.T, c.H, c.D], 0, 1, dtype).requireGrad();
    const k = gen.normal([c.B, c.T, c.Hkv, c.D], 0, 1, dtype).requireGrad();
    const v = gen.normal([c.B, c.T, c.Hkv, c.D], 0, 1, dtype).requireGrad();
    const dOut = gen.normal([c.B, c.T, c.H, c.D], 0, 1, dtype);
    const opts = c.scale === undefined ? { window: c.window } : { window: c.window, scale: c.scale };
    const out = ops.attention(q, k, v, opts);
    out.backward(dOut);
    const f64 = (t: Tensor | null): Float64Array => Float64Array.from(t!.toArray());
    return {
      out: f64(out),
      dq: f64(q.grad),
      dk: f64(k.grad),
      dv: f64(v.grad),
      q: f64(q),
      k: f64(k),
      v: f64(v),
      dOut: f64(dOut),
    };
  });
}

/** max |a - b| relative to max |b| (plus an absolute floor), so cancellation in one element cannot mislead. */
function expectClose(name: string, a: Float64Array, b: Float64Array, rtol: number, atol: number): void {
  expect(a.length, name).toBe(b.length);
  let err = 0;
  let mag = 0;
  for (let i = 0; i < a.length; i++) {
    expect(Number.isFinite(a[i]!), `${name}[${i}] is ${a[i]}`).toBe(true);
    err = Math.max(err, Math.abs(a[i]! - b[i]!));
    mag = Math.max(mag, Math.abs(b[i]!));
  }
  expect(err, `${name}: max abs error ${err} (max |ref| ${mag})`).toBeLessThanOrEqual(atol + rtol * mag);
}

function checkCase(c: Case, dtype: "float32" | "float64", seed = 1): void {
  const e = runEngine(c, dtype, seed);
  const r = referenceAttention(c, e.q, e.k, e.v, e.dOut);
  const [rtol, atol] = dtype === "float32" ? [1e-5, 1e-6] : [1e-12, 1e-13];
  expectClose("out", e.out, r.out, rtol, atol);
  expectClose("dq", e.dq, r.dq, rtol, atol);
  expectClose("dk", e.dk, r.dk, rtol, atol);
  expectClose("dv", e.dv, r.dv, rtol, atol);
}

const name = (c: Case): string =>
  `B=${c.B} T=${c.T} H=${c.H} Hkv=${c.Hkv} D=${c.D} window=${c.window}${c.scale === undefined ? "" : ` scale=${c.scale}`}`;

describe("attention matches the naive reference (forward, dq, dk, dv)", () => {
  const cases: Case[] = [
    { B: 1, T: 1, H: 1, Hkv: 1, D: 1, window: -1 }, // tiny
    { B: 2, T: 7, H: 3, Hkv: 3, D: 5, window: -1 }, // odd sizes
    { B: 1, T: 9, H: 4, Hkv: 2, D: 8, window: -1 }, // grouped-query
    { B: 2, T: 11, H: 4, Hkv: 1, D: 6, window: 4 }, // multi-query with a window
    { B: 1, T: 33, H: 2, Hkv: 1, D: 16, window: -1 }, // T not a multiple of the 64-row block
    { B: 1, T: 65, H: 2, Hkv: 2, D: 64, window: -1 },
    { B: 1, T: 130, H: 2, Hkv: 1, D: 20, window: -1 },
    { B: 1, T: 130, H: 1, Hkv: 1, D: 64, window: 65 }, // the window straddles block edges
    { B: 1, T: 200, H: 1, Hkv: 1, D: 8, window: 64 },
    { B: 1, T: 12, H: 2, Hkv: 1, D: 4, window: -1, scale: 0.37 }, // a custom scale
    { B: 2, T: 70, H: 4, Hkv: 2, D: 8, window: 20 }, // grouped-query, window, enough (b, kv head) pairs to fuse
  ];
  for (const c of cases) {
    it(`float32 ${name(c)}`, () => checkCase(c, "float32"));
  }
  for (const window of [0, 1, 3, 35, 70, 71, 500, -1, -7]) {
    const c: Case = { B: 1, T: 70, H: 2, Hkv: 1, D: 12, window };
    it(`float32 window ${window} (${name(c)})`, () => checkCase(c, "float32", 3));
  }
  for (const c of [cases[1]!, cases[3]!, cases[6]!]) {
    it(`float64 ${name(c)}`, () => checkCase(c, "float64", 5));
  }

  it("takes non-contiguous q, k, v (slices of one qkv tensor)", () => {
    const [B, T, H, D] = [2, 37, 2, 8];
    scope(() => {
      const gen = new Generator(9);
      const qkv = gen.normal([B, T, 3 * H, D]);
      const [q, k, v] = ops.split(qkv, [H, H, H], 2);
      expect(q!.isContiguous).toBe(false);
      const out = ops.attention(q!, k!, v!, { window: 10 });
      const ref = referenceAttention(
        { B, T, H, Hkv: H, D, window: 10 },
        ops.contiguous(q!).toArray(),
        ops.contiguous(k!).toArray(),
        ops.contiguous(v!).toArray(),
        new Float64Array(B * T * H * D),
      );
      expectClose("out", Float64Array.from(out.toArray()), ref.out, 1e-5, 1e-6);
    });
  });

  it("gives the same gradients when only some inputs require grad", () => {
    const c: Case = { B: 1, T: 70, H: 4, Hkv: 2, D: 8, window: 20 };
    const full = runEngine(c, "float64", 11);
    scope(() => {
      for (const which of ["q", "kv"] as const) {
        const gen = new Generator(11);
        const q = gen.normal([c.B, c.T, c.H, c.D], 0, 1, "float64");
        const k = gen.normal([c.B, c.T, c.Hkv, c.D], 0, 1, "float64");
        const v = gen.normal([c.B, c.T, c.Hkv, c.D], 0, 1, "float64");
        const dOut = gen.normal([c.B, c.T, c.H, c.D], 0, 1, "float64");
        if (which === "q") q.requiresGrad = true;
        else k.requiresGrad = v.requiresGrad = true;
        ops.attention(q, k, v, { window: c.window }).backward(dOut);
        if (which === "q") {
          expect(Array.from(q.grad!.toArray())).toEqual(Array.from(full.dq));
        } else {
          expect(Array.from(k.grad!.toArray())).toEqual(Array.from(full.dk));
          expect(Array.from(v.grad!.toArray())).toEqual(Array.from(full.dv));
        }
      }
    });
  });
});

describe("attention gradients (float64, central differences)", () => {
  const cases: [string, Case][] = [
    ["full causal", { B: 2, T: 5, H: 2, Hkv: 2, D: 3, window: -1 }],
    ["grouped-query with a window", { B: 1, T: 6, H: 4, Hkv: 2, D: 3, window: 2 }],
    ["multi-query, window 0 (each query sees only itself)", { B: 1, T: 4, H: 2, Hkv: 1, D: 2, window: 0 }],
  ];
  for (const [label, c] of cases) {
    it(label, () => {
      const gen = new Generator(21);
      const q = param(gen, [c.B, c.T, c.H, c.D]);
      const k = param(gen, [c.B, c.T, c.Hkv, c.D]);
      const v = param(gen, [c.B, c.T, c.Hkv, c.D]);
      const r = gradcheck((a, b, d) => ops.attention(a!, b!, d!, { window: c.window }), [q, k, v]);
      expect(r.maxAbsError).toBeLessThan(1e-6);
    });
  }
});

describe("attention determinism and memory", () => {
  const threads = numThreads();
  afterAll(() => setNumThreads(threads));

  it("gives bit-identical results on 1 and 2 threads (both backward schedules)", () => {
    // B * Hkv = 3: one thread takes the fused (b, kv head) sweep, two take the two-pass one.
    const c: Case = { B: 1, T: 130, H: 6, Hkv: 3, D: 16, window: 70 };
    const runs = [1, 2].map((n) => {
      setNumThreads(n);
      return runEngine(c, "float32", 4);
    });
    for (const key of ["out", "dq", "dk", "dv"] as const)
      expect(Buffer.from(runs[0]![key].buffer).equals(Buffer.from(runs[1]![key].buffer)), key).toBe(true);
  });

  it("never materialises (T, T): B=1, T=4096, H=1, D=16 forward + backward", () => {
    const [T, D] = [4096, 16];
    scope(() => {
      const gen = new Generator(2);
      const q = gen.normal([1, T, 1, D]).requireGrad();
      const k = gen.normal([1, T, 1, D]).requireGrad();
      const v = gen.normal([1, T, 1, D]).requireGrad();
      const dOut = gen.normal([1, T, 1, D]);
      const base = memoryStats().liveBytes;
      resetPeakMemory();
      ops.attention(q, k, v, { window: -1 }).backward(dOut);
      const growth = memoryStats().peakBytes - base;
      // Out, lse, packed copies and the three gradients are O(T * D): ~3 MiB here, against
      // 64 MiB for one float32 (T, T) matrix.
      expect(growth).toBeLessThan((T * T * 4) / 16);
      expect(Number.isFinite(q.grad!.toArray()[0]!)).toBe(true);
    });
  });
});

describe("attention input checks", () => {
  const shapesIn = (msg: string): boolean => /q \[.*\], k \[.*\], v \[.*\]/.test(msg);
  const cases: [string, number[], number[], number[], RegExp][] = [
    ["rank", [2, 4, 8], [2, 4, 1, 8], [2, 4, 1, 8], /attention: expected q \(B, T, H, D\)/],
    ["k vs v", [1, 4, 2, 8], [1, 4, 2, 8], [1, 4, 1, 8], /attention: k and v must have the same shape/],
    ["B", [1, 4, 2, 8], [2, 4, 2, 8], [2, 4, 2, 8], /attention: q and k, v disagree on B, T or D/],
    ["T", [1, 4, 2, 8], [1, 5, 2, 8], [1, 5, 2, 8], /disagree on B, T or D/],
    ["D", [1, 4, 2, 8], [1, 4, 2, 4], [1, 4, 2, 4], /disagree on B, T or D/],
    ["H % Hkv", [1, 4, 3, 8], [1, 4, 2, 8], [1, 4, 2, 8], /H must be a multiple of kv heads Hkv/],
  ];
  for (const [label, qs, ks, vs, re] of cases) {
    it(`rejects a ${label} mismatch naming the op and all three shapes`, () => {
      scope(() => {
        let msg = "";
        try {
          ops.attention(zeros(qs), zeros(ks), zeros(vs));
        } catch (e) {
          msg = (e as Error).message;
        }
        expect(msg).toMatch(re);
        expect(shapesIn(msg), msg).toBe(true);
      });
    });
  }

  it("rejects integer inputs", () => {
    scope(() => {
      const a = zeros([1, 2, 1, 4], "int32");
      expect(() => ops.attention(a, a, a)).toThrow(
        /attention: expected float32 or float64 tensors, got int32 \(q \[1, 2, 1, 4\], k \[1, 2, 1, 4\], v \[1, 2, 1, 4\]\)/,
      );
    });
  });

  it("rejects mixed dtypes", () => {
    scope(() => {
      const a = zeros([1, 2, 1, 4]);
      const b = zeros([1, 2, 1, 4], "float64");
      expect(() => ops.attention(a, b, b)).toThrow(/attention: dtype mismatch, q float32, k float64/);
    });
  });

  it("handles an empty sequence and a single token", () => {
    scope(() => {
      const q = zeros([1, 0, 2, 4]).requireGrad();
      const out = ops.attention(q, q, q);
      expect(out.shape).toEqual([1, 0, 2, 4]);
      out.backward(zeros([1, 0, 2, 4]));
      expect(q.grad!.shape).toEqual([1, 0, 2, 4]);
      // One token sees only itself: the output is its value.
      const one = noGrad(() => ops.attention(tensor([1], [1, 1, 1, 1]), tensor([2], [1, 1, 1, 1]), tensor([5], [1, 1, 1, 1])));
      expect(one.item()).toBe(5);
    });
  });
});
