/**
 * Tensor: the JS face of a native tensor, holding a handle (a number) into the addon's handle
 * table. Shapes, dtype, device, autograd (requiresGrad, grad, backward) and data export. Ops
 * live in ops.ts; this class only owns the handle.
 *
 * Memory is released deterministically: dispose() or the end of a scope frees the handle at
 * once. A tensor outside every scope that is dropped without dispose() is released by a
 * FinalizationRegistry when the garbage collector notices — a safety net, not the plan. Only
 * such tensors are registered: V8 keeps registry cells until the event loop turns, which a
 * synchronous training loop may never do, so per-step intermediates (always in a scope) stay
 * out of it.
 */
import { EngineError, fromNativeError } from "./errors.ts";
import { type DType, type TensorHandle, native } from "./native.ts";
import { track } from "./scope.ts";

export type { DType } from "./native.ts";
/** Where a tensor lives: host memory or one CUDA device. */
export type Device = "cpu" | `cuda:${number}`;
/** What `.to()` and the factories accept: a Device, or "cuda" for device 0. */
export type DeviceSpec = Device | "cuda";

/** Checks a device name before it reaches the addon, so a typo is reported by name. */
export function parseDeviceSpec(op: string, spec: unknown): Device {
  if (spec === "cpu") return "cpu";
  if (spec === "cuda") return "cuda:0";
  if (typeof spec === "string" && /^cuda:\d{1,3}$/.test(spec)) return `cuda:${Number(spec.slice(5))}`;
  throw new EngineError("INVALID_ARGUMENT", `${op}: unknown device ${JSON.stringify(spec)}: expected "cpu", "cuda" or "cuda:N"`);
}

const forgotten = new FinalizationRegistry<TensorHandle>((handle) => native.release(handle));

export class Tensor {
  #handle: TensorHandle | null;
  #registered = false;

  /** @internal Takes ownership of a native handle and records it in the current scope. */
  constructor(handle: TensorHandle) {
    this.#handle = handle;
    track(this);
  }

  /** @internal Called by scopes when no scope owns this tensor any more. */
  unscoped(): void {
    if (this.#handle === null || this.#registered) return;
    forgotten.register(this, this.#handle, this);
    this.#registered = true;
  }

  /** @internal The native handle; throws DISPOSED after dispose(). */
  get native(): TensorHandle {
    if (this.#handle === null)
      throw new EngineError("DISPOSED", "tensor was disposed (or its scope ended: keep(t) makes a tensor outlive the scope it is made in)");
    return this.#handle;
  }

  get shape(): number[] {
    return native.shape(this.native);
  }
  get dtype(): DType {
    return native.dtype(this.native);
  }
  get device(): Device {
    return native.device(this.native) as Device;
  }
  get ndim(): number {
    return this.shape.length;
  }
  get numel(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }
  get isContiguous(): boolean {
    return native.isContiguous(this.native);
  }
  get isLeaf(): boolean {
    return native.isLeaf(this.native);
  }
  get disposed(): boolean {
    return this.#handle === null;
  }

  get requiresGrad(): boolean {
    return native.requiresGrad(this.native);
  }
  set requiresGrad(value: boolean) {
    callNative(() => native.setRequiresGrad(this.native, value));
  }

  /** Marks a leaf as a parameter (requiresGrad = true) and returns it, for chaining. */
  requireGrad(): this {
    this.requiresGrad = true;
    return this;
  }

  /** The accumulated gradient of a leaf (a new handle on it), or null before any backward(). */
  get grad(): Tensor | null {
    const g = native.grad(this.native);
    return g === null ? null : new Tensor(g);
  }

  /** Drops the accumulated gradient (set-to-none semantics). */
  zeroGrad(): void {
    native.zeroGrad(this.native);
  }

  /**
   * Backpropagates from this tensor. A one-element tensor needs no `grad`; others need one of
   * the same shape. The graph is freed afterwards: a second backward() through it throws.
   */
  backward(grad?: Tensor): void {
    callNative(() => native.backward(this.native, grad ? grad.native : null));
  }

  /** The single value of a one-element tensor. */
  item(): number {
    return callNative(() => native.item(this.native));
  }

  /** A copy of the values in row-major order. */
  /** Copies a float32 tensor's values (row-major) into `dest`, which must hold exactly numel values. */
  copyTo(dest: Float32Array): void {
    callNative(() => native.copyToArray(this.native, dest));
  }

  toArray(): Float32Array | Float64Array | Int32Array {
    const a = native.toArray(this.native);
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

  /**
   * A copy on `device` ("cpu", "cuda" or "cuda:N"); gradients flow back to this tensor's
   * device. On the same device it is a new handle on this tensor.
   */
  to(device: DeviceSpec): Tensor {
    const target = parseDeviceSpec("to", device);
    return wrapNative(() => native.to(this.native, target));
  }

  /** A new tensor on the same data with no autograd history. */
  detach(): Tensor {
    return wrapNative(() => native.detach(this.native));
  }

  /** Overwrites this (contiguous) tensor with src's values; no autograd. */
  copy_(src: Tensor): this {
    callNative(() => native.copyFrom(this.native, src.native));
    return this;
  }

  /** Sets every element to value; no autograd. */
  fill_(value: number): this {
    callNative(() => native.fill(this.native, value));
    return this;
  }

  /** Releases this handle now. The memory returns once no graph or view still refers to it. */
  dispose(): void {
    if (this.#handle === null) return;
    native.release(this.#handle);
    if (this.#registered) forgotten.unregister(this);
    this.#handle = null;
  }

  toString(): string {
    if (this.disposed) return "Tensor(disposed)";
    const where = this.device === "cpu" ? "" : `, device=${this.device}`;
    return `Tensor(shape=[${this.shape.join(", ")}], dtype=${this.dtype}${where})`;
  }
}

/** Calls the addon, converting its errors to EngineError, and wraps the returned handle. */
export function wrapNative(fn: () => TensorHandle): Tensor {
  let handle: TensorHandle;
  try {
    handle = fn();
  } catch (err) {
    throw fromNativeError(err);
  }
  return new Tensor(handle);
}

/** Runs an addon call, converting its errors, and returns what it returns. */
export function callNative<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw fromNativeError(err);
  }
}

/** Live tensor handles (for leak tests and diagnostics). */
export function liveHandles(): number {
  return native.liveHandles();
}

export { native };
