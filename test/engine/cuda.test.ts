/**
 * The CUDA backend (native/src/cuda/) against the CPU engine. Every op runs forward and backward
 * on seeded random float32 inputs on both devices, from the same upstream gradient, and the
 * output and every input's gradient must agree within the tolerance its row of the table below
 * states. Then: moving tensors between devices, mixed-device and float64 errors, bad ids,
 * CUDA memory accounting, the optimizer kernels, and three training steps of the recipe's GPT.
 * The CPU engine is the reference; its own tests (core, gemm, attention, model-ops, optim) hold
 * it to float64 references.
 *
 * Without a usable CUDA device (none visible, or an engine built without CUDA) the file is one
 * skipped test whose title is cuda.unavailableReason(), plus two checks of that refusal.
 *
 *   npx vitest run test/engine/cuda.test.ts
 *
 * A failure names the op, the case (shapes, options), seed, dtype, direction (forward, or the
 * gradient of which input), the worst element, and the max abs / rel error against the tolerance.
 * The comparison machinery and the tiny model live in test/support/cuda-compare.ts; the cases
 * stay here, in one file past the usual length, so that the backend's whole contract (which ops,
 * which shapes, how close) reads in one place.
 */
import { describe, expect, it } from "vitest";
import {
  type Device,
  Generator,
  type Tensor,
  cuda,
  emptyCache,
  full,
  liveHandles,
  memoryStats,
  ops,
  optim,
  scope,
  tensor,
  zeros,
} from "../../src/engine/index.ts";
import {
  type MatmulPrecision,
  type InputSpec,
  type OpCase,
  type Tolerance,
  TinyModel,
  TinyOptimizer,
  compareOnCuda,
  describeMismatch,
  failOnProblems,
  fixed,
  hostValues,
  ids,
  leafOn,
  normal,
  rotaryTables,
  shapeStr,
  tinyBatch,
  tinyTrainStep,
  uniform,
  withMatmulPrecision,
} from "../support/cuda-compare.ts";
import { engineError } from "../support/engine-errors.ts";
import { PROFILES } from "../../src/harness/constants.ts";
import { DEVICE_BATCH_SIZE, GPT, buildModelConfig, buildOptimizer, muonMomentum } from "../../src/recipe/train.ts";

// ---- tolerances: CUDA against the CPU's float32 result on the same inputs -----------------
// "element": every element within atol + rtol * |cpu|. "max": the largest error within
// atol + rtol * max |cpu| (relative to the tensor's scale, for results that sum many terms).
//
//   op                                          forward        gradients
//   add sub mul div maximum minimum             elementwise    elementwise; scaled for a broadcast operand
//   neg exp log sqrt rsqrt relu square abs pow  elementwise    elementwise
//   sigmoid tanh                                elementwise    scaled
//   sum mean                                    scaled         elementwise
//   reshape transpose slice split concat
//     contiguous unsqueeze cast                 exact          exact
//   expand                                      exact          scaled
//   matmul linear                               matmulF32 / matmulTf32 / matmulBf16, by matmul precision
//   embedding                                   exact          scaled
//   rmsNorm                                     elementwise    scaled
//   rotary, crossEntropy                        scaled         scaled
//   attention                                   attention      attention, against the largest of dq, dk, dv
//   polarExpress, muonStep (bf16 GEMMs)         muon; muonStep's momentum buffer: elementwise
//   adamwStep                                   adamw
//   3 training steps (recipe GPT, tiny block)   losses within TRAINING_LOSS_RTOL, relative
const TOL = {
  exact: {
    rtol: 0,
    atol: 0,
    relativeTo: "element",
    why: "copies, views, gathers and casts to int32 do no arithmetic: the values must be equal",
  },
  elementwise: {
    rtol: 1e-5,
    atol: 1e-6,
    relativeTo: "element",
    why:
      "one rounding, or a libm function within a few ulp (~2e-7 relative), per element on each device; " +
      "atol covers results near 0",
  },
  scaled: {
    rtol: 1e-5,
    atol: 1e-6,
    relativeTo: "max",
    why:
      "f32 sums in another order (CPU: double or sequential; CUDA: trees) or differences of near-equal terms " +
      "(tanh' = 1 - y^2, x1*c + x2*s) err in proportion to the terms, not to a result that may cancel to ~0",
  },
  matmulF32: {
    rtol: 1e-5,
    atol: 1e-6,
    relativeTo: "max",
    why: "full-f32 GEMM with K <= 1024: ~eps * sqrt(K) of the output's scale on each side",
  },
  matmulTf32: {
    rtol: 3e-3,
    atol: 1e-6,
    relativeTo: "max",
    why:
      "TF32 keeps 10 mantissa bits (each input off by up to 2^-10 when truncated); " +
      "f32 accumulation averages the errors over K",
  },
  matmulBf16: {
    rtol: 1e-2,
    atol: 1e-6,
    relativeTo: "max",
    why: "bf16 inputs keep 8 significant bits (unit roundoff 2^-9 ~ 2e-3); f32 accumulation",
  },
  attention: {
    rtol: 2e-2,
    atol: 1e-6,
    relativeTo: "max",
    why: "QK^T and PV on bf16 tensor cores with f32 softmax; the gradients add two more bf16 products",
  },
  muon: {
    rtol: 3e-2,
    atol: 1e-7,
    relativeTo: "max",
    why: "polar express: up to 5 iterations of 3 bf16 GEMMs, each ~1e-2 of the scale, partly self-correcting",
  },
  adamw: {
    rtol: 1e-6,
    atol: 1e-6,
    relativeTo: "element",
    why: "a few f32 roundings per element per step (lerp, sqrt, divide) and no sums across elements",
  },
} satisfies Record<string, Tolerance>;

/** Training losses, per step: bf16 GEMMs, attention and Muon compound over 3 steps. */
const TRAINING_LOSS_RTOL = 2e-2;

const MATMUL_TOL: Record<MatmulPrecision, Tolerance> = {
  f32: TOL.matmulF32,
  tf32: TOL.matmulTf32,
  bf16: TOL.matmulBf16,
};

// ---- is there a CUDA device? (asked once, at collection) ---------------------------------

let skipReason: string | null = null;
let queryError: unknown = null;
try {
  if (!cuda.isAvailable()) skipReason = cuda.unavailableReason() ?? "cuda.isAvailable() is false and gives no reason";
} catch (err) {
  // A stale native build without the CUDA bindings, say: one failing test, not a crash at collection.
  queryError = err;
}

/** describe() when a CUDA device is usable; otherwise nothing (the skip line below says why). */
function describeCuda(name: string, body: () => void): void {
  if (skipReason === null && queryError === null) describe(name, body);
}

if (queryError !== null)
  it("asks the engine whether CUDA is available", () => {
    throw queryError;
  });
else if (skipReason !== null) it.skip(`CUDA backend tests: ${skipReason}`, () => {});

// ---- helpers ---------------------------------------------------------------------------

const rawBytes = (a: Float32Array | Float64Array | Int32Array | Uint16Array): Buffer =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength);

// ---- op cases ----------------------------------------------------------------------------

const OP_CASES: OpCase[] = [];
const addCase = (c: OpCase): void => {
  OP_CASES.push(c);
};

/** One case of a single-input op: x drawn as `input`, the op applied by `run`. */
function unaryCase(op: string, label: string, input: InputSpec, run: (x: Tensor) => Tensor, tol: Partial<OpCase>) {
  addCase({ op, label, inputs: [input], run: (x) => run(x!), tol: TOL.elementwise, ...tol });
}
const T01 = (t: Tensor) => ops.transpose(t, 0, 1);

