/**
 * The model ops (embedding, rmsNorm, rotary, crossEntropy) forward and backward: forwards
 * against plain float64 TypeScript references written from autoresearch's train.py, gradients
 * by central differences in float64 (gradcheck), float32 runs against float64 runs of the same
 * float32-rounded inputs, bad inputs, and independence from the thread count.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { seededRandom } from "../support/random.ts";
import {
  type DType,
  Tensor,
  numThreads,
  ops,
  scope,
  setNumThreads,
  tensor,
} from "../../src/engine/index.ts";
import { engineError } from "../support/engine-errors.ts";
import { gradcheck } from "../support/gradcheck.ts";

// ---- seeded inputs --------------------------------------------------------------------


/** n N(0, std²) samples rounded to float32, so float32 and float64 runs see the same values. */
function randn(rand: () => number, n: number, std = 1): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(rand(), 1e-12);
    out[i] = Math.fround(Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand()) * std);
  }
  return out;
}

function randint(rand: () => number, n: number, hi: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(rand() * hi);
  return out;
}

const numel = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

const asTensor = (data: Float64Array, shape: number[], dtype: DType, requiresGrad = false): Tensor => {
  const t = tensor(dtype === "float32" ? Float32Array.from(data) : Float64Array.from(data), shape, dtype);
  if (requiresGrad) t.requiresGrad = true;
  return t;
};

const ids = (data: ArrayLike<number>, shape: number[]) => tensor(Int32Array.from(data), shape, "int32");

const values = (t: { toArray(): ArrayLike<number> }) => Float64Array.from(t.toArray());

/** Largest |a - b| / (atol + rtol * |b|); ≤ 1 means within tolerance. */
function worst(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, atol: number): number {
  expect(actual.length).toBe(expected.length);
  let w = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i]!;
    const d = Math.abs(actual[i]! - e);
    w = Math.max(w, Number.isNaN(d) ? Infinity : d / (atol + rtol * Math.abs(e)));
  }
  return w;
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, atol: number): void {
  expect(worst(actual, expected, rtol, atol)).toBeLessThanOrEqual(1);
}

type Values = Float32Array | Float64Array | Int32Array;
const bytes = (a: Values) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

function expectBitIdentical(a: Values, b: Values) {
  expect(bytes(a).equals(bytes(b))).toBe(true);
}

/** Runs fn with the engine's pool at n threads, restoring the previous size after. */
function withThreads<R>(n: number, fn: () => R): R {
  const prev = numThreads();
  setNumThreads(n);
  try {
    return fn();
  } finally {
    setNumThreads(prev);
  }
}

/**
 * Forward value and input gradients of sum(op(inputs) * w) for a fixed weight w, so every output
 * element has a distinct gradient. Returns plain float64 arrays.
 */
function forwardBackward(
  op: (...xs: Tensor[]) => Tensor,
  inputs: Tensor[],
  w: Float64Array,
): { out: Float64Array; grads: (Float64Array | null)[] } {
  for (const x of inputs) if (x.requiresGrad) x.zeroGrad();
  const out = scope(() => {
    const y = op(...inputs);
    const wt = asTensor(w, y.shape, y.dtype as DType);
    ops.sum(ops.mul(y, wt)).backward();
    return values(y);
  });
  const grads = inputs.map((x) => {
    const g = x.grad;
    if (!g) return null;
    const v = values(g);
    g.dispose();
    x.zeroGrad();
    return v;
  });
  return { out, grads };
}

// ---- float64 references (from autoresearch's train.py, no engine ops) -----------------

function embeddingRef(weight: Float64Array, C: number, idx: ArrayLike<number>): Float64Array {
  const out = new Float64Array(idx.length * C);
  for (let i = 0; i < idx.length; i++) for (let c = 0; c < C; c++) out[i * C + c] = weight[idx[i]! * C + c]!;
  return out;
}

function rmsNormRef(x: Float64Array, C: number, weight: Float64Array | null, eps: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let r = 0; r < x.length / C; r++) {
    let ss = 0;
    for (let c = 0; c < C; c++) ss += x[r * C + c]! ** 2;
    const rs = 1 / Math.sqrt(ss / C + eps);
    for (let c = 0; c < C; c++) out[r * C + c] = x[r * C + c]! * rs * (weight ? weight[c]! : 1);
  }
  return out;
}

