/**
 * Devices on every build: tensors report where they live, .to() moves them (and gradients back),
 * factories take a device, bad device names and float64 on CUDA are refused by name, and a build
 * without CUDA says so in one line instead of failing somewhere deeper. The arithmetic of the
 * CUDA backend itself is compared with the CPU in cuda.test.ts, which needs a GPU.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { cuda, deviceInfo, ops, scope, tensor, zeros, full, arange } from "../../src/engine/index.ts";

describe("devices", () => {
  it("puts tensors on the CPU by default and keeps them there through ops", () => {
    const a = tensor([1, 2, 3]);
    expect(a.device).toBe("cpu");
    expect(ops.mul(a, 2).device).toBe("cpu");
    expect(zeros([2], "float32", "cpu").device).toBe("cpu");
    expect(full([2], 3, "int32", "cpu").toArray()).toEqual(new Int32Array([3, 3]));
    expect(arange(0, 3, "float32", "cpu").toArray()).toEqual(new Float32Array([0, 1, 2]));
  });

  it("moves to the same device as a differentiable identity", () => {
    const w = tensor([1, -2, 3]).requireGrad();
    scope(() => {
      const moved = w.to("cpu");
      expect(moved.device).toBe("cpu");
      expect(Array.from(moved.toArray())).toEqual([1, -2, 3]);
      ops.sum(ops.mul(moved, moved)).backward();
    });
    expect(Array.from(w.grad!.toArray())).toEqual([2, -4, 6]);
  });

  it("refuses unknown device names, naming the accepted ones", () => {
    const a = tensor([1]);
    expect(() => a.to("gpu" as never)).toThrow(/to: unknown device "gpu": expected "cpu", "cuda" or "cuda:N"/);
    expect(() => a.to("cuda:x" as never)).toThrow(/unknown device/);
    expect(() => zeros([1], "float32", "cuda:-1" as never)).toThrow(/zeros: unknown device/);
    expect(() => tensor([1], [1], "float32", "tpu" as never)).toThrow(/tensor: unknown device "tpu"/);
  });

  it("refuses float64 on CUDA whatever the build: the backend computes in float32", () => {
    expect(() => tensor([1, 2], [2], "float64").to("cuda")).toThrow(/float64 tensors are not supported on cuda:0/);
    expect(() => zeros([2], "float64", "cuda")).toThrow(/float64 tensors are not supported on cuda:0/);
  });

  it("agrees with deviceInfo on how many GPUs there are", () => {
    expect(deviceInfo().gpus).toBe(cuda.deviceCount());
    expect(deviceInfo().kind).toBe(cuda.isAvailable() ? "cuda" : "cpu");
    expect(cuda.unavailableReason() === null).toBe(cuda.isAvailable());
  });
});

describe.skipIf(cuda.isCompiled())("an engine built without CUDA", () => {
  it("says so in one line when a tensor is sent to cuda", () => {
    expect(cuda.isAvailable()).toBe(false);
    expect(cuda.unavailableReason()).toMatch(/^engine built without CUDA/);
    expect(() => tensor([1, 2]).to("cuda")).toThrow(/built without CUDA.*rebuild on a machine with one/);
    expect(() => zeros([2], "float32", "cuda:1")).toThrow(/a tensor on cuda:1: this engine was built without CUDA/);
    expect(() => cuda.memoryStats()).toThrow(/cuda.memoryStats: engine built without CUDA/);
    expect(() => cuda.setMatmulPrecision("f32")).toThrow(/built without CUDA/);
    expect(() => cuda.setMatmulPrecision("fp8" as never)).toThrow(/expected "bf16", "tf32" or "f32"/);
  });
});

describe.skipIf(!cuda.isCompiled() || cuda.isAvailable())("an engine built with CUDA on a machine without a GPU", () => {
  it("loads, counts no device and says so when a tensor is sent to cuda", () => {
    expect(cuda.deviceCount()).toBe(0);
    expect(deviceInfo().kind).toBe("cpu");
    expect(cuda.unavailableReason()).toMatch(/^no CUDA device visible/);
    expect(() => tensor([1, 2]).to("cuda")).toThrow(/a tensor on cuda:0: no CUDA device is visible/);
    expect(() => cuda.properties()).toThrow(/cuda.properties: no CUDA device visible/);
    expect(["bf16", "tf32", "f32"]).toContain(cuda.matmulPrecision());
  });

  it("refuses a mistyped NIGHTSHIFT_CUDA_MATMUL by name", () => {
    const engine = fileURLToPath(new URL("../../src/engine/index.ts", import.meta.url));
    const script = `import(${JSON.stringify(engine)}).then(({ cuda }) => console.log(cuda.matmulPrecision()))`;
    const run = (value: string) =>
      spawnSync(process.execPath, ["--import", "tsx", "-e", script], { encoding: "utf8", env: { ...process.env, NIGHTSHIFT_CUDA_MATMUL: value } });
    expect(run("tf32").stdout.trim()).toBe("tf32");
    const bad = run("bf61");
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/NIGHTSHIFT_CUDA_MATMUL must be bf16, tf32 or f32, got 'bf61'/);
  });
});
