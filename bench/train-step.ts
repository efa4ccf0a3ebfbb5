/**
 * Benchmark: one full training step (forward, backward, Muon + AdamW update) of the recipe GPT
 * at the CPU profile size, in tokens/s. When a Python with PyTorch is found it trains the same
 * model in PyTorch (bench/reference/gpt_torch.py, a child process, same thread count) and
 * prints the ratio; otherwise it says it skipped.
 *
 *   npm run bench                                # defaults: cpu profile, 10 timed steps
 *   npm run bench -- --steps 20 --threads 2
 *   NIGHTSHIFT_TORCH_PYTHON=/usr/bin/python3 npm run bench
 */
import { spawnSync } from "node:child_process";
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
if (!python) {
  console.log("pytorch:          skipped (no python3 with torch found; set NIGHTSHIFT_TORCH_PYTHON)");
  process.exit(0);
}
const script = fileURLToPath(new URL("./reference/gpt_torch.py", import.meta.url));
const ref = spawnSync(
  python,
  [script, "--depth", `${depth}`, "--head-dim", `${headDim}`, "--vocab", `${V}`, "--seq", `${T}`, "--batch", `${B}`,
    "--steps", `${steps}`, "--warmup", `${warmup}`, "--threads", `${threads}`],
  {
    encoding: "utf8",
    // torch.set_num_threads does not bound OpenBLAS's own pool: pin every runtime to our count.
    env: {
      ...process.env,
      OMP_NUM_THREADS: `${threads}`,
      OPENBLAS_NUM_THREADS: `${threads}`,
      MKL_NUM_THREADS: `${threads}`,
    },
  },
);
if (ref.status !== 0) {
  console.log(`pytorch:          failed (${python}): ${ref.stderr.trim().split("\n").at(-1)}`);
  process.exit(1);
}
const torch = JSON.parse(ref.stdout.trim().split("\n").at(-1)!) as { torch: string; tokens_per_s: number; step_s_median: number };
console.log(`pytorch ${torch.torch} eager: ${torch.tokens_per_s.toFixed(0)} tokens/s (${(torch.step_s_median * 1000).toFixed(1)} ms/step, ${python}` +
  `${process.env.OPENBLAS_CORETYPE ? `, OPENBLAS_CORETYPE=${process.env.OPENBLAS_CORETYPE}` : ""})`);
console.log(`ratio:            ${(tokensPerSec / torch.tokens_per_s).toFixed(2)}x PyTorch`);

function findTorchPython(): string | null {
  const candidates = [process.env.NIGHTSHIFT_TORCH_PYTHON, "python3", "/usr/bin/python3"].filter(Boolean) as string[];
  for (const py of candidates) {
    const r = spawnSync(py, ["-c", "import torch"], { stdio: "ignore" });
    if (r.status === 0) return py;
  }
  return null;
}
