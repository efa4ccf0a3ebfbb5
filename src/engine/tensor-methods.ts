/**
 * The ops as Tensor methods, so a model reads left to right: `x.mul(l).add(x0.mul(l0))`,
 * `x.linear(w).relu().square()`. Each method is the op of the same name in ops.ts with the
 * tensor as its first argument, nothing more: same checks, same kernels, same autograd. Ops
 * with no natural receiver (embedding, attention, crossEntropy, concat) stay functions.
 *
 * Why a module of its own: ops.ts imports tensor.ts, so tensor.ts cannot import ops.ts without
 * a cycle. This module imports both, declares the methods on Tensor (declaration merging) and
 * installs them on its prototype; index.ts imports it, so every Tensor has them once the engine
 * is loaded. It must not add state or behaviour of its own.
 */
import * as ops from "./ops.ts";
import type { CrossEntropyOptions, Operand, RmsNormOptions } from "./ops.ts";
import { type DType, Tensor } from "./tensor.ts";

/**
 * The ops are methods too (listed after the tensor's own members): `x.add(y)` is `ops.add(x, y)`,
 * with the same checks, kernels and autograd.
 */
export interface TensorMethods {
  /** this + b with numpy broadcasting; b may be a number. */
  add(b: Operand): Tensor;
  /** this - b with numpy broadcasting; b may be a number. */
  sub(b: Operand): Tensor;
  /** this * b with numpy broadcasting; b may be a number. */
  mul(b: Operand): Tensor;
  /** this / b with numpy broadcasting; b may be a number. */
  div(b: Operand): Tensor;
  /** Elementwise max (gradient to this on ties). */
  maximum(b: Operand): Tensor;
  /** Elementwise min (gradient to this on ties). */
  minimum(b: Operand): Tensor;
  /** this ** p for a constant exponent. */
  pow(p: number): Tensor;
  neg(): Tensor;
  exp(): Tensor;
  log(): Tensor;
  sqrt(): Tensor;
  rsqrt(): Tensor;
  sigmoid(): Tensor;
  tanh(): Tensor;
  relu(): Tensor;
  square(): Tensor;
  abs(): Tensor;
  /** Sum over `dims` (all when omitted). */
  sum(dims?: number | number[], keepdim?: boolean): Tensor;
  /** Mean over `dims` (all when omitted). */
  mean(dims?: number | number[], keepdim?: boolean): Tensor;
  /** Reshape (a view when contiguous); one dim may be -1. */
  reshape(shape: number[]): Tensor;
  /** Swaps two dims (a view). */
  transpose(dim0: number, dim1: number): Tensor;
  /** this[..., start:end, ...] along `dim` (a view). Negative indices count from the end. */
  slice(dim: number, start: number, end?: number): Tensor;
  /** Splits along `dim` into pieces of the given sizes (or equal pieces of size `sizes`). */
  split(sizes: number | number[], dim?: number): Tensor[];
  /** Inserts a size-1 dim at `dim`. */
  unsqueeze(dim: number): Tensor;
  /** Broadcasts to `shape` (materialised). */
  expand(shape: number[]): Tensor;
  /** A dense copy of a non-contiguous view; this tensor's data otherwise. */
  contiguous(): Tensor;
  /** Converts between float32, float64 and int32 (differentiable between floats). */
  cast(dtype: DType): Tensor;
  /** Batched matrix product: (..., M, K) @ (..., K, N) with broadcast batch dims. */
  matmul(b: Tensor): Tensor;
  /** this @ w^T: this (..., in), w (out, in) -> (..., out), as torch's F.linear without bias. */
  linear(w: Tensor): Tensor;
  /** this / sqrt(mean(this², last dim) + eps) [* weight]; eps defaults to the dtype's epsilon. */
  rmsNorm(options?: RmsNormOptions): Tensor;
  /** Rotary embedding of (B, T, H, D) with cos/sin tables (T, D/2), halves convention. */
  rotary(cos: Tensor, sin: Tensor): Tensor;
  /** Cross-entropy of these logits (N, V) against int32 targets (N). */
  crossEntropy(targets: Tensor, options?: CrossEntropyOptions): Tensor;
}

declare module "./tensor.ts" {
  // Declaration merging: the class Tensor gains the methods installed below.
  interface Tensor extends TensorMethods {}
}

type Implementations = {
  [K in keyof TensorMethods]: (this: Tensor, ...args: Parameters<TensorMethods[K]>) => ReturnType<TensorMethods[K]>;
};

const methods: Implementations = {
  add(b) {
    return ops.add(this, b);
  },
  sub(b) {
    return ops.sub(this, b);
  },
  mul(b) {
    return ops.mul(this, b);
  },
  div(b) {
    return ops.div(this, b);
  },
  maximum(b) {
    return ops.maximum(this, b);
  },
  minimum(b) {
    return ops.minimum(this, b);
  },
  pow(p) {
    return ops.pow(this, p);
  },
  neg() {
    return ops.neg(this);
  },
  exp() {
    return ops.exp(this);
  },
  log() {
    return ops.log(this);
  },
  sqrt() {
    return ops.sqrt(this);
  },
  rsqrt() {
    return ops.rsqrt(this);
  },
  sigmoid() {
    return ops.sigmoid(this);
  },
  tanh() {
    return ops.tanh(this);
  },
  relu() {
    return ops.relu(this);
  },
  square() {
    return ops.square(this);
  },
  abs() {
    return ops.abs(this);
  },
  sum(dims, keepdim) {
    return ops.sum(this, dims, keepdim);
  },
  mean(dims, keepdim) {
    return ops.mean(this, dims, keepdim);
  },
  reshape(shape) {
    return ops.reshape(this, shape);
  },
  transpose(dim0, dim1) {
    return ops.transpose(this, dim0, dim1);
  },
  slice(dim, start, end) {
    return ops.slice(this, dim, start, end);
  },
  split(sizes, dim) {
    return ops.split(this, sizes, dim);
  },
  unsqueeze(dim) {
    return ops.unsqueeze(this, dim);
  },
  expand(shape) {
    return ops.expand(this, shape);
  },
  contiguous() {
    return ops.contiguous(this);
  },
  cast(dtype) {
    return ops.cast(this, dtype);
  },
  matmul(b) {
    return ops.matmul(this, b);
  },
  linear(w) {
    return ops.linear(this, w);
  },
  rmsNorm(options) {
    return ops.rmsNorm(this, options);
  },
  rotary(cos, sin) {
    return ops.rotary(this, cos, sin);
  },
  crossEntropy(targets, options) {
    return ops.crossEntropy(this, targets, options);
  },
};

/** Marks the functions installed here, so a second evaluation of this module may replace them. */
const INSTALLED = Symbol.for("nightshift.tensorMethod");

for (const [name, fn] of Object.entries(methods)) {
  // A method must never shadow a member of the class itself (a getter, dispose, ...).
  const existing: unknown = Object.getOwnPropertyDescriptor(Tensor.prototype, name)?.value;
  if (Object.hasOwn(Tensor.prototype, name) && !(typeof existing === "function" && INSTALLED in existing))
    throw new Error(`tensor-methods: Tensor already has a member '${name}'`);
  Object.defineProperty(fn, INSTALLED, { value: true });
  // Non-enumerable, like the methods a class body declares.
  Object.defineProperty(Tensor.prototype, name, { value: fn, writable: true, configurable: true, enumerable: false });
}