// Binary elementwise ops. Gradients of broadcast operands are sums over the broadcast dims.
const BINARY = {
  add: ops.add,
  sub: ops.sub,
  mul: ops.mul,
  div: ops.div,
  maximum: ops.maximum,
  minimum: ops.minimum,
} as const;
for (const [op, f] of Object.entries(BINARY)) {
  // div's denominator stays in [0.5, 2] so the quotient and its gradient are well conditioned.
  const rhs = (shape: number[]) => (op === "div" ? uniform("b", shape, 0.5, 2) : normal("b", shape));
  const both = (label: string, a: number[], b: number[], run: (a: Tensor, b: Tensor) => Tensor, broadcast = false) =>
    addCase({
      op,
      label,
      inputs: [normal("a", a), rhs(b)],
      run: (x, y) => run(x!, y!),
      tol: TOL.elementwise,
      gradTol: broadcast ? TOL.scaled : TOL.elementwise,
    });
  both("[7, 13] and [7, 13]", [7, 13], [7, 13], f);
  both("[257, 129] and [257, 129] (many blocks)", [257, 129], [257, 129], f);
  both("[3, 1, 5] and [4, 1] (both broadcast)", [3, 1, 5], [4, 1], f, true);
  both("[2, 3, 4] and [4] (row broadcast)", [2, 3, 4], [4], f, true);
  both("[1] and [33, 17] (a broadcast)", [1], [33, 17], f, true);
  both("transpose([6, 5]) and [5, 6] (non-contiguous a)", [6, 5], [5, 6], (a, b) => f(T01(a), b));
  both("[4, 5] and slice([4, 9], dim 1, 2..7) (non-contiguous b)", [4, 5], [4, 9], (a, b) =>
    f(a, ops.slice(b, 1, 2, 7)),
  );
  both("[0, 5] and [5] (empty)", [0, 5], [5], f, true);
  unaryCase(op, "[9, 4] and the number 0.75", normal("a", [9, 4]), (a) => f(a, 0.75), {});
}

// Unary elementwise ops. log, sqrt, rsqrt and fractional powers get inputs in [0.5, 2].
const UNARY: [string, (x: Tensor) => Tensor, boolean][] = [
  ["neg", ops.neg, false],
  ["exp", ops.exp, false],
  ["log", ops.log, true],
  ["sqrt", ops.sqrt, true],
  ["rsqrt", ops.rsqrt, true],
  ["sigmoid", ops.sigmoid, false],
  ["tanh", ops.tanh, false],
  ["relu", ops.relu, false],
  ["square", ops.square, false],
  ["abs", ops.abs, false],
];
for (const [op, f, positive] of UNARY) {
  const x = (shape: number[]) => (positive ? uniform("x", shape, 0.5, 2) : normal("x", shape));
  // sigmoid' = y(1 - y) and tanh' = 1 - y^2 cancel as y saturates; the CPU's tanh alone is off
  // by up to 8.9e-8 (measured), which |g| ~ 4 turns into more than atol at one element.
  const tol = op === "tanh" || op === "sigmoid" ? { gradTol: TOL.scaled } : {};
  unaryCase(op, "[1]", x([1]), f, tol);
  unaryCase(op, "[7, 13]", x([7, 13]), f, tol);
  unaryCase(op, "[4099] (odd, past any vector width)", x([4099]), f, tol);
  unaryCase(op, "[3, 1000]", x([3, 1000]), f, tol);
  unaryCase(op, "transpose([9, 4]) (non-contiguous)", x([9, 4]), (a) => f(T01(a)), tol);
  unaryCase(op, "slice([6, 10], dim 0, 1..5) (a view at an offset)", x([6, 10]), (a) => f(ops.slice(a, 0, 1, 5)), tol);
  unaryCase(op, "slice([6, 10], dim 1, 3..-2) (a strided view)", x([6, 10]), (a) => f(ops.slice(a, 1, 3, -2)), tol);
  unaryCase(op, "[0, 3] (empty)", x([0, 3]), f, tol);
  if (op === "exp" || op === "tanh" || op === "sigmoid")
    unaryCase(op, "[4099] with std 8 (saturating range)", normal("x", [4099], 8), f, tol);
}
for (const p of [2, 3, 0.5, -1.5]) {
  const x = (shape: number[]) => (Number.isInteger(p) ? normal("x", shape) : uniform("x", shape, 0.5, 2));
  unaryCase("pow", `[7, 13] to the power ${p}`, x([7, 13]), (a) => ops.pow(a, p), {});
  unaryCase("pow", `transpose([9, 4]) to the power ${p}`, x([9, 4]), (a) => ops.pow(T01(a), p), {});
}

// Reductions. The gradient is the upstream gradient broadcast (times 1/count for mean).
for (const [op, f] of [["sum", ops.sum], ["mean", ops.mean]] as const) {
  const reduce = (label: string, shape: number[], run: (x: Tensor) => Tensor) =>
    unaryCase(op, label, normal("x", shape), run, { tol: TOL.scaled, gradTol: TOL.elementwise });
  reduce("all of [7, 13]", [7, 13], (a) => f(a));
  reduce("dim 0 of [33, 17]", [33, 17], (a) => f(a, 0));
  reduce("dim -1, keepdim, of [5, 1031]", [5, 1031], (a) => f(a, -1, true));
  reduce("dims [0, 2] of [3, 4, 5]", [3, 4, 5], (a) => f(a, [0, 2]));
  reduce("dim 1 of [2, 3, 4] (middle)", [2, 3, 4], (a) => f(a, 1));
  reduce("all of [1000, 257] (257k elements)", [1000, 257], (a) => f(a));
  reduce("dims [0, 1] of [64, 300, 3]", [64, 300, 3], (a) => f(a, [0, 1]));
  reduce("dim 1 of transpose([10, 6]) (non-contiguous)", [10, 6], (a) => f(T01(a), 1));
  reduce("a 0-d tensor", [], (a) => f(a));
  reduce("dim 0 of [0, 4] (empty: zeros)", [0, 4], (a) => f(a, 0));
  reduce("dim 1 of [3, 0] (empty rows)", [3, 0], (a) => f(a, 1));
}

// Views and layout do no arithmetic: exact, forward and backward (expand's gradient is a sum).
const exact = { tol: TOL.exact };
const layoutCase = (
  op: string,
  label: string,
  shapes: number[][],
  run: (...xs: Tensor[]) => Tensor,
  gradTol: Tolerance = TOL.exact,
) =>
  addCase({
    op,
    label,
    inputs: shapes.map((s, i) => normal("abc"[i]!, s)),
    run: (...xs) => run(...(xs as Tensor[])),
    tol: TOL.exact,
    gradTol,
  });
