/**
 * float32 GEMM throughput of the engine's ops.linear / ops.matmul on the recipe's shapes, for
 * every micro-kernel this CPU runs (each in its own process: the kernel is picked when the
 * addon loads), beside torch.mm / F.linear when a python3 with torch is importable.
 *
 *   node --import tsx bench/gemm.ts                  # all kernels + torch, 3 rounds x 5 runs
 *   node --import tsx bench/gemm.ts --kernels avx512 --rounds 5 --reps 9
 *   NIGHTSHIFT_NUM_THREADS=1 node --import tsx bench/gemm.ts --no-torch
 *
 * For each (M, K, N) the forward is y = x @ w^T (linear, w stored (N, K)); the backward runs
 * dx = dy @ w (M x N x K) and dw = dy^T @ x (N x M x K, dy^T a transposed view, no copy).
 * Every column (kernel or torch) runs --rounds times, interleaved, --reps timed runs each after
 * a warm-up, so all of them sample the same stretch of a possibly shared machine. Prints the
 * best and the median GFLOP/s over all runs; the best is the fairer number for the kernel, the
 * median for the day. Output tensors are fresh allocations, as in a training step. Not a test:
 * it asserts nothing.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

interface Shape {
  M: number;
  K: number;
  N: number;
}

/** One timed op: op(a) (rows x inner) @ op(b) (inner x cols). */
interface Variant {
  label: string;
  rows: number;
  inner: number;
  cols: number;
  kind: "linear" | "nn" | "tn";
}

/** GFLOP/s of each timed run, by variant label. */
type Samples = Record<string, number[]>;

const SHAPES: Shape[] = [
  { M: 2048, K: 256, N: 256 },
  { M: 2048, K: 256, N: 1024 },
  { M: 2048, K: 1024, N: 256 },
  { M: 2048, K: 256, N: 4096 },
];

function variants(): Variant[] {
  return SHAPES.flatMap(({ M, K, N }) => [
    { label: `fwd  x@w^T  ${M}x${K}x${N}`, rows: M, inner: K, cols: N, kind: "linear" as const },
    { label: `bwd  dy@w   ${M}x${N}x${K}`, rows: M, inner: N, cols: K, kind: "nn" as const },
    { label: `bwd  dy^T@x ${N}x${M}x${K}`, rows: N, inner: M, cols: K, kind: "tn" as const },
  ]);
}

const flops = (v: Variant): number => 2 * v.rows * v.inner * v.cols;

interface Args {
  reps: number;
  rounds: number;
  kernels: string[];
  torch: boolean;
  worker: boolean;
}

function parseArgs(argv: string[]): Args {
  const out: Args = { reps: 5, rounds: 3, kernels: ["avx512", "avx2", "generic"], torch: true, worker: false };
  const count = (s: string | undefined, flag: string): number => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 1) throw new Error(`bench/gemm: ${flag} needs a positive integer, got '${s}'`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--reps") out.reps = count(argv[++i], a);
    else if (a === "--rounds") out.rounds = count(argv[++i], a);
    else if (a === "--kernels") out.kernels = String(argv[++i]).split(",");
    else if (a === "--no-torch") out.torch = false;
    else if (a === "--worker") out.worker = true;
    else throw new Error(`bench/gemm: unknown argument '${a}' (use --reps N, --rounds N, --kernels a,b, --no-torch)`);
  }
  return out;
}

// ---- worker: times the engine with whatever kernel this process loaded ------------------------

async function worker(reps: number): Promise<void> {
  const { Generator, deviceInfo, noGrad, ops, scope } = await import("../src/engine/index.ts");
  const gen = new Generator(7);
  const samples: Samples = {};
  noGrad(() => {
    for (const v of variants()) {
      scope(() => {
        let run: () => void;
        if (v.kind === "linear") {
          const x = gen.normal([v.rows, v.inner], 0, 1), w = gen.normal([v.cols, v.inner], 0, 1);
          run = () => ops.linear(x, w).dispose();
        } else if (v.kind === "nn") {
          const a = gen.normal([v.rows, v.inner], 0, 1), b = gen.normal([v.inner, v.cols], 0, 1);
          run = () => ops.matmul(a, b).dispose();
        } else {
          const at = gen.normal([v.inner, v.rows], 0, 1), b = gen.normal([v.inner, v.cols], 0, 1);
          const a = ops.transpose(at, 0, 1);
          run = () => ops.matmul(a, b).dispose();
        }
        run();
        const gf: number[] = [];
        // Slow kernels get fewer runs: stop after reps runs or ~2 s, whichever comes first.
        const start = performance.now();
        for (let r = 0; r < reps && (r < 2 || performance.now() - start < 2000); r++) {
          const t0 = performance.now();
          run();
          gf.push(flops(v) / ((performance.now() - t0) * 1e6));
        }
        samples[v.label] = gf;
      });
    }
  });
  const { gemmKernel, threads } = deviceInfo();
  console.log(JSON.stringify({ gemmKernel, threads, samples }));
}

interface EngineRun {
  gemmKernel: string;
  threads: number;
  samples: Samples;
}

