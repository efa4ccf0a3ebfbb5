/**
 * The baseline recipe: autoresearch's GPT and MuonAdamW optimizer written on the nightshift
 * engine, and the training loop the harness runs. This is the file agents edit (copied into
 * each lab as train.ts); it imports only the engine and the harness contracts, and reads top to
 * bottom: model, optimizer, hyperparameters, training loop. The harness fixes the data, the
 * seed, the time budget and the metric; this file decides everything else.
 *
 *   npx nightshift train                 # train this recipe for the profile's budget
 *   npm run bench                        # one training step of this model: tokens/s vs PyTorch
 */
import { type Device, Generator, Tensor, noGrad, ops, optim, scope, tensor, zeros } from "../engine/index.ts";
import { PROFILES, type Profile } from "../harness/constants.ts";
import type { BudgetClock, TrainContext, TrainedModel } from "../harness/types.ts";

// ---------------------------------------------------------------------------------------------
// GPT model
// ---------------------------------------------------------------------------------------------

export interface GPTConfig {
  sequenceLen: number;
  vocabSize: number;
  nLayer: number;
  nHead: number;
  nKvHead: number;
  nEmbd: number;
  /** Per-layer attention windows, cycled: S = half context, L = full context. */
  windowPattern: string;
}

const VE_GATE_CHANNELS = 32;
const SOFTCAP = 15;

const norm = (x: Tensor): Tensor => ops.rmsNorm(x); // eps: float32's epsilon, as F.rms_norm

/** Value embeddings on alternating layers, the last always included. */
const hasValueEmbedding = (layer: number, nLayer: number): boolean => layer % 2 === (nLayer - 1) % 2;

interface BlockParams {
  cQ: Tensor; // (H*D, C)
  cK: Tensor; // (Hkv*D, C)
  cV: Tensor; // (Hkv*D, C)
  cProj: Tensor; // (C, C)
  veGate: Tensor | null; // (Hkv, 32)
  cFc: Tensor; // (4C, C)
  mlpProj: Tensor; // (C, 4C)
}

export class GPT {
  readonly config: GPTConfig;
  readonly headDim: number;
  readonly windows: number[];
  readonly wte: Tensor; // (V, C)
  readonly lmHead: Tensor; // (V, C)
  readonly residLambdas: Tensor; // (L)
  readonly x0Lambdas: Tensor; // (L)
  readonly valueEmbeds: Map<number, Tensor>; // layer -> (V, Hkv*D)
  readonly blocks: BlockParams[];
  readonly cos: Tensor; // (10 * T, D/2)
  readonly sin: Tensor; // (10 * T, D/2)
  /** Where the parameters live; ids given on another device are moved here. */
  readonly device: Device;

  constructor(config: GPTConfig, device: Device = "cpu") {
    const { nEmbd: C, nHead: H, nKvHead: Hkv, vocabSize: V, nLayer: L } = config;
    if (C % H !== 0) throw new Error(`GPT: n_embd ${C} is not a multiple of n_head ${H}`);
    if (H % Hkv !== 0) throw new Error(`GPT: n_head ${H} is not a multiple of n_kv_head ${Hkv}`);
    if (C < VE_GATE_CHANNELS) throw new Error(`GPT: n_embd ${C} is below the ${VE_GATE_CHANNELS} value-gate channels`);
    this.config = config;
    this.device = device;
    this.headDim = C / H;
    const D = this.headDim;
    this.windows = computeWindows(config);
    const p = (shape: number[]): Tensor => zeros(shape, "float32", device).requireGrad();
    this.wte = p([V, C]);
    this.lmHead = p([V, C]);
    this.residLambdas = p([L]);
    this.x0Lambdas = p([L]);
    this.valueEmbeds = new Map();
    for (let i = 0; i < L; i++) if (hasValueEmbedding(i, L)) this.valueEmbeds.set(i, p([V, Hkv * D]));
    this.blocks = Array.from({ length: L }, (_, i) => ({
      cQ: p([H * D, C]),
      cK: p([Hkv * D, C]),
      cV: p([Hkv * D, C]),
      cProj: p([C, C]),
      veGate: hasValueEmbedding(i, L) ? p([Hkv, VE_GATE_CHANNELS]) : null,
      cFc: p([4 * C, C]),
      mlpProj: p([C, 4 * C]),
    }));
    [this.cos, this.sin] = rotaryTables(config.sequenceLen * 10, D, device);
  }