/** apply_rotary_emb: x (B, T, H, D), cos/sin (>= T, D/2). */
function rotaryRef(x: Float64Array, shape: number[], cos: Float64Array, sin: Float64Array): Float64Array {
  const [B, T, H, D] = shape as [number, number, number, number];
  const d = D / 2;
  const out = new Float64Array(x.length);
  for (let b = 0; b < B; b++)
    for (let t = 0; t < T; t++)
      for (let h = 0; h < H; h++) {
        const base = ((b * T + t) * H + h) * D;
        for (let j = 0; j < d; j++) {
          const x1 = x[base + j]!, x2 = x[base + d + j]!;
          const c = cos[t * d + j]!, s = sin[t * d + j]!;
          out[base + j] = x1 * c + x2 * s;
          out[base + d + j] = x1 * -s + x2 * c;
        }
      }
  return out;
}

/** F.cross_entropy(softcap * tanh(logits / softcap), targets, ignore_index, reduction). */
function crossEntropyRef(
  logits: Float64Array,
  N: number,
  V: number,
  targets: ArrayLike<number>,
  ignoreIndex: number,
  softcap: number,
  mean: boolean,
): Float64Array {
  const losses = new Float64Array(N);
  let total = 0;
  let count = 0;
  for (let i = 0; i < N; i++) {
    const t = targets[i]!;
    if (t === ignoreIndex) continue;
    const row = logits.subarray(i * V, (i + 1) * V);
    const z = Array.from(row, (v) => (softcap > 0 ? softcap * Math.tanh(v / softcap) : v));
    const m = Math.max(...z);
    const lse = m + Math.log(z.reduce((s, v) => s + Math.exp(v - m), 0));
    losses[i] = lse - z[t]!;
    total += losses[i]!;
    count++;
  }
  return mean ? Float64Array.of(total / count) : losses;
}

// ---- embedding --------------------------------------------------------------------------

describe("embedding", () => {
  it("picks rows of the table (float64 and float32, exact)", () => {
    const rand = seededRandom(1);
    const V = 7, C = 5;
    const w = randn(rand, V * C);
    const idx = [3, 0, 6, 3, 3, 1];
    for (const dtype of ["float64", "float32"] as const) {
      scope(() => {
        const y = ops.embedding(asTensor(w, [V, C], dtype), ids(idx, [2, 3]));
        expect(y.shape).toEqual([2, 3, C]);
        expect(Array.from(values(y))).toEqual(Array.from(embeddingRef(w, C, idx)));
      });
    }
  });

  it("keeps the ids' shape, including size-1 dims and a 0-d id", () => {
    scope(() => {
      const w = asTensor(randn(seededRandom(2), 3), [3, 1], "float64");
      expect(ops.embedding(w, ids([2], [1, 1])).shape).toEqual([1, 1, 1]);
      expect(ops.embedding(w, ids([1], [])).shape).toEqual([1]);
      expect(ops.embedding(w, ids([], [0])).shape).toEqual([0, 1]);
    });
  });

  const gradCases: [string, number, number, number[], number[]][] = [
    ["repeated ids", 6, 4, [3, 4], [5, 0, 5, 2, 2, 5, 0, 1, 5, 3, 2, 0]],
    ["size-1 table and ids", 1, 1, [1], [0]],
    ["odd C, unused rows", 9, 3, [2, 1, 3], [8, 8, 4, 0, 8, 4]],
  ];
  for (const [name, V, C, shape, idx] of gradCases) {
    it(`gradient by central differences: ${name}`, () => {
      const w = asTensor(randn(seededRandom(V * 31 + C), V * C), [V, C], "float64", true);
      const idsT = ids(idx, shape);
      const r = gradcheck((wt) => ops.embedding(wt!, idsT), [w]);
      expect(r.maxAbsError).toBeLessThan(1e-6);
    });
  }

  it("backward scatter-adds in float32 as the float64 run does (rtol 1e-6, atol 1e-6)", () => {
    const rand = seededRandom(3);
    const V = 50, C = 33, n = 4000; // many repeats per row
    const w = randn(rand, V * C);
    const idx = randint(rand, n, V);
    const g = randn(rand, n * C);
    const run = (dtype: DType) =>
      forwardBackward((wt) => ops.embedding(wt!, ids(idx, [n])), [asTensor(w, [V, C], dtype, true)], g);
    const f64 = run("float64"), f32 = run("float32");
    // float64 reference scatter-add: rows in position order.
    const ref = new Float64Array(V * C);
    for (let i = 0; i < n; i++) for (let c = 0; c < C; c++) ref[idx[i]! * C + c]! += g[i * C + c]!;
    expectClose(f64.grads[0]!, ref, 1e-12, 1e-12);
    expectClose(f32.grads[0]!, ref, 1e-6, 1e-4); // sums of ~80 N(0,1) terms in float32
  });

  it("gives the same weight gradient bits whatever the thread count", () => {
    const rand = seededRandom(4);
    const V = 300, C = 64, n = 5000;
    const w = randn(rand, V * C), g = randn(rand, n * C), idx = randint(rand, n, V);
    const run = (threads: number) =>
      withThreads(threads, () => {
        const wt = asTensor(w, [V, C], "float32", true);
        scope(() => ops.embedding(wt, ids(idx, [n])).backward(asTensor(g, [n, C], "float32")));
        return wt.grad!.toArray();
      });
    expectBitIdentical(run(1), run(3));
  });

  it("rejects a bad id naming the id, its position and V", () => {
    const w = asTensor(randn(seededRandom(5), 14), [7, 2], "float32");
    let e = engineError(() => ops.embedding(w, ids([0, 1, 2, 3, 9, 1], [2, 3])));
    expect(e.message).toMatch(/embedding: id 9 at position 4 .*V=7/);
    expect(e.code).toBe("INVALID_ARGUMENT");
    e = engineError(() => ops.embedding(w, ids([2, -1], [2])));
    expect(e.message).toMatch(/embedding: id -1 at position 1 .*V=7/);
  });

  it("rejects float ids and a table that is not 2-D", () => {
    const w = asTensor(randn(seededRandom(6), 14), [7, 2], "float32");
    expect(engineError(() => ops.embedding(w, tensor([1, 2], [2]))).message).toMatch(/embedding: ids must be int32/);
    const w1 = asTensor(randn(seededRandom(6), 14), [14], "float32");
    expect(engineError(() => ops.embedding(w1, ids([1], [1]))).message).toMatch(
      /embedding: weight must be 2-D \(V, C\), got shape \[14\]/,
    );
    const wi = ids([1, 2, 3, 4], [2, 2]);
    expect(engineError(() => ops.embedding(wi, ids([1], [1]))).message).toMatch(/embedding: weight must be float32/);
  });

  it("keeps its own copy of the ids for backward", () => {
    const w = asTensor(randn(seededRandom(7), 12), [4, 3], "float64", true);
    const idsT = ids([1, 2], [2]);
    const y = ops.embedding(w, idsT);
    idsT.copy_(ids([3, 3], [2])); // the next batch lands in the same buffer before backward
    ops.sum(y).backward();
    const g = Array.from(values(w.grad!));
    expect(g).toEqual([0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0]);
  });
});

