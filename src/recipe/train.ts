/**
 * The baseline recipe: autoresearch's GPT and MuonAdamW optimizer written on the nightshift
 * engine, and the training loop the harness runs. This is the file agents edit (copied into
 * each lab as train.ts); it imports only the engine and the harness contracts, and reads top to
 * bottom: model, optimizer, hyperparameters, training loop. The harness fixes the data, the
 * seed, the time budget and the metric; this file decides everything else. A new weight is one
 * line in declareWeights (shape, init, optimizer group); a training step runs in a scope that
 * frees its tensors; every knob is an `export const` under Hyperparameters.
 *
 *   npx nightshift train                 # train this recipe for the profile's budget
 *   npm run bench                        # one training step of this model: tokens/s vs PyTorch
 */
import {
  type Device,
  Generator,
  type Init,
  ParamRegistry,
  Tensor,
  noGrad,
  ops,
  optim,
  scope,
  tensor,
  zeros,
} from "../engine/index.ts";
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

/** Value embeddings on alternating layers, the last always included. */
const hasValueEmbedding = (layer: number, nLayer: number): boolean => layer % 2 === (nLayer - 1) % 2;

/**
 * Which optimizer updates a weight: Muon (the matrices; one group per shape), or AdamW at one
 * of the learning-rate knobs, times `lrScale`, with its own `betas` when given (else ADAM_BETAS).
 */
export type OptimGroup = "muon" | { adamw: "embedding" | "unembedding" | "scalar"; lrScale?: number; betas?: [number, number] };

/**
 * The weights, each declared once: name, shape, init and optimizer group. The parameter list,
 * initWeights and the optimizer's groups all follow from these lines. Init draws from the seed
 * in declaration order, so moving a declaration changes the initial weights.
 */
function declareWeights(p: ParamRegistry<OptimGroup>, config: GPTConfig) {
  const { nEmbd: C, nHead: H, nKvHead: Hkv, vocabSize: V, nLayer: L } = config;
  const D = C / H;
  const s = Math.sqrt(3) * C ** -0.5; // uniform bound: std C^-0.5, as autoresearch's init_weights
  const matrix = (name: string, shape: number[], init: Init = { uniform: s }) => p.add(name, shape, init, "muon");
  const layers = Array.from({ length: L }, (_, i) => i);
  return {
    wte: p.add("wte", [V, C], { normal: 1 }, { adamw: "embedding" }), // (V, C)
    lmHead: p.add("lm_head", [V, C], { normal: 0.001 }, { adamw: "unembedding" }), // (V, C)
    blocks: layers.map((i) => ({
      cQ: matrix(`h.${i}.c_q`, [H * D, C]), // (H*D, C)
      cK: matrix(`h.${i}.c_k`, [Hkv * D, C]), // (Hkv*D, C)
      cV: matrix(`h.${i}.c_v`, [Hkv * D, C]), // (Hkv*D, C)
      cProj: matrix(`h.${i}.c_proj`, [C, C], { fill: 0 }), // (C, C)
      // sigmoid(0)·2 = 1: a neutral gate at init.
      veGate: hasValueEmbedding(i, L) ? matrix(`h.${i}.ve_gate`, [Hkv, VE_GATE_CHANNELS], { fill: 0 }) : null, // (Hkv, 32)
      cFc: matrix(`h.${i}.c_fc`, [4 * C, C]), // (4C, C)
      mlpProj: matrix(`h.${i}.mlp_proj`, [C, 4 * C], { fill: 0 }), // (C, 4C)
    })),
    residLambdas: p.add("resid_lambdas", [L], { fill: 1 }, { adamw: "scalar", lrScale: 0.01 }), // (L)
    x0Lambdas: p.add("x0_lambdas", [L], { fill: 0.1 }, { adamw: "scalar", betas: [0.96, 0.95] }), // (L)
    // layer -> (V, Hkv*D), on the layers hasValueEmbedding picks
    valueEmbeds: new Map(
      layers.filter((i) => hasValueEmbedding(i, L)).map((i) => [i, p.add(`ve.${i}`, [V, Hkv * D], { uniform: s }, { adamw: "embedding" })] as const),
    ),
  };
}

