/**
 * Tensor: a handle on a native tensor. Shapes, dtype, device, autograd (requiresGrad, grad,
 * backward) and data export. Ops live in ops.ts; this class only owns the handle.
 */
import { EngineError, fromNativeError } from "./errors.ts";
import { type DType, type NativeTensor, native } from "./native.ts";
import { track } from "./scope.ts";

export type { DType } from "./native.ts";
export type Device = "cpu";
export type TypedArrayFor<D extends DType> = D extends "float64"
  ? Float64Array
  : D extends "int32"
    ? Int32Array
    : Float32Array;

export class Tensor {
  #handle: NativeTensor | null;

  /** @internal Wraps a native handle and records it in the current scope. */
  constructor(handle: NativeTensor) {
    this.#handle = handle;
    track(this);
  }

  /** @internal The native handle; throws DISPOSED after dispose(). */
  get native(): NativeTensor {
    if (this.#handle === null) throw new EngineError("DISPOSED", "tensor was disposed (or its scope ended)");
    return this.#handle;
  }

  get shape(): number[] {
    return this.native.shape;
  }
  get dtype(): DType {
    return this.native.dtype;
  }
  get device(): Device {
    return "cpu";
  }
  get ndim(): number {
    return this.native.shape.length;
  }
  get numel(): number {
    return this.native.shape.reduce((a, b) => a * b, 1);
  }
  get isContiguous(): boolean {
    return this.native.isContiguous;
  }
  get isLeaf(): boolean {
    return this.native.isLeaf;
  }
  get disposed(): boolean {
    return this.#handle === null;
  }

  get requiresGrad(): boolean {
    return this.native.requiresGrad;
  }
  set requiresGrad(value: boolean) {
    try {
      this.native.requiresGrad = value;
    } catch (err) {
      throw fromNativeError(err);
    }
  }

  /** Marks a leaf as a parameter (requiresGrad = true) and returns it, for chaining. */
  requireGrad(): this {
    this.requiresGrad = true;
    return this;
  }

  /** The accumulated gradient of a leaf, or null before any backward(). */
  get grad(): Tensor | null {
    const g = this.native.grad;
    return g === null ? null : new Tensor(g);
  }

  /** Drops the accumulated gradient (set-to-none semantics). */
  zeroGrad(): void {
    this.native.zeroGrad();
  }

  /**
   * Backpropagates from this tensor. A one-element tensor needs no `grad`; others need one of
   * the same shape. The graph is freed afterwards: a second backward() through it throws.
   */
  backward(grad?: Tensor): void {
    try {
      this.native.backward(grad ? grad.native : null);
    } catch (err) {
      throw fromNativeError(err);
    }
  }

  /** The single value of a one-element tensor. */
  item(): number {
    try {
      return this.native.item();
    } catch (err) {
      throw fromNativeError(err);
    }
  }

  /** A copy of the values in row-major order. */
  toArray(): Float32Array | Float64Array | Int32Array {
    const a = this.native.toArray();
    if (a instanceof Uint16Array) throw new EngineError("INVALID_ARGUMENT", "toArray: bfloat16 has no CPU access");
    return a;
  }

  /** Nested JS arrays, for printing and small tests. */
  toNested(): unknown {
    const flat = Array.from(this.toArray());
    const build = (dims: number[], offset: number): [unknown, number] => {
      if (dims.length === 0) return [flat[offset], offset + 1];
      const out: unknown[] = [];
      let at = offset;
      for (let i = 0; i < dims[0]!; i++) {
        const [v, next] = build(dims.slice(1), at);
        out.push(v);
        at = next;
      }
      return [out, at];
    };
    return build(this.shape, 0)[0];
  }

  /** A new handle on the same data with no autograd history. */
  detach(): Tensor {
    return new Tensor(this.native.detach());
  }

  /** Overwrites this (contiguous) tensor with src's values; no autograd. */
  copy_(src: Tensor): this {
    try {
      this.native.copyFrom(src.native);
    } catch (err) {
      throw fromNativeError(err);
    }
    return this;
  }

  /** Sets every element to value; no autograd. */
  fill_(value: number): this {
    try {
      this.native.fill(value);
    } catch (err) {
      throw fromNativeError(err);
    }
    return this;
  }

  /** Releases this handle now. The memory returns once no graph or view still refers to it. */
  dispose(): void {
    this.#handle?.dispose();
    this.#handle = null;
  }

  toString(): string {
    return this.disposed ? "Tensor(disposed)" : `Tensor(shape=[${this.shape.join(", ")}], dtype=${this.dtype})`;
  }
}

/** Calls the addon, converting its errors to EngineError, and wraps the result. */
export function wrapNative(fn: () => NativeTensor): Tensor {
  let handle: NativeTensor;
  try {
    handle = fn();
  } catch (err) {
    throw fromNativeError(err);
  }
  return new Tensor(handle);
}

/** Runs an addon call that returns nothing, converting its errors. */
export function callNative(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    throw fromNativeError(err);
  }
}

export { native };