  /** autoresearch's init_weights, drawn from `gen`. */
  initWeights(gen: Generator): void {
    const C = this.config.nEmbd;
    const s = Math.sqrt(3) * C ** -0.5;
    gen.normal_(this.wte, 0, 1);
    gen.normal_(this.lmHead, 0, 0.001);
    for (const b of this.blocks) {
      gen.uniform_(b.cQ, -s, s);
      gen.uniform_(b.cK, -s, s);
      gen.uniform_(b.cV, -s, s);
      b.cProj.fill_(0);
      gen.uniform_(b.cFc, -s, s);
      b.mlpProj.fill_(0);
    }
    this.residLambdas.fill_(1);
    this.x0Lambdas.fill_(0.1);
    for (const ve of this.valueEmbeds.values()) gen.uniform_(ve, -s, s);
    for (const b of this.blocks) b.veGate?.fill_(0); // sigmoid(0)·2 = 1: a neutral gate
  }

  parameters(): Tensor[] {
    const out = [this.wte, this.lmHead, this.residLambdas, this.x0Lambdas, ...this.valueEmbeds.values()];
    for (const b of this.blocks) out.push(...this.blockMatrices(b));
    return out;
  }

  /** The transformer's matrices (Muon's parameters), in a fixed order. */
  blockMatrices(b: BlockParams): Tensor[] {
    return [b.cQ, b.cK, b.cV, b.cProj, ...(b.veGate ? [b.veGate] : []), b.cFc, b.mlpProj];
  }

  numParams(): number {
    return this.parameters().reduce((n, t) => n + t.numel, 0);
  }

  /** FLOPs per token, forward + backward, as autoresearch's estimate_flops. */
  flopsPerToken(): number {
    const { nHead: H, sequenceLen: T } = this.config;
    let excluded = this.wte.numel + this.residLambdas.numel + this.x0Lambdas.numel;
    for (const ve of this.valueEmbeds.values()) excluded += ve.numel;
    let attn = 0;
    for (const w of this.windows) attn += 12 * H * this.headDim * Math.min(w, T);
    return 6 * (this.numParams() - excluded) + attn;
  }

  /** Logits (B, T, V), softcapped, for evaluation. idx: (B, T) int32. */
  logits(idx: Tensor): Tensor {
    const z = this.trunk(idx.to(this.device));
    return ops.mul(ops.tanh(ops.mul(z, 1 / SOFTCAP)), SOFTCAP);
  }

  /** Mean cross-entropy of next-token targets (B, T) int32 (-1 = ignore). */
  loss(idx: Tensor, targets: Tensor): Tensor {
    const z = this.trunk(idx.to(this.device)); // (B, T, V)
    const V = this.config.vocabSize;
    return ops.crossEntropy(ops.reshape(z, [-1, V]), ops.reshape(targets.to(this.device), [-1]), {
      softcap: SOFTCAP,
      ignoreIndex: -1,
    });
  }

  /** Everything up to the un-capped lm_head output (B, T, V). */
  private trunk(idx: Tensor): Tensor {
    const [B, T] = idx.shape as [number, number];
    if (T > this.config.sequenceLen * 10) throw new Error(`GPT: sequence of ${T} exceeds the rotary table`);
    let x = norm(ops.embedding(this.wte, idx)); // (B, T, C)
    const x0 = x;
    this.blocks.forEach((b, i) => {
      const resid = ops.slice(this.residLambdas, 0, i, i + 1); // (1)
      const x0l = ops.slice(this.x0Lambdas, 0, i, i + 1); // (1)
      x = ops.add(ops.mul(x, resid), ops.mul(x0, x0l));
      const veWeight = this.valueEmbeds.get(i);
      const ve = veWeight ? ops.embedding(veWeight, idx) : null; // (B, T, Hkv*D)
      x = ops.add(x, this.attention(b, norm(x), ve, B, T, this.windows[i]!));
      x = ops.add(x, this.mlp(b, norm(x)));
    });
    return ops.linear(norm(x), this.lmHead);
  }