type Weights = ReturnType<typeof declareWeights>;
type Block = Weights["blocks"][number];

export class GPT {
  readonly config: GPTConfig;
  readonly headDim: number;
  readonly windows: number[];
  /** Every weight with its init and optimizer group (see declareWeights). */
  readonly params: ParamRegistry<OptimGroup>;
  readonly weights: Weights;
  readonly cos: Tensor; // (10 * T, D/2)
  readonly sin: Tensor; // (10 * T, D/2)
  /** Where the parameters live; ids given on another device are moved here. */
  readonly device: Device;

  constructor(config: GPTConfig, device: Device = "cpu") {
    const { nEmbd: C, nHead: H, nKvHead: Hkv } = config;
    if (C % H !== 0) throw new Error(`GPT: n_embd ${C} is not a multiple of n_head ${H}`);
    if (H % Hkv !== 0) throw new Error(`GPT: n_head ${H} is not a multiple of n_kv_head ${Hkv}`);
    if (C < VE_GATE_CHANNELS) throw new Error(`GPT: n_embd ${C} is below the ${VE_GATE_CHANNELS} value-gate channels`);
    this.config = config;
    this.device = device;
    this.headDim = C / H;
    this.windows = computeWindows(config);
    this.params = new ParamRegistry<OptimGroup>(device);
    this.weights = declareWeights(this.params, config);
    [this.cos, this.sin] = rotaryTables(config.sequenceLen * 10, this.headDim, device);
  }

  /** autoresearch's init_weights, drawn from `gen`: each weight's declared init, in order. */
  initWeights(gen: Generator): void {
    this.params.init(gen);
  }

  parameters(): Tensor[] {
    return this.params.tensors();
  }

  numParams(): number {
    return this.params.numel();
  }

  /** FLOPs per token, forward + backward, as autoresearch's estimate_flops. */
  flopsPerToken(): number {
    const { nHead: H, sequenceLen: T } = this.config;
    // Embedding lookups and per-layer scalars do no matmul work: every other weight counts.
    let excluded = 0;
    for (const { tensor, group } of this.params.all) if (group !== "muon" && group.adamw !== "unembedding") excluded += tensor.numel;
    let attn = 0;
    for (const w of this.windows) attn += 12 * H * this.headDim * Math.min(w, T);
    return 6 * (this.numParams() - excluded) + attn;
  }

  /** Logits (B, T, V), softcapped, for evaluation. idx: (B, T) int32. */
  logits(idx: Tensor): Tensor {
    const z = this.trunk(idx.to(this.device));
    return z.mul(1 / SOFTCAP).tanh().mul(SOFTCAP);
  }

  /** Mean cross-entropy of next-token targets (B, T) int32 (-1 = ignore). */
  loss(idx: Tensor, targets: Tensor): Tensor {
    const z = this.trunk(idx.to(this.device)); // (B, T, V)
    const V = this.config.vocabSize;
    return z.reshape([-1, V]).crossEntropy(targets.to(this.device).reshape([-1]), { softcap: SOFTCAP, ignoreIndex: -1 });
  }

  /** Everything up to the un-capped lm_head output (B, T, V). */
  private trunk(idx: Tensor): Tensor {
    const [B, T] = idx.shape as [number, number];
    if (T > this.config.sequenceLen * 10) throw new Error(`GPT: sequence of ${T} exceeds the rotary table`);
    const w = this.weights;
    let x = ops.embedding(w.wte, idx).rmsNorm(); // (B, T, C); rmsNorm's eps is float32's, as F.rms_norm
    const x0 = x;
    w.blocks.forEach((b, i) => {
      x = x.mul(w.residLambdas.slice(0, i, i + 1)).add(x0.mul(w.x0Lambdas.slice(0, i, i + 1))); // lambdas: (1)
      const veWeight = w.valueEmbeds.get(i);
      const ve = veWeight ? ops.embedding(veWeight, idx) : null; // (B, T, Hkv*D)
      x = x.add(this.attention(b, x.rmsNorm(), ve, B, T, this.windows[i]!));
      x = x.add(this.mlp(b, x.rmsNorm()));
    });
    return x.rmsNorm().linear(w.lmHead);
  }

