/**
 * Benchmark: the recipe GPT at the gpu profile (autoresearch's size) training on CUDA, in
 * tokens/s, MFU and peak memory, against PyTorch training the same model in the same session
 * (bench/reference/gpt_torch_cuda.py in a child process: torch.compile, bf16 autocast, SDPA).
 * It only measures: it must not change the recipe, and on a machine without the CUDA backend or
 * a GPU it prints one skip line and exits 0.
 *
 *   node --import tsx bench/cuda-train.ts                       # 20 timed steps, 5 warmup, batch 32
 *   npm run bench:cuda -- --steps 50                            # the same through npm
 *   node --import tsx bench/cuda-train.ts --steps 50 --batch 16
 *   node --import tsx bench/cuda-train.ts --no-torch            # the engine only
 *   node --import tsx bench/cuda-train.ts --torch-only          # PyTorch only (no engine run)
 *   NIGHTSHIFT_TORCH_PYTHON=/opt/venv/bin/python node --import tsx bench/cuda-train.ts
 *
 * What one timed step is: one micro-batch of --batch sequences of T = 2048 tokens, forward +
 * backward, then one optimizer step (Muon + AdamW), each part timed between
 * cuda.synchronize() calls. The recipe takes one optimizer step per 2^19-token batch
 * (gradient accumulation over 2^19 / (B*T) micro-batches), so stepping the optimizer every
 * micro-batch overstates its share; the headline numbers therefore use the extrapolated step
 *   full step = (2^19 / (B*T)) * median(fwd+bwd) + median(optimizer),
 * tokens/s = 2^19 / full step and MFU = flopsPerToken * tokens/s / deviceInfo().peakFlops
 * (989.5 TFLOP/s on an H100, autoresearch's figure; PyTorch is handed the same peak).
 *
 * Why the default batch is 32 (the recipe's DEVICE_BATCH_SIZE.gpu), not autoresearch's 128:
 * the engine's activations are float32, and B=128 x 2048 of them would need well over the 80 GB
 * of an H100 (the logits alone are 8.6 GB, their gradient as much again); B=32 fits. PyTorch
 * runs at the same B. peak_vram_mb is the
 * peak of bytes live in tensors after warmup (cuda.memoryStats().peakBytes, like
 * torch.cuda.max_memory_allocated), not what the caching allocator reserved.
 *
 * The last line printed is one JSON object with every number, for BENCHMARKS.md.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Generator, type Tensor, cuda, deviceInfo, emptyCache, ops, scope } from "../src/engine/index.ts";
import { PROFILES } from "../src/harness/constants.ts";
import { DEPTH, DEVICE_BATCH_SIZE, GPT, HEAD_DIM, TOTAL_BATCH_SIZE, buildModelConfig, buildOptimizer, muonMomentum } from "../src/recipe/train.ts";

const { values: args } = parseArgs({
  options: {
    steps: { type: "string", default: "20" },
    warmup: { type: "string", default: "5" },
    batch: { type: "string" }, // default: the recipe's micro-batch, DEVICE_BATCH_SIZE.gpu
    "no-torch": { type: "boolean", default: false },
    "torch-only": { type: "boolean", default: false },
  },
});
const steps = positiveInt("--steps", args.steps!, 1);
const warmup = positiveInt("--warmup", args.warmup!, 0);
if (args["no-torch"] && args["torch-only"]) fail("--no-torch and --torch-only exclude each other");

const profile = "gpu" as const;
const { maxSeqLen: T, vocabSize: V } = PROFILES[profile];
const [depth, headDim, deviceBatchSize, totalBatchSize] = [DEPTH[profile], HEAD_DIM[profile], DEVICE_BATCH_SIZE[profile], TOTAL_BATCH_SIZE[profile]];
const B = args.batch === undefined ? deviceBatchSize : positiveInt("--batch", args.batch, 1);
const accum = totalBatchSize / (B * T); // micro-batches per optimizer step (fractional if B does not divide)
const accumText = Number.isInteger(accum) ? `${accum}` : accum.toFixed(2);

const unavailable = cuda.unavailableReason();
if (unavailable && !args["torch-only"]) {
  console.log(`cuda: skipped (${unavailable})`);
  process.exit(0);
}
const device = unavailable ? null : deviceInfo();

interface OursResult {
  matmul_precision: string;
  params: number;
  flops_per_token: number;
  fwd_bwd_s: number;
  opt_s: number;
  micro_step_s: number;
  full_step_s: number;
  tokens_per_s: number;
  mfu: number;
  peak_vram_mb: number;
  loss_first: number;
  loss_last: number;
}

interface TorchResult {
  torch: string;
  device: string;
  compiled: boolean;
  compile_error: string | null;
  optimizer_compiled: boolean;
  optimizer_compile_error: string | null;
  attention: string;
  params: number;
  flops_per_token: number;
  flops_per_token_full_causal: number;
  peak_flops: number;
  warmup: number;
  fwd_bwd_s: number;
  opt_s: number;
  micro_step_s: number;
  full_step_s: number;
  tokens_per_s: number;
  mfu: number;
  peak_vram_mb: number | null;
  loss_first: number;
  loss_last: number;
}

const fmtMs = (s: number): string => `${(s * 1000).toFixed(1)} ms`;
const fmtInt = (n: number): string => Math.round(n).toLocaleString("en-US");

if (device) {
  console.log(`device:           ${device.name} (peak ${(device.peakFlops / 1e12).toFixed(1)} TFLOP/s bf16 for MFU)`);
}
console.log(`shape:            batch ${B} x seq ${T} = ${fmtInt(B * T)} tokens per micro-batch; ` +
  `${fmtInt(totalBatchSize)}-token batch = ${accumText} micro-batches`);

let exitCode = 0;
let ours: OursResult | null = null;
let oursError: string | null = null;
if (!args["torch-only"]) {
  try {
    ours = benchmarkEngine();
  } catch (err) {
    oursError = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    console.log(`engine:           failed: ${oursError}`);
    exitCode = 1;
  }
}

let torch: TorchResult | null = null;
let torchNote: string | null = null;
if (!args["no-torch"]) {
  const r = runTorch();
  torch = r.result;
  torchNote = r.note;
  if (!torch) {
    console.log(`pytorch:          ${torchNote}`);
    if (!torchNote?.startsWith("skipped")) exitCode = 1;
  } else {
    const mode = `${torch.compiled ? "torch.compile" : "eager"}, optimizer ${torch.optimizer_compiled ? "compiled" : "eager"}`;
    console.log(`pytorch:          ${torch.torch} (${mode}, attention ${torch.attention}) on ${torch.device}`);
    if (torch.compile_error) console.log(`  compile error:  ${firstLine(torch.compile_error)}`);
    if (torch.optimizer_compile_error) console.log(`  optimizer:      ${firstLine(torch.optimizer_compile_error)}`);
    const extra = torch.flops_per_token_full_causal - torch.flops_per_token;
    console.log(`  attention:      full causal in every layer: +${(extra / 1e6).toFixed(1)} MFLOP/token ` +
      `(+${((100 * extra) / torch.flops_per_token).toFixed(1)}%) over the recipe's windows, not counted in its MFU`);
    console.log(`  fwd+bwd:        ${fmtMs(torch.fwd_bwd_s)} per micro-batch (median)`);
    console.log(`  optimizer:      ${fmtMs(torch.opt_s)} (median)`);
    console.log(`  full batch:     ${fmtMs(torch.full_step_s)} = ${accumText} x fwd+bwd + optimizer`);
    console.log(`  tokens/s:       ${fmtInt(torch.tokens_per_s)}`);
    console.log(`  mfu:            ${torch.mfu.toFixed(1)}%`);
    if (torch.peak_vram_mb !== null) console.log(`  peak_vram_mb:   ${torch.peak_vram_mb.toFixed(1)}`);
    console.log(`  loss:           ${torch.loss_first.toFixed(4)} -> ${torch.loss_last.toFixed(4)} (same batch every step)`);
    if (ours && Math.abs(torch.flops_per_token - ours.flops_per_token) > 1e-6 * ours.flops_per_token)
      console.log(`  warning:        PyTorch counts ${torch.flops_per_token} FLOPs/token, the engine ${ours.flops_per_token}: the models differ`);
    if (ours) {
      console.log(`ratio:            ${(ours.tokens_per_s / torch.tokens_per_s).toFixed(2)}x PyTorch tokens/s ` +
        `(goal >= 1.1x), engine MFU ${ours.mfu.toFixed(1)}% (goal >= 45%)`);
    }
  }
}

console.log(JSON.stringify({
  bench: "cuda-train",
  date: new Date().toISOString(),
  device: device?.name ?? torch?.device ?? null,
  peak_flops: device?.peakFlops ?? torch?.peak_flops ?? null,
  model: { depth, head_dim: headDim, vocab: V, seq: T },
  batch: B,
  total_batch: totalBatchSize,
  accum,
  steps,
  warmup,
  ours,
  ours_error: oursError,
  torch,
  torch_note: torchNote,
  ratio_tokens_per_s: ours && torch ? ours.tokens_per_s / torch.tokens_per_s : null,
}));
process.exit(exitCode);

// ---------------------------------------------------------------------------------------------

/** Trains the recipe GPT on cuda:0 for warmup + steps micro-steps and returns the medians. */
function benchmarkEngine(): OursResult {
  const info = device!;
  const model = new GPT(buildModelConfig(profile), "cuda:0");
  model.initWeights(new Generator(42));
  const optimizer = buildOptimizer(model);
  // Ids are drawn on the host, as the data loader does, and moved once: the same batch every step.
  const [x, y] = scope(() => {
    const batch = new Generator(1).randomIds([B, T + 1], V); // (B, T+1) int32 on the CPU
    return [
      ops.contiguous(ops.slice(batch, 1, 0, T)).to("cuda"), // (B, T)
      ops.contiguous(ops.slice(batch, 1, 1, T + 1)).to("cuda"), // (B, T)
    ];
  }) as [Tensor, Tensor];
  const flopsPerToken = model.flopsPerToken();
  const matmulPrecision = cuda.matmulPrecision();
  console.log(`engine:           depth ${depth}, dim ${model.config.nEmbd}, head_dim ${headDim}, vocab ${V}, ` +
    `windows [${model.windows.join(", ")}], ${(model.numParams() / 1e6).toFixed(2)}M params, matmul ${matmulPrecision}`);

  const losses: number[] = [];
  const fwdBwd: number[] = [];
  const opt: number[] = [];
  const micro: number[] = [];
  const timedStep = (step: number): void => {
    cuda.synchronize();
    const t0 = performance.now();
    const loss = scope(() => {
      const l = model.loss(x, y);
      l.backward();
      return l.item();
    });
    cuda.synchronize();
    const t1 = performance.now();
    for (const g of optimizer.groups) if (g.kind === "muon") g.momentum = muonMomentum(step);
    optimizer.step();
    optimizer.zeroGrad();
    cuda.synchronize();
    const t2 = performance.now();
    losses.push(loss);
    fwdBwd.push((t1 - t0) / 1000);
    opt.push((t2 - t1) / 1000);
    micro.push((t2 - t0) / 1000);
  };

  try {
    for (let i = 0; i < warmup; i++) timedStep(i);
    fwdBwd.length = opt.length = micro.length = 0;
    cuda.resetPeakMemory();
    for (let i = 0; i < steps; i++) timedStep(warmup + i);
    const peakBytes = cuda.memoryStats().peakBytes;

    const fwdBwdS = median(fwdBwd);
    const optS = median(opt);
    const fullStepS = accum * fwdBwdS + optS;
    const tokensPerS = totalBatchSize / fullStepS;
    const result: OursResult = {
      matmul_precision: matmulPrecision,
      params: model.numParams(),
      flops_per_token: flopsPerToken,
      fwd_bwd_s: fwdBwdS,
      opt_s: optS,
      micro_step_s: median(micro),
      full_step_s: fullStepS,
      tokens_per_s: tokensPerS,
      mfu: (100 * flopsPerToken * tokensPerS) / info.peakFlops,
      peak_vram_mb: peakBytes / 2 ** 20,
      loss_first: losses[0]!,
      loss_last: losses.at(-1)!,
    };
    console.log(`  fwd+bwd:        ${fmtMs(result.fwd_bwd_s)} per micro-batch (median of ${steps})`);
    console.log(`  optimizer:      ${fmtMs(result.opt_s)} (median)`);
    console.log(`  micro-step:     ${fmtMs(result.micro_step_s)} = fwd+bwd + optimizer, ` +
      `${fmtInt((B * T) / result.micro_step_s)} tokens/s if the optimizer ran every micro-batch`);
    console.log(`  full batch:     ${fmtMs(result.full_step_s)} = ${accumText} x fwd+bwd + optimizer`);
    console.log(`  tokens/s:       ${fmtInt(result.tokens_per_s)}`);
    console.log(`  mfu:            ${result.mfu.toFixed(1)}% (${(flopsPerToken / 1e6).toFixed(1)} MFLOP/token)`);
    console.log(`  peak_vram_mb:   ${result.peak_vram_mb.toFixed(1)}`);
    console.log(`  loss:           ${result.loss_first.toFixed(4)} -> ${result.loss_last.toFixed(4)} (same batch every step)`);
    return result;
  } finally {
    // Give the GPU back before PyTorch starts in the child: our parameters, the batch and every
    // cached block (the optimizer's state, about 2 x the parameters, stays until exit).
    optimizer.zeroGrad();
    for (const t of [x, y, ...model.parameters(), model.cos, model.sin]) t.dispose();
    emptyCache();
  }
}

