/**
 * The CUDA devices as the engine sees them. The backend exists when the engine was built with
 * a CUDA toolkit and cuBLAS (see the README's GPU section); `unavailableReason()` says in one
 * line why tensors cannot go to "cuda" here, for messages and for tests that skip.
 */
import { type CudaProperties, type MemoryStats, native } from "./native.ts";
import { callNative } from "./tensor.ts";
import { invalid } from "./validate.ts";

export type { CudaProperties } from "./native.ts";
/** bf16: bf16 tensor-core products with f32 accumulation (the default); tf32; f32: exact. */
export type MatmulPrecision = "bf16" | "tf32" | "f32";

/** True when this engine build carries the CUDA backend. */
export function isCompiled(): boolean {
  return native.cudaCompiled();
}

/** CUDA devices visible to this process (0 without the backend, a driver or a GPU). */
export function deviceCount(): number {
  return isCompiled() ? native.cudaDeviceCount() : 0;
}

export function isAvailable(): boolean {
  return deviceCount() > 0;
}

/** Why tensors cannot go to "cuda" here, in one line; null when they can. */
export function unavailableReason(): string | null {
  if (!isCompiled()) return "engine built without CUDA (no CUDA toolkit with cuBLAS when it was built)";
  if (deviceCount() === 0) return "no CUDA device visible (no GPU, no driver, or CUDA_VISIBLE_DEVICES hides them)";
  return null;
}

function checkIndex(op: string, index: number): void {
  if (!Number.isInteger(index) || index < 0) invalid(`cuda.${op}: device index must be a non-negative integer, got ${index}`);
  const reason = unavailableReason();
  if (reason) invalid(`cuda.${op}: ${reason}`);
}

export function properties(index = 0): CudaProperties {
  checkIndex("properties", index);
  return callNative(() => native.cudaProperties(index));
}

/** Bytes on one device: live in tensors, their peak since the last reset (peak_vram), cached. */
export function memoryStats(index = 0): MemoryStats {
  checkIndex("memoryStats", index);
  return callNative(() => native.cudaMemoryStats(index));
}

export function resetPeakMemory(index = 0): void {
  checkIndex("resetPeakMemory", index);
  callNative(() => native.cudaResetPeakMemory(index));
}

/** Waits for every kernel queued on the device: call before reading a clock. */
export function synchronize(index = 0): void {
  checkIndex("synchronize", index);
  callNative(() => native.cudaSynchronize(index));
}

export function setMatmulPrecision(precision: MatmulPrecision): void {
  if (precision !== "bf16" && precision !== "tf32" && precision !== "f32")
    invalid(`cuda.setMatmulPrecision: expected "bf16", "tf32" or "f32", got ${JSON.stringify(precision)}`);
  const reason = unavailableReason();
  if (!isCompiled()) invalid(`cuda.setMatmulPrecision: ${reason}`);
  callNative(() => native.cudaSetMatmulPrecision(precision));
}

export function matmulPrecision(): MatmulPrecision {
  if (!isCompiled()) invalid(`cuda.matmulPrecision: ${unavailableReason()}`);
  return callNative(() => native.cudaMatmulPrecision()) as MatmulPrecision;
}