  private attention(b: Block, x: Tensor, ve: Tensor | null, B: number, T: number, window: number): Tensor {
    const { nHead: H, nKvHead: Hkv, nEmbd: C } = this.config;
    const D = this.headDim;
    let q = x.linear(b.cQ).reshape([B, T, H, D]); // (B, T, C) -> (B, T, H, D)
    let k = x.linear(b.cK).reshape([B, T, Hkv, D]); // (B, T, C) -> (B, T, Hkv, D)
    let v = x.linear(b.cV).reshape([B, T, Hkv, D]); // (B, T, C) -> (B, T, Hkv, D)
    if (ve && b.veGate) {
      // Value residual (ResFormer): mix in the value embedding with an input-dependent gate per head.
      const veh = ve.reshape([B, T, Hkv, D]); // (B, T, Hkv*D) -> (B, T, Hkv, D)
      const gate = x.slice(-1, 0, VE_GATE_CHANNELS).linear(b.veGate).sigmoid().mul(2); // (B, T, Hkv)
      v = v.add(gate.unsqueeze(-1).mul(veh));
    }
    const cos = this.cos.slice(0, 0, T);
    const sin = this.sin.slice(0, 0, T);
    q = q.rotary(cos, sin).rmsNorm();
    k = k.rotary(cos, sin).rmsNorm();
    const y = ops.attention(q, k, v, { window }); // (B, T, H, D)
    return y.reshape([B, T, C]).linear(b.cProj); // (B, T, H, D) -> (B, T, C)
  }

