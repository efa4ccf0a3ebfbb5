/**
 * ParamRegistry (src/engine/params.ts): a parameter declared once is listed, initialised from
 * the generator in declaration order exactly as the same draws made by hand, and carries the
 * group tag it was declared with.
 */
import { describe, expect, it } from "vitest";
import { EngineError, Generator, ParamRegistry, ops, scope, zeros } from "../../src/engine/index.ts";

const values = (t: { toArray(): ArrayLike<number> }) => Array.from(t.toArray());

describe("ParamRegistry", () => {
  it("lists every declaration in order with its name, shape, group and a grad-requiring float32 tensor", () => {
    const p = new ParamRegistry<"a" | "b">();
    const w = p.add("w", [3, 2], { fill: 0 }, "a");
    const s = p.add("s", [4], { fill: 1 }, "b");
    expect(p.tensors()).toEqual([w, s]);
    expect(p.all.map((d) => [d.name, d.tensor.shape, d.group])).toEqual([
      ["w", [3, 2], "a"],
      ["s", [4], "b"],
    ]);
    expect(w.requiresGrad && w.isLeaf && w.dtype === "float32" && w.device === "cpu").toBe(true);
    expect(p.numel()).toBe(3 * 2 + 4);
    expect(p.get("s").tensor).toBe(s);
  });

  it("initialises in declaration order: the same values as drawing them by hand", () => {
    const p = new ParamRegistry<null>();
    const a = p.add("a", [5, 3], { normal: 0.5, mean: 1 }, null);
    const b = p.add("b", [4], { fill: 0.25 }, null);
    const c = p.add("c", [2, 6], { uniform: 0.3 }, null);
    const d = p.add("d", [3], (t, g) => g.normal_(t, -1, 2), null);
    p.init(new Generator(11));

    const g = new Generator(11);
    const [ea, eb, ec, ed] = [zeros([5, 3]), zeros([4]), zeros([2, 6]), zeros([3])];
    g.normal_(ea, 1, 0.5);
    eb.fill_(0.25); // fills draw nothing, so c's draws follow a's
    g.uniform_(ec, -0.3, 0.3);
    g.normal_(ed, -1, 2);
    expect(values(a)).toEqual(values(ea));
    expect(values(b)).toEqual(values(eb));
    expect(values(c)).toEqual(values(ec));
    expect(values(d)).toEqual(values(ed));
    expect(Math.max(...values(c).map(Math.abs))).toBeLessThanOrEqual(0.3);
  });

  it("gives trainable parameters: gradients reach them", () => {
    const p = new ParamRegistry<string>();
    const w = p.add("w", [2, 2], { fill: 2 }, "muon");
    p.init(new Generator(1));
    scope(() => ops.sum(ops.square(w)).backward());
    expect(values(w.grad!)).toEqual([4, 4, 4, 4]);
  });

  it("rejects a repeated name, a bad shape or an unknown init, by name", () => {
    const p = new ParamRegistry<null>();
    p.add("w", [2], { fill: 0 }, null);
    expect(() => p.add("w", [2], { fill: 0 }, null)).toThrow(/'w' is already declared/);
    expect(() => p.add("x", [2, -1], { fill: 0 }, null)).toThrow(/has a -1/);
    expect(() => p.add("x", [2], { gaussian: 1 } as never, null)).toThrow(EngineError);
    expect(() => p.add("x", [2], { normal: -1 }, null)).toThrow(/init.normal must be >= 0/);
    expect(() => p.add("x", [2], { uniform: 1, mean: 0 } as never, null)).toThrow(/got keys uniform, mean/);
    expect(() => p.add("", [2], { fill: 0 }, null)).toThrow(/non-empty string/);
    expect(() => p.get("nope")).toThrow(/no parameter 'nope' \(declared: w\)/);
    expect(p.all).toHaveLength(1); // failed declarations leave nothing behind
  });
});
