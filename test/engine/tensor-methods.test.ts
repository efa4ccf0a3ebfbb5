/**
 * Tensor methods (src/engine/tensor-methods.ts): each is the op of the same name with the tensor
 * as its first argument. Checked against the op itself, forward and backward, bit for bit, on
 * random tensors of odd and tiny shapes; and the class's own members stay as they were.
 */
import { describe, expect, it } from "vitest";
import { EngineError, Generator, Tensor, ops, scope, tensor } from "../../src/engine/index.ts";

type Method = keyof Tensor;

const gen = new Generator(7);
/** A float64 leaf of `shape`, values in [lo, hi). */
const leaf = (shape: number[], lo = -2, hi = 2) => gen.uniform(shape, lo, hi, "float64").requireGrad();

/**
 * Runs `viaMethod` and `viaOp` on fresh copies of the same inputs and checks that outputs and
 * every input's gradient agree exactly.
 */
function expectSame(inputs: Tensor[], viaMethod: (xs: Tensor[]) => Tensor | Tensor[], viaOp: (xs: Tensor[]) => Tensor | Tensor[]) {
  const run = (f: (xs: Tensor[]) => Tensor | Tensor[]) =>
    scope(() => {
      const xs = inputs.map((t) => (t.dtype === "int32" ? t : t.detach().requireGrad()));
      const out = [f(xs)].flat();
      // A fixed weighted sum makes every output element matter to the gradient.
      let total: Tensor | null = null;
      for (const o of out) {
        if (o.dtype === "int32") continue;
        const w = ops.cast(ops.reshape(ops.cast(tensor(Array.from({ length: o.numel }, (_, i) => 1 + (i % 5))), "float64"), o.shape), o.dtype);
        const term = ops.sum(ops.mul(o, w));
        total = total ? ops.add(total, term) : term;
      }
      total?.backward();
      return {
        values: out.map((o) => Array.from(o.toArray())),
        grads: xs.map((x) => (x.dtype === "int32" ? null : (x.grad ? Array.from(x.grad.toArray()) : null))),
      };
    });
  const a = run(viaMethod);
  const b = run(viaOp);
  expect(a.values).toEqual(b.values);
  expect(a.grads).toEqual(b.grads);
}

