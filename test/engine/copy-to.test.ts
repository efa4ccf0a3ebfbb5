/** Tensor.copyTo: a float32 tensor's values into a caller's reused Float32Array. */
import { describe, expect, it } from "vitest";
import { ops, tensor } from "../../src/engine/index.ts";

describe("Tensor.copyTo", () => {
  it("copies the row-major values of a (non-contiguous) float32 tensor into the buffer", () => {
    const t = tensor(new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3]);
    const out = new Float32Array(6).fill(-1);
    ops.transpose(t, 0, 1).copyTo(out);
    expect(Array.from(out)).toEqual([1, 4, 2, 5, 3, 6]);
  });

  it("refuses another dtype or a buffer of another length, naming both", () => {
    expect(() => tensor(new Int32Array([1, 2]), [2]).copyTo(new Float32Array(2))).toThrow(/needs a float32 tensor, got int32/);
    expect(() => tensor(new Float32Array([1, 2]), [2]).copyTo(new Float32Array(3))).toThrow(/holds 3 values, the tensor 2/);
  });
});
