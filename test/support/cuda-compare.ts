/**
 * CPU-versus-CUDA comparison for test/engine/cuda.test.ts. An op case runs twice on the same
 * float32 values: on CPU tensors, and on CUDA tensors made from them; both are backpropagated
 * from the same random upstream gradient. The output and every input's gradient are compared
 * under the tolerance the case names, and a failure says which op, case, seed, dtype and
 * direction (forward, or the gradient of which input), where the worst element is, and the max
 * abs / rel error against the allowed error. Also here: a tiny model built from ops, with its
 * optimizer, that the test file trains on both devices.
 *
 * This file decides no tolerance (the test file's table does) and never touches the GPU unless
 * a test calls it: importing it is safe on a machine without CUDA.
 */
import { assert } from "vitest";
import {
  type DeviceSpec,
  Generator,
  type Tensor,
  cuda,
  noGrad,
  ops,
  optim,
  scope,
  tensor,
  zeros,
} from "../../src/engine/index.ts";

// ---- tolerances and error measures ------------------------------------------------------

export interface Tolerance {
  rtol: number;
  atol: number;
  /**
   * "element": |cuda - cpu| <= atol + rtol * |cpu| at every element.
   * "max": max |cuda - cpu| <= atol + rtol * max |cpu|, i.e. relative to the tensor's scale,
   * for results that sum or cancel many terms (a cancelled element would otherwise mislead).
   */
  relativeTo: "element" | "max";
  /** Why this tolerance; printed with every failure. */
  why: string;
}

export type MatmulPrecision = ReturnType<typeof cuda.matmulPrecision>;

export interface ErrorStats {
  /** max |cuda - cpu| over elements (Infinity when NaN/Inf disagree). */
  maxAbs: number;
  /** max |cuda - cpu| / |cpu| over elements with cpu != 0. */
  maxRel: number;
  /** max |cpu|: the tensor's scale. */
  scale: number;
  /** Worst error / allowed error over elements; <= 1 passes. */
  ratio: number;
  /** Flat index of the element with the worst ratio (-1 for an empty tensor). */
  worst: number;
}

/**
 * How far `got` (CUDA) is from `want` (CPU) under `tol`. NaN matches NaN; Inf must match exactly.
 * `scaleFloor` raises the scale of a "max" tolerance (a case's shared gradient scale).
 */
export function errorStats(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  tol: Tolerance,
  scaleFloor = 0,
): ErrorStats {
  let maxAbs = 0;
  let maxRel = 0;
  let scale = scaleFloor;
  for (let i = 0; i < want.length; i++) if (Number.isFinite(want[i]!)) scale = Math.max(scale, Math.abs(want[i]!));
  let ratio = 0;
  let worst = want.length > 0 ? 0 : -1;
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!;
    const w = want[i]!;
    let err: number;
    if (g === w || (Number.isNaN(g) && Number.isNaN(w))) err = 0;
    else if (!Number.isFinite(g) || !Number.isFinite(w)) err = Infinity;
    else err = Math.abs(g - w);
    maxAbs = Math.max(maxAbs, err);
    if (w !== 0 && Number.isFinite(w)) maxRel = Math.max(maxRel, err / Math.abs(w));
    const allowed = tol.atol + tol.rtol * (tol.relativeTo === "max" ? scale : Math.abs(w));
    const r = err === 0 ? 0 : allowed > 0 ? err / allowed : Infinity;
    if (r > ratio) {
      ratio = r;
      worst = i;
    }
  }
  return { maxAbs, maxRel, scale, ratio, worst };
}

const num = (x: number): string => (Number.isFinite(x) && x !== 0 ? x.toExponential(2) : String(x));

/** Flat index -> "[i, j, k]" in `shape`. */
export function indexIn(shape: number[], flat: number): string {
  const idx: number[] = [];
  let rem = flat;
  for (let d = shape.length - 1; d >= 0; d--) {
    const n = shape[d]!;
    idx.unshift(n > 0 ? rem % n : 0);
    rem = n > 0 ? Math.floor(rem / n) : 0;
  }
  return `[${idx.join(", ")}]`;
}

export const shapeStr = (shape: number[]): string => `[${shape.join(", ")}]`;

/**
 * Compares one tensor's values; returns null when within tolerance, else a message:
 *   "<what> — grad of k: max abs error 3.1e-2 at [0, 5, 1, 7] (cpu 1.2e+0, cuda 1.23e+0), max rel
 *    error 4.0e-1, max abs / max |cpu| 1.1e-2 (max |cpu| 2.8e+0); allowed rtol 2e-2 x max |cpu| +
 *    atol 1e-6 = 5.6e-2 ... (why)".
 */