describe("tensor methods", () => {
  it("binary arithmetic: x.op(y) and x.op(number) are ops.op(x, ...)", () => {
    for (const name of ["add", "sub", "mul", "div", "maximum", "minimum"] as const) {
      const [x, y] = [leaf([3, 5]), leaf([1, 5], 0.5, 2)]; // y broadcasts over x's rows
      expectSame([x, y], ([a, b]) => a![name](b!), ([a, b]) => ops[name](a!, b!));
      expectSame([x], ([a]) => a![name](0.75), ([a]) => ops[name](a!, 0.75));
    }
  });

  it("unary ops and pow", () => {
    for (const name of ["neg", "exp", "sqrt", "rsqrt", "log", "sigmoid", "tanh", "relu", "square", "abs"] as const) {
      const x = ["sqrt", "rsqrt", "log"].includes(name) ? leaf([2, 3, 1], 0.1, 3) : leaf([2, 3, 1]);
      expectSame([x], ([a]) => a![name](), ([a]) => ops[name](a!));
    }
    expectSame([leaf([4], 0.1, 2)], ([a]) => a!.pow(1.5), ([a]) => ops.pow(a!, 1.5));
  });

  it("reductions, with and without dims and keepdim", () => {
    for (const name of ["sum", "mean"] as const) {
      expectSame([leaf([2, 3, 4])], ([a]) => a![name](), ([a]) => ops[name](a!));
      expectSame([leaf([2, 3, 4])], ([a]) => a![name](1), ([a]) => ops[name](a!, 1));
      expectSame([leaf([2, 3, 4])], ([a]) => a![name]([0, 2], true), ([a]) => ops[name](a!, [0, 2], true));
    }
  });

  it("shape ops: reshape, transpose, slice, split, unsqueeze, expand, contiguous, cast", () => {
    expectSame([leaf([2, 6])], ([a]) => a!.reshape([3, -1]), ([a]) => ops.reshape(a!, [3, -1]));
    expectSame([leaf([2, 3, 4])], ([a]) => a!.transpose(0, 2), ([a]) => ops.transpose(a!, 0, 2));
    expectSame([leaf([5, 3])], ([a]) => a!.slice(0, 1, 4), ([a]) => ops.slice(a!, 0, 1, 4));
    expectSame([leaf([5, 3])], ([a]) => a!.slice(-1, 1), ([a]) => ops.slice(a!, -1, 1));
    expectSame([leaf([7, 2])], ([a]) => a!.split(3), ([a]) => ops.split(a!, 3));
    expectSame([leaf([2, 7])], ([a]) => a!.split([2, 5], 1), ([a]) => ops.split(a!, [2, 5], 1));
    expectSame([leaf([3])], ([a]) => a!.unsqueeze(-1), ([a]) => ops.unsqueeze(a!, -1));
    expectSame([leaf([1, 3])], ([a]) => a!.expand([4, 3]), ([a]) => ops.expand(a!, [4, 3]));
    expectSame([leaf([3, 2])], ([a]) => a!.transpose(0, 1).contiguous(), ([a]) => ops.contiguous(ops.transpose(a!, 0, 1)));
    expectSame([leaf([3, 2])], ([a]) => a!.cast("float32"), ([a]) => ops.cast(a!, "float32"));
  });

  it("matmul, linear, rmsNorm, rotary and crossEntropy", () => {
    expectSame([leaf([2, 3, 4]), leaf([4, 5])], ([a, b]) => a!.matmul(b!), ([a, b]) => ops.matmul(a!, b!));
    expectSame([leaf([2, 3, 4]), leaf([5, 4])], ([a, w]) => a!.linear(w!), ([a, w]) => ops.linear(a!, w!));
    expectSame([leaf([2, 3, 8])], ([a]) => a!.rmsNorm(), ([a]) => ops.rmsNorm(a!));
    expectSame([leaf([2, 8]), leaf([8])], ([a, w]) => a!.rmsNorm({ weight: w!, eps: 1e-5 }), ([a, w]) => ops.rmsNorm(a!, { weight: w!, eps: 1e-5 }));
    const [cos, sin] = [gen.uniform([3, 2], -1, 1, "float64"), gen.uniform([3, 2], -1, 1, "float64")];
    expectSame([leaf([1, 3, 2, 4])], ([a]) => a!.rotary(cos, sin), ([a]) => ops.rotary(a!, cos, sin));
    const targets = tensor([2, -1, 0, 4], [4], "int32");
    expectSame([leaf([4, 5])], ([a]) => a!.crossEntropy(targets), ([a]) => ops.crossEntropy(a!, targets));
    expectSame(
      [leaf([4, 5])],
      ([a]) => a!.crossEntropy(targets, { softcap: 3, reduction: "none" }),
      ([a]) => ops.crossEntropy(a!, targets, { softcap: 3, reduction: "none" }),
    );
  });

  it("chains read left to right: x.mul(l).add(x0.mul(l0)) is the nested ops", () => {
    const inputs = [leaf([2, 3]), leaf([2, 3]), leaf([1]), leaf([1])];
    expectSame(
      inputs,
      ([x, x0, l, l0]) => x!.mul(l!).add(x0!.mul(l0!)).relu().square(),
      ([x, x0, l, l0]) => ops.square(ops.relu(ops.add(ops.mul(x!, l!), ops.mul(x0!, l0!)))),
    );
  });

  it("reports errors as the op does, by the op's name", () => {
    const x = tensor([1, 2, 3, 4], [2, 2]);
    expect(() => x.reshape([3])).toThrow(EngineError);
    expect(() => x.matmul(tensor([1, 2, 3], [3, 1]))).toThrow(/matmul/);
    expect(() => x.add("1" as never)).toThrow(/add: b must be a Tensor/);
    expect(() => x.rmsNorm({ epz: 1 } as never)).toThrow(/did you mean 'eps'/);
  });

  it("are non-enumerable prototype methods that leave ops and the class's own members alone", () => {
    const x = tensor([1, 2]);
    expect(Object.keys(x)).toEqual([]);
    for (const name of ["add", "linear", "rmsNorm", "reshape"] satisfies Method[]) {
      const d = Object.getOwnPropertyDescriptor(Tensor.prototype, name)!;
      expect(typeof d.value).toBe("function");
      expect(d.enumerable).toBe(false);
    }
    expect(typeof ops.add).toBe("function"); // ops.* is unchanged
    expect(x.shape).toEqual([2]); // and the class's own getters still answer
    expect(typeof x.dispose).toBe("function");
  });
});
