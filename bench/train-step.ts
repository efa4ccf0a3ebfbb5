/**
 * Benchmark: one full training step (forward, backward, Muon + AdamW update) of the recipe GPT
 * at the CPU profile size, in tokens/s. When a Python with PyTorch >= 2.4 is found it trains the
 * same model from the engine's initial weights and batch in PyTorch (bench/reference/gpt_torch.py,
 * child processes, same thread count), once eager and once under torch.compile (compile time
 * not timed, same timed steps), and prints both ratios and a step-by-step loss cross-check;
 * otherwise it says it skipped.
 *
 *   npm run bench                                # defaults: cpu profile, 10 timed steps
 *   npm run bench -- --steps 20 --threads 2
 *   npm run bench -- --no-compile                # PyTorch eager only (a first compile takes minutes)
 *   NIGHTSHIFT_TORCH_PYTHON=/tmp/torchenv/bin/python npm run bench
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Generator, deviceInfo, memoryStats, numThreads, ops, scope, setNumThreads } from "../src/engine/index.ts";
import { PROFILES } from "../src/harness/constants.ts";
import { DEPTH, DEVICE_BATCH_SIZE, GPT, HEAD_DIM, buildModelConfig, buildOptimizer, muonMomentum } from "../src/recipe/train.ts";

const { values: args } = parseArgs({
  options: {
    steps: { type: "string", default: "10" },
    warmup: { type: "string", default: "3" },
    threads: { type: "string" },
    "no-torch": { type: "boolean", default: false },
    "no-compile": { type: "boolean", default: false },
  },
});
const steps = Number(args.steps);
const warmup = Number(args.warmup);
if (args.threads) setNumThreads(Number(args.threads));
const threads = numThreads();

const profile = "cpu" as const;
const { maxSeqLen: T, vocabSize: V } = PROFILES[profile];
const [depth, headDim, B] = [DEPTH[profile], HEAD_DIM[profile], DEVICE_BATCH_SIZE[profile]];

const model = new GPT(buildModelConfig(profile));
model.initWeights(new Generator(42));
const optimizer = buildOptimizer(model);
const gen = new Generator(1);
const batch = gen.randomIds([B, T + 1], V);
const x = ops.contiguous(ops.slice(batch, 1, 0, T));
const y = ops.contiguous(ops.slice(batch, 1, 1, T + 1));
const loadAtStart = loadavg()[0]!;
// The initial weights (GPT.parameters() order, float32) and the batch (B, T + 1) int32, for
// PyTorch to start from: written before the first step changes them.
const initDir = args["no-torch"] ? "" : mkdtempSync(join(tmpdir(), "nightshift-bench-"));
if (initDir) {
  const params = model.parameters().map((p) => p.toArray() as Float32Array);
  writeFileSync(join(initDir, "params.f32"), Buffer.concat(params.map((a) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength))));
  const ids = batch.toArray() as Int32Array;
  writeFileSync(join(initDir, "batch.i32"), new Uint8Array(ids.buffer, ids.byteOffset, ids.byteLength));
}

function trainStep(step: number): number {
  const loss = scope(() => {
    const l = model.loss(x, y);
    l.backward();
    return l.item();
  });
  for (const g of optimizer.groups) if (g.kind === "muon") g.momentum = muonMomentum(step);
  optimizer.step();
  optimizer.zeroGrad();
  return loss;
}

const losses: number[] = [];
for (let i = 0; i < warmup; i++) losses.push(trainStep(i));
const times: number[] = [];
for (let i = 0; i < steps; i++) {
  const t0 = performance.now();
  losses.push(trainStep(warmup + i));
  times.push((performance.now() - t0) / 1000);
}
times.sort((a, b) => a - b);
const median = times[Math.floor(times.length / 2)]!;
const tokensPerSec = (B * T) / median;
const device = deviceInfo();
const mfu = (100 * model.flopsPerToken() * tokensPerSec) / device.peakFlops;

console.log(`device:           ${device.name} (${threads} threads, gemm ${device.gemmKernel})`);
console.log(`model:            depth ${depth}, dim ${model.config.nEmbd}, head_dim ${headDim}, vocab ${V}, ` +
  `seq ${T}, batch ${B} (${(model.numParams() / 1e6).toFixed(2)}M params)`);
console.log(`step (median):    ${(median * 1000).toFixed(1)} ms over ${steps} steps`);
console.log(`tokens/s:         ${tokensPerSec.toFixed(0)}`);
console.log(`mfu (estimate):   ${mfu.toFixed(1)}% of ${(device.peakFlops / 1e9).toFixed(0)} GFLOP/s`);
console.log(`peak memory:      ${(memoryStats().peakBytes / 2 ** 20).toFixed(1)} MiB`);
console.log(`loss:             ${losses[0]!.toFixed(4)} -> ${losses.at(-1)!.toFixed(4)} (same batch every step)`);

if (args["no-torch"]) process.exit(0);
const python = findTorchPython();
if (!python.path) {
  console.log(`pytorch:          skipped (${python.why}; set NIGHTSHIFT_TORCH_PYTHON)`);
  rmSync(initDir, { recursive: true, force: true });
  process.exit(0);
}
const modes: TorchMode[] = args["no-compile"] ? ["eager"] : ["eager", "compile"];
const runs = new Map<TorchMode, TorchResult>();
try {
  for (const mode of modes) {
    const r = runTorch(python.path, mode);
    if ("error" in r) {
      console.log(`pytorch ${mode}:    failed (${python.path}): ${r.error}`);
      process.exitCode = 1;
    } else runs.set(mode, r);
  }
} finally {
  rmSync(initDir, { recursive: true, force: true });
}
const first = runs.values().next().value;
if (first) {
  console.log(`pytorch:          ${first.torch} (${python.path}), ${first.threads} threads, attention ${first.attention}, ` +
    `malloc ${first.malloc}, from the engine's init and batch`);
}
for (const [mode, r] of runs) {
  const label = mode === "eager" ? "  eager:         " : "  torch.compile: ";
  const fallback = mode === "compile" && !r.compiled;
  const warm = mode === "compile" ? `; compile + ${r.warmup} warmup steps ${r.warmup_s.toFixed(0)} s, not timed` : "";
  console.log(`${label} ${fmtInt(r.tokens_per_s)} tokens/s (${(r.step_s_median * 1000).toFixed(1)} ms/step${warm})` +
    (fallback ? ` — compile FAILED, this is its eager fallback: ${firstLine(r.compile_error)}` : ""));
  console.log(`                  loss ${r.losses[0]!.toFixed(4)} -> ${r.losses.at(-1)!.toFixed(4)}; ${lossCheck(r.losses)}`);
}
const ratio = (mode: TorchMode): string => {
  const r = runs.get(mode);
  if (!r) return `n/a ${mode === "eager" ? "eager" : "compiled"} (not run)`;
  if (mode === "compile" && !r.compiled) return "n/a compiled (compile failed)";
  return `${(tokensPerSec / r.tokens_per_s).toFixed(2)}x PyTorch ${mode === "eager" ? "eager" : "compiled"}`;
};
if (runs.size > 0) console.log(`ratio:            ${modes.map(ratio).join(", ")} (engine tokens/s over PyTorch's)`);
const [loadStart, loadEnd] = [loadAtStart, loadavg()[0]!];
console.log(`machine load:     1-min load average ${loadStart.toFixed(2)} at the start, ${loadEnd.toFixed(2)} at the end ` +
  `(${availableParallelism()} CPUs): other work on the machine slows both sides`);

type TorchMode = "eager" | "compile";

/** The JSON line bench/reference/gpt_torch.py prints last. */
interface TorchResult {
  torch: string;
  mode: TorchMode;
  compiled: boolean;
  compile_error: string | null;
  threads: number;
  malloc: string;
  attention: string;
  params: number;
  warmup: number;
  warmup_s: number;
  step_s_median: number;
  tokens_per_s: number;
  losses: number[];
}