export function describeMismatch(
  what: string,
  direction: string,
  shape: number[],
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  tol: Tolerance,
  sharedScale?: { value: number; over: string },
): string | null {
  if (got.length !== want.length)
    return `${what} — ${direction}: ${got.length} values on CUDA, ${want.length} on the CPU (${shapeStr(shape)})`;
  const s = errorStats(got, want, tol, sharedScale?.value ?? 0);
  if (s.ratio <= 1) return null;
  const w = s.worst;
  const at = w >= 0 ? ` at ${indexIn(shape, w)} (cpu ${num(want[w]!)}, cuda ${num(got[w]!)})` : "";
  const over = sharedScale ? ` over ${sharedScale.over}` : "";
  const base = tol.relativeTo === "max" ? `max |cpu|${over} ${num(s.scale)}` : "|cpu| at that element";
  const allowedAtWorst =
    s.worst >= 0 ? tol.atol + tol.rtol * (tol.relativeTo === "max" ? s.scale : Math.abs(want[s.worst]!)) : tol.atol;
  return (
    `${what} — ${direction}: max abs error ${num(s.maxAbs)}${at}, max rel error ${num(s.maxRel)}, ` +
    `max abs / max |cpu| ${num(s.scale > 0 ? s.maxAbs / s.scale : s.maxAbs)} (max |cpu|${over} ${num(s.scale)}); ` +
    `allowed: rtol ${tol.rtol} x ${base} + atol ${tol.atol} = ${num(allowedAtWorst)} at the worst element, ` +
    `exceeded ${s.ratio === Infinity ? "infinitely (NaN/Inf mismatch or zero allowance)" : `${s.ratio.toFixed(1)}x`} ` +
    `[tolerance: ${tol.why}]`
  );
}

/** Fails the test with every message (nulls are passes), one per line. */
export function failOnProblems(problems: (string | null)[]): void {
  const found = problems.filter((m): m is string => m !== null);
  if (found.length > 0) assert.fail(found.join("\n"));
}

// ---- moving values between devices ------------------------------------------------------

/** A tensor's values as float64, read back from whatever device it is on (no autograd). */
export function hostValues(t: Tensor): Float64Array {
  return scope(() => noGrad(() => Float64Array.from((t.device === "cpu" ? t : t.to("cpu")).toArray())));
}

/** A fresh leaf on `device` holding a copy of a CPU tensor's values (same dtype). */
export function leafOn(device: DeviceSpec, cpu: Tensor, requiresGrad = false): Tensor {
  const t = tensor(cpu.toArray() as Float32Array | Int32Array, cpu.shape, cpu.dtype, device);
  if (requiresGrad) t.requiresGrad = true;
  return t;
}

/** Runs fn with the CUDA matmul precision set to p (unchanged when p is undefined), restoring it after. */
export function withMatmulPrecision<R>(p: MatmulPrecision | undefined, fn: () => R): R {
  if (p === undefined) return fn();
  const before = cuda.matmulPrecision();
  cuda.setMatmulPrecision(p);
  try {
    return fn();
  } finally {
    cuda.setMatmulPrecision(before);
  }
}

// ---- op cases ---------------------------------------------------------------------------

/** How one input of an op case is drawn. Float inputs are float32 and, unless told, checked for a gradient. */
export type InputSpec =
  | { name: string; shape: number[]; kind: "normal"; std: number; grad: boolean }
  | { name: string; shape: number[]; kind: "uniform"; low: number; high: number; grad: boolean }
  | { name: string; shape: number[]; kind: "ids"; below: number; ignoreIndex?: number }
  | { name: string; shape: number[]; kind: "fixed"; values: Float32Array | Int32Array };

export const normal = (name: string, shape: number[], std = 1, grad = true): InputSpec => ({
  name,
  shape,
  kind: "normal",
  std,
  grad,
});
export const uniform = (name: string, shape: number[], low: number, high: number, grad = true): InputSpec => ({
  name,
  shape,
  kind: "uniform",
  low,
  high,
  grad,
});
/** int32 ids in [0, below); with ignoreIndex, every fourth id (positions 1, 5, 9, ...) is that value. */
export const ids = (name: string, shape: number[], below: number, ignoreIndex?: number): InputSpec =>
  ignoreIndex === undefined ? { name, shape, kind: "ids", below } : { name, shape, kind: "ids", below, ignoreIndex };
/** Constant data (tables, hand-picked ids); never checked for a gradient. */
export const fixed = (name: string, values: Float32Array | Int32Array, shape: number[]): InputSpec => ({
  name,
  shape,
  kind: "fixed",
  values,
});