// ---- rmsNorm ----------------------------------------------------------------------------

describe("rmsNorm", () => {
  const shapes: number[][] = [[3, 5], [2, 1, 7], [4, 1], [1, 1], [2, 3, 37]];

  it("matches the float64 reference with and without weight (rtol 1e-12)", () => {
    const rand = seededRandom(10);
    for (const shape of shapes) {
      const C = shape.at(-1)!;
      const x = randn(rand, numel(shape), 2);
      const w = randn(rand, C);
      for (const eps of [1e-6, 1e-2]) {
        scope(() => {
          const y = ops.rmsNorm(asTensor(x, shape, "float64"), { eps });
          expect(y.shape).toEqual(shape);
          expectClose(values(y), rmsNormRef(x, C, null, eps), 1e-12, 1e-14);
          const yw = ops.rmsNorm(asTensor(x, shape, "float64"), { eps, weight: asTensor(w, [C], "float64") });
          expectClose(values(yw), rmsNormRef(x, C, w, eps), 1e-12, 1e-14);
        });
      }
    }
  });

  it("defaults eps to the dtype's epsilon (as torch) and gives 0 for an all-zero row", () => {
    scope(() => {
      const y = ops.rmsNorm(tensor([0, 0, 0, 3, 4, 0], [2, 3], "float64"));
      const r = 1 / Math.sqrt(25 / 3 + Number.EPSILON);
      expectClose(values(y), [0, 0, 0, 3 * r, 4 * r, 0], 1e-14, 1e-300);
    });
  });

  const gradShapes: number[][] = [[3, 5], [2, 1, 7], [4, 1], [1, 1], [130, 3]]; // 130 rows: three 64-row chunks
  for (const shape of gradShapes) {
    it(`gradients by central differences, x and weight: ${JSON.stringify(shape)}`, () => {
      const rand = seededRandom(numel(shape));
      const C = shape.at(-1)!;
      const x = asTensor(randn(rand, numel(shape)), shape, "float64", true);
      const w = asTensor(randn(rand, C), [C], "float64", true);
      expect(gradcheck((a, b) => ops.rmsNorm(a!, { weight: b!, eps: 1e-5 }), [x, w]).maxAbsError).toBeLessThan(1e-6);
      expect(gradcheck((a) => ops.rmsNorm(a!, { eps: 1e-5 }), [x]).maxAbsError).toBeLessThan(1e-6);
    });
  }

  it("runs float32 forward and backward as float64 does (rtol 1e-5, atol 1e-5)", () => {
    const rand = seededRandom(11);
    const shape = [3, 70, 129];
    const C = 129;
    const x = randn(rand, numel(shape)), w = randn(rand, C), g = randn(rand, numel(shape));
    const run = (dtype: DType) =>
      forwardBackward(
        (a, b) => ops.rmsNorm(a!, { weight: b! }),
        [asTensor(x, shape, dtype, true), asTensor(w, [C], dtype, true)],
        g,
      );
    const f64 = run("float64"), f32 = run("float32");
    expectClose(f32.out, f64.out, 1e-5, 1e-5);
    expectClose(f32.grads[0]!, f64.grads[0]!, 1e-5, 1e-5);
    expectClose(f32.grads[1]!, f64.grads[1]!, 1e-5, 1e-3); // dw sums 210 rows
  });

  it("gives the same bits whatever the thread count", () => {
    const rand = seededRandom(12);
    const shape = [500, 96];
    const x = randn(rand, numel(shape)), w = randn(rand, 96), g = randn(rand, numel(shape));
    const run = (threads: number) =>
      withThreads(threads, () => {
        const r = forwardBackward(
          (a, b) => ops.rmsNorm(a!, { weight: b! }),
          [asTensor(x, shape, "float32", true), asTensor(w, [96], "float32", true)],
          g,
        );
        return [Float64Array.from(r.out), r.grads[0]!, r.grads[1]!];
      });
    const a = run(1), b = run(3);
    for (let i = 0; i < 3; i++) expectBitIdentical(a[i]!, b[i]!);
  });

  it("rejects a weight of the wrong shape or dtype and a 0-d x", () => {
    const x = asTensor(randn(seededRandom(13), 6), [2, 3], "float32");
    expect(engineError(() => ops.rmsNorm(x, { weight: tensor([1, 2], [2]) })).message).toMatch(
      /rms_norm: weight must have shape \[3\] to match x \[2, 3\], got \[2\]/,
    );
    expect(engineError(() => ops.rmsNorm(x, { weight: tensor([1, 2, 3], [3], "float64") })).message).toMatch(
      /rms_norm: dtype mismatch, x is float32, weight is float64/,
    );
    expect(engineError(() => ops.rmsNorm(tensor([2], []))).message).toMatch(/rms_norm: x must have at least 1 dim/);
    expect(engineError(() => ops.rmsNorm(x, { eps: -1 })).message).toMatch(/rms_norm: eps must be .*>= 0/);
    expect(engineError(() => ops.rmsNorm(ids([1, 2], [2]))).message).toMatch(/rms_norm: x must be float32 or float64/);
  });
});

