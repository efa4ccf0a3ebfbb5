/**
 * The contracts of the harness: what a train.ts receives (TrainContext), what it returns
 * (TrainedModel), the on-disk dataset it trains on, and the typed outcome of a run.
 * The harness is FIXED ground truth: agents edit train.ts, never these.
 */
import type { DeviceInfo, Tensor } from "../engine/index.ts";
import type { Profile, ProfileConstants } from "./constants.ts";

// ---- what train.ts gets --------------------------------------------------------------------

/** Wall-clock budget of the training phase. Owned by the harness: train.ts only reads it. */
export interface BudgetClock {
  /** The training budget in seconds. */
  readonly budgetSeconds: number;
  /** Seconds since train() was called. */
  elapsed(): number;
  /** elapsed() / budgetSeconds, clamped to [0, 1]. */
  progress(): number;
  /** True once the budget is spent: train.ts should stop and return its model. */
  expired(): boolean;
}

/** One training batch: inputs and next-token targets, both (B, T) int32. */
export interface Batch {
  x: Tensor;
  y: Tensor;
  /** 1-based pass over the training split this batch came from. */
  epoch: number;
}

/** BOS-aligned best-fit packed batches of the training split, deterministic for the run's seed. */
export interface BatchLoader {
  readonly batchSize: number;
  readonly seqLen: number;
  /** The next batch; the caller owns (and disposes) its tensors. */
  next(): Batch;
}

export interface StepReport {
  step: number;
  /** Smoothed training loss as train.ts reports it (shown, never trusted for results). */
  loss: number;
  /** Tokens processed in this step. */
  tokens: number;
  /** Learning-rate multiplier, when the recipe has one. */
  lrm?: number;
  epoch?: number;
  /** The model's FLOPs per token (forward + backward): lets the live line show MFU. */
  flopsPerToken?: number;
}

export interface TrainLogger {
  /** A free-form line in the run log. */
  info(message: string): void;
  /** Called once per optimizer step: drives the live progress line and the step count. */
  step(report: StepReport): void;
}

export interface TrainContext {
  profile: Profile;
  constants: ProfileConstants;
  device: DeviceInfo;
  /** The run's seed (from the harness --seed): init and data order derive from it. */
  seed: number;
  clock: BudgetClock;
  vocabSize: number;
  bosId: number;
  /** A loader over the training split for this batch shape (seqLen defaults to maxSeqLen). */
  trainLoader(batchSize: number, seqLen?: number): BatchLoader;
  logger: TrainLogger;
}

/** What train.ts returns: the harness evaluates it with its own metric. */
export interface TrainedModel {
  /** Logits (B, T, V) for ids (B, T) int32. The harness computes the loss from these. */
  logits(idx: Tensor): Tensor;
  numParams: number;
  /** FLOPs per token, forward + backward (for MFU). */
  flopsPerToken: number;
  depth: number;
}

export type TrainFunction = (ctx: TrainContext) => Promise<TrainedModel>;

// ---- the prepared dataset ------------------------------------------------------------------

export type SplitName = "train" | "val" | "test";

export interface ShardInfo {
  /** File name inside the dataset directory. */
  file: string;
  sha256: string;
  tokens: number;
  docs: number;
}

export interface SplitInfo {
  shards: ShardInfo[];
  tokens: number;
  docs: number;
  /** UTF-8 bytes of the split's text. */
  bytes: number;
}

/**
 * manifest.json of a prepared dataset directory. Shards are flat little-endian token streams
 * (`tokenDType`); every document starts with bosId, so BOS positions are document boundaries.
 */
export interface DatasetManifest {
  formatVersion: 1;
  /** Hash of everything the dataset was built from (sources, vocab size, split rule). */
  id: string;
  vocabSize: number;
  bosId: number;
  tokenDType: "uint16" | "uint32";
  tokenizer: { file: string; sha256: string };
  /** Int32 little-endian, one entry per token id: its UTF-8 byte length, 0 for special tokens. */
  tokenBytes: { file: string; sha256: string };
  splits: Record<SplitName, SplitInfo>;
  sources: { name: string; docs: number; bytes: number }[];
  createdAt: string;
}

// ---- the outcome of a run ------------------------------------------------------------------

/**
 * How a run ended. `invalid`: the trusted evaluator's probes caught the model cheating (its
 * logits looked ahead, or changed when the same rows were sent again); never kept or credited.
 */
export type RunStatus = "ok" | "crash" | "timeout" | "over-budget" | "non-finite" | "out-of-memory" | "invalid";

/** autoresearch's summary block, as numbers. */
export interface RunSummary {
  val_bpb: number;
  training_seconds: number;
  total_seconds: number;
  peak_vram_mb: number;
  mfu_percent: number;
  total_tokens_M: number;
  num_steps: number;
  num_params_M: number;
  depth: number;
}

export interface RunResult {
  status: RunStatus;
  /** Present only when status is "ok". */
  summary?: RunSummary;
  /** What went wrong, one line, when status is not "ok". */
  error?: string;
  /** bpb on the held-out test split, when runTrain was asked for it (evalTest) and the run is ok. */
  testBpb?: number;
  /** The last lines of the run's output (always kept for crashes). */
  logTail: string;
  seed: number;
  profile: Profile;
  timeBudget: number;
  /** Whether train.ts ran inside the sandbox (bubblewrap); false means it could reach the host. */
  sandboxed: boolean;
}
