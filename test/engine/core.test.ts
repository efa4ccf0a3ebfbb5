import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import {
  EngineError,
  Generator,
  Tensor,
  emptyCache,
  liveHandles,
  memoryStats,
  ones,
  noGrad,
  ops,
  scope,
  keep,
  tensor,
  zeros,
} from "../../src/engine/index.ts";
import { gradcheck, param } from "../support/gradcheck.ts";

describe("tensor basics", () => {
  it("round-trips data, shape and dtype", () => {
    const t = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    expect(t.shape).toEqual([2, 3]);
    expect(t.dtype).toBe("float32");
    expect(t.device).toBe("cpu");
    expect(Array.from(t.toArray())).toEqual([1, 2, 3, 4, 5, 6]);
    expect(t.toNested()).toEqual([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    const ids = tensor([1, 2], [2], "int32");
    expect(ids.toArray()).toBeInstanceOf(Int32Array);
  });

  it("rejects data that does not fill the shape", () => {
    expect(() => tensor([1, 2, 3], [2, 2])).toThrow(/3 values do not fill shape \[2, 2\]/);
  });

  it("makes views for transpose and slice without copying", () => {
    const t = tensor([0, 1, 2, 3, 4, 5], [2, 3]);
    const tt = ops.transpose(t, 0, 1);
    expect(tt.shape).toEqual([3, 2]);
    expect(tt.isContiguous).toBe(false);
    expect(Array.from(tt.toArray())).toEqual([0, 3, 1, 4, 2, 5]);
    const s = ops.slice(t, 1, 1, 3);
    expect(Array.from(s.toArray())).toEqual([1, 2, 4, 5]);
    const r = ops.reshape(t, [3, -1]);
    expect(r.shape).toEqual([3, 2]);
  });

  it("item() needs exactly one element", () => {
    expect(tensor([7]).item()).toBe(7);
    expect(() => tensor([1, 2]).item()).toThrow(/item\(\) needs exactly one/);
  });
});

describe("errors", () => {
  it("names the op and both shapes on a shape mismatch", () => {
    const a = zeros([2, 3]);
    const b = zeros([4, 5]);
    let err: unknown;
    try {
      ops.matmul(a, b);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(EngineError);
    expect((err as EngineError).code).toBe("INVALID_ARGUMENT");
    expect((err as EngineError).message).toMatch(/matmul: shapes \[2, 3\] and \[4, 5\]/);
  });

  it("throws on broadcasting incompatible shapes", () => {
    expect(() => ops.add(zeros([2, 3]), zeros([4]))).toThrow(/add: shapes \[2, 3\] and \[4\] cannot be broadcast/);
  });

  it("throws DISPOSED when a disposed tensor is used", () => {
    const t = zeros([2]);
    t.dispose();
    expect(() => ops.neg(t)).toThrow(expect.objectContaining({ code: "DISPOSED" }));
  });

  it("throws GRAPH_FREED on a second backward through the same graph", () => {
    const x = tensor([1, 2]).requireGrad();
    const y = ops.sum(ops.square(x));
    y.backward();
    expect(() => y.backward()).toThrow(expect.objectContaining({ code: "GRAPH_FREED" }));
  });

  it("rejects unknown options by name with a suggestion", () => {
    const q = zeros([1, 2, 1, 4]);
    expect(() => ops.attention(q, q, q, { windw: 2 } as never)).toThrow(/unknown option 'windw' — did you mean 'window'/);
  });

  it("refuses absurd sizes with an error instead of crashing", () => {
    expect(() => zeros([1 << 30, 1 << 30, 1 << 30])).toThrow(/too large to allocate/);
    expect(() => zeros([2 ** 20, 2 ** 20, 2 ** 6])).toThrow(/out of memory|too large/);
  });

  it("refuses requiresGrad on int tensors", () => {
    expect(() => {
      tensor([1], [1], "int32").requiresGrad = true;
    }).toThrow(/only float tensors/);
  });
});

describe("autograd", () => {
  it("accumulates gradients across backward calls until zeroGrad", () => {
    const x = tensor([1, 2, 3]).requireGrad();
    ops.sum(ops.mul(x, 2)).backward();
    ops.sum(ops.mul(x, 3)).backward();
    expect(Array.from(x.grad!.toArray())).toEqual([5, 5, 5]);
    x.zeroGrad();
    expect(x.grad).toBeNull();
  });

  it("records no graph in noGrad mode", () => {
    const x = tensor([1, 2]).requireGrad();
    const y = noGrad(() => ops.mul(x, 2));
    expect(y.requiresGrad).toBe(false);
  });

  it("handles a value used twice (gradient sums over both paths)", () => {
    const x = tensor([3]).requireGrad();
    ops.mul(x, x).backward();
    expect(x.grad!.item()).toBe(6);
  });
});

describe("gradients of the core ops (float64, central differences)", () => {
  const gen = new Generator(7);
  const cases: [string, number[][], (...xs: Tensor[]) => Tensor][] = [
    ["add broadcast", [[3, 4], [4]], (a, b) => ops.add(a!, b!)],
    ["sub broadcast lead", [[2, 1, 3], [5, 1]], (a, b) => ops.sub(a!, b!)],
    ["mul broadcast", [[2, 3, 1], [1, 4]], (a, b) => ops.mul(a!, b!)],
    ["div", [[3, 2], [3, 2]], (a, b) => ops.div(a!, ops.add(ops.square(b!), 1))],
    ["maximum", [[5], [5]], (a, b) => ops.maximum(a!, b!)],
    ["sigmoid", [[7]], (a) => ops.sigmoid(a!)],
    ["tanh", [[2, 3]], (a) => ops.tanh(a!)],
    ["relu", [[9]], (a) => ops.relu(a!)],
    ["square", [[1, 1]], (a) => ops.square(a!)],
    ["exp", [[4]], (a) => ops.exp(a!)],
    ["sqrt/log on positives", [[4]], (a) => ops.log(ops.sqrt(ops.add(ops.square(a!), 1)))],
    ["rsqrt", [[3]], (a) => ops.rsqrt(ops.add(ops.square(a!), 0.5))],
    ["pow", [[3]], (a) => ops.pow(ops.add(ops.square(a!), 1), 1.5)],
    ["sum all", [[2, 3]], (a) => ops.sum(a!)],
    ["sum dims keepdim", [[2, 3, 4]], (a) => ops.sum(a!, [0, 2], true)],
    ["sum middle dim", [[2, 3, 4]], (a) => ops.sum(a!, 1)],
    ["mean last", [[3, 5]], (a) => ops.mean(a!, -1)],
    ["matmul 2d", [[3, 4], [4, 5]], (a, b) => ops.matmul(a!, b!)],
    ["matmul batched broadcast", [[2, 3, 4], [4, 2]], (a, b) => ops.matmul(a!, b!)],
    ["matmul batch broadcast both", [[2, 1, 3, 4], [1, 3, 4, 2]], (a, b) => ops.matmul(a!, b!)],
    ["matmul with transposed view", [[3, 4], [5, 4]], (a, b) => ops.matmul(a!, ops.transpose(b!, 0, 1))],
    ["linear", [[2, 3, 4], [5, 4]], (x, w) => ops.linear(x!, w!)],
    ["linear size-1", [[1, 1], [1, 1]], (x, w) => ops.linear(x!, w!)],
    ["transpose", [[2, 3, 4]], (a) => ops.mul(ops.transpose(a!, 0, 2), 1)],
    ["slice", [[4, 5]], (a) => ops.slice(a!, 1, 1, 4)],
    ["reshape of view", [[3, 4]], (a) => ops.reshape(ops.transpose(a!, 0, 1), [2, 6])],
    ["concat", [[2, 3], [2, 2]], (a, b) => ops.concat([a!, b!], 1)],
    ["split", [[5, 2]], (a) => { const [p, q] = ops.split(a!, [2, 3], 0); return ops.mul(ops.sum(p!), ops.sum(q!, 0)); }],
    ["expand", [[3, 1]], (a) => ops.expand(a!, [2, 3, 4])],
    ["cast round trip", [[3]], (a) => ops.cast(ops.cast(a!, "float32"), "float64")],
  ];
  for (const [name, shapes, fn] of cases) {
    it(name, () => {
      const inputs = shapes.map((s) => param(gen, s));
      // Through float32, a 1e-6 step is below the rounding step: difference over a wider one.
      const tol = name === "cast round trip" ? { eps: 1e-2, atol: 1e-4, rtol: 1e-4 } : {};
      const r = gradcheck(fn, inputs, tol);
      expect(r.maxAbsError).toBeLessThan(1e-4);
    });
  }
});

describe("float32 transcendental kernels", () => {
  // A grid over the useful range plus tiny magnitudes, where tanh must stay relatively exact.
  const grid = [...Array.from({ length: 4001 }, (_, i) => -20 + i * 0.01), 1e-3, -1e-4, 3e-6, 0, 0.0999, 0.1001];
  const x = tensor(grid);
  const check = (got: ArrayLike<number>, ref: (v: number) => number, tol: (v: number) => number) => {
    let worst = 0;
    grid.forEach((v, i) => {
      const f = Math.fround(v); // the value the kernel actually saw
      const err = Math.abs(got[i]! - ref(f)) / tol(f);
      worst = Math.max(worst, err);
    });
    return worst;
  };
  it("exp is within a few ulp", () => {
    expect(check(ops.exp(x).toArray(), Math.exp, (v) => 4e-7 * Math.exp(v))).toBeLessThanOrEqual(1);
  });
  it("tanh is accurate in absolute terms and, near 0, relative ones", () => {
    expect(check(ops.tanh(x).toArray(), Math.tanh, (v) => 2e-7 + 1e-6 * Math.abs(Math.tanh(v)))).toBeLessThanOrEqual(1);
    const tiny = ops.tanh(tensor([1e-3, -1e-4, 3e-6])).toArray();
    expect(Math.abs(tiny[1]! / Math.tanh(-1e-4) - 1)).toBeLessThan(1e-6);
  });
  it("sigmoid is within 2e-7", () => {
    expect(check(ops.sigmoid(x).toArray(), (v) => 1 / (1 + Math.exp(-v)), () => 2e-7)).toBeLessThanOrEqual(1);
  });
  it("propagates NaN", () => {
    const r = ops.exp(tensor([Number.NaN])).item();
    expect(Number.isNaN(r)).toBe(true);
    expect(Number.isNaN(ops.tanh(tensor([Number.NaN])).item())).toBe(true);
  });
});

describe("memory scopes", () => {
  it("frees intermediates and keeps the returned tensor", () => {
    const before = memoryStats().liveBuffers;
    const x = tensor([1, 2, 3]);
    const out = scope(() => {
      const a = ops.mul(x, 2);
      const b = ops.add(a, 1);
      return ops.square(b);
    });
    expect(Array.from(out.toArray())).toEqual([9, 25, 49]);
    expect(memoryStats().liveBuffers).toBe(before + 2); // x and out
    out.dispose();
    x.dispose();
    expect(memoryStats().liveBuffers).toBe(before);
  });

  it("disposes everything when fn throws", () => {
    const before = memoryStats().liveBuffers;
    expect(() =>
      scope(() => {
        ops.mul(tensor([1, 2]), 3);
        throw new Error("boom");
      }),
    ).toThrow("boom");
    expect(memoryStats().liveBuffers).toBe(before);
  });

  it("keep() exempts a tensor from its scope", () => {
    let kept: Tensor | undefined;
    scope(() => {
      kept = keep(tensor([4]));
    });
    expect(kept!.item()).toBe(4);
    kept!.dispose();
  });

  it("reuses freed buffers of the same size and releases them on emptyCache()", () => {
    emptyCache();
    const a = zeros([1024, 1024]);
    a.dispose();
    const cached = memoryStats().cachedBytes;
    expect(cached).toBeGreaterThanOrEqual(4 * 2 ** 20);
    const b = ones([1024, 1024]); // same size: taken from the cache, and initialised
    expect(memoryStats().cachedBytes).toBe(cached - 4 * 2 ** 20);
    expect(Array.from(b.toArray().slice(0, 3))).toEqual([1, 1, 1]);
    b.dispose();
    emptyCache();
    expect(memoryStats().cachedBytes).toBe(0);
  });

  it("releases every handle a scope created but did not return", () => {
    const x = tensor([1, 2, 3]).requireGrad();
    const before = liveHandles();
    for (let i = 0; i < 100; i++) scope(() => ops.sum(ops.square(ops.mul(x, 2))).backward());
    expect(liveHandles()).toBe(before);
  });

  it("releases tensors dropped outside any scope once the GC runs (safety net)", () => {
    const script = fileURLToPath(new URL("../support/forgotten-tensors.ts", import.meta.url));
    const r = spawnSync(process.execPath, ["--expose-gc", "--import", "tsx", script], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    const { before, during, after } = JSON.parse(r.stdout.trim());
    expect(during - before.handles).toBe(1000);
    expect(after.handles).toBe(before.handles);
    expect(after.bytes).toBe(before.bytes);
  });

  it("rejects async functions", () => {
    expect(() => scope(() => Promise.resolve(1) as never)).toThrow(/synchronous/);
  });
});

describe("seeded RNG", () => {
  it("gives bit-identical draws for the same seed and different ones otherwise", () => {
    const a = new Generator(42).normal([100]).toArray();
    const b = new Generator(42).normal([100]).toArray();
    const c = new Generator(43).normal([100]).toArray();
    expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(true);
    expect(Buffer.from(a.buffer).equals(Buffer.from(c.buffer))).toBe(false);
  });

  it("draws with the right moments", () => {
    const x = Array.from(new Generator(1).normal([20000], 2, 3).toArray());
    const m = x.reduce((s, v) => s + v, 0) / x.length;
    const sd = Math.sqrt(x.reduce((s, v) => s + (v - m) ** 2, 0) / x.length);
    expect(Math.abs(m - 2)).toBeLessThan(0.1);
    expect(Math.abs(sd - 3)).toBeLessThan(0.1);
    const u = Array.from(new Generator(1).uniform([1000], -1, 1).toArray());
    expect(Math.min(...u)).toBeGreaterThanOrEqual(-1);
    expect(Math.max(...u)).toBeLessThan(1);
  });
});