layoutCase("reshape", "[3, 4] -> [2, 6]", [[3, 4]], (a) => ops.reshape(a, [2, 6]));
layoutCase("reshape", "[2, 3, 4] -> [-1, 4]", [[2, 3, 4]], (a) => ops.reshape(a, [-1, 4]));
layoutCase("reshape", "transpose([3, 4]) -> [2, 6] (copies the view)", [[3, 4]], (a) => ops.reshape(T01(a), [2, 6]));
layoutCase("transpose", "[2, 3, 4] dims 0 and 2", [[2, 3, 4]], (a) => ops.transpose(a, 0, 2));
layoutCase("transpose", "[33, 65] dims -1 and -2", [[33, 65]], (a) => ops.transpose(a, -1, -2));
layoutCase("slice", "[4, 5] dim 1, 1..4", [[4, 5]], (a) => ops.slice(a, 1, 1, 4));
layoutCase("slice", "[6, 7, 8] dim -1, -5..-1", [[6, 7, 8]], (a) => ops.slice(a, -1, -5, -1));
layoutCase("slice", "[5, 3] dim 0, 2..2 (empty)", [[5, 3]], (a) => ops.slice(a, 0, 2, 2));
layoutCase("split", "[6, 4] into [2, 3, 1] along 0, concatenated back as [third, first, second]", [[6, 4]], (a) => {
  const [p, q, r] = ops.split(a, [2, 3, 1], 0);
  return ops.concat([r!, p!, q!], 0);
});
layoutCase("split", "[4, 7] into pieces of 3 along 1 (3, 3, 1), concatenated back reversed", [[4, 7]], (a) =>
  ops.concat(ops.split(a, 3, 1).reverse(), 1),
);
layoutCase("concat", "[2, 3] and [2, 2] along 1", [[2, 3], [2, 2]], (a, b) => ops.concat([a!, b!], 1));
layoutCase("concat", "[3, 5], [0, 5] and [2, 5] along 0 (an empty piece)", [[3, 5], [0, 5], [2, 5]], (...xs) =>
  ops.concat(xs, 0),
);
layoutCase("concat", "transpose([3, 2]) and [2, 4] along 1 (a non-contiguous piece)", [[3, 2], [2, 4]], (a, b) =>
  ops.concat([T01(a!), b!], 1),
);
layoutCase("concat", "three [2, 3, 4] along -1", [[2, 3, 4], [2, 3, 4], [2, 3, 4]], (...xs) => ops.concat(xs, -1));
layoutCase("contiguous", "transpose([5, 7])", [[5, 7]], (a) => ops.contiguous(T01(a)));
layoutCase("contiguous", "slice([6, 10], dim 1, 3..8)", [[6, 10]], (a) => ops.contiguous(ops.slice(a, 1, 3, 8)));
layoutCase("expand", "[3, 1] -> [2, 3, 4]", [[3, 1]], (a) => ops.expand(a, [2, 3, 4]), TOL.scaled);
layoutCase("expand", "[1] -> [5, 7]", [[1]], (a) => ops.expand(a, [5, 7]), TOL.scaled);
layoutCase("unsqueeze", "[3, 4] at 0", [[3, 4]], (a) => ops.unsqueeze(a, 0));
layoutCase("unsqueeze", "[3, 4] at -1", [[3, 4]], (a) => ops.unsqueeze(a, -1));
layoutCase("cast", "float32 [4, 6] -> float32", [[4, 6]], (a) => ops.cast(a, "float32"));
const toInt = (a: Tensor) => ops.cast(a, "int32");
const wide = uniform("x", [7, 13], -50, 50, false);
unaryCase("cast", "float32 [7, 13] in [-50, 50) -> int32 (truncates, as on the CPU)", wide, toInt, exact);
unaryCase("cast", "int32 ids [5, 9] -> float32", ids("x", [5, 9], 1000), (a) => ops.cast(a, "float32"), exact);

// Matrix products, at each matmul precision.
interface GemmShape {
  label: string;
  a: number[];
  b: number[];
  run: (a: Tensor, b: Tensor) => Tensor;
  big?: boolean;
}
const mm = (a: Tensor, b: Tensor) => ops.matmul(a, b);
const lin = (x: Tensor, w: Tensor) => ops.linear(x, w);
const tr = (t: Tensor) => ops.transpose(t, -2, -1);
const MATMUL_SHAPES: GemmShape[] = [
  { label: "[1, 1] @ [1, 1]", a: [1, 1], b: [1, 1], run: mm },
  { label: "[7, 13] @ [13, 5]", a: [7, 13], b: [13, 5], run: mm },
  { label: "[33, 65] @ [65, 17]", a: [33, 65], b: [65, 17], run: mm },
  { label: "transpose([65, 33]) @ [65, 17] (A^T)", a: [65, 33], b: [65, 17], run: (a, b) => mm(tr(a), b) },
  { label: "[33, 65] @ transpose([17, 65]) (B^T)", a: [33, 65], b: [17, 65], run: (a, b) => mm(a, tr(b)) },
  {
    label: "transpose([300, 131]) @ transpose([97, 300]) (A^T B^T)",
    a: [300, 131],
    b: [97, 300],
    run: (a, b) => mm(tr(a), tr(b)),
  },
  { label: "[131, 300] @ [300, 97]", a: [131, 300], b: [300, 97], run: mm },
  { label: "[256, 1024] @ [1024, 384] (whole tensor-core tiles)", a: [256, 1024], b: [1024, 384], run: mm, big: true },
  { label: "[3, 37, 50] @ [3, 50, 29] (batched)", a: [3, 37, 50], b: [3, 50, 29], run: mm },
  { label: "[3, 37, 50] @ [50, 29] (b broadcast over the batch)", a: [3, 37, 50], b: [50, 29], run: mm },
  { label: "[2, 1, 3, 4] @ [1, 3, 4, 2] (both batch dims broadcast)", a: [2, 1, 3, 4], b: [1, 3, 4, 2], run: mm },
  {
    label: "transpose([2, 80, 64]) @ transpose([2, 48, 80]) (batched A^T B^T)",
    a: [2, 80, 64],
    b: [2, 48, 80],
    run: (a, b) => mm(tr(a), tr(b)),
  },
  {
    label: "slice([40, 70], dim 1, 5..55) @ [50, 20] (a strided view)",
    a: [40, 70],
    b: [50, 20],
    run: (a, b) => mm(ops.slice(a, 1, 5, 55), b),
  },
  { label: "[5, 0] @ [0, 6] (K = 0: zeros)", a: [5, 0], b: [0, 6], run: mm },
  { label: "[0, 8] @ [8, 6] (M = 0)", a: [0, 8], b: [8, 6], run: mm },
];
const LINEAR_SHAPES: GemmShape[] = [
  { label: "x [4, 33, 70], w [45, 70]", a: [4, 33, 70], b: [45, 70], run: lin },
  { label: "x [1, 1], w [1, 1]", a: [1, 1], b: [1, 1], run: lin },
  { label: "x [256, 256], w [1024, 256]", a: [256, 256], b: [1024, 256], run: lin, big: true },
  { label: "x [256, 1024], w [256, 1024]", a: [256, 1024], b: [256, 1024], run: lin, big: true },
  {
    label: "x [50, 70], w transpose([70, 45]) (a transposed weight view)",
    a: [50, 70],
    b: [70, 45],
    run: (x, w) => lin(x, tr(w)),
  },
  { label: "x [2, 0, 16], w [8, 16] (no rows)", a: [2, 0, 16], b: [8, 16], run: lin },
];
for (const precision of ["f32", "bf16", "tf32"] as const)
  for (const [op, shapes] of [["matmul", MATMUL_SHAPES], ["linear", LINEAR_SHAPES]] as const)
    for (const s of shapes)
      addCase({
        op,
        label: s.label,
        inputs: [normal(op === "linear" ? "x" : "a", s.a), normal(op === "linear" ? "w" : "b", s.b)],
        run: (a, b) => s.run(a!, b!),
        tol: MATMUL_TOL[precision],
        precision,
        seeds: s.big ? [1] : [1, 2],
      });

// Embedding: the forward gathers rows (exact); the weight gradient scatter-adds (a sum).
const embeddingCases: [string, number, number, number[], boolean?][] = [
  ["V=7, C=5, ids [2, 3]", 7, 5, [2, 3]],
  ["V=50, C=33, ids [4000] (many repeats per row)", 50, 33, [4000]],
  ["V=1, C=1, ids [1]", 1, 1, [1]],
  ["V=300, C=768, ids [4, 64]", 300, 768, [4, 64]],
  ["V=9, C=3, a 0-d id", 9, 3, []],
  ["V=6, C=4, ids [0] (empty)", 6, 4, [0]],
  ["V=7, C=5 as transpose([5, 7]) (a weight view), ids [3, 4]", 7, 5, [3, 4], true],
];
for (const [label, V, C, idShape, viewed] of embeddingCases)
  addCase({
    op: "embedding",
    label,
    inputs: [normal("weight", viewed ? [C, V] : [V, C]), ids("ids", idShape, V)],
    run: (w, i) => ops.embedding(viewed ? ops.transpose(w!, 0, 1) : w!, i!),
    tol: TOL.exact,
    gradTol: TOL.scaled,
  });