  private attention(b: BlockParams, x: Tensor, ve: Tensor | null, B: number, T: number, window: number): Tensor {
    const { nHead: H, nKvHead: Hkv, nEmbd: C } = this.config;
    const D = this.headDim;
    let q = ops.reshape(ops.linear(x, b.cQ), [B, T, H, D]); // (B, T, C) -> (B, T, H, D)
    let k = ops.reshape(ops.linear(x, b.cK), [B, T, Hkv, D]);
    let v = ops.reshape(ops.linear(x, b.cV), [B, T, Hkv, D]);
    if (ve && b.veGate) {
      // Value residual (ResFormer): mix in the value embedding with an input-dependent gate per head.
      const veh = ops.reshape(ve, [B, T, Hkv, D]);
      const gate = ops.mul(ops.sigmoid(ops.linear(ops.slice(x, -1, 0, VE_GATE_CHANNELS), b.veGate)), 2); // (B, T, Hkv)
      v = ops.add(v, ops.mul(ops.unsqueeze(gate, -1), veh));
    }
    const cos = ops.slice(this.cos, 0, 0, T);
    const sin = ops.slice(this.sin, 0, 0, T);
    q = norm(ops.rotary(q, cos, sin));
    k = norm(ops.rotary(k, cos, sin));
    const y = ops.attention(q, k, v, { window }); // (B, T, H, D)
    return ops.linear(ops.reshape(y, [B, T, C]), b.cProj);
  }

  private mlp(b: BlockParams, x: Tensor): Tensor {
    return ops.linear(ops.square(ops.relu(ops.linear(x, b.cFc))), b.mlpProj);
  }
}

function computeWindows(config: GPTConfig): number[] {
  const pattern = config.windowPattern.toUpperCase();
  if (!/^[SL]+$/.test(pattern)) throw new Error(`GPT: window pattern '${config.windowPattern}' may hold only S and L`);
  const long = config.sequenceLen;
  const short = Math.floor(long / 2);
  const w = Array.from({ length: config.nLayer }, (_, i) => (pattern[i % pattern.length] === "L" ? long : short));
  w[w.length - 1] = long; // the last layer always sees the full context
  return w;
}

/** cos/sin tables (seqLen, D/2) with base 10000, as autoresearch. */
function rotaryTables(seqLen: number, headDim: number, device: Device): [Tensor, Tensor] {
  const half = headDim / 2;
  const cos = new Float32Array(seqLen * half);
  const sin = new Float32Array(seqLen * half);
  for (let t = 0; t < seqLen; t++)
    for (let j = 0; j < half; j++) {
      const invFreq = 1 / 10000 ** ((2 * j) / headDim);
      cos[t * half + j] = Math.cos(t * invFreq);
      sin[t * half + j] = Math.sin(t * invFreq);
    }
  return [tensor(cos, [seqLen, half], "float32", device), tensor(sin, [seqLen, half], "float32", device)];
}

// ---------------------------------------------------------------------------------------------
// Optimizer: Muon for the transformer's matrices, AdamW for embeddings, head and scalars
// ---------------------------------------------------------------------------------------------

interface AdamWGroup {
  kind: "adamw";
  params: Tensor[];
  lr: number;
  initialLr: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
}

interface MuonGroup {
  kind: "muon";
  params: Tensor[];
  lr: number;
  initialLr: number;
  momentum: number;
  nsSteps: number;
  beta2: number;
  weightDecay: number;
}

export type ParamGroup = AdamWGroup | MuonGroup;

