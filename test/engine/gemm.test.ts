/**
 * float32 GEMM (native/src/cpu/gemm*.cpp) through ops.matmul and ops.linear, checked against a
 * float64 triple loop in JS, for every micro-kernel this CPU can run.
 *
 * The kernel is chosen once when the addon loads, so each kernel runs in a child process
 * (`node --import tsx`, NIGHTSHIFT_GEMM_KERNEL=generic|avx2|avx512), twice: with
 * NIGHTSHIFT_NUM_THREADS=1 and =2. The children only compute; inputs and outputs travel as
 * binary files, and all checks happen here.
 *
 * Tolerance: max |out - ref| / rms(ref) <= 1e-5 * sqrt(K) per case (float32 rounding grows
 * about like sqrt(K); an indexing or packing bug gives errors of order 1).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { seededRandom } from "../support/random.ts";

/** One op call. Shapes are the tensors as stored; `ta`/`tb` apply ops.transpose(-2, -1) first. */
interface GemmCase {
  name: string;
  op: "matmul" | "linear";
  a: number[];
  b: number[];
  ta?: boolean;
  tb?: boolean;
}

// M x K x N in the names. Sizes straddle the engine's thresholds: the smallest take the
// unpacked loop (M*N*K < 1024: 1x1x1, 2x3x4, 7x13x5, 1x300x1), M*N*K >= 4M runs threaded,
// K > 256 crosses a KC block, N > 512 a column tile, odd sizes leave edge tiles.
const CASES: GemmCase[] = [
  { name: "1x1x1", op: "matmul", a: [1, 1], b: [1, 1] },
  { name: "2x3x4", op: "matmul", a: [2, 3], b: [3, 4] },
  { name: "7x13x5", op: "matmul", a: [7, 13], b: [13, 5] },
  { name: "1x300x1", op: "matmul", a: [1, 300], b: [300, 1] },
  { name: "300x1x300 (K = 1)", op: "matmul", a: [300, 1], b: [1, 300] },
  { name: "1x1000x200 (M = 1)", op: "matmul", a: [1, 1000], b: [1000, 200] },
  { name: "200x1000x1 (N = 1)", op: "matmul", a: [200, 1000], b: [1000, 1] },
  { name: "33x65x17", op: "matmul", a: [33, 65], b: [65, 17] },
  { name: "33x65x17 A^T", op: "matmul", a: [65, 33], b: [65, 17], ta: true },
  { name: "33x65x17 B^T", op: "matmul", a: [33, 65], b: [17, 65], tb: true },
  { name: "131x300x97", op: "matmul", a: [131, 300], b: [300, 97] },
  { name: "131x300x97 A^T", op: "matmul", a: [300, 131], b: [300, 97], ta: true },
  { name: "131x300x97 B^T", op: "matmul", a: [131, 300], b: [97, 300], tb: true },
  { name: "131x300x97 A^T B^T", op: "matmul", a: [300, 131], b: [97, 300], ta: true, tb: true },
  { name: "256x1024x256", op: "matmul", a: [256, 1024], b: [1024, 256] },
  { name: "256x256x1024", op: "matmul", a: [256, 256], b: [256, 1024] },
  { name: "256x1024x256 A^T (weight grad)", op: "matmul", a: [1024, 256], b: [1024, 256], ta: true },
  { name: "200x256x1100 B^T", op: "matmul", a: [200, 256], b: [1100, 256], tb: true },
  { name: "48x600x700 (threads split columns)", op: "matmul", a: [48, 600], b: [600, 700] },
  { name: "batched 3x(37x50x29)", op: "matmul", a: [3, 37, 50], b: [3, 50, 29] },
  { name: "batched 3x(37x50x29), B broadcast", op: "matmul", a: [3, 37, 50], b: [50, 29] },
  { name: "batched 2x(64x80x48) A^T B^T", op: "matmul", a: [2, 80, 64], b: [2, 48, 80], ta: true, tb: true },
  { name: "linear 4x33 rows, 70 -> 45", op: "linear", a: [4, 33, 70], b: [45, 70] },
  { name: "linear 256 rows, 256 -> 1024", op: "linear", a: [256, 256], b: [1024, 256] },
  { name: "linear 256 rows, 1024 -> 256", op: "linear", a: [256, 1024], b: [256, 1024] },
  { name: "linear with a transposed weight view", op: "linear", a: [50, 70], b: [70, 45], tb: true },
  { name: "K = 0", op: "matmul", a: [5, 0], b: [0, 6] },
  { name: "M = 0", op: "matmul", a: [0, 8], b: [8, 6] },
];

const ENGINE_URL = pathToFileURL(resolve("src/engine/index.ts")).href;