// rmsNorm: the forward is a per-row scale (elementwise); dx holds a row dot product, dw a column sum.
// With C = 1, y = x / sqrt(x^2 + eps) is +-1 and dx is 0 up to rounding: only y and dweight are compared.
const rmsCases: [string, number[], boolean, number?][] = [
  ["[3, 5]", [3, 5], false],
  ["[3, 5] with weight", [3, 5], true],
  ["[2, 1, 7] with weight, eps 1e-2", [2, 1, 7], true, 1e-2],
  ["[4, 1] with weight (C = 1: y and dweight only)", [4, 1], true],
  ["[1, 1] with weight (C = 1: y and dweight only)", [1, 1], true],
  ["[3, 70, 129] with weight", [3, 70, 129], true],
  ["[256, 768] with weight, eps 1e-5", [256, 768], true, 1e-5],
  ["[2, 64, 128]", [2, 64, 128], false],
  ["[0, 16] with weight (empty)", [0, 16], true],
];
for (const [label, shape, withWeight, eps] of rmsCases) {
  const C = shape.at(-1)!;
  const opts = (w: Tensor | undefined) => ({ ...(w ? { weight: w } : {}), ...(eps === undefined ? {} : { eps }) });
  const x = normal("x", shape, 1, C > 1);
  addCase({
    op: "rmsNorm",
    label,
    inputs: withWeight ? [x, normal("weight", [C])] : [x],
    run: (a, w) => ops.rmsNorm(a!, opts(w)),
    tol: TOL.elementwise,
    gradTol: TOL.scaled,
  });
}
addCase({
  op: "rmsNorm",
  label: "transpose([8, 5]) with weight (non-contiguous x)",
  inputs: [normal("x", [8, 5]), normal("weight", [8])],
  run: (x, w) => ops.rmsNorm(ops.transpose(x!, 0, 1), { weight: w! }),
  tol: TOL.elementwise,
  gradTol: TOL.scaled,
});

// Rotary: each output is x1*c + x2*s (the gradient rotates back). Two products that may cancel,
// rounded with or without FMA: an ulp of the larger term, so against the tensor's scale.
const rotaryCases: [string, number[], number][] = [
  ["[2, 3, 2, 4], table of T + 3 rows", [2, 3, 2, 4], 3],
  ["[1, 1, 1, 2]", [1, 1, 1, 2], 0],
  ["[2, 5, 3, 6]", [2, 5, 3, 6], 1],
  ["[2, 17, 3, 12]", [2, 17, 3, 12], 3],
  ["[4, 256, 8, 64]", [4, 256, 8, 64], 0],
  ["[1, 65, 2, 128], table of T + 7 rows", [1, 65, 2, 128], 7],
  ["[1, 0, 2, 4] (T = 0)", [1, 0, 2, 4], 3],
];
for (const [label, shape, extra] of rotaryCases) {
  const [, T, , D] = shape as [number, number, number, number];
  const { cos, sin } = rotaryTables(T + extra, D);
  addCase({
    op: "rotary",
    label,
    inputs: [normal("x", shape), fixed("cos", cos, [T + extra, D / 2]), fixed("sin", sin, [T + extra, D / 2])],
    run: (x, c, s) => ops.rotary(x!, c!, s!),
    tol: TOL.scaled,
  });
}
{
  const { cos, sin } = rotaryTables(20, 8);
  addCase({
    op: "rotary",
    label: "q split from qkv [2, 9, 6, 8] (non-contiguous x), tables sliced from 20 rows (views)",
    inputs: [normal("qkv", [2, 9, 6, 8]), fixed("cos", cos, [20, 4]), fixed("sin", sin, [20, 4])],
    run: (qkv, c, s) => ops.rotary(ops.split(qkv!, [2, 2, 2], 2)[0]!, ops.slice(c!, 0, 0, 9), ops.slice(s!, 0, 0, 9)),
    tol: TOL.scaled,
  });
}

// Cross-entropy: log-sum-exp per row, so the loss and its gradient are measured against their scale.
for (const softcap of [0, 15])
  for (const V of [1, 3, 13, 100, 1031])
    addCase({
      op: "crossEntropy",
      label: `N=7, V=${V}, softcap ${softcap}, ignore_index -1 at every fourth row, reduction none`,
      inputs: [normal("logits", [7, V], softcap > 0 ? 40 : 5), ids("targets", [7], V, -1)],
      run: (l, t) => ops.crossEntropy(l!, t!, { softcap, reduction: "none" }),
      tol: TOL.scaled,
    });
addCase({
  op: "crossEntropy",
  label: "N=64, V=8192 (the gpu vocabulary), softcap 15, mean",
  inputs: [normal("logits", [64, 8192], 10), ids("targets", [64], 8192, -1)],
  run: (l, t) => ops.crossEntropy(l!, t!, { softcap: 15 }),
  tol: TOL.scaled,
});
addCase({
  op: "crossEntropy",
  label: "N=33, V=100, no softcap, mean",
  inputs: [normal("logits", [33, 100], 5), ids("targets", [33], 100, -1)],
  run: (l, t) => ops.crossEntropy(l!, t!),
  tol: TOL.scaled,
});
addCase({
  op: "crossEntropy",
  label: "N=12, V=5, ignore_index 2 (in range), mean",
  inputs: [normal("logits", [12, 5], 3), ids("targets", [12], 5, 2)],
  run: (l, t) => ops.crossEntropy(l!, t!, { ignoreIndex: 2 }),
  tol: TOL.scaled,
});
addCase({
  op: "crossEntropy",
  label: "logits transpose([50, 9]) (non-contiguous), softcap 15, reduction none",
  inputs: [normal("logits", [50, 9], 20), ids("targets", [9], 50)],
  run: (l, t) => ops.crossEntropy(ops.transpose(l!, 0, 1), t!, { softcap: 15, reduction: "none" }),
  tol: TOL.scaled,
});
addCase({
  op: "crossEntropy",
  label: "N=0 (empty), reduction none",
  inputs: [normal("logits", [0, 5]), ids("targets", [0], 5)],
  run: (l, t) => ops.crossEntropy(l!, t!, { reduction: "none" }),
  tol: TOL.scaled,
});

// Attention: the gpu profile's shape class (D = 128, T >= 256, MHA and GQA, full and T/4
// windows), D = 64, odd head sizes and tiny T for the fallback kernel, and an empty sequence.
// Gradients are measured against the largest of dq, dk, dv (see OpCase.sharedGradScale).
interface AttentionCase {
  B: number;
  T: number;
  H: number;
  Hkv: number;
  D: number;
  window: number;
  scale?: number;
}
const ATTENTION_CASES: AttentionCase[] = [
  { B: 2, T: 256, H: 4, Hkv: 4, D: 128, window: -1 },
  { B: 2, T: 256, H: 4, Hkv: 4, D: 128, window: 64 },
  { B: 2, T: 256, H: 8, Hkv: 4, D: 128, window: -1 },
  { B: 2, T: 256, H: 8, Hkv: 4, D: 128, window: 64 },
  { B: 1, T: 512, H: 4, Hkv: 2, D: 128, window: -1 },
  { B: 1, T: 512, H: 4, Hkv: 2, D: 128, window: 128 },
  { B: 2, T: 256, H: 4, Hkv: 4, D: 64, window: -1 },
  { B: 2, T: 256, H: 4, Hkv: 2, D: 64, window: 64 },
  { B: 2, T: 130, H: 4, Hkv: 2, D: 64, window: -1 },
  { B: 2, T: 70, H: 4, Hkv: 2, D: 24, window: -1 },
  { B: 2, T: 70, H: 4, Hkv: 2, D: 24, window: 17 },
  { B: 2, T: 9, H: 3, Hkv: 3, D: 5, window: -1 },
  { B: 2, T: 1, H: 4, Hkv: 2, D: 128, window: -1 },
  { B: 2, T: 3, H: 4, Hkv: 2, D: 128, window: -1 },
  { B: 1, T: 65, H: 4, Hkv: 2, D: 128, window: 16 },
  { B: 3, T: 1, H: 2, Hkv: 1, D: 64, window: -1 },
  { B: 1, T: 3, H: 2, Hkv: 2, D: 64, window: 0 },
  { B: 1, T: 65, H: 2, Hkv: 1, D: 64, window: -1 },
  { B: 1, T: 12, H: 2, Hkv: 1, D: 64, window: -1, scale: 0.37 },
  { B: 1, T: 0, H: 2, Hkv: 1, D: 64, window: -1 },
];
for (const c of ATTENTION_CASES) {
  const opts = c.scale === undefined ? { window: c.window } : { window: c.window, scale: c.scale };
  const scaleNote = c.scale === undefined ? "" : ` scale=${c.scale}`;
  const kvShape = [c.B, c.T, c.Hkv, c.D];
  addCase({
    op: "attention",
    label: `B=${c.B} T=${c.T} H=${c.H} Hkv=${c.Hkv} D=${c.D} window=${c.window}${scaleNote}`,
    inputs: [normal("q", [c.B, c.T, c.H, c.D]), normal("k", kvShape), normal("v", kvShape)],
    run: (q, k, v) => ops.attention(q!, k!, v!, opts),
    tol: TOL.attention,
    sharedGradScale: true,
    seeds: c.T >= 256 ? [1] : [1, 2],
  });
}
addCase({
  op: "attention",
  label: "q, k, v split from qkv [2, 256, 8, 128] as H=4, Hkv=2 (non-contiguous), window 64",
  inputs: [normal("qkv", [2, 256, 8, 128])],
  run: (qkv) => {
    const [q, k, v] = ops.split(qkv!, [4, 2, 2], 2);
    return ops.attention(q!, k!, v!, { window: 64 });
  },
  tol: TOL.attention,
  sharedGradScale: true,
  seeds: [1],
});