export class MuonAdamW {
  readonly groups: ParamGroup[];
  private readonly adamState = new Map<Tensor, { step: number; m: Tensor; v: Tensor }>();
  private readonly muonState = new Map<MuonGroup, { momentum: Tensor; second: Tensor }>();

  constructor(groups: ParamGroup[]) {
    this.groups = groups;
  }

  step(): void {
    noGrad(() => {
      for (const g of this.groups) {
        if (g.kind === "adamw") this.stepAdamW(g);
        else this.stepMuon(g);
      }
    });
  }

  zeroGrad(): void {
    for (const g of this.groups) for (const p of g.params) p.zeroGrad();
  }

  private stepAdamW(g: AdamWGroup): void {
    for (const p of g.params) {
      const grad = p.grad;
      if (!grad) continue;
      let s = this.adamState.get(p);
      if (!s) {
        s = { step: 0, m: zeros(p.shape, "float32", p.device), v: zeros(p.shape, "float32", p.device) };
        this.adamState.set(p, s);
      }
      s.step += 1;
      optim.adamwStep(p, grad, s.m, s.v, {
        step: s.step,
        lr: g.lr,
        beta1: g.betas[0],
        beta2: g.betas[1],
        eps: g.eps,
        weightDecay: g.weightDecay,
      });
      grad.dispose();
    }
  }

  private stepMuon(g: MuonGroup): void {
    const grads = g.params.map((p) => p.grad);
    if (grads.some((x) => x === null)) return;
    const [M, N] = g.params[0]!.shape as [number, number];
    const K = g.params.length;
    let s = this.muonState.get(g);
    if (!s) {
      const device = g.params[0]!.device;
      s = { momentum: zeros([K, M, N], "float32", device), second: zeros(M >= N ? [K, M, 1] : [K, 1, N], "float32", device) };
      this.muonState.set(g, s);
    }
    optim.muonStep(g.params, grads as Tensor[], s.momentum, s.second, {
      momentum: g.momentum,
      lr: g.lr * Math.max(1, M / N) ** 0.5,
      weightDecay: g.weightDecay,
      beta2: g.beta2,
      nsSteps: g.nsSteps,
    });
    for (const x of grads) x!.dispose();
  }
}

export interface OptimizerSettings {
  unembeddingLr: number;
  embeddingLr: number;
  matrixLr: number;
  scalarLr: number;
  weightDecay: number;
  adamBetas: [number, number];
}

/** autoresearch's setup_optimizer: AdamW LRs scaled by 1/sqrt(d_model/768). */
export function setupOptimizer(model: GPT, s: OptimizerSettings): MuonAdamW {
  const scale = (model.config.nEmbd / 768) ** -0.5;
  const adamw = (params: Tensor[], lr: number, betas = s.adamBetas): AdamWGroup => ({
    kind: "adamw",
    params,
    lr,
    initialLr: lr,
    betas,
    eps: 1e-10,
    weightDecay: 0,
  });
  const groups: ParamGroup[] = [
    adamw([model.lmHead], s.unembeddingLr * scale),
    adamw([model.wte], s.embeddingLr * scale),
    adamw([...model.valueEmbeds.values()], s.embeddingLr * scale),
    adamw([model.residLambdas], s.scalarLr * 0.01),
    adamw([model.x0Lambdas], s.scalarLr, [0.96, 0.95]),
  ];
  const byShape = new Map<string, Tensor[]>();
  for (const b of model.blocks)
    for (const p of model.blockMatrices(b)) {
      const key = p.shape.join("x");
      byShape.set(key, [...(byShape.get(key) ?? []), p]);
    }
  for (const key of [...byShape.keys()].sort())
    groups.push({
      kind: "muon",
      params: byShape.get(key)!,
      lr: s.matrixLr,
      initialLr: s.matrixLr,
      momentum: 0.95,
      nsSteps: 5,
      beta2: 0.95,
      weightDecay: s.weightDecay,
    });
  return new MuonAdamW(groups);
}