/** Runs the PyTorch reference at the same sizes; result null with a note when it cannot. */
function runTorch(): { result: TorchResult | null; note: string | null } {
  const python = findTorchPython();
  if (!python) return { result: null, note: "skipped (no python with torch found; set NIGHTSHIFT_TORCH_PYTHON)" };
  const script = findTorchScript();
  if (!script) return { result: null, note: "skipped (bench/reference/gpt_torch_cuda.py not found; set NIGHTSHIFT_TORCH_SCRIPT)" };
  const argv = [script, "--depth", `${depth}`, "--head-dim", `${headDim}`, "--vocab", `${V}`, "--seq", `${T}`,
    "--batch", `${B}`, "--total-batch", `${totalBatchSize}`, "--steps", `${steps}`, "--warmup", `${warmup}`];
  if (device) argv.push("--peak-flops", `${device.peakFlops}`);
  console.log(`pytorch:          running ${python} ${argv.join(" ")} (torch.compile takes a minute or two)`);
  // stderr is inherited: PyTorch's progress and any traceback show as they happen.
  const r = spawnSync(python, argv, { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], maxBuffer: 64 << 20 });
  const last = (r.stdout ?? "").trim().split("\n").filter((l) => l.startsWith("{")).at(-1);
  if (r.status !== 0 || !last) {
    const why = r.error ? r.error.message : `exit ${r.status ?? r.signal}`;
    return { result: null, note: `failed (${python}, ${why}${last ? `: ${last}` : ""}; its stderr is above)` };
  }
  return { result: JSON.parse(last) as TorchResult, note: null };
}

function findTorchPython(): string | null {
  const candidates = [process.env.NIGHTSHIFT_TORCH_PYTHON, "python3", "python", "/usr/bin/python3"].filter(Boolean) as string[];
  for (const py of candidates) {
    const r = spawnSync(py, ["-c", "import torch"], { stdio: "ignore" });
    if (r.status === 0) return py;
  }
  return null;
}

// Next to this file, or under the working directory when this file was bundled elsewhere
// (a GPU box without node_modules runs a bundle, see ../shared/gpu/README.md).
function findTorchScript(): string | null {
  const candidates = [
    process.env.NIGHTSHIFT_TORCH_SCRIPT,
    fileURLToPath(new URL("./reference/gpt_torch_cuda.py", import.meta.url)),
    resolve("bench/reference/gpt_torch_cuda.py"),
  ];
  return candidates.find((p): p is string => !!p && existsSync(p)) ?? null;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function firstLine(s: string): string {
  const line = s.split("\n")[0] ?? "";
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}

function positiveInt(flag: string, value: string, min: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) fail(`${flag} must be an integer >= ${min}, got ${JSON.stringify(value)}`);
  return n;
}

function fail(message: string): never {
  console.error(`cuda-train: ${message}`);
  process.exit(2);
}