export interface OpCase {
  /** The op under test, as ops.ts / optim.ts name it. */
  op: string;
  /** Shapes and options, e.g. "transpose([5, 6]) + [6, 5]". */
  label: string;
  inputs: InputSpec[];
  run: (...xs: Tensor[]) => Tensor;
  tol: Tolerance;
  /** Tolerance for the gradients; default: tol. */
  gradTol?: Tolerance;
  /**
   * Measure every gradient against the largest |cpu| over all of the case's gradients (for
   * attention: dq and dk are exactly 0 when each query sees only itself, and both devices then
   * return rounding noise at their own precision).
   */
  sharedGradScale?: boolean;
  /** CUDA matmul precision for this case; default: leave the current setting. */
  precision?: MatmulPrecision;
  /** Seeds to run; default [1, 2]. */
  seeds?: number[];
}

function draw(gen: Generator, spec: InputSpec): Tensor {
  switch (spec.kind) {
    case "normal":
      return gen.normal(spec.shape, 0, spec.std);
    case "uniform":
      return gen.uniform(spec.shape, spec.low, spec.high);
    case "ids": {
      const t = gen.randomIds(spec.shape, spec.below);
      if (spec.ignoreIndex === undefined) return t;
      const v = t.toArray() as Int32Array;
      for (let i = 1; i < v.length; i += 4) v[i] = spec.ignoreIndex;
      return tensor(v, spec.shape, "int32");
    }
    case "fixed":
      return tensor(spec.values, spec.shape, spec.values instanceof Int32Array ? "int32" : "float32");
  }
}

const wantsGrad = (spec: InputSpec): boolean => (spec.kind === "normal" || spec.kind === "uniform") && spec.grad;

/**
 * Runs c with inputs drawn from Generator(seed) on the CPU and on CUDA, backpropagates the same
 * random upstream gradient on both, and fails listing every output or gradient out of tolerance.
 */