// ---------------------------------------------------------------------------------------------
// Hyperparameters (edit these directly)
// ---------------------------------------------------------------------------------------------

// Model architecture
export const ASPECT_RATIO = 64; // model_dim = depth * ASPECT_RATIO
export const WINDOW_PATTERN = "SSSL"; // sliding window pattern: L = full, S = half context

// Optimization
export const EMBEDDING_LR = 0.6; // token embeddings (Adam)
export const UNEMBEDDING_LR = 0.004; // lm_head (Adam)
export const MATRIX_LR = 0.04; // matrix parameters (Muon)
export const SCALAR_LR = 0.5; // per-layer scalars (Adam)
export const WEIGHT_DECAY = 0.2; // cautious weight decay for Muon
export const ADAM_BETAS: [number, number] = [0.8, 0.95];
export const WARMUP_RATIO = 0.0; // fraction of the time budget for LR warmup
export const WARMDOWN_RATIO = 0.5; // fraction of the time budget for LR warmdown
export const FINAL_LR_FRAC = 0.0; // final LR as a fraction of the initial

// Model size per profile: the GPU profile is autoresearch's; the CPU one fits a 2-core budget.
// The GPU micro-batch is 32 sequences, not autoresearch's 128: activations here are float32
// (theirs bf16), and 128 x 2048 tokens of them need about 100 GB. Gradient accumulation keeps
// the 2^19-token batch, so the optimisation is the same.
export const SIZES: Record<Profile, { depth: number; headDim: number; deviceBatchSize: number; totalBatchSize: number }> =
  {
    gpu: { depth: 8, headDim: 128, deviceBatchSize: 32, totalBatchSize: 2 ** 19 },
    cpu: { depth: 4, headDim: 64, deviceBatchSize: 8, totalBatchSize: 8 * 256 },
  };

export function buildModelConfig(profile: Profile, vocabSize = PROFILES[profile].vocabSize): GPTConfig {
  const { depth, headDim } = SIZES[profile];
  const baseDim = depth * ASPECT_RATIO;
  const modelDim = Math.ceil(baseDim / headDim) * headDim;
  const nHead = modelDim / headDim;
  return {
    sequenceLen: PROFILES[profile].maxSeqLen,
    vocabSize,
    nLayer: depth,
    nHead,
    nKvHead: nHead,
    nEmbd: modelDim,
    windowPattern: WINDOW_PATTERN,
  };
}

export function buildOptimizer(model: GPT): MuonAdamW {
  return setupOptimizer(model, {
    unembeddingLr: UNEMBEDDING_LR,
    embeddingLr: EMBEDDING_LR,
    matrixLr: MATRIX_LR,
    scalarLr: SCALAR_LR,
    weightDecay: WEIGHT_DECAY,
    adamBetas: ADAM_BETAS,
  });
}

// Schedules, all driven by progress = training time / budget.
export function lrMultiplier(progress: number): number {
  if (progress < WARMUP_RATIO) return WARMUP_RATIO > 0 ? progress / WARMUP_RATIO : 1;
  // progress is capped at 1, so without a warmdown the last step would compute 0 / 0.
  if (progress < 1 - WARMDOWN_RATIO || WARMDOWN_RATIO <= 0) return 1;
  const cooldown = (1 - progress) / WARMDOWN_RATIO;
  return cooldown + (1 - cooldown) * FINAL_LR_FRAC;
}

export function muonMomentum(step: number): number {
  const frac = Math.min(step / 300, 1);
  return (1 - frac) * 0.85 + frac * 0.95;
}

export function weightDecayAt(progress: number): number {
  return WEIGHT_DECAY * (1 - progress);
}

// ---------------------------------------------------------------------------------------------
// Training loop (the harness calls this with the budget clock already running)
// ---------------------------------------------------------------------------------------------

// The runner counts every second of train() and fails a run that returns past the budget (plus
// a small grace), and on a loaded machine one step can take several times its usual time. So
// the loop does not start a step it predicts would end past the budget: the next step is
// predicted to take as long as the slowest of the last STEP_TIME_WINDOW steps. The first step
// always runs (there is nothing to predict from, and a model needs one).
const STEP_TIME_WINDOW = 8;

