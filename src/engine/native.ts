/**
 * Loads the native addon and declares its shape. This is the only file that knows the addon
 * exists; everything else goes through Tensor and ops, which validate before calling here.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { EngineError } from "./errors.ts";

export type DType = "float32" | "float64" | "int32" | "bfloat16";

/**
 * A native tensor as JS sees it: a number naming a slot of the addon's handle table.
 * Handles are released explicitly (Tensor.dispose, scope); a stale handle is an error.
 */
export type TensorHandle = number & { readonly __brand: "TensorHandle" };

export interface NativeGenerator {
  uniform_(t: TensorHandle, low: number, high: number): void;
  normal_(t: TensorHandle, mean: number, std: number): void;
  random(): number;
}

type T = TensorHandle;

export interface NativeModule {
  // Tensor methods, by handle.
  shape(t: T): number[];
  strides(t: T): number[];
  dtype(t: T): DType;
  /** "cpu" or "cuda:N". */
  device(t: T): string;
  requiresGrad(t: T): boolean;
  setRequiresGrad(t: T, value: boolean): void;
  isLeaf(t: T): boolean;
  isContiguous(t: T): boolean;
  /** A new handle on the accumulated gradient, or null. */
  grad(t: T): T | null;
  zeroGrad(t: T): void;
  backward(t: T, grad: T | null): void;
  item(t: T): number;
  toArray(t: T): Float32Array | Float64Array | Int32Array | Uint16Array;
  copyToArray(t: T, dest: Float32Array): void;
  detach(t: T): T;
  copyFrom(dst: T, src: T): void;
  fill(t: T, value: number): void;
  release(t: T): void;
  liveHandles(): number;

  Generator: new (seed: string) => NativeGenerator;
  fromArray(data: Float32Array | Float64Array | Int32Array, shape: number[], dtype: DType, device?: string): T;
  full(shape: number[], dtype: DType, value: number, device?: string): T;
  zeros(shape: number[], dtype: DType, device?: string): T;
  binary(op: string, a: T, b: T): T;
  unary(op: string, x: T): T;
  addScalar(x: T, s: number): T;
  mulScalar(x: T, s: number): T;
  powScalar(x: T, p: number): T;
  sum(x: T, dims: number[], keepdim: boolean): T;
  mean(x: T, dims: number[], keepdim: boolean): T;
  reshape(x: T, shape: number[]): T;
  transpose(x: T, d0: number, d1: number): T;
  slice(x: T, dim: number, start: number, end: number): T;
  contiguous(x: T): T;
  concat(xs: T[], dim: number): T;
  cast(x: T, dtype: DType): T;
  to(x: T, device: string): T;
  expand(x: T, shape: number[]): T;
  matmul(a: T, b: T): T;
  linear(x: T, w: T): T;
  embedding(weight: T, idx: T): T;
  rmsNorm(x: T, weight: T | null, eps: number): T;
  rotary(x: T, cos: T, sin: T): T;
  attention(q: T, k: T, v: T, window: number, scale: number): T;
  crossEntropy(logits: T, targets: T, ignoreIndex: number, softcap: number, mean: boolean): T;
  adamwStep(p: T, g: T, m: T, v: T, step: number, lr: number, b1: number, b2: number, eps: number, wd: number): void;
  polarExpress(x: T, nsSteps: number): T;
  muonStep(
    params: T[],
    grads: T[],
    momentumBuffer: T,
    secondMomentumBuffer: T,
    momentum: number,
    lr: number,
    weightDecay: number,
    beta2: number,
    nsSteps: number,
  ): void;
  setGradEnabled(enabled: boolean): boolean;
  gradEnabled(): boolean;
  numThreads(): number;
  setNumThreads(n: number): void;
  memoryStats(): MemoryStats;
  emptyCache(): void;
  resetPeakMemory(): void;
  cpuInfo(): { gemmKernel: string; hardwareThreads: number };
  cudaCompiled(): boolean;
  cudaDeviceCount(): number;
  cudaProperties(index: number): CudaProperties;
  cudaMemoryStats(index: number): MemoryStats;
  cudaResetPeakMemory(index: number): void;
  cudaSynchronize(index: number): void;
  cudaSetMatmulPrecision(precision: string): void;
  cudaMatmulPrecision(): string;
}

export interface CudaProperties {
  name: string;
  /** Compute capability, e.g. 9.0 on Hopper. */
  major: number;
  minor: number;
  multiprocessors: number;
  totalBytes: number;
  /** SM boost clock. */
  clockGhz: number;
}

export interface MemoryStats {
  /** Bytes held by live tensors. */
  liveBytes: number;
  /** Highest liveBytes since start or the last resetPeakMemory(). */
  peakBytes: number;
  /** Number of live tensor buffers. */
  liveBuffers: number;
  /** Bytes kept by the caching allocator for reuse (not in liveBytes). */
  cachedBytes: number;
}

function findAddon(): string {
  const fromEnv = process.env.NIGHTSHIFT_ENGINE_PATH;
  if (fromEnv) return resolve(fromEnv);
  let dir = dirname(fileURLToPath(import.meta.url));
  // Walk up to the package root (src/engine -> root); bundles may sit elsewhere.
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, "build", "native", "Release", "nightshift_engine.node");
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  throw new EngineError(
    "NOT_BUILT",
    "the native engine is not built: run `npm install` (or `npm run build:native`) in the nightshift folder, " +
      "or set NIGHTSHIFT_ENGINE_PATH to a built nightshift_engine.node",
  );
}

/** Where the loaded addon lives (the runner makes it visible inside the sandbox). */
export const addonPath = findAddon();

export const native: NativeModule = createRequire(import.meta.url)(addonPath) as NativeModule;
