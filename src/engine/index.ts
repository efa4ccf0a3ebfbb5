/**
 * The engine's public face: tensors, ops, optimizer kernels, RNG, memory scopes, grad mode
 * device info and the CUDA devices. train.ts imports from here (as "nightshift/engine").
 */
import { type MemoryStats, native } from "./native.ts";
// Installs the ops as Tensor methods (x.add(y), x.linear(w), ...) before anything uses a Tensor.
import "./tensor-methods.ts";

export { Tensor, liveHandles, type DType, type Device, type DeviceSpec } from "./tensor.ts";
export type { TensorMethods } from "./tensor-methods.ts";
export * as cuda from "./cuda.ts";
export { EngineError, type EngineErrorCode } from "./errors.ts";
export * as ops from "./ops.ts";
export * as optim from "./optim.ts";
export { tensor, zeros, ones, full, zerosLike, arange } from "./creation.ts";
export { Generator } from "./random.ts";
export { ParamRegistry, type Init, type Param } from "./params.ts";
export { scope, keep } from "./scope.ts";
export { deviceInfo, type DeviceInfo } from "./device.ts";

/** Runs fn with autograd off (no graph is recorded), restoring the previous mode after. */
export function noGrad<R>(fn: () => R): R {
  const prev = native.setGradEnabled(false);
  try {
    return fn();
  } finally {
    native.setGradEnabled(prev);
  }
}

export function isGradEnabled(): boolean {
  return native.gradEnabled();
}

export type { MemoryStats } from "./native.ts";

/** Bytes held by live tensors now and at peak since the last reset, and the allocator cache. */
export function memoryStats(): MemoryStats {
  return native.memoryStats();
}

/** Releases the buffers the caching allocator keeps for reuse (NIGHTSHIFT_CACHE_MB caps them). */
export function emptyCache(): void {
  native.emptyCache();
}

export function resetPeakMemory(): void {
  native.resetPeakMemory();
}

export function numThreads(): number {
  return native.numThreads();
}

/** Resizes the thread pool (also settable at start with NIGHTSHIFT_NUM_THREADS). */
export function setNumThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`setNumThreads: need a positive integer, got ${n}`);
  native.setNumThreads(n);
}