export function compareOnCuda(c: OpCase, seed: number): void {
  const what = `${c.op} ${c.label} (seed ${seed}, float32${c.precision ? `, matmul precision ${c.precision}` : ""})`;
  const problems: string[] = [];
  // An op that throws is reported with the case and the stage it threw in.
  const stage = <R>(name: string, fn: () => R): R => {
    try {
      return fn();
    } catch (err) {
      throw new Error(`${what} — ${name} threw: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  };
  scope(() => {
    const gen = new Generator(seed);
    const onCpu = c.inputs.map((spec) => {
      const t = draw(gen, spec);
      if (wantsGrad(spec)) t.requiresGrad = true;
      return t;
    });
    const onCuda = c.inputs.map((spec, i) => leafOn("cuda", onCpu[i]!, wantsGrad(spec)));
    for (const [i, t] of onCuda.entries())
      if (t.device !== "cuda:0") problems.push(`${what}: input ${c.inputs[i]!.name} is on ${t.device}, not cuda:0`);

    const yCpu = stage("the CPU forward", () => c.run(...onCpu));
    const backward = yCpu.dtype === "float32" && c.inputs.some(wantsGrad);
    const dOut = backward ? gen.normal(yCpu.shape) : null;
    if (dOut) stage("the CPU backward", () => yCpu.backward(dOut));

    const yCuda = withMatmulPrecision(c.precision, () => {
      const y = stage("the CUDA forward", () => c.run(...onCuda));
      if (dOut) stage("the CUDA backward", () => y.backward(dOut.to("cuda")));
      return y;
    });

    if (yCuda.device !== "cuda:0") problems.push(`${what} — forward: output is on ${yCuda.device}, not cuda:0`);
    if (shapeStr(yCuda.shape) !== shapeStr(yCpu.shape) || yCuda.dtype !== yCpu.dtype)
      problems.push(
        `${what} — forward: CUDA gives ${yCuda.dtype} ${shapeStr(yCuda.shape)}, ` +
          `the CPU ${yCpu.dtype} ${shapeStr(yCpu.shape)}`,
      );
    else {
      const m = describeMismatch(what, "forward", yCpu.shape, hostValues(yCuda), hostValues(yCpu), c.tol);
      if (m) problems.push(m);
    }

    if (!dOut) return;
    const grads: { name: string; shape: number[]; cpu: Float64Array; cuda: Float64Array }[] = [];
    c.inputs.forEach((spec, i) => {
      if (!wantsGrad(spec)) return;
      const direction = `grad of ${spec.name} ${shapeStr(spec.shape)}`;
      const gCpu = onCpu[i]!.grad;
      const gCuda = onCuda[i]!.grad;
      if (gCpu === null && gCuda === null) return;
      if (gCpu === null || gCuda === null) {
        const missing = gCpu === null ? "none on the CPU" : "none on CUDA";
        problems.push(`${what} — ${direction}: ${missing}, but one on the other device`);
        return;
      }
      if (gCuda.device !== "cuda:0") problems.push(`${what} — ${direction}: lands on ${gCuda.device}, not cuda:0`);
      grads.push({ name: direction, shape: gCpu.shape, cpu: hostValues(gCpu), cuda: hostValues(gCuda) });
    });
    let shared: { value: number; over: string } | undefined;
    if (c.sharedGradScale) {
      let value = 0;
      for (const g of grads) for (const v of g.cpu) if (Number.isFinite(v)) value = Math.max(value, Math.abs(v));
      const names = grads.map((g) => g.name.replace(/^grad of /, "").split(" ")[0]);
      shared = { value, over: `the gradients of ${names.join(", ")}` };
    }
    for (const g of grads) {
      const m = describeMismatch(what, g.name, g.shape, g.cuda, g.cpu, c.gradTol ?? c.tol, shared);
      if (m) problems.push(m);
    }
  });
  failOnProblems(problems);
}

// ---- a tiny model built from ops, and its optimizer ---------------------------------------

export interface TinyConfig {
  vocab: number;
  channels: number;
  heads: number;
  kvHeads: number;
  seqLen: number;
  batch: number;
  window: number;
}

/**
 * One transformer block between an embedding and a softcapped head, written with the engine's
 * ops as the recipe's GPT is (rmsNorm, rotary, grouped-query attention, relu² MLP, fused
 * cross-entropy). Built on `device` from values drawn on the CPU from Generator(seed), so two
 * devices start from the same bits.
 */
export class TinyModel {
  readonly wte: Tensor; // (V, C)
  readonly lmHead: Tensor; // (V, C)
  readonly wq: Tensor; // (H*D, C)
  readonly wk: Tensor; // (Hkv*D, C)
  readonly wv: Tensor; // (Hkv*D, C)
  readonly wo: Tensor; // (C, C)
  readonly fc: Tensor; // (4C, C)
  readonly proj: Tensor; // (C, 4C)
  readonly cos: Tensor; // (T, D/2)
  readonly sin: Tensor; // (T, D/2)
  readonly headDim: number;

  constructor(
    readonly config: TinyConfig,
    device: DeviceSpec,
    seed: number,
  ) {
    const { vocab: V, channels: C, heads: H, kvHeads: Hkv, seqLen: T } = config;
    const D = C / H;
    this.headDim = D;
    const gen = new Generator(seed);
    const s = Math.sqrt(3 / C);
    // Drawn on the CPU inside a scope, so only the copy on `device` outlives the call.
    const param = (drawOnCpu: () => Tensor): Tensor => scope(() => leafOn(device, drawOnCpu(), true));
    this.wte = param(() => gen.normal([V, C]));
    this.lmHead = param(() => gen.normal([V, C], 0, 0.02));
    this.wq = param(() => gen.uniform([H * D, C], -s, s));
    this.wk = param(() => gen.uniform([Hkv * D, C], -s, s));
    this.wv = param(() => gen.uniform([Hkv * D, C], -s, s));
    this.wo = param(() => gen.uniform([C, C], -s / 4, s / 4));
    this.fc = param(() => gen.uniform([4 * C, C], -s, s));
    this.proj = param(() => gen.uniform([C, 4 * C], -s / 8, s / 8));
    const { cos, sin } = rotaryTables(T, D);
    this.cos = tensor(cos, [T, D / 2], "float32", device);
    this.sin = tensor(sin, [T, D / 2], "float32", device);
  }

  /** Muon's matrices, grouped by shape. */
  matrixGroups(): Tensor[][] {
    return [[this.wq, this.wo], [this.wk, this.wv], [this.fc], [this.proj]];
  }

  embeddings(): Tensor[] {
    return [this.wte, this.lmHead];
  }

  /** Mean cross-entropy of targets (B, T) int32 given ids (B, T) int32. */
  loss(idx: Tensor, targets: Tensor): Tensor {
    const { vocab: V, channels: C, heads: H, kvHeads: Hkv, window } = this.config;
    const [B, T] = idx.shape as [number, number];
    const D = this.headDim;
    let x = ops.rmsNorm(ops.embedding(this.wte, idx)); // (B, T, C)
    const h = ops.rmsNorm(x);
    const q = ops.rmsNorm(ops.rotary(ops.reshape(ops.linear(h, this.wq), [B, T, H, D]), this.cos, this.sin));
    const k = ops.rmsNorm(ops.rotary(ops.reshape(ops.linear(h, this.wk), [B, T, Hkv, D]), this.cos, this.sin));
    const v = ops.reshape(ops.linear(h, this.wv), [B, T, Hkv, D]); // (B, T, C) -> (B, T, Hkv, D)
    const y = ops.attention(q, k, v, { window }); // (B, T, H, D)
    x = ops.add(x, ops.linear(ops.reshape(y, [B, T, C]), this.wo));
    x = ops.add(x, ops.linear(ops.square(ops.relu(ops.linear(ops.rmsNorm(x), this.fc))), this.proj));
    const logits = ops.linear(ops.rmsNorm(x), this.lmHead); // (B, T, V)
    return ops.crossEntropy(ops.reshape(logits, [-1, V]), ops.reshape(targets, [-1]), { softcap: 15 });
  }
}

/** AdamW on the embeddings and Muon on the matrix groups, with every state buffer on the params' device. */
export class TinyOptimizer {
  private readonly adam: { p: Tensor; m: Tensor; v: Tensor }[];
  private readonly muon: { params: Tensor[]; momentum: Tensor; second: Tensor }[];
  private steps = 0;

  constructor(model: TinyModel, device: DeviceSpec) {
    this.adam = model.embeddings().map((p) => ({
      p,
      m: zeros(p.shape, "float32", device),
      v: zeros(p.shape, "float32", device),
    }));
    this.muon = model.matrixGroups().map((params) => {
      const [M, N] = params[0]!.shape as [number, number];
      const K = params.length;
      return {
        params,
        momentum: zeros([K, M, N], "float32", device),
        second: zeros(M >= N ? [K, M, 1] : [K, 1, N], "float32", device),
      };
    });
  }

  /** One update from the accumulated gradients, which it then drops. */
  step(): void {
    this.steps += 1;
    scope(() =>
      noGrad(() => {
        for (const s of this.adam) {
          const g = s.p.grad;
          if (!g) throw new Error(`TinyOptimizer: no gradient for a ${shapeStr(s.p.shape)} embedding`);
          const h = { step: this.steps, lr: 0.01, beta1: 0.8, beta2: 0.95, eps: 1e-10, weightDecay: 0 };
          optim.adamwStep(s.p, g, s.m, s.v, h);
        }
        for (const s of this.muon) {
          const grads = s.params.map((p) => p.grad);
          if (grads.some((g) => g === null)) throw new Error("TinyOptimizer: a matrix has no gradient");
          const [M, N] = s.params[0]!.shape as [number, number];
          optim.muonStep(s.params, grads as Tensor[], s.momentum, s.second, {
            momentum: 0.95,
            lr: 0.02 * Math.max(1, M / N) ** 0.5,
            weightDecay: 0.1,
            beta2: 0.95,
            nsSteps: 5,
          });
        }
      }),
    );
    for (const s of this.adam) s.p.zeroGrad();
    for (const s of this.muon) for (const p of s.params) p.zeroGrad();
  }
}

/** Random (ids, next-token targets) of shape (B, T) on `device`, from Generator(seed). */
export function tinyBatch(config: TinyConfig, device: DeviceSpec, seed: number): { x: Tensor; y: Tensor } {
  return scope(() => {
    const all = new Generator(seed).randomIds([config.batch, config.seqLen + 1], config.vocab);
    const x = ops.contiguous(ops.slice(all, 1, 0, config.seqLen));
    const y = ops.contiguous(ops.slice(all, 1, 1, config.seqLen + 1));
    return { x: leafOn(device, x), y: leafOn(device, y) };
  });
}

/** Forward, backward and one optimizer update; returns the loss before the update. */
export function tinyTrainStep(model: TinyModel, optimizer: TinyOptimizer, batch: { x: Tensor; y: Tensor }): number {
  const loss = scope(() => {
    const l = model.loss(batch.x, batch.y);
    l.backward();
    return hostValues(l)[0]!;
  });
  optimizer.step();
  return loss;
}

/** Rotary tables (Tc, D/2), base 10000, as the recipe builds them. */
export function rotaryTables(Tc: number, D: number): { cos: Float32Array; sin: Float32Array } {
  const half = D / 2;
  const cos = new Float32Array(Tc * half);
  const sin = new Float32Array(Tc * half);
  for (let t = 0; t < Tc; t++)
    for (let j = 0; j < half; j++) {
      cos[t * half + j] = Math.cos(t / 10000 ** ((2 * j) / D));
      sin[t * half + j] = Math.sin(t / 10000 ** ((2 * j) / D));
    }
  return { cos, sin };
}
