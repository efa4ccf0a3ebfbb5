/**
 * The differentiable op set train.ts is written in. Each op checks its arguments here (types,
 * options, integer dims) and leaves shape checks to the native kernel, whose errors name the
 * op and the shapes. Attention tensors are (B, T, H, D), as in FlashAttention.
 */
import { type DType, Tensor, native, wrapNative } from "./tensor.ts";
import { assertFinite, assertInt, assertShape, assertTensor, checkOptions, invalid } from "./validate.ts";

/** A tensor, or a number broadcast as a scalar. */
export type Operand = Tensor | number;

/** 2^-23, float32's machine epsilon (torch.finfo(torch.float32).eps). */
const FLOAT32_EPSILON = 1.1920928955078125e-7;

function binary(op: "add" | "sub" | "mul" | "div" | "maximum" | "minimum", a: Tensor, b: Operand): Tensor {
  assertTensor(op, "a", a);
  if (typeof b === "number") {
    assertFinite(op, "b", b);
    switch (op) {
      case "add":
        return wrapNative(() => native.addScalar(a.native, b));
      case "sub":
        return wrapNative(() => native.addScalar(a.native, -b));
      case "mul":
        return wrapNative(() => native.mulScalar(a.native, b));
      case "div":
        return wrapNative(() => native.mulScalar(a.native, 1 / b));
      default: {
        const s = wrapNative(() => native.full([], a.dtype, b, a.device));
        try {
          return wrapNative(() => native.binary(op, a.native, s.native));
        } finally {
          s.dispose();
        }
      }
    }
  }
  assertTensor(op, "b", b);
  return wrapNative(() => native.binary(op, a.native, b.native));
}

/** a + b with numpy broadcasting; b may be a number. */
export const add = (a: Tensor, b: Operand): Tensor => binary("add", a, b);
/** a - b with numpy broadcasting; b may be a number. */
export const sub = (a: Tensor, b: Operand): Tensor => binary("sub", a, b);
/** a * b with numpy broadcasting; b may be a number. */
export const mul = (a: Tensor, b: Operand): Tensor => binary("mul", a, b);
/** a / b with numpy broadcasting; b may be a number. */
export const div = (a: Tensor, b: Operand): Tensor => binary("div", a, b);
/** Elementwise max (gradient to a on ties). */
export const maximum = (a: Tensor, b: Operand): Tensor => binary("maximum", a, b);
/** Elementwise min (gradient to a on ties). */
export const minimum = (a: Tensor, b: Operand): Tensor => binary("minimum", a, b);

function unary(op: string, x: Tensor): Tensor {
  assertTensor(op, "x", x);
  return wrapNative(() => native.unary(op, x.native));
}

export const neg = (x: Tensor): Tensor => unary("neg", x);
export const exp = (x: Tensor): Tensor => unary("exp", x);
export const log = (x: Tensor): Tensor => unary("log", x);
export const sqrt = (x: Tensor): Tensor => unary("sqrt", x);
export const rsqrt = (x: Tensor): Tensor => unary("rsqrt", x);
export const sigmoid = (x: Tensor): Tensor => unary("sigmoid", x);
export const tanh = (x: Tensor): Tensor => unary("tanh", x);
export const relu = (x: Tensor): Tensor => unary("relu", x);
export const square = (x: Tensor): Tensor => unary("square", x);
export const abs = (x: Tensor): Tensor => unary("abs", x);

/** x ** p for a constant exponent. */
export function pow(x: Tensor, p: number): Tensor {
  assertTensor("pow", "x", x);
  assertFinite("pow", "p", p);
  return wrapNative(() => native.powScalar(x.native, p));
}

function dimsArg(op: string, dims: number | number[] | undefined): number[] {
  if (dims === undefined) return [];
  const list = typeof dims === "number" ? [dims] : dims;
  if (!Array.isArray(list)) invalid(`${op}: dims must be an integer or an array of integers`);
  for (const d of list) assertInt(op, "dim", d);
  return list;
}

/** Sum over `dims` (all when omitted). */
export function sum(x: Tensor, dims?: number | number[], keepdim = false): Tensor {
  assertTensor("sum", "x", x);
  const d = dimsArg("sum", dims);
  return wrapNative(() => native.sum(x.native, d, keepdim));
}

/** Mean over `dims` (all when omitted). */
export function mean(x: Tensor, dims?: number | number[], keepdim = false): Tensor {
  assertTensor("mean", "x", x);
  const d = dimsArg("mean", dims);
  return wrapNative(() => native.mean(x.native, d, keepdim));
}

