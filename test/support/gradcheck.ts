/**
 * Gradient checking against central finite differences in float64. The loss is
 * sum(fn(inputs) * w) with a fixed random w, so every output element gets a distinct weight
 * and a wrong index in a backward kernel cannot hide behind symmetric gradients.
 */
import { Generator, Tensor, noGrad, ops, scope, tensor } from "../../src/engine/index.ts";

export interface GradcheckOptions {
  eps?: number;
  atol?: number;
  rtol?: number;
  seed?: number;
}

export interface GradcheckResult {
  maxAbsError: number;
  worst: { input: number; index: number; analytic: number; numeric: number } | null;
}

/** Inputs are float64 tensors; those with requiresGrad are checked. */
export function gradcheck(
  fn: (...inputs: Tensor[]) => Tensor,
  inputs: Tensor[],
  options: GradcheckOptions = {},
): GradcheckResult {
  const eps = options.eps ?? 1e-6;
  const atol = options.atol ?? 1e-6;
  const rtol = options.rtol ?? 1e-5;
  const gen = new Generator(options.seed ?? 1234);

  const outShape = scope(() => noGrad(() => fn(...inputs).shape));
  const weight = gen.normal(outShape, 0, 1, "float64");

  const lossOf = (xs: Tensor[]): number => scope(() => ops.sum(ops.mul(fn(...xs), weight)).item());

  // Analytic gradients.
  for (const x of inputs) if (x.requiresGrad) x.zeroGrad();
  scope(() => ops.sum(ops.mul(fn(...inputs), weight)).backward());

  let maxAbsError = 0;
  let worst: GradcheckResult["worst"] = null;
  const failures: string[] = [];
  inputs.forEach((x, which) => {
    if (!x.requiresGrad) return;
    const g = x.grad;
    const analytic = g ? Array.from(g.toArray()) : new Array<number>(x.numel).fill(0);
    g?.dispose();
    const base = Float64Array.from(x.toArray());
    for (let i = 0; i < base.length; i++) {
      const plus = Float64Array.from(base);
      plus[i]! += eps;
      const minus = Float64Array.from(base);
      minus[i]! -= eps;
      const numeric = noGrad(() => {
        const xp = inputs.map((t, j) => (j === which ? tensor(plus, t.shape, "float64") : t));
        const xm = inputs.map((t, j) => (j === which ? tensor(minus, t.shape, "float64") : t));
        const v = (lossOf(xp) - lossOf(xm)) / (2 * eps);
        xp[which]!.dispose();
        xm[which]!.dispose();
        return v;
      });
      const a = analytic[i]!;
      const err = Math.abs(a - numeric);
      if (err > maxAbsError) {
        maxAbsError = err;
        worst = { input: which, index: i, analytic: a, numeric };
      }
      if (!(err <= atol + rtol * Math.abs(numeric)) && failures.length < 5)
        failures.push(`input ${which} [${i}]: analytic ${a}, numeric ${numeric}`);
    }
  });
  weight.dispose();
  if (failures.length > 0) throw new Error(`gradcheck failed (max abs error ${maxAbsError}):\n${failures.join("\n")}`);
  return { maxAbsError, worst };
}

/** A float64 leaf with N(0, 1) values (or U[lo, hi) when given) that requires grad. */
export function param(gen: Generator, shape: number[], range?: [number, number]): Tensor {
  const t = range ? gen.uniform(shape, range[0], range[1], "float64") : gen.normal(shape, 0, 1, "float64");
  t.requiresGrad = true;
  return t;
}

/** Max |a - b| over two same-shaped tensors or arrays. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length mismatch ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}