  private mlp(b: Block, x: Tensor): Tensor {
    return x.linear(b.cFc).relu().square().linear(b.mlpProj);
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

  /** Allocates the state (zeros) here, not in step(): the step's scope would free it. */
  constructor(groups: ParamGroup[]) {
    this.groups = groups;
    for (const g of groups) {
      if (g.kind === "adamw") {
        for (const p of g.params) this.adamState.set(p, { step: 0, m: zeros(p.shape, "float32", p.device), v: zeros(p.shape, "float32", p.device) });
      } else if (g.params.length > 0) {
        const [M, N] = g.params[0]!.shape as [number, number];
        const [K, device] = [g.params.length, g.params[0]!.device];
        this.muonState.set(g, { momentum: zeros([K, M, N], "float32", device), second: zeros(M >= N ? [K, M, 1] : [K, 1, N], "float32", device) });
      }
    }
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
      const s = this.adamState.get(p)!;
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
    const s = this.muonState.get(g)!;
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

/**
 * autoresearch's setup_optimizer: each weight goes to the group its declaration names (see
 * OptimGroup); the embedding and unembedding LRs are scaled by 1/sqrt(d_model/768).
 */
export function setupOptimizer(model: GPT, s: OptimizerSettings): MuonAdamW {
  const scale = (model.config.nEmbd / 768) ** -0.5;
  const lrs = { embedding: s.embeddingLr * scale, unembedding: s.unembeddingLr * scale, scalar: s.scalarLr };
  const adamw = new Map<string, AdamWGroup>();
  const muon = new Map<string, MuonGroup>();
  for (const { tensor, group } of model.params.all) {
    if (group === "muon") {
      const key = tensor.shape.join("x");
      if (!muon.has(key))
        muon.set(key, { kind: "muon", params: [], lr: s.matrixLr, initialLr: s.matrixLr, momentum: 0.95, nsSteps: 5, beta2: 0.95, weightDecay: s.weightDecay });
      muon.get(key)!.params.push(tensor);
    } else {
      const lr = lrs[group.adamw] * (group.lrScale ?? 1);
      const betas = group.betas ?? s.adamBetas;
      const key = `${group.adamw} ${group.lrScale ?? 1} ${betas.join(",")}`;
      if (!adamw.has(key)) adamw.set(key, { kind: "adamw", params: [], lr, initialLr: lr, betas, eps: 1e-10, weightDecay: 0 });
      adamw.get(key)!.params.push(tensor);
    }
  }
  return new MuonAdamW([...adamw.values(), ...[...muon.keys()].sort().map((key) => muon.get(key)!)]);
}

// ---------------------------------------------------------------------------------------------
// Hyperparameters (edit these directly)
// ---------------------------------------------------------------------------------------------

// A knob that differs per profile is one object, { cpu, gpu }; a strategy tunes one profile's
// value (`DEPTH.cpu`). The gpu values are autoresearch's; the cpu ones fit a 2-core budget.
type PerProfile = Record<Profile, number>;

// Model architecture
export const ASPECT_RATIO = 64; // model_dim = depth * ASPECT_RATIO
export const HEAD_DIM: PerProfile = { cpu: 64, gpu: 128 }; // target head dimension for attention
export const WINDOW_PATTERN = "SSSL"; // sliding window pattern: L = full, S = half context

// Optimization
export const TOTAL_BATCH_SIZE: PerProfile = { cpu: 2048, gpu: 524_288 }; // tokens per optimizer step (gpu: 2^19)
export const EMBEDDING_LR = 0.6; // token embeddings (Adam)
export const UNEMBEDDING_LR = 0.004; // lm_head (Adam)
export const MATRIX_LR = 0.04; // matrix parameters (Muon)
export const SCALAR_LR = 0.5; // per-layer scalars (Adam)
export const WEIGHT_DECAY = 0.2; // cautious weight decay for Muon
export const ADAM_BETAS: [number, number] = [0.8, 0.95];
export const WARMUP_RATIO = 0.0; // fraction of the time budget for LR warmup
export const WARMDOWN_RATIO = 0.5; // fraction of the time budget for LR warmdown
export const FINAL_LR_FRAC = 0.0; // final LR as a fraction of the initial

// Model size. The GPU micro-batch is 32 sequences, not autoresearch's 128: activations here are
// float32 (theirs bf16), and 128 x 2048 tokens of them need about 100 GB. Gradient accumulation
// keeps the 2^19-token batch, so the optimisation is the same.
export const DEPTH: PerProfile = { cpu: 4, gpu: 8 }; // number of transformer layers
export const DEVICE_BATCH_SIZE: PerProfile = { cpu: 8, gpu: 32 }; // sequences per micro-batch

export function buildModelConfig(profile: Profile, vocabSize = PROFILES[profile].vocabSize): GPTConfig {
  const depth = DEPTH[profile];
  const headDim = HEAD_DIM[profile];
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
  const deviceBatchSize = DEVICE_BATCH_SIZE[ctx.profile];
  const totalBatchSize = TOTAL_BATCH_SIZE[ctx.profile];
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
    // The step runs in a scope: every tensor made in it (batches, activations, gradients) is
    // freed when it returns, so nothing piles up over a run. What was made before the loop (the
    // weights, the optimizer's state) lives on; a tensor made in a step and needed in the next
    // must be keep()-ed, and disposed when replaced. Return numbers from the step, not tensors.
    const { trainLoss, epoch, lrm } = scope(() => {
      let trainLoss = 0;
      let epoch = 1;
      for (let micro = 0; micro < gradAccumSteps; micro++) {
        // A scope per micro-batch as well: its activations are freed before the next forward.
        trainLoss = scope(() => {
          const batch = loader.next();
          epoch = batch.epoch;
          const loss = model.loss(batch.x, batch.y);
          (gradAccumSteps > 1 ? loss.mul(1 / gradAccumSteps) : loss).backward();
          return loss.item();
        });
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
      return { trainLoss, epoch, lrm };
    });

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
