/**
 * The fixed metric: validation bits per byte. The harness runs the model's logits over
 * EVAL_TOKENS tokens of the validation split (packed as in training, in the split's own order),
 * computes per-token cross-entropy itself, and divides the nats by ln 2 × the UTF-8 bytes of
 * the targets; targets that are special tokens (0 bytes) count in neither sum. Nothing a
 * train.ts computes enters the result.
 */
import { noGrad, ops, scope } from "../engine/index.ts";
import type { Dataset } from "./dataset.ts";
import { makeBatchLoader } from "./dataloader.ts";
import type { TrainedModel } from "./types.ts";

export interface EvaluateOptions {
  /** Tokens to score (the profile's EVAL_TOKENS); capped at what the split holds. */
  evalTokens: number;
  seqLen: number;
  /** Rows per forward pass; does not change the result, only memory and speed. */
  batchSize?: number;
  split?: "val" | "test";
}

export interface EvaluateResult {
  bpb: number;
  /** Tokens actually scored (a multiple of batchSize × seqLen). */
  tokens: number;
  nats: number;
  bytes: number;
}

export function evaluateBpb(model: TrainedModel, dataset: Dataset, options: EvaluateOptions): EvaluateResult {
  const split = options.split ?? "val";
  const batchSize = options.batchSize ?? 8;
  const { seqLen } = options;
  const tokens = dataset.split(split);
  const perBatch = batchSize * seqLen;
  const steps = Math.floor(Math.min(options.evalTokens, tokens.length) / perBatch);
  if (steps < 1)
    throw new RangeError(
      `the ${split} split has ${tokens.length} tokens, fewer than one evaluation batch (${perBatch}): prepare more data`,
    );
  const loader = makeBatchLoader(tokens, dataset.manifest.bosId, batchSize, seqLen, { seed: null });
  const V = dataset.manifest.vocabSize;
  const tokenBytes = dataset.tokenBytes;
  let nats = 0;
  let bytes = 0;
  for (let s = 0; s < steps; s++) {
    const { x, y } = loader.next();
    const losses = scope(() =>
      noGrad(() => {
        const logits = model.logits(x);
        const shape = logits.shape;
        if (shape.length !== 3 || shape[0] !== batchSize || shape[1] !== seqLen || shape[2] !== V)
          throw new RangeError(
            `model.logits returned shape [${shape.join(", ")}]; the harness needs [${batchSize}, ${seqLen}, ${V}] (B, T, vocab)`,
          );
        const flat = ops.reshape(ops.cast(logits, "float32"), [-1, V]);
        const targets = ops.reshape(y, [-1]).to(flat.device);
        return ops.crossEntropy(flat, targets, { reduction: "none", ignoreIndex: -1 }).toArray();
      }),
    );
    const targets = y.toArray();
    for (let i = 0; i < targets.length; i++) {
      const b = tokenBytes[targets[i]!]!;
      if (b > 0) {
        nats += losses[i]!;
        bytes += b;
      }
    }
    x.dispose();
    y.dispose();
  }
  return { bpb: nats / (Math.LN2 * bytes), tokens: steps * perBatch, nats, bytes };
}