export function fitsAnotherStep(clock: BudgetClock, recentStepSeconds: readonly number[]): boolean {
  if (clock.expired()) return false;
  const predicted = recentStepSeconds.length > 0 ? Math.max(...recentStepSeconds) : 0;
  return clock.elapsed() + predicted <= clock.budgetSeconds;
}

export default async function train(ctx: TrainContext): Promise<TrainedModel> {
  const { deviceBatchSize, totalBatchSize } = SIZES[ctx.profile];
  const seqLen = ctx.constants.maxSeqLen;
  const config = buildModelConfig(ctx.profile, ctx.vocabSize);
  const model = new GPT(config, ctx.device.kind === "cuda" ? "cuda:0" : "cpu");
  model.initWeights(new Generator(ctx.seed));
  const optimizer = buildOptimizer(model);
  const tokensPerMicroStep = deviceBatchSize * seqLen;
  if (totalBatchSize % tokensPerMicroStep !== 0)
    throw new Error(`TOTAL_BATCH_SIZE ${totalBatchSize} is not a multiple of ${deviceBatchSize} x ${seqLen}`);
  const gradAccumSteps = totalBatchSize / tokensPerMicroStep;
  const loader = ctx.trainLoader(deviceBatchSize, seqLen);
  ctx.logger.info(
    `model: depth ${config.nLayer}, dim ${config.nEmbd}, ${(model.numParams() / 1e6).toFixed(2)}M params; ` +
      `batch ${totalBatchSize} tokens (${gradAccumSteps} x ${deviceBatchSize} x ${seqLen})`,
  );

  const flopsPerToken = model.flopsPerToken();
  let step = 0;
  let smoothLoss = 0;
  const recentStepSeconds: number[] = []; // the last STEP_TIME_WINDOW steps, oldest first
  while (fitsAnotherStep(ctx.clock, recentStepSeconds)) {
    const stepStart = ctx.clock.elapsed();
    let trainLoss = 0;
    let epoch = 1;
    for (let micro = 0; micro < gradAccumSteps; micro++) {
      const batch = loader.next();
      epoch = batch.epoch;
      trainLoss = scope(() => {
        const loss = model.loss(batch.x, batch.y);
        (gradAccumSteps > 1 ? ops.mul(loss, 1 / gradAccumSteps) : loss).backward();
        return loss.item();
      });
      batch.x.dispose();
      batch.y.dispose();
    }
    const progress = ctx.clock.progress();
    const lrm = lrMultiplier(progress);
    for (const g of optimizer.groups) {
      g.lr = g.initialLr * lrm;
      if (g.kind === "muon") {
        g.momentum = muonMomentum(step);
        g.weightDecay = weightDecayAt(progress);
      }
    }
    optimizer.step();
    optimizer.zeroGrad();

    smoothLoss = 0.9 * smoothLoss + 0.1 * trainLoss;
    const debiased = smoothLoss / (1 - 0.9 ** (step + 1));
    ctx.logger.step({ step, loss: debiased, tokens: totalBatchSize, lrm, epoch, flopsPerToken });
    // Fast fail: a NaN or exploding loss will not recover within the budget.
    if (!Number.isFinite(trainLoss) || trainLoss > 100) throw new Error(`training diverged at step ${step}: loss ${trainLoss}`);
    step += 1;
    // Let the event loop breathe (timers, the harness's signals) without slowing the step.
    if (step % 16 === 0) await new Promise((resolve) => setImmediate(resolve));
    recentStepSeconds.push(ctx.clock.elapsed() - stepStart);
    if (recentStepSeconds.length > STEP_TIME_WINDOW) recentStepSeconds.shift();
  }

  return {
    logits: (idx) => model.logits(idx),
    numParams: model.numParams(),
    flopsPerToken,
    depth: config.nLayer,
  };
}