// ---- runtime -----------------------------------------------------------------------------

describeCuda("cuda runtime", () => {
  it("is compiled and available, with at least one device and no unavailable reason", () => {
    expect(cuda.isCompiled()).toBe(true);
    expect(cuda.isAvailable()).toBe(true);
    expect(cuda.deviceCount()).toBeGreaterThanOrEqual(1);
    expect(cuda.unavailableReason()).toBeNull();
  });

  it("describes device 0: name, compute capability, multiprocessors, memory and clock", () => {
    const p = cuda.properties();
    expect(p).toEqual(cuda.properties(0));
    expect(p.name.length).toBeGreaterThan(0);
    expect(p.major).toBeGreaterThanOrEqual(8); // the bf16 / TF32 tensor-core paths need sm_80 or newer
    expect(p.minor).toBeGreaterThanOrEqual(0);
    expect(p.multiprocessors).toBeGreaterThan(0);
    expect(p.totalBytes).toBeGreaterThan(2 ** 30);
    expect(p.clockGhz).toBeGreaterThan(0.3);
    expect(p.clockGhz).toBeLessThan(5);
  });

  it("rejects a device index past the last one, naming it", () => {
    const n = cuda.deviceCount();
    expect(() => cuda.properties(n)).toThrow(new RegExp(`device\\D*${n}\\b`));
    expect(() => cuda.memoryStats(n)).toThrow(new RegExp(`device\\D*${n}\\b`));
  });

  it("defaults matmul precision to bf16 and reads back each setting", () => {
    expect(cuda.matmulPrecision()).toBe("bf16");
    for (const p of ["f32", "tf32", "bf16"] as const) {
      cuda.setMatmulPrecision(p);
      expect(cuda.matmulPrecision()).toBe(p);
    }
  });

  it("rejects an unknown matmul precision by name and keeps the current one", () => {
    cuda.setMatmulPrecision("bf16");
    expect(() => cuda.setMatmulPrecision("fp16" as MatmulPrecision)).toThrow(/fp16/);
    expect(cuda.matmulPrecision()).toBe("bf16");
  });

  it("synchronize() returns with queued work done", () => {
    scope(() => {
      const x = full([1024, 1024], 2, "float32", "cuda");
      const y = ops.sum(ops.mul(x, x));
      cuda.synchronize();
      cuda.synchronize(0);
      expect(hostValues(y)[0]).toBe(4 * 1024 * 1024);
    });
  });
});

// ---- ops against the CPU ----------------------------------------------------------------

describeCuda("ops on CUDA match the CPU: the output and every input's gradient", () => {
  const byOp = new Map<string, OpCase[]>();
  for (const c of OP_CASES) byOp.set(c.op, [...(byOp.get(c.op) ?? []), c]);
  for (const [op, cases] of byOp)
    describe(op, () => {
      for (const c of cases)
        it(`${c.label}${c.precision ? ` [matmul precision ${c.precision}]` : ""}`, () => {
          for (const seed of c.seeds ?? [1, 2]) compareOnCuda(c, seed);
        });
    });
});

// ---- cross-device semantics ------------------------------------------------------------

describeCuda("moving tensors between devices", () => {
  // Zeros of both signs, NaN, infinities, the smallest denormals and normal, the largest finite.
  const specialsF32 = [0, -0, 1, -1.5, NaN, Infinity, -Infinity, 1e-45, -1e-45, 1.1754942e-38, 3.4028234e38];

  it("round-trips float32 bit-exactly: NaN, Inf, -0, denormals; shapes [], [0], [3, 0, 2], [1037], [17, 61]", () => {
    scope(() => {
      const gen = new Generator(5);
      for (const shape of [[], [0], [3, 0, 2], [1037], [17, 61]]) {
        const values = gen.normal(shape).toArray() as Float32Array;
        values.set(specialsF32.slice(0, values.length));
        const src = tensor(values, shape, "float32");
        const back = src.to("cuda").to("cpu");
        expect(back.device).toBe("cpu");
        expect(back.shape, shapeStr(shape)).toEqual(shape);
        expect(rawBytes(back.toArray()).equals(rawBytes(values)), `float32 ${shapeStr(shape)}`).toBe(true);
      }
    });
  });

  it("round-trips int32 bit-exactly, extremes included", () => {
    scope(() => {
      const values = Int32Array.from({ length: 1001 }, (_, i) => (i * 2654435761) | 0);
      values.set([0, 1, -1, 2147483647, -2147483648]);
      const back = tensor(values, [7, 11, 13], "int32").to("cuda").to("cpu");
      expect(back.dtype).toBe("int32");
      expect(rawBytes(back.toArray()).equals(rawBytes(values))).toBe(true);
    });
  });

  it("moves a non-contiguous view as its dense values", () => {
    scope(() => {
      const x = new Generator(6).normal([5, 9]);
      const view = ops.slice(ops.transpose(x, 0, 1), 0, 2, 7); // (5, 5), strided, at an offset
      const back = view.to("cuda").to("cpu");
      expect(rawBytes(back.toArray()).equals(rawBytes(ops.contiguous(view).toArray()))).toBe(true);
    });
  });

  it("accepts 'cuda' and 'cuda:0' alike and reports 'cuda:0'; moving to the same device keeps the values", () => {
    scope(() => {
      const x = tensor([1, 2, 3]);
      expect(x.device).toBe("cpu");
      const a = x.to("cuda");
      const b = x.to("cuda:0");
      expect(a.device).toBe("cuda:0");
      expect(b.device).toBe("cuda:0");
      const c = a.to("cuda");
      expect(c.device).toBe("cuda:0");
      expect(Array.from(hostValues(c))).toEqual([1, 2, 3]);
      expect(x.to("cpu").device).toBe("cpu");
    });
  });

  it("creates tensors on CUDA with the factories (tensor, zeros, full)", () => {
    scope(() => {
      const t = tensor([1, 2, 3, 4, 5, 6], [2, 3], "float32", "cuda");
      const z = zeros([3, 0, 2], "float32", "cuda");
      const f = full([4], 7, "int32", "cuda");
      for (const x of [t, z, f]) expect(x.device).toBe("cuda:0");
      expect(Array.from(hostValues(t))).toEqual([1, 2, 3, 4, 5, 6]);
      expect(z.shape).toEqual([3, 0, 2]);
      expect(f.dtype).toBe("int32");
      expect(Array.from(hostValues(f))).toEqual([7, 7, 7, 7]);
      expect(Array.from(hostValues(zeros([5], "float32", "cuda")))).toEqual([0, 0, 0, 0, 0]);
    });
  });

  it("sends gradients through .to('cuda') back to a CPU leaf, from a CUDA scalar with no explicit gradient", () => {
    scope(() => {
      const x = new Generator(7).normal([4, 5]).requireGrad();
      const loss = ops.sum(ops.square(x.to("cuda"))); // on cuda:0
      expect(loss.device).toBe("cuda:0");
      loss.backward();
      const g = x.grad!;
      expect(g.device).toBe("cpu");
      const want = hostValues(x).map((v) => 2 * v);
      const what = "sum(square(x.to('cuda')))";
      failOnProblems([describeMismatch(what, "grad of x [4, 5]", [4, 5], hostValues(g), want, TOL.elementwise)]);
    });
  });

  it("sends gradients through .to('cpu') back to a CUDA leaf", () => {
    scope(() => {
      const gen = new Generator(8);
      const x = leafOn("cuda", gen.normal([3, 7]), true);
      const w = gen.normal([3, 7]);
      ops.sum(ops.mul(x.to("cpu"), w)).backward();
      const g = x.grad!;
      expect(g.device).toBe("cuda:0");
      expect(rawBytes(Float32Array.from(hostValues(g))).equals(rawBytes(w.toArray()))).toBe(true);
    });
  });

  it("sums a leaf's gradient over a CPU path and a CPU -> CUDA -> CPU path", () => {
    scope(() => {
      const x = new Generator(9).normal([6]).requireGrad();
      const onCpu = ops.sum(ops.mul(x, 2));
      const roundTrip = ops.sum(ops.exp(x.to("cuda")).to("cpu"));
      ops.add(onCpu, roundTrip).backward();
      const g = x.grad!;
      expect(g.device).toBe("cpu");
      const want = hostValues(x).map((v) => 2 + Math.exp(Math.fround(v)));
      const what = "2x + exp(x via cuda)";
      failOnProblems([describeMismatch(what, "grad of x [6]", [6], hostValues(g), want, TOL.elementwise)]);
    });
  });
});