// ---- rotary -----------------------------------------------------------------------------

/** autoresearch's tables: freqs = t * base^(-2j/D), cos/sin (Tc, D/2). */
function rotaryTables(Tc: number, D: number): { cos: Float64Array; sin: Float64Array } {
  const d = D / 2;
  const cos = new Float64Array(Tc * d), sin = new Float64Array(Tc * d);
  for (let t = 0; t < Tc; t++)
    for (let j = 0; j < d; j++) {
      const f = t / 10000 ** ((2 * j) / D);
      cos[t * d + j] = Math.fround(Math.cos(f));
      sin[t * d + j] = Math.fround(Math.sin(f));
    }
  return { cos, sin };
}

describe("rotary", () => {
  const shapes: number[][] = [[2, 3, 2, 4], [1, 1, 1, 2], [2, 5, 3, 6], [1, 4, 1, 10]];

  it("matches apply_rotary_emb in float64, with a table longer than T (rtol 1e-14)", () => {
    const rand = seededRandom(20);
    for (const shape of shapes) {
      const [, T, , D] = shape as [number, number, number, number];
      const Tc = T + 3;
      const { cos, sin } = rotaryTables(Tc, D);
      const x = randn(rand, numel(shape));
      scope(() => {
        const y = ops.rotary(
          asTensor(x, shape, "float64"),
          asTensor(cos, [Tc, D / 2], "float64"),
          asTensor(sin, [Tc, D / 2], "float64"),
        );
        expect(y.shape).toEqual(shape);
        expectClose(values(y), rotaryRef(x, shape, cos, sin), 1e-14, 1e-15);
      });
    }
  });

  it("accepts cos/sin sliced from a longer table (a view)", () => {
    const shape = [1, 3, 2, 4];
    const { cos, sin } = rotaryTables(10, 4);
    const x = randn(seededRandom(21), numel(shape));
    scope(() => {
      const c = ops.slice(asTensor(cos, [10, 2], "float64"), 0, 0, 3);
      const s = ops.slice(asTensor(sin, [10, 2], "float64"), 0, 0, 3);
      expectClose(values(ops.rotary(asTensor(x, shape, "float64"), c, s)), rotaryRef(x, shape, cos, sin), 1e-14, 1e-15);
    });
  });

  for (const shape of shapes) {
    it(`gradient by central differences: ${JSON.stringify(shape)}`, () => {
      const [, T, , D] = shape as [number, number, number, number];
      const { cos, sin } = rotaryTables(T + 1, D);
      const c = asTensor(cos, [T + 1, D / 2], "float64"), s = asTensor(sin, [T + 1, D / 2], "float64");
      const x = asTensor(randn(seededRandom(numel(shape)), numel(shape)), shape, "float64", true);
      expect(gradcheck((a) => ops.rotary(a!, c, s), [x]).maxAbsError).toBeLessThan(1e-6);
    });
  }

  it("gives cos and sin no gradient even when they require one", () => {
    const { cos, sin } = rotaryTables(2, 4);
    const c = asTensor(cos, [2, 2], "float64", true), s = asTensor(sin, [2, 2], "float64", true);
    const x = asTensor(randn(seededRandom(22), 8), [1, 2, 1, 4], "float64", true);
    ops.sum(ops.rotary(x, c, s)).backward();
    expect(x.grad).not.toBeNull();
    expect(c.grad).toBeNull();
    expect(s.grad).toBeNull();
  });

  it("runs float32 forward and backward as float64 does (rtol 1e-6, atol 1e-6)", () => {
    const shape = [2, 17, 3, 12];
    const { cos, sin } = rotaryTables(20, 12);
    const rand = seededRandom(23);
    const x = randn(rand, numel(shape)), g = randn(rand, numel(shape));
    const run = (dtype: DType) =>
      forwardBackward(
        (a) => ops.rotary(a!, asTensor(cos, [20, 6], dtype), asTensor(sin, [20, 6], dtype)),
        [asTensor(x, shape, dtype, true)],
        g,
      );
    const f64 = run("float64"), f32 = run("float32");
    expectClose(f32.out, f64.out, 1e-6, 1e-6);
    expectClose(f32.grads[0]!, f64.grads[0]!, 1e-6, 1e-6);
  });

  it("rejects odd D, short or misshapen tables, mixed dtypes and non-4-D x", () => {
    const t = (shape: number[], dtype: DType = "float32") => asTensor(new Float64Array(numel(shape)), shape, dtype);
    expect(engineError(() => ops.rotary(t([1, 2, 1, 5]), t([2, 2]), t([2, 2]))).message).toMatch(
      /rotary: head dim D must be even, got x \[1, 2, 1, 5\]/,
    );
    expect(engineError(() => ops.rotary(t([1, 4, 1, 4]), t([3, 2]), t([3, 2]))).message).toMatch(
      /rotary: cos\/sin tables \[3, 2\] are too short for x \[1, 4, 1, 4\] \(need at least T=4 rows\)/,
    );
    expect(engineError(() => ops.rotary(t([1, 2, 1, 4]), t([2, 4]), t([2, 4]))).message).toMatch(
      /rotary: cos and sin must both be \(Tc, D\/2\) = \(Tc, 2\) for x \[1, 2, 1, 4\], got cos \[2, 4\] and sin \[2, 4\]/,
    );
    expect(engineError(() => ops.rotary(t([1, 2, 1, 4]), t([2, 2]), t([3, 2]))).message).toMatch(
      /rotary: cos and sin must both be/,
    );
    expect(engineError(() => ops.rotary(t([1, 2, 1, 4]), t([2, 2], "float64"), t([2, 2]))).message).toMatch(
      /rotary: dtype mismatch, x is float32, cos is float64, sin is float32/,
    );
    expect(engineError(() => ops.rotary(t([2, 1, 4]), t([2, 2]), t([2, 2]))).message).toMatch(
      /rotary: x must be 4-D \(B, T, H, D\), got shape \[2, 1, 4\]/,
    );
  });
});