/** Reshape (a view when x is contiguous); one dim may be -1. */
export function reshape(x: Tensor, shape: number[]): Tensor {
  assertTensor("reshape", "x", x);
  assertShape("reshape", shape);
  return wrapNative(() => native.reshape(x.native, shape));
}

/** Swaps two dims (a view). */
export function transpose(x: Tensor, dim0: number, dim1: number): Tensor {
  assertTensor("transpose", "x", x);
  assertInt("transpose", "dim0", dim0);
  assertInt("transpose", "dim1", dim1);
  return wrapNative(() => native.transpose(x.native, dim0, dim1));
}

/** x[..., start:end, ...] along `dim` (a view). Negative indices count from the end. */
export function slice(x: Tensor, dim: number, start: number, end?: number): Tensor {
  assertTensor("slice", "x", x);
  assertInt("slice", "dim", dim);
  assertInt("slice", "start", start);
  const stop = end ?? x.shape.at(dim < 0 ? dim : dim) ?? 0;
  assertInt("slice", "end", stop);
  return wrapNative(() => native.slice(x.native, dim, start, stop));
}

/** Splits along `dim` into pieces of the given sizes (or equal pieces of size `sizes`). */
export function split(x: Tensor, sizes: number | number[], dim = 0): Tensor[] {
  assertTensor("split", "x", x);
  assertInt("split", "dim", dim);
  const total = x.shape.at(dim);
  if (total === undefined) invalid(`split: dim ${dim} is out of range for shape [${x.shape.join(", ")}]`);
  let parts: number[];
  if (typeof sizes === "number") {
    assertInt("split", "size", sizes);
    if (sizes <= 0) invalid(`split: size must be positive, got ${sizes}`);
    parts = [];
    for (let at = 0; at < total; at += sizes) parts.push(Math.min(sizes, total - at));
  } else {
    parts = sizes;
    for (const s of parts) assertInt("split", "size", s);
    const sum = parts.reduce((a, b) => a + b, 0);
    if (sum !== total) invalid(`split: sizes [${parts.join(", ")}] add up to ${sum}, but dim ${dim} has ${total}`);
  }
  const out: Tensor[] = [];
  let at = 0;
  for (const s of parts) {
    out.push(slice(x, dim, at, at + s));
    at += s;
  }
  return out;
}

/** Concatenates along `dim`. */
export function concat(xs: Tensor[], dim = 0): Tensor {
  if (!Array.isArray(xs) || xs.length === 0) invalid("concat: needs a non-empty array of tensors");
  xs.forEach((t, i) => assertTensor("concat", `xs[${i}]`, t));
  assertInt("concat", "dim", dim);
  return wrapNative(() =>
    native.concat(
      xs.map((t) => t.native),
      dim,
    ),
  );
}

/** A dense copy when x is a non-contiguous view; x itself otherwise. */
export function contiguous(x: Tensor): Tensor {
  assertTensor("contiguous", "x", x);
  return wrapNative(() => native.contiguous(x.native));
}

/** Converts between float32, float64 and int32 (differentiable between floats). */
export function cast(x: Tensor, dtype: DType): Tensor {
  assertTensor("cast", "x", x);
  return wrapNative(() => native.cast(x.native, dtype));
}

/** Broadcasts x to `shape` (materialised). */
export function expand(x: Tensor, shape: number[]): Tensor {
  assertTensor("expand", "x", x);
  assertShape("expand", shape);
  return wrapNative(() => native.expand(x.native, shape));
}

/** Inserts a size-1 dim at `dim`. */
export function unsqueeze(x: Tensor, dim: number): Tensor {
  assertTensor("unsqueeze", "x", x);
  assertInt("unsqueeze", "dim", dim);
  const shape = x.shape;
  const at = dim < 0 ? dim + shape.length + 1 : dim;
  if (at < 0 || at > shape.length) invalid(`unsqueeze: dim ${dim} is out of range for shape [${shape.join(", ")}]`);
  shape.splice(at, 0, 1);
  return reshape(x, shape);
}

/** Batched matrix product: (..., M, K) @ (..., K, N) with broadcast batch dims. */
export function matmul(a: Tensor, b: Tensor): Tensor {
  assertTensor("matmul", "a", a);
  assertTensor("matmul", "b", b);
  return wrapNative(() => native.matmul(a.native, b.native));
}