function runTorch(py: string, mode: TorchMode): TorchResult | { error: string } {
  const script = fileURLToPath(new URL("./reference/gpt_torch.py", import.meta.url));
  const ref = spawnSync(
    py,
    [script, "--depth", `${depth}`, "--head-dim", `${headDim}`, "--vocab", `${V}`, "--seq", `${T}`, "--batch", `${B}`,
      "--steps", `${steps}`, "--warmup", `${warmup}`, "--threads", `${threads}`, "--init", initDir,
      ...(mode === "compile" ? ["--compile"] : [])],
    {
      encoding: "utf8",
      maxBuffer: 64 * 2 ** 20, // torch.compile can be chatty on stderr; past maxBuffer the child is killed
      // torch.set_num_threads does not bound every runtime's own pool: pin them all to our count.
      env: {
        ...process.env,
        OMP_NUM_THREADS: `${threads}`,
        OPENBLAS_NUM_THREADS: `${threads}`,
        MKL_NUM_THREADS: `${threads}`,
      },
    },
  );
  if (ref.status !== 0) return { error: firstLine(ref.stderr.trim().split("\n").at(-1) ?? `exit ${ref.status}`) };
  const r = JSON.parse(ref.stdout.trim().split("\n").at(-1)!) as TorchResult;
  if (r.params !== model.numParams()) return { error: `PyTorch's model has ${r.params} parameters, the engine's ${model.numParams()}` };
  return r;
}