// ---- crossEntropy -----------------------------------------------------------------------

describe("crossEntropy", () => {
  const run = (
    logits: Tensor,
    targets: Tensor,
    o: { ignoreIndex?: number; softcap?: number; reduction?: "mean" | "none" },
  ) => ops.crossEntropy(logits, targets, o);

  it("matches F.cross_entropy on capped logits in float64 (rtol 1e-12)", () => {
    const rand = seededRandom(30);
    const N = 6, V = 9;
    const logits = randn(rand, N * V, 20);
    const targets = Int32Array.from([3, -1, 0, 8, -1, 5]);
    for (const softcap of [0, 15])
      for (const reduction of ["mean", "none"] as const)
        scope(() => {
          const y = run(asTensor(logits, [N, V], "float64"), ids(targets, [N]), { softcap, reduction });
          expect(y.shape).toEqual(reduction === "mean" ? [] : [N]);
          const ref = crossEntropyRef(logits, N, V, targets, -1, softcap, reduction === "mean");
          expectClose(values(y), ref, 1e-12, 1e-12);
          if (reduction === "none") expect(values(y)[1]).toBe(0);
        });
  });

  it("treats an in-range ignore_index as ignored", () => {
    const rand = seededRandom(31);
    const logits = randn(rand, 12);
    scope(() => {
      const y = run(asTensor(logits, [3, 4], "float64"), ids([2, 1, 2], [3]), { ignoreIndex: 2, reduction: "none" });
      const ref = crossEntropyRef(logits, 3, 4, [2, 1, 2], 2, 0, false);
      expectClose(values(y), ref, 1e-12, 1e-12);
      expect(values(y)[0]).toBe(0);
      expect(values(y)[1]).toBeGreaterThan(0);
    });
  });

  it("stays finite for huge logits (max-subtracted)", () => {
    for (const dtype of ["float64", "float32"] as const)
      scope(() => {
        const y = run(asTensor(Float64Array.from([1000, 990, -1000, 1000]), [2, 2], dtype), ids([1, 0], [2]), {
          reduction: "none",
        });
        // float32 rounds lse = 1000.0000454 to 1000 (its ulp there is 6e-5)
        expectClose(values(y), [10 + Math.log1p(Math.exp(-10)), 2000], 1e-6, dtype === "float32" ? 1e-4 : 1e-9);
      });
  });

  const gradCases: [string, number, number, number[], number, "mean" | "none"][] = [
    ["mean, no cap", 4, 5, [1, 4, -1, 0], 0, "mean"],
    ["mean, softcap 15", 4, 5, [1, 4, -1, 0], 15, "mean"],
    ["none, softcap 15", 3, 7, [6, -1, 2], 15, "none"],
    ["none, no cap", 3, 7, [6, 0, -1], 0, "none"],
    ["single row and class", 1, 1, [0], 15, "mean"],
    ["odd V", 2, 13, [12, 3], 2, "mean"],
  ];
  for (const [name, N, V, targets, softcap, reduction] of gradCases) {
    it(`gradient by central differences: ${name}`, () => {
      const logits = asTensor(randn(seededRandom(N * V), N * V, 10), [N, V], "float64", true);
      const t = ids(targets, [N]);
      const r = gradcheck((l) => run(l!, t, { softcap, reduction }), [logits]);
      expect(r.maxAbsError).toBeLessThan(1e-6);
    });
  }

  // Widths that exercise the 8-float blocks and every tail length; std 40 pushes the capped
  // logits into tanh's saturated range and spreads the softmax over many magnitudes.
  for (const softcap of [0, 15])
    it(`runs float32 forward and backward as float64 does, softcap ${softcap} (loss rtol 1e-6, grad atol 3e-6)`, () => {
      const rand = seededRandom(32 + softcap);
      for (const V of [1, 3, 8, 13, 100, 1031]) {
        const N = 7;
        const logits = randn(rand, N * V, softcap > 0 ? 40 : 5);
        const targets = randint(rand, N, V);
        targets[2] = -1;
        const g = randn(rand, N);
        const f = (dtype: DType) =>
          forwardBackward(
            (l) => run(l!, ids(targets, [N]), { softcap, reduction: "none" }),
            [asTensor(logits, [N, V], dtype, true)],
            g,
          );
        const f64 = f("float64"), f32 = f("float32");
        expectClose(f64.out, crossEntropyRef(logits, N, V, targets, -1, softcap, false), 1e-12, 1e-12);
        expectClose(f32.out, f64.out, 1e-6, 1e-6);
        // Each gradient element is g * (p - onehot) * (1 - tanh²), |g| up to ~3; p = exp(z - lse)
        // inherits lse's float32 rounding (ulp 1e-6 near 10), so errors near 3e-6 are expected.
        expectClose(f32.grads[0]!, f64.grads[0]!, 0, 3e-6);
      }
    });

  it("gives NaN (mean) or zeros (none) when every target is ignored, and zero gradients", () => {
    for (const dtype of ["float64", "float32"] as const) {
      const l = asTensor(randn(seededRandom(33), 8), [2, 4], dtype, true);
      const t = ids([-1, -1], [2]);
      const m = run(l, t, { softcap: 15 });
      expect(Number.isNaN(m.item())).toBe(true);
      m.backward();
      expect(Array.from(values(l.grad!))).toEqual(new Array(8).fill(0));
      l.zeroGrad();
      const n = run(l, t, { reduction: "none" });
      expect(Array.from(values(n))).toEqual([0, 0]);
      n.backward(tensor([1, 1], [2], dtype));
      expect(Array.from(values(l.grad!))).toEqual(new Array(8).fill(0));
    }
  });

  it("uses ignore_index -1 by default, as autoresearch", () => {
    const logits = randn(seededRandom(34), 8);
    scope(() => {
      const y = run(asTensor(logits, [2, 4], "float64"), ids([-1, 3], [2]), {});
      expectClose(values(y), crossEntropyRef(logits, 2, 4, [-1, 3], -1, 0, true), 1e-12, 1e-12);
    });
  });

  it("gives the same bits whatever the thread count", () => {
    const rand = seededRandom(35);
    const N = 64, V = 1000;
    const logits = randn(rand, N * V, 10), targets = randint(rand, N, V);
    const go = (threads: number) =>
      withThreads(threads, () => {
        const l = asTensor(logits, [N, V], "float32", true);
        const y = run(l, ids(targets, [N]), { softcap: 15 });
        const v = y.item();
        y.backward();
        return [Float32Array.of(v), l.grad!.toArray()];
      });
    const a = go(1), b = go(3);
    expectBitIdentical(a[0]!, b[0]!);
    expectBitIdentical(a[1]!, b[1]!);
  });

  it("rejects out-of-range targets naming position, value and V", () => {
    const l = asTensor(new Float64Array(12), [3, 4], "float32");
    let e = engineError(() => run(l, ids([0, 4, 1], [3]), {}));
    expect(e.message).toMatch(/cross_entropy: target 4 at position 1 is out of range for logits \[3, 4\].*V=4/);
    expect(e.code).toBe("INVALID_ARGUMENT");
    e = engineError(() => run(l, ids([0, 1, -2], [3]), {}));
    expect(e.message).toMatch(/cross_entropy: target -2 at position 2 .*V=4.*ignore_index=-1/);
    // -1 is fine by default, out of range once ignore_index moves.
    expect(engineError(() => run(l, ids([0, -1, 1], [3]), { ignoreIndex: -100 })).message).toMatch(
      /target -1 at position 1/,
    );
  });

  it("rejects non-2-D logits, float or misshapen targets", () => {
    const l3 = asTensor(new Float64Array(8), [2, 2, 2], "float32");
    expect(engineError(() => run(l3, ids([0, 1], [2]), {})).message).toMatch(
      /cross_entropy: logits must be 2-D \(N, V\), got shape \[2, 2, 2\]/,
    );
    const l = asTensor(new Float64Array(8), [2, 4], "float32");
    expect(engineError(() => run(l, tensor([0, 1], [2]), {})).message).toMatch(/crossEntropy: targets must be int32/);
    expect(engineError(() => run(l, ids([0, 1, 2], [3]), {})).message).toMatch(
      /cross_entropy: targets must have shape \[2\] to match logits \[2, 4\], got \[3\]/,
    );
    expect(engineError(() => run(ids([0, 1], [1, 2]), ids([0], [1]), {})).message).toMatch(
      /cross_entropy: logits must be float32 or float64/,
    );
  });
});