/** x @ w^T: x (..., in), w (out, in) -> (..., out), as torch's F.linear without bias. */
export function linear(x: Tensor, w: Tensor): Tensor {
  assertTensor("linear", "x", x);
  assertTensor("linear", "w", w);
  return wrapNative(() => native.linear(x.native, w.native));
}

/** Rows of weight (V, C) picked by int32 ids (...) -> (..., C). */
export function embedding(weight: Tensor, ids: Tensor): Tensor {
  assertTensor("embedding", "weight", weight);
  assertTensor("embedding", "ids", ids);
  if (ids.dtype !== "int32") invalid(`embedding: ids must be int32, got ${ids.dtype}`);
  return wrapNative(() => native.embedding(weight.native, ids.native));
}

export interface RmsNormOptions {
  /** Per-channel scale (C); none by default, as in autoresearch. */
  weight?: Tensor;
  /** Added to the mean square; default: the dtype's machine epsilon, as torch's F.rms_norm. */
  eps?: number;
}

/** x / sqrt(mean(x², last dim) + eps) [* weight]. */
export function rmsNorm(x: Tensor, options: RmsNormOptions = {}): Tensor {
  assertTensor("rmsNorm", "x", x);
  checkOptions("rmsNorm", options, ["weight", "eps"]);
  const eps = options.eps ?? (x.dtype === "float64" ? Number.EPSILON : FLOAT32_EPSILON);
  assertFinite("rmsNorm", "eps", eps);
  if (options.weight !== undefined) assertTensor("rmsNorm", "weight", options.weight);
  return wrapNative(() => native.rmsNorm(x.native, options.weight?.native ?? null, eps));
}

/** Rotary embedding on (B, T, H, D) with cos/sin tables (T, D/2), halves convention. */
export function rotary(x: Tensor, cos: Tensor, sin: Tensor): Tensor {
  assertTensor("rotary", "x", x);
  assertTensor("rotary", "cos", cos);
  assertTensor("rotary", "sin", sin);
  return wrapNative(() => native.rotary(x.native, cos.native, sin.native));
}

export interface AttentionOptions {
  /** Keys visible to query i: i - window ..= i. Omitted or negative: all earlier keys. */
  window?: number;
  /** Logit scale; default 1/sqrt(D). */
  scale?: number;
}

/**
 * Fused causal attention. q: (B, T, H, D); k, v: (B, T, Hkv, D) with H a multiple of Hkv
 * (grouped-query heads). Online softmax: memory is O(T·D), never (T, T).
 */
export function attention(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions = {}): Tensor {
  assertTensor("attention", "q", q);
  assertTensor("attention", "k", k);
  assertTensor("attention", "v", v);
  checkOptions("attention", options, ["window", "scale"]);
  const window = options.window ?? -1;
  assertInt("attention", "window", window);
  const d = q.shape.at(-1) ?? 1;
  const scale = options.scale ?? 1 / Math.sqrt(d);
  assertFinite("attention", "scale", scale);
  return wrapNative(() => native.attention(q.native, k.native, v.native, window, scale));
}

export interface CrossEntropyOptions {
  /** Targets with this id contribute nothing (default -1, as autoresearch). */
  ignoreIndex?: number;
  /** If > 0, logits become softcap * tanh(logits / softcap) first (fused). Default 0 = off. */
  softcap?: number;
  /** "mean" over counted targets (default) or "none" for per-token losses. */
  reduction?: "mean" | "none";
}

/** Cross-entropy of logits (N, V) against int32 targets (N). */
export function crossEntropy(logits: Tensor, targets: Tensor, options: CrossEntropyOptions = {}): Tensor {
  assertTensor("crossEntropy", "logits", logits);
  assertTensor("crossEntropy", "targets", targets);
  checkOptions("crossEntropy", options, ["ignoreIndex", "softcap", "reduction"]);
  if (targets.dtype !== "int32") invalid(`crossEntropy: targets must be int32, got ${targets.dtype}`);
  const ignoreIndex = options.ignoreIndex ?? -1;
  assertInt("crossEntropy", "ignoreIndex", ignoreIndex);
  const softcap = options.softcap ?? 0;
  assertFinite("crossEntropy", "softcap", softcap);
  if (softcap < 0) invalid(`crossEntropy: softcap must be >= 0, got ${softcap}`);
  const reduction = options.reduction ?? "mean";
  if (reduction !== "mean" && reduction !== "none")
    invalid(`crossEntropy: reduction must be 'mean' or 'none', got '${String(reduction)}'`);
  return wrapNative(() =>
    native.crossEntropy(logits.native, targets.native, ignoreIndex, softcap, reduction === "mean"),
  );
}
