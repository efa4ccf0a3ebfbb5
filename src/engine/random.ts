/**
 * Seeded random numbers. The same seed gives bit-identical tensors on every run and machine:
 * draws are sequential (xoshiro256** in native code), never split across threads.
 */
import { zeros } from "./creation.ts";
import { type DType, Tensor, callNative, native, wrapNative } from "./tensor.ts";
import { assertFinite, assertShape, invalid } from "./validate.ts";

export class Generator {
  readonly seed: bigint;
  #gen: InstanceType<typeof native.Generator>;

  constructor(seed: number | bigint) {
    if (typeof seed === "number" && (!Number.isSafeInteger(seed) || seed < 0))
      invalid(`Generator: seed must be a non-negative safe integer, got ${seed}`);
    const s = BigInt(seed);
    if (s < 0n || s >= 1n << 64n) invalid(`Generator: seed must fit in 64 bits, got ${s}`);
    this.seed = s;
    this.#gen = new native.Generator(s.toString());
  }

  /** A float tensor of samples from N(mean, std²). */
  normal(shape: number[], mean = 0, std = 1, dtype: DType = "float32"): Tensor {
    assertShape("normal", shape);
    const t = zeros(shape, dtype);
    return this.normal_(t, mean, std);
  }

  /** A float tensor of samples from U[low, high). */
  uniform(shape: number[], low = 0, high = 1, dtype: DType = "float32"): Tensor {
    assertShape("uniform", shape);
    const t = zeros(shape, dtype);
    return this.uniform_(t, low, high);
  }

  /** Refills t (contiguous, float) with N(mean, std²) samples, in place. */
  normal_(t: Tensor, mean = 0, std = 1): Tensor {
    assertFinite("normal_", "mean", mean);
    assertFinite("normal_", "std", std);
    return this.#onHost(t, (host) => this.#gen.normal_(host.native, mean, std));
  }

  /** Refills t (contiguous, float) with U[low, high) samples, in place. */
  uniform_(t: Tensor, low = 0, high = 1): Tensor {
    assertFinite("uniform_", "low", low);
    assertFinite("uniform_", "high", high);
    return this.#onHost(t, (host) => this.#gen.uniform_(host.native, low, high));
  }

  // Draws happen on the host, in sequence, so a CUDA tensor gets the very values a CPU tensor
  // would from the same seed: they are drawn into a host copy and copied over.
  #onHost(t: Tensor, draw: (host: Tensor) => void): Tensor {
    if (t.device === "cpu") {
      callNative(() => draw(t));
      return t;
    }
    const host = zeros(t.shape, t.dtype);
    try {
      callNative(() => draw(host));
      t.copy_(host);
    } finally {
      host.dispose();
    }
    return t;
  }

  /** A uniform number in [0, 1). */
  random(): number {
    return this.#gen.random();
  }

  /** A uniform integer in [0, n). */
  randint(n: number): number {
    return Math.floor(this.random() * n);
  }

  /** Ids (…) uniform in [0, vocab) as an int32 tensor. */
  randomIds(shape: number[], vocab: number): Tensor {
    assertShape("randomIds", shape);
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Int32Array(n);
    for (let i = 0; i < n; i++) data[i] = this.randint(vocab);
    return wrapNative(() => native.fromArray(data, shape, "int32"));
  }
}