describeCuda("one op with tensors on two devices throws, naming both devices", () => {
  const cpuAndCuda = (shape: number[], seed = 1): [Tensor, Tensor] => {
    const t = new Generator(seed).normal(shape);
    return [t, t.to("cuda")];
  };
  const onCpu = (shape: number[]) => cpuAndCuda(shape)[0];
  const onCuda = (shape: number[]) => cpuAndCuda(shape)[1];
  const idsOn = (device: "cpu" | "cuda") => tensor([1, 2], [2], "int32", device);
  const cases: [string, RegExp, () => unknown][] = [
    ["add(cpu, cuda)", /add/, () => { const [a, b] = cpuAndCuda([2, 3]); return ops.add(a, b); }],
    ["mul(cuda, cpu)", /mul/, () => { const [a, b] = cpuAndCuda([2, 3]); return ops.mul(b, a); }],
    ["matmul(cpu, cuda)", /matmul/, () => { const [a, b] = cpuAndCuda([3, 3]); return ops.matmul(a, b); }],
    ["linear(cuda x, cpu w)", /linear/, () => { const [w, x] = cpuAndCuda([4, 4]); return ops.linear(x, w); }],
    ["embedding(cuda weight, cpu ids)", /embedding/, () => ops.embedding(onCuda([5, 2]), idsOn("cpu"))],
    ["embedding(cpu weight, cuda ids)", /embedding/, () => ops.embedding(onCpu([5, 2]), idsOn("cuda"))],
    ["crossEntropy(cuda logits, cpu ids)", /cross_?entropy/i, () => ops.crossEntropy(onCuda([2, 5]), idsOn("cpu"))],
    ["rmsNorm(cuda x, cpu weight)", /rms_?norm/i, () => ops.rmsNorm(onCuda([2, 4]), { weight: onCpu([4]) })],
    ["rotary(cuda x, cpu tables)", /rotary/, () => ops.rotary(onCuda([1, 2, 1, 4]), onCpu([2, 2]), onCpu([2, 2]))],
    ["attention(cuda q, cpu k, cpu v)", /attention/, () => {
      const kv = onCpu([1, 4, 2, 8]);
      return ops.attention(onCuda([1, 4, 2, 8]), kv, kv);
    }],
    ["concat([cpu, cuda])", /concat/, () => ops.concat(cpuAndCuda([2, 3]), 0)],
    ["adamwStep(cuda p, cuda grad, cpu exp_avg, cpu exp_avg_sq)", /adamw/i, () => {
      const [, p] = cpuAndCuda([3, 4]);
      const h = { step: 1, lr: 0.1, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0 };
      optim.adamwStep(p, p.to("cuda"), zeros([3, 4]), zeros([3, 4]), h);
    }],
    ["muonStep(cuda params and grads, cpu buffers)", /muon/i, () => {
      const [, p] = cpuAndCuda([6, 4]);
      const h = { momentum: 0.95, lr: 0.02, weightDecay: 0, beta2: 0.95, nsSteps: 5 };
      optim.muonStep([p], [p.to("cuda")], zeros([1, 6, 4]), zeros([1, 6, 1]), h);
    }],
  ];
  for (const [label, opName, fn] of cases)
    it(label, () => {
      scope(() => {
        const e = engineError(fn);
        expect(e.message).toMatch(opName);
        expect(e.message).toMatch(/\bcpu\b/);
        expect(e.message).toMatch(/cuda:0/);
      });
    });
});

describeCuda("float64 on CUDA throws, pointing to float32", () => {
  const cases: [string, () => unknown][] = [
    ["zeros(shape, 'float64', 'cuda')", () => zeros([2], "float64", "cuda")],
    ["full(shape, 1, 'float64', 'cuda')", () => full([2], 1, "float64", "cuda")],
    ["tensor(data, shape, 'float64', 'cuda')", () => tensor([1, 2], [2], "float64", "cuda")],
    ["a float64 CPU tensor .to('cuda')", () => tensor(Float64Array.of(1, 2)).to("cuda")],
    ["cast(a CUDA float32 tensor, 'float64')", () => ops.cast(zeros([2], "float32", "cuda"), "float64")],
  ];
  for (const [label, fn] of cases)
    it(label, () => {
      scope(() => {
        const e = engineError(fn);
        expect(e.message).toMatch(/float64/);
        expect(e.message).toMatch(/float32/);
      });
    });
});

describeCuda("out-of-range ids and targets on CUDA throw as on the CPU", () => {
  /** Runs fn on CPU and CUDA copies of its inputs; both must throw the same code, matching `pattern`. */
  function expectSameError(make: (device: "cpu" | "cuda") => () => unknown, pattern: RegExp): void {
    scope(() => {
      const onCpu = engineError(make("cpu"));
      const onCuda = engineError(make("cuda"));
      expect(onCpu.message).toMatch(pattern);
      expect(onCuda.message, `CUDA said: ${onCuda.message}\nthe CPU said: ${onCpu.message}`).toMatch(pattern);
      expect(onCuda.code).toBe(onCpu.code);
      // The device must still work afterwards (no sticky error from a device-side assert).
      const after = ops.add(full([3], 1, "float32", "cuda"), 1);
      expect(Array.from(hostValues(after))).toEqual([2, 2, 2]);
    });
  }
  const weight = (device: "cpu" | "cuda") => zeros([7, 2], "float32", device);
  const logits = (device: "cpu" | "cuda") => zeros([3, 4], "float32", device);
  const idsOn = (values: number[], shape: number[], device: "cpu" | "cuda") => tensor(values, shape, "int32", device);

  it("embedding: id 9 >= V at position 4", () =>
    expectSameError(
      (d) => () => ops.embedding(weight(d), idsOn([0, 1, 2, 3, 9, 1], [2, 3], d)),
      /embedding: id 9 at position 4 .*V=7/,
    ));
  it("embedding: a negative id", () =>
    expectSameError(
      (d) => () => ops.embedding(weight(d), idsOn([2, -1], [2], d)),
      /embedding: id -1 at position 1 .*V=7/,
    ));
  it("crossEntropy: target 4 >= V", () =>
    expectSameError(
      (d) => () => ops.crossEntropy(logits(d), idsOn([0, 4, 1], [3], d)),
      /cross_entropy: target 4 at position 1 is out of range .*V=4/,
    ));
  it("crossEntropy: target -2 with ignore_index -1", () =>
    expectSameError(
      (d) => () => ops.crossEntropy(logits(d), idsOn([0, 1, -2], [3], d)),
      /cross_entropy: target -2 at position 2 .*V=4.*ignore_index=-1/,
    ));
  it("crossEntropy: target -1 once ignore_index moves to -100", () =>
    expectSameError(
      (d) => () => ops.crossEntropy(logits(d), idsOn([0, -1, 1], [3], d), { ignoreIndex: -100 }),
      /target -1 at position 1/,
    ));
});