// ---- crossEntropy float32 kernels (generic, AVX2, AVX-512) -------------------------------
// The float32 kernel is chosen once when the addon loads, so each one runs in a child process
// (NIGHTSHIFT_CE_KERNEL=generic|avx2|avx512) that compares its float32 results with float64
// ones and reports the worst error ratios (≤ 1 is within tolerance) and whether 1 and 3
// threads gave the same bits. Tolerances: loss rtol 1e-6 + atol 1e-6; gradient atol 3e-6;
// softmax probabilities (exp accuracy) rtol 1e-6, 3e-6 with softcap 15.

const CE_CHILD = `
const { ops, tensor, setNumThreads } = await import(process.env.CE_ENGINE_URL);
let seed = 7;
const rand = () => {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const randn = (n, std) =>
  Float64Array.from({ length: n }, () => {
    const u = Math.max(rand(), 1e-12);
    return Math.fround(Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand()) * std);
  });
const worst = (a, e, rtol, atol) => {
  let w = 0;
  for (let i = 0; i < e.length; i++) {
    const d = Math.abs(a[i] - e[i]);
    w = Math.max(w, Number.isNaN(d) ? Infinity : d / (atol + rtol * Math.abs(e[i])));
  }
  return w;
};
const run = (dtype, logits, N, V, targets, g, softcap) => {
  const l = tensor(dtype === "float32" ? Float32Array.from(logits) : logits, [N, V], dtype);
  l.requiresGrad = true;
  const y = ops.crossEntropy(l, tensor(targets, [N], "int32"), { softcap, reduction: "none" });
  const out = y.toArray();
  y.backward(tensor(dtype === "float32" ? Float32Array.from(g) : g, [N], dtype));
  return { out, grad: l.grad.toArray() };
};
let lossWorst = 0, gradWorst = 0, sameBits = true;
for (const softcap of [0, 15])
  for (const V of [1, 3, 13, 31, 33, 100, 1031]) {
    const N = 5;
    const logits = randn(N * V, softcap > 0 ? 40 : 5);
    const targets = Int32Array.from({ length: N }, (_, i) => (i === 1 ? -1 : Math.floor(rand() * V)));
    const g = randn(N, 1);
    const f64 = run("float64", logits, N, V, targets, g, softcap);
    const f32 = run("float32", logits, N, V, targets, g, softcap);
    lossWorst = Math.max(lossWorst, worst(f32.out, f64.out, 1e-6, 1e-6));
    gradWorst = Math.max(gradWorst, worst(f32.grad, f64.grad, 0, 3e-6));
    setNumThreads(1);
    const one = run("float32", logits, N, V, targets, g, softcap);
    setNumThreads(3);
    const three = run("float32", logits, N, V, targets, g, softcap);
    const eq = (a, b) => Buffer.from(a.buffer).equals(Buffer.from(b.buffer));
    sameBits &&= eq(one.out, three.out) && eq(one.grad, three.grad);
  }
// Two classes, target 0, g = 1: the other class's gradient is exp(z1 - lse) itself, so its
// relative error shows the kernel's exp (and, capped, 15 x its tanh error) directly.
let expWorst = 0;
for (const softcap of [0, 15]) {
  const N = 400;
  const logits = new Float64Array(2 * N);
  for (let i = 0; i < N; i++)
    logits[2 * i + 1] = Math.fround(softcap > 0 ? -60 + (120 * i) / (N - 1) : -80 + (80 * i) / (N - 1));
  const f64 = run("float64", logits, N, 2, new Int32Array(N), new Float64Array(N).fill(1), softcap);
  const f32 = run("float32", logits, N, 2, new Int32Array(N), new Float64Array(N).fill(1), softcap);
  const odd = (a) => Float64Array.from({ length: N }, (_, i) => a[2 * i + 1]);
  expWorst = Math.max(expWorst, worst(odd(f32.grad), odd(f64.grad), softcap > 0 ? 3e-6 : 1e-6, 1e-37));
}
console.log(JSON.stringify({ lossWorst, gradWorst, expWorst, sameBits }));
`;