// Runs inside the child: reads the inputs, runs each case after freeing a NaN-filled tensor of
// the output's size (so a kernel that reads its uninitialised output would likely see NaN),
// writes the outputs back to back, prints the kernel and thread count.
const CHILD_SCRIPT = `
import { readFileSync, writeFileSync } from "node:fs";
const { ops, tensor, full, deviceInfo } = await import(process.env.GEMM_ENGINE_URL);
const dir = process.env.GEMM_DIR;
const cases = JSON.parse(readFileSync(dir + "/cases.json", "utf8"));
const input = new Float32Array(new Uint8Array(readFileSync(dir + "/in.bin")).buffer);
const outs = [], shapes = [];
let at = 0;
const take = (shape) => {
  const n = shape.reduce((x, y) => x * y, 1);
  const t = tensor(input.slice(at, at + n), shape);
  at += n;
  return t;
};
for (const c of cases) {
  let a = take(c.a), b = take(c.b);
  if (c.ta) a = ops.transpose(a, -2, -1);
  if (c.tb) b = ops.transpose(b, -2, -1);
  const probe = c.op === "matmul" ? ops.matmul(a, b) : ops.linear(a, b);
  const shape = probe.shape;
  probe.dispose();
  if (shape.every((d) => d > 0)) full(shape, NaN).dispose();
  const out = c.op === "matmul" ? ops.matmul(a, b) : ops.linear(a, b);
  shapes.push(out.shape);
  outs.push(out.toArray());
}
const bytes = outs.map((o) => Buffer.from(o.buffer, o.byteOffset, o.byteLength));
writeFileSync(dir + "/out-" + process.env.NIGHTSHIFT_NUM_THREADS + ".bin", Buffer.concat(bytes));
const { gemmKernel, threads } = deviceInfo();
console.log(JSON.stringify({ gemmKernel, threads, shapes }));
`;

// ---- inputs and the float64 reference -------------------------------------------------------


const numel = (shape: number[]): number => shape.reduce((x, y) => x * y, 1);

interface Prepared {
  a: Float32Array;
  b: Float32Array;
  ref: Float64Array;
  outShape: number[];
  K: number;
}

// Logical (rows x cols) matrix `index` of a stored batch, transposed if the case says so.
function matrixOf(data: Float32Array, stored: number[], trans: boolean, index: number): Float64Array {
  const r = stored[stored.length - 2]!, c = stored[stored.length - 1]!;
  const base = index * r * c;
  const out = new Float64Array(r * c);
  if (!trans) for (let i = 0; i < r * c; i++) out[i] = data[base + i]!;
  else for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = data[base + i * c + j]!;
  return out;
}

function prepare(c: GemmCase, rand: () => number): Prepared {
  const fill = (n: number) => Float32Array.from({ length: n }, () => rand() * 2 - 1);
  const a = fill(numel(c.a)), b = fill(numel(c.b));
  if (c.op === "linear") {
    // x (..., K) @ w^T, w (N, K) logically (after the optional transpose of its stored view).
    const K = c.a[c.a.length - 1]!, rows = numel(c.a) / K;
    const w = matrixOf(b, c.b, !!c.tb, 0); // (N, K)
    const N = w.length / K;
    const ref = new Float64Array(rows * N);
    for (let i = 0; i < rows; i++)
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += a[i * K + k]! * w[j * K + k]!;
        ref[i * N + j] = s;
      }
    return { a, b, ref, outShape: [...c.a.slice(0, -1), N], K };
  }
  const batch = c.a.length === 3 ? c.a[0]! : 1;
  const [M, K] = c.ta ? [c.a.at(-1)!, c.a.at(-2)!] : [c.a.at(-2)!, c.a.at(-1)!];
  const N = c.tb ? c.b.at(-2)! : c.b.at(-1)!;
  const ref = new Float64Array(batch * M * N);
  for (let t = 0; t < batch; t++) {
    const am = matrixOf(a, c.a, !!c.ta, t), bm = matrixOf(b, c.b, !!c.tb, c.b.length === 3 ? t : 0);
    const o = ref.subarray(t * M * N, (t + 1) * M * N);
    for (let i = 0; i < M; i++)
      for (let k = 0; k < K; k++) {
        const x = am[i * K + k]!;
        for (let j = 0; j < N; j++) o[i * N + j] = o[i * N + j]! + x * bm[k * N + j]!;
      }
  }
  return { a, b, ref, outShape: c.a.length === 3 ? [batch, M, N] : [M, N], K };
}

const rand = seededRandom(20240611);
const prepared = CASES.map((c) => prepare(c, rand));