/**
 * Both sides start from the same weights and batch, so their step-0 losses must agree to float32
 * rounding. Later steps drift apart by up to ~0.1 and that is not a model difference: at init
 * every block's output projection is zero, so the final RMSNorm makes the loss exactly
 * scale-invariant in resid/x0 lambdas, their true gradient is 0, and what each side computes
 * (~1e-10) is rounding noise that AdamW with eps 1e-10 turns into a full-size step. PyTorch
 * on 1 thread and on 2 threads drift apart by as much (BENCHMARKS.md).
 */
function lossCheck(theirs: number[]): string {
  const n = Math.min(theirs.length, losses.length);
  let max = 0;
  for (let i = 1; i < n; i++) max = Math.max(max, Math.abs(theirs[i]! - losses[i]!));
  const first = Math.abs(theirs[0]! - losses[0]!);
  const verdict = first > 1e-4 ? " — WARNING: step 0 differs, the models are not the same" : "";
  return `step 0 vs the engine |diff| ${first.toExponential(1)}${verdict}; later steps drift by up to ${max.toFixed(3)} (rounding noise, see the comment)`;
}

/** The first Python on the list that has torch >= 2.4 (F.rms_norm, SDPA, torch.compile). */
function findTorchPython(): { path: string | null; why: string } {
  const candidates = [process.env.NIGHTSHIFT_TORCH_PYTHON, "python3", "/usr/bin/python3"].filter(Boolean) as string[];
  const check = "import sys, torch, torch.nn.functional as F; print(torch.__version__); sys.exit(0 if hasattr(F, 'rms_norm') else 3)";
  const old: string[] = [];
  for (const py of candidates) {
    const r = spawnSync(py, ["-c", check], { encoding: "utf8" });
    if (r.status === 0) return { path: py, why: "" };
    if (r.status === 3) old.push(`${py}: torch ${r.stdout.trim()}`);
  }
  return { path: null, why: old.length ? `torch >= 2.4 needed, found ${old.join(", ")}` : "no python3 with torch found" };
}

function fmtInt(x: number): string {
  return Math.round(x).toLocaleString("en-US");
}

function firstLine(s: string | null): string {
  return (s ?? "").trim().split("\n")[0]!.slice(0, 300);
}