function cpuFlags(): string {
  try {
    return readFileSync("/proc/cpuinfo", "utf8").match(/^flags\s*:(.*)$/m)?.[1] ?? "";
  } catch {
    return "";
  }
}

describe("crossEntropy float32 kernels", () => {
  const flags = cpuFlags();
  const has = (f: string) => new RegExp(`\\b${f}\\b`).test(flags);
  const runs: Record<string, boolean> = {
    generic: true,
    avx2: has("avx2") && has("fma"),
    avx512: ["avx512f", "avx512bw", "avx512vl", "avx512dq", "fma"].every(has),
  };
  for (const kernel of ["generic", "avx2", "avx512"]) {
    const title = `${kernel}: float32 matches float64 (loss, gradient, probabilities), same bits on 1 and 3 threads`;
    it.skipIf(!runs[kernel])(title, () => {
      const res = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", CE_CHILD], {
        env: {
          ...process.env,
          NIGHTSHIFT_CE_KERNEL: kernel,
          CE_ENGINE_URL: pathToFileURL(resolve("src/engine/index.ts")).href,
        },
        encoding: "utf8",
      });
      expect(res.status, res.stderr).toBe(0);
      const r = JSON.parse(res.stdout.trim().split("\n").at(-1)!) as {
        lossWorst: number;
        gradWorst: number;
        expWorst: number;
        sameBits: boolean;
      };
      expect(r.lossWorst).toBeLessThanOrEqual(1);
      expect(r.gradWorst).toBeLessThanOrEqual(1);
      expect(r.expWorst).toBeLessThanOrEqual(1);
      expect(r.sameBits).toBe(true);
    });
  }
});