/** max |out - ref| / rms(ref); 0 for empty outputs. */
function relError(out: Float32Array, ref: Float64Array): number {
  if (ref.length === 0) return 0;
  let sq = 0, worst = 0;
  for (let i = 0; i < ref.length; i++) sq += ref[i]! * ref[i]!;
  const rms = Math.sqrt(sq / ref.length) || 1;
  for (let i = 0; i < ref.length; i++) {
    const e = Math.abs(out[i]! - ref[i]!);
    worst = Number.isNaN(e) ? Infinity : Math.max(worst, e);
  }
  return worst / rms;
}

// ---- children --------------------------------------------------------------------------------

const workDir = mkdtempSync(join(tmpdir(), "nightshift-gemm-"));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));
writeFileSync(join(workDir, "cases.json"), JSON.stringify(CASES));
writeFileSync(
  join(workDir, "in.bin"),
  Buffer.concat(prepared.flatMap((p) => [p.a, p.b]).map((x) => Buffer.from(x.buffer, x.byteOffset, x.byteLength))),
);

interface ChildRun {
  gemmKernel: string;
  threads: number;
  shapes: number[][];
  outputs: Float32Array[];
}

function runChild(kernel: string, threads: number): ChildRun {
  const dir = mkdtempSync(join(workDir, `${kernel}-`));
  for (const f of ["cases.json", "in.bin"]) writeFileSync(join(dir, f), readFileSync(join(workDir, f)));
  const res = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", CHILD_SCRIPT], {
    env: {
      ...process.env,
      NIGHTSHIFT_GEMM_KERNEL: kernel,
      NIGHTSHIFT_NUM_THREADS: String(threads),
      GEMM_DIR: dir,
      GEMM_ENGINE_URL: ENGINE_URL,
    },
    encoding: "utf8",
  });
  if (res.status !== 0) throw new Error(`gemm child (${kernel}, ${threads} threads) failed:\n${res.stderr}`);
  const info = JSON.parse(res.stdout.trim().split("\n").at(-1)!) as Omit<ChildRun, "outputs">;
  const all = new Float32Array(new Uint8Array(readFileSync(join(dir, `out-${threads}.bin`))).buffer);
  const outputs: Float32Array[] = [];
  let at = 0;
  for (const p of prepared) {
    outputs.push(all.subarray(at, at + p.ref.length));
    at += p.ref.length;
  }
  return { ...info, outputs };
}

/** Kernels this CPU can run, from /proc/cpuinfo (non-Linux: only the portable one is certain). */
function kernelsThisCpuRuns(): string[] {
  let flags = "";
  try {
    flags = readFileSync("/proc/cpuinfo", "utf8").match(/^flags\s*:(.*)$/m)?.[1] ?? "";
  } catch {
    return ["generic"];
  }
  const has = (f: string) => new RegExp(`\\b${f}\\b`).test(flags);
  const out = ["generic"];
  if (has("avx2") && has("fma")) out.push("avx2");
  if (["avx512f", "avx512bw", "avx512vl", "avx512dq", "fma"].every(has)) out.push("avx512");
  return out;
}

const runnable = kernelsThisCpuRuns();

describe.each(["generic", "avx2", "avx512"])("float32 gemm, %s kernel", (kernel) => {
  const skip = !runnable.includes(kernel);
  let two: ChildRun | undefined, one: ChildRun | undefined;
  const run = (threads: 1 | 2): ChildRun => {
    if (threads === 2) return (two ??= runChild(kernel, 2));
    return (one ??= runChild(kernel, 1));
  };

  it.skipIf(skip)("is the kernel the child ran with", () => {
    expect(run(2).gemmKernel).toBe(kernel);
    expect(run(2).threads).toBe(2);
  });

  it.skipIf(skip)("matches the float64 reference on every shape", () => {
    const { outputs } = run(2);
    const failures: string[] = [];
    CASES.forEach((c, i) => {
      const p = prepared[i]!;
      if (JSON.stringify(run(2).shapes[i]) !== JSON.stringify(p.outShape))
        failures.push(`${c.name}: shape ${JSON.stringify(run(2).shapes[i])}, expected ${JSON.stringify(p.outShape)}`);
      const err = relError(outputs[i]!, p.ref);
      const tol = 1e-5 * Math.sqrt(Math.max(p.K, 1));
      if (!(err <= tol)) failures.push(`${c.name}: error ${err.toExponential(2)} > ${tol.toExponential(2)}`);
    });
    expect(failures).toEqual([]);
  });

  it.skipIf(skip)("gives bit-identical results with 1 and 2 threads", () => {
    const a = run(1).outputs, b = run(2).outputs;
    const bytes = (x: Float32Array) => Buffer.from(x.buffer, x.byteOffset, x.byteLength);
    const differing = CASES.filter((_, i) => !bytes(a[i]!).equals(bytes(b[i]!))).map((c) => c.name);
    expect(differing).toEqual([]);
  });
});