describeCuda("a second CUDA device", () => {
  const two = cuda.deviceCount() >= 2;
  it.skipIf(!two)("round-trips through cuda:1, computes there, and refuses to mix cuda:0 with cuda:1", () => {
    scope(() => {
      const x = new Generator(10).normal([33, 17]);
      const on1 = x.to("cuda:1");
      expect(on1.device).toBe("cuda:1");
      expect(rawBytes(on1.to("cpu").toArray()).equals(rawBytes(x.toArray()))).toBe(true);
      const y = ops.mul(on1, 2);
      expect(y.device).toBe("cuda:1");
      expect(Array.from(hostValues(y))).toEqual(Array.from(x.toArray(), (v) => 2 * v));
      const e = engineError(() => ops.add(x.to("cuda:0"), on1));
      expect(e.message).toMatch(/cuda:0/);
      expect(e.message).toMatch(/cuda:1/);
    });
  });
});

// ---- memory ----------------------------------------------------------------------------

describeCuda("CUDA memory accounting", () => {
  const MiB = 2 ** 20;

  it("keeps live bytes, buffers and handles flat over 20 training steps of a tiny model", () => {
    const config = { vocab: 256, channels: 64, heads: 2, kvHeads: 1, seqLen: 32, batch: 4, window: 16 };
    scope(() => {
      const model = new TinyModel(config, "cuda", 11);
      const optimizer = new TinyOptimizer(model, "cuda"); // its state exists before the first step
      const batch = tinyBatch(config, "cuda", 12);
      // One warm-up step: the backend may create persistent workspaces (cuBLASLt's, say) on first use.
      tinyTrainStep(model, optimizer, batch);
      cuda.synchronize();
      const start = cuda.memoryStats();
      const hostStart = memoryStats().liveBytes;
      const handlesStart = liveHandles();
      for (let step = 1; step <= 20; step++) {
        const loss = tinyTrainStep(model, optimizer, batch);
        expect(Number.isFinite(loss), `step ${step}: loss ${loss}`).toBe(true);
        const now = cuda.memoryStats();
        expect(now.liveBytes, `step ${step}: CUDA live bytes`).toBe(start.liveBytes);
        expect(now.liveBuffers, `step ${step}: CUDA live buffers`).toBe(start.liveBuffers);
        expect(now.peakBytes, `step ${step}: peak >= live`).toBeGreaterThanOrEqual(now.liveBytes);
        expect(memoryStats().liveBytes, `step ${step}: host live bytes`).toBe(hostStart);
        expect(liveHandles(), `step ${step}: live tensor handles`).toBe(handlesStart);
      }
      // Activations lived during each step and were freed: the peak sits above the live bytes.
      expect(cuda.memoryStats().peakBytes).toBeGreaterThan(start.liveBytes);
    });
  });

  it("counts CUDA buffers on the device, not in the host's memoryStats()", () => {
    const host = memoryStats().liveBytes;
    const before = cuda.memoryStats();
    const t = zeros([4096, 4096], "float32", "cuda"); // 64 MiB
    const during = cuda.memoryStats();
    expect(during.liveBytes - before.liveBytes).toBeGreaterThanOrEqual(64 * MiB);
    expect(during.liveBuffers).toBe(before.liveBuffers + 1);
    expect(memoryStats().liveBytes).toBe(host);
    t.dispose();
    expect(cuda.memoryStats().liveBytes).toBe(before.liveBytes);
    expect(cuda.memoryStats().liveBuffers).toBe(before.liveBuffers);
  });

  it("keeps peak >= live, and resetPeakMemory() brings the peak down to the live bytes", () => {
    const big = zeros([64 * MiB / 4], "float32", "cuda");
    big.dispose();
    const afterBig = cuda.memoryStats();
    expect(afterBig.peakBytes).toBeGreaterThanOrEqual(afterBig.liveBytes + 64 * MiB);
    cuda.resetPeakMemory();
    const reset = cuda.memoryStats();
    expect(reset.peakBytes).toBe(reset.liveBytes);
    const small = zeros([16 * MiB / 4], "float32", "cuda");
    small.dispose();
    const afterSmall = cuda.memoryStats();
    expect(afterSmall.peakBytes).toBeGreaterThanOrEqual(reset.liveBytes + 16 * MiB);
    expect(afterSmall.peakBytes).toBeLessThan(reset.liveBytes + 64 * MiB);
    expect(afterSmall.liveBytes).toBe(reset.liveBytes);
    cuda.resetPeakMemory(0);
  });

  it("keeps freed blocks in its cache and returns them on emptyCache()", () => {
    zeros([8 * MiB / 4], "float32", "cuda").dispose();
    expect(cuda.memoryStats().cachedBytes).toBeGreaterThan(0);
    cuda.synchronize();
    emptyCache();
    expect(cuda.memoryStats().cachedBytes).toBe(0);
  });
});

// ---- optimizers ------------------------------------------------------------------------

