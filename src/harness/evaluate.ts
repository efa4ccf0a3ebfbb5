/**
 * The fixed metric: validation bits per byte. The model's logits over EVAL_TOKENS tokens of the
 * validation split (packed as in training, in the split's own order) are scored with per-token
 * cross-entropy computed by the harness, and the nats divided by ln 2 × the UTF-8 bytes of the
 * targets; targets that are special tokens (0 bytes) count in neither sum.
 *
 * Runs always score through the trusted evaluator (evaluation/trusted.ts), in a process the
 * train.ts never runs in. evaluateBpb here scores a model object in this process: the reference
 * the trusted path is tested against, and the tool for tests and benchmarks of honest models.
 */
import { type DeviceSpec, noGrad, ops, scope, tensor } from "../engine/index.ts";
import type { Dataset } from "./dataset.ts";
import { BpbAccumulator, type BpbResult, type EvalShape, evaluationBatches } from "./evaluation/score.ts";
import type { ModelServer } from "./evaluation/trusted.ts";
import type { TrainedModel } from "./types.ts";

export interface EvaluateOptions {
  /** Tokens to score (the profile's EVAL_TOKENS); capped at what the split holds. */
  evalTokens: number;
  seqLen: number;
  /** Rows per forward pass; does not change the result, only memory and speed. */
  batchSize?: number;
  split?: "val" | "test";
}

export type EvaluateResult = BpbResult;

/** Rows per forward pass of an evaluation. */
export const EVAL_BATCH_SIZE = 8;

/**
 * The logits of `model` for one batch of ids, as float32 on the host, checked to be (B, T, V).
 * The one place a TrainedModel is called for evaluation (in the model's own process for runs).
 * `out`, when given, receives the values (a serving loop reuses one buffer).
 */
export function modelLogits(
  model: TrainedModel,
  ids: Int32Array,
  shape: EvalShape,
  device: DeviceSpec = "cpu",
  out?: Float32Array,
): Float32Array {
  const { batchSize: B, seqLen: T, vocabSize: V } = shape;
  return scope(() =>
    noGrad(() => {
      const logits = model.logits(tensor(ids, [B, T], "int32", device));
      const s = logits.shape;
      if (s.length !== 3 || s[0] !== B || s[1] !== T || s[2] !== V)
        throw new RangeError(`model.logits returned shape [${s.join(", ")}]; the harness needs [${B}, ${T}, ${V}] (B, T, vocab)`);
      // Cast where the logits are (bf16 on a GPU), then one copy to the host.
      const host = ops.cast(logits, "float32").to("cpu");
      if (!out) return host.toArray() as Float32Array;
      host.copyTo(out);
      return out;
    }),
  );
}

/** A model object served in this process: for tests and benchmarks of the trusted path. */
export function serveInProcess(model: TrainedModel, shape: EvalShape): ModelServer {
  return { logits: async (ids) => modelLogits(model, ids, shape) };
}

export function evaluateBpb(model: TrainedModel, dataset: Dataset, options: EvaluateOptions): EvaluateResult {
  const split = options.split ?? "val";
  const shape = { batchSize: options.batchSize ?? EVAL_BATCH_SIZE, seqLen: options.seqLen, vocabSize: dataset.manifest.vocabSize };
  const batches = evaluationBatches(dataset.split(split), dataset.manifest.bosId, split, options.evalTokens, shape);
  const sum = new BpbAccumulator(dataset.tokenBytes, shape.vocabSize);
  const out = new Float32Array(shape.batchSize * shape.seqLen * shape.vocabSize);
  for (const batch of batches) sum.add(modelLogits(model, batch.ids, shape, "cpu", out), batch.targets);
  return sum.result();
}