function runEngine(kernel: string, reps: number): EngineRun {
  const script = fileURLToPath(import.meta.url);
  const res = spawnSync(process.execPath, ["--import", "tsx", script, "--worker", "--reps", String(reps)], {
    env: { ...process.env, NIGHTSHIFT_GEMM_KERNEL: kernel },
    encoding: "utf8",
  });
  if (res.status !== 0) throw new Error(`bench/gemm: ${kernel} worker failed:\n${res.stderr}`);
  return JSON.parse(res.stdout.trim().split("\n").at(-1)!) as EngineRun;
}

// ---- torch: the same ops in a python child -----------------------------------------------------

const TORCH_SCRIPT = `
import json, sys, time, torch
import torch.nn.functional as F
threads, reps, vs = json.loads(sys.argv[1])
torch.set_num_threads(threads)
torch.manual_seed(0)
out = {}
with torch.no_grad():
    for v in vs:
        r, k, c = v["rows"], v["inner"], v["cols"]
        if v["kind"] == "linear":
            x, w = torch.randn(r, k), torch.randn(c, k)
            run = lambda: F.linear(x, w)
        elif v["kind"] == "nn":
            a, b = torch.randn(r, k), torch.randn(k, c)
            run = lambda: torch.mm(a, b)
        else:
            a, b = torch.randn(k, r).t(), torch.randn(k, c)
            run = lambda: torch.mm(a, b)
        run()
        gf = []
        for _ in range(reps):
            t0 = time.perf_counter(); run(); dt = time.perf_counter() - t0
            gf.append(2 * r * k * c / dt / 1e9)
        out[v["label"]] = gf
print(json.dumps({"version": torch.__version__, "threads": torch.get_num_threads(), "samples": out}))
`;

function findTorchPython(): string | null {
  const hasTorch = (python: string) => spawnSync(python, ["-c", "import torch"], { stdio: "ignore" }).status === 0;
  return ["/usr/bin/python3", "python3"].find(hasTorch) ?? null;
}

function runTorch(python: string, threads: number, reps: number): { version: string; samples: Samples } {
  // torch.set_num_threads does not reach every BLAS torch may call (Debian's torch uses
  // OpenBLAS, which sizes its own pool), so pin them all through the environment too.
  const n = String(threads);
  const res = spawnSync(python, ["-c", TORCH_SCRIPT, JSON.stringify([threads, reps, variants()])], {
    env: { ...process.env, OMP_NUM_THREADS: n, OPENBLAS_NUM_THREADS: n, MKL_NUM_THREADS: n },
    encoding: "utf8",
  });
  if (res.status !== 0) throw new Error(`bench/gemm: torch run failed:\n${res.stderr}`);
  return JSON.parse(res.stdout.trim().split("\n").at(-1)!) as { version: string; samples: Samples };
}

// ---- driver ------------------------------------------------------------------------------------

interface Column {
  name: string;
  samples: Samples;
}

function addSamples(into: Samples, from: Samples): void {
  for (const [label, gf] of Object.entries(from)) (into[label] ??= []).push(...gf);
}

function bestAndMedian(gf: number[] | undefined): { best: number; median: number } | null {
  if (!gf || gf.length === 0) return null;
  const s = [...gf].sort((a, b) => a - b);
  return { best: s[s.length - 1]!, median: s[Math.floor(s.length / 2)]! };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.worker) return worker(args.reps);

  const python = args.torch ? findTorchPython() : null;
  const columns = new Map<string, Column>();
  const skipped = new Set<string>();
  let threads = 0;
  for (let round = 0; round < args.rounds; round++) {
    for (const k of args.kernels) {
      if (skipped.has(k)) continue;
      const r = runEngine(k, args.reps);
      threads = r.threads;
      if (r.gemmKernel !== k) {
        skipped.add(k);
        continue;
      }
      if (!columns.has(k)) columns.set(k, { name: k, samples: {} });
      addSamples(columns.get(k)!.samples, r.samples);
    }
    if (python) {
      const t = runTorch(python, threads, args.reps);
      const name = `torch ${t.version}`;
      if (!columns.has(name)) columns.set(name, { name, samples: {} });
      addSamples(columns.get(name)!.samples, t.samples);
    }
  }

  const cols = [...columns.values()];
  const torchCol = cols.find((c) => c.name.startsWith("torch"));
  console.log(
    `GFLOP/s, best / median over ${args.rounds} interleaved rounds x ${args.reps} runs, ${threads} threads` +
      (skipped.size ? ` (this CPU cannot run: ${[...skipped].join(", ")})` : "") +
      (args.torch && !python ? " (no python3 with torch importable)" : ""),
  );
  console.log(
    "shape (rows x inner x cols)".padEnd(28) +
      cols.map((c) => c.name.padStart(16)).join("") +
      (torchCol ? "  best/torch".padStart(12) : ""),
  );
  for (const v of variants()) {
    const cells = cols.map((c) => {
      const t = bestAndMedian(c.samples[v.label]);
      return (t ? `${t.best.toFixed(1)} / ${t.median.toFixed(1)}` : "-").padStart(16);
    });
    let line = v.label.padEnd(28) + cells.join("");
    if (torchCol && cols[0] !== torchCol) {
      const ours = bestAndMedian(cols[0]!.samples[v.label]), torch = bestAndMedian(torchCol.samples[v.label]);
      if (ours && torch) line += `${(ours.best / torch.best).toFixed(2)}x`.padStart(12);
    }
    console.log(line);
  }
}

await main();