describeCuda("optimizer kernels on CUDA match the CPU", () => {
  const adamCases: [number[], number][] = [
    [[37, 19], 0],
    [[37, 19], 0.1],
    [[1], 0.1],
    [[4099], 0],
    [[256, 768], 0.1],
  ];
  for (const [shape, weightDecay] of adamCases)
    it(`adamwStep ${shapeStr(shape)}, weight decay ${weightDecay}: p, exp_avg and exp_avg_sq after 5 steps`, () => {
      const problems: string[] = [];
      scope(() => {
        const gen = new Generator(20);
        const p0 = gen.normal(shape);
        const cpu = { p: leafOn("cpu", p0), m: zeros(shape), v: zeros(shape) };
        const dev = { p: leafOn("cuda", p0), m: zeros(shape, "float32", "cuda"), v: zeros(shape, "float32", "cuda") };
        for (let step = 1; step <= 5; step++) {
          const g = gen.normal(shape, 0, 0.5);
          const h = { step, lr: 0.01, beta1: 0.8, beta2: 0.95, eps: 1e-10, weightDecay };
          optim.adamwStep(cpu.p, g, cpu.m, cpu.v, h);
          optim.adamwStep(dev.p, g.to("cuda"), dev.m, dev.v, h);
        }
        const what = `adamwStep ${shapeStr(shape)} wd ${weightDecay} (seed 20, float32, 5 steps)`;
        for (const key of ["p", "m", "v"] as const) {
          expect(dev[key].device).toBe("cuda:0");
          const name = { p: "p", m: "exp_avg", v: "exp_avg_sq" }[key];
          const m = describeMismatch(what, name, shape, hostValues(dev[key]), hostValues(cpu[key]), TOL.adamw);
          if (m) problems.push(m);
        }
      });
      failOnProblems(problems);
    });

  const polarCases: number[][] = [[40, 12], [12, 40], [16, 16], [3, 20, 8], [2, 6, 21], [256, 1024], [1024, 256]];
  for (const shape of polarCases)
    for (const steps of [1, 2, 5])
      it(`polarExpress ${shapeStr(shape)}, ${steps} step(s) [matmul precision bf16]`, () => {
        scope(() => {
          const x = new Generator(21).normal(shape);
          const want = optim.polarExpress(x, steps);
          const got = withMatmulPrecision("bf16", () => optim.polarExpress(x.to("cuda"), steps));
          expect(got.device).toBe("cuda:0");
          const what = `polarExpress ${shapeStr(shape)} steps ${steps} (seed 21, float32, matmul precision bf16)`;
          failOnProblems([describeMismatch(what, "forward", shape, hostValues(got), hostValues(want), TOL.muon)]);
        });
      });

  it("polarExpress of a transposed view matches that of its dense copy [matmul precision bf16]", () => {
    scope(() => {
      const x = new Generator(22).normal([24, 40]).to("cuda");
      const [viaView, dense] = withMatmulPrecision("bf16", () => [
        optim.polarExpress(ops.transpose(x, 0, 1), 5),
        optim.polarExpress(ops.contiguous(ops.transpose(x, 0, 1)), 5),
      ]);
      // Same values in both; a stride bug would differ by O(1), far beyond the bf16 tolerance.
      const what = "polarExpress transpose([24, 40]) vs its dense copy, both on CUDA (seed 22, float32)";
      failOnProblems([describeMismatch(what, "forward", [40, 24], hostValues(viaView!), hostValues(dense!), TOL.muon)]);
    });
  });

  const muonCases: [string, number, number, number, number][] = [
    ["tall group K=2 of (24, 10)", 2, 24, 10, 5],
    ["wide group K=2 of (10, 24)", 2, 10, 24, 5],
    ["square group K=2 of (12, 12)", 2, 12, 12, 5],
    ["square group K=4 of (128, 128)", 4, 128, 128, 5],
    ["tall (512, 128)", 1, 512, 128, 5],
    ["wide (128, 512), ns_steps 2", 1, 128, 512, 2],
  ];
  for (const [label, K, M, N, nsSteps] of muonCases)
    it(`muonStep ${label}: updates and both momentum buffers after 3 steps [matmul precision bf16]`, () => {
      const problems: string[] = [];
      scope(() => {
        const gen = new Generator(23);
        const start = Array.from({ length: K }, () => gen.normal([M, N], 0, 0.1));
        const sShape = M >= N ? [K, M, 1] : [K, 1, N];
        const cpu = { params: start.map((p) => leafOn("cpu", p)), momentum: zeros([K, M, N]), second: zeros(sShape) };
        const dev = {
          params: start.map((p) => leafOn("cuda", p)),
          momentum: zeros([K, M, N], "float32", "cuda"),
          second: zeros(sShape, "float32", "cuda"),
        };
        const h = { momentum: 0.95, lr: 0.02 * Math.sqrt(Math.max(1, M / N)), weightDecay: 0.2, beta2: 0.95, nsSteps };
        for (let step = 0; step < 3; step++) {
          const grads = Array.from({ length: K }, () => gen.normal([M, N]));
          optim.muonStep(cpu.params, grads, cpu.momentum, cpu.second, h);
          withMatmulPrecision("bf16", () =>
            optim.muonStep(dev.params, grads.map((g) => g.to("cuda")), dev.momentum, dev.second, h),
          );
        }
        const what = `muonStep ${label} (seed 23, float32, 3 steps, matmul precision bf16)`;
        start.forEach((p0, k) => {
          // The update, not the parameter: it is lr-sized, and the tolerance is relative to it.
          const before = hostValues(p0);
          const upd = (p: Tensor) => hostValues(p).map((v, i) => v - before[i]!);
          const got = upd(dev.params[k]!);
          const m = describeMismatch(what, `params[${k}] - start`, [M, N], got, upd(cpu.params[k]!), TOL.muon);
          if (m) problems.push(m);
        });
        const [mDev, mCpu] = [hostValues(dev.momentum), hostValues(cpu.momentum)];
        const [sDev, sCpu] = [hostValues(dev.second), hostValues(cpu.second)];
        const mm = describeMismatch(what, "momentum_buffer", [K, M, N], mDev, mCpu, TOL.elementwise);
        const sm = describeMismatch(what, "second_momentum_buffer", sShape, sDev, sCpu, TOL.muon);
        for (const m of [mm, sm]) if (m) problems.push(m);
      });
      failOnProblems(problems);
    });
});

// ---- end to end: a few training steps on both devices -------------------------------------

/** Step-by-step losses of two runs; a problem per step whose relative difference exceeds rtol. */
function lossProblems(onCpu: number[], onCuda: number[], rtol: number): string[] {
  const problems = onCpu.flatMap((want, i) => {
    const got = onCuda[i]!;
    const rel = Math.abs(got - want) / Math.abs(want);
    return rel <= rtol && Number.isFinite(got)
      ? []
      : [`step ${i + 1}: cpu loss ${want}, cuda loss ${got}, rel error ${rel.toExponential(2)} > ${rtol}`];
  });
  if (problems.length > 0) problems.push(`losses: cpu [${onCpu.join(", ")}], cuda [${onCuda.join(", ")}]`);
  return problems;
}

describeCuda("training end to end on CUDA", () => {
  it(`the recipe's GPT at the cpu profile: 3 steps give the CPU's losses within ${TRAINING_LOSS_RTOL} [bf16]`, () => {
    // As bench/train-step.ts drives it: one fixed batch, Muon momentum from the recipe's schedule.
    const { maxSeqLen: T, vocabSize: V } = PROFILES.cpu;
    const B = DEVICE_BATCH_SIZE.cpu;
    const run = (device: Device): number[] =>
      scope(() => {
        const model = new GPT(buildModelConfig("cpu"), device);
        model.initWeights(new Generator(42)); // drawn on the host: the same values on both devices
        const optimizer = buildOptimizer(model);
        const tokens = new Generator(1).randomIds([B, T + 1], V);
        const x = ops.contiguous(ops.slice(tokens, 1, 0, T)); // (B, T) on the CPU; the model moves them
        const y = ops.contiguous(ops.slice(tokens, 1, 1, T + 1));
        return [0, 1, 2].map((step) => {
          const loss = scope(() => {
            const l = model.loss(x, y);
            expect(l.device).toBe(device);
            l.backward();
            return hostValues(l)[0]!;
          });
          for (const g of optimizer.groups) if (g.kind === "muon") g.momentum = muonMomentum(step);
          optimizer.step();
          optimizer.zeroGrad();
          return loss;
        });
      });
    const onCpu = run("cpu");
    const onCuda = withMatmulPrecision("bf16", () => run("cuda:0"));
    failOnProblems(lossProblems(onCpu, onCuda, TRAINING_LOSS_RTOL));
    expect(onCpu[2]!).toBeLessThan(onCpu[0]!); // the steps did train
  });

  it(`a tiny GQA block, D = 128, T/2 window: 3 steps give the CPU's losses within ${TRAINING_LOSS_RTOL} [bf16]`, () => {
    // The recipe at the cpu profile has D = 64 and H = Hkv; this covers the gpu profile's head size.
    const config = { vocab: 1024, channels: 256, heads: 2, kvHeads: 1, seqLen: 128, batch: 4, window: 64 };
    const run = (device: Device): number[] =>
      scope(() => {
        const model = new TinyModel(config, device, 31);
        const optimizer = new TinyOptimizer(model, device);
        const batch = tinyBatch(config, device, 32);
        return [1, 2, 3].map(() => tinyTrainStep(model, optimizer, batch));
      });
    const onCpu = run("cpu");
    const onCuda = withMatmulPrecision("bf16", () => run("cuda:0"));
    failOnProblems(lossProblems(onCpu, onCuda, TRAINING_LOSS_RTOL));
    expect(onCpu[2]!).toBeLessThan(onCpu[0]!);
  });
});

// ---- without a usable device -------------------------------------------------------------

if (skipReason !== null)
  describe("without a usable CUDA device", () => {
    it("gives a one-line reason and counts no device when the engine lacks CUDA", () => {
      expect(cuda.isAvailable()).toBe(false);
      expect(skipReason).not.toMatch(/\n/);
      if (!cuda.isCompiled()) expect(cuda.deviceCount()).toBe(0);
    });

    it("refuses to put a tensor on CUDA with an EngineError (no crash)", () => {
      scope(() => {
        expect(engineError(() => zeros([2], "float32", "cuda")).message).toMatch(/cuda/i);
        expect(engineError(() => tensor([1, 2]).to("cuda")).message).toMatch(/cuda/i);
        expect(tensor([1]).device).toBe("cpu");
      });
    });
  });
