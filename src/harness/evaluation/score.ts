/**
 * The metric's arithmetic, in the trusted process: the evaluation batches of a held-out split
 * (packed as in training, in the split's own order) and the bits-per-byte sum over logits the
 * model produced. Per-token cross-entropy is computed here, by the harness's engine, from raw
 * logits; targets that are special tokens (0 bytes) count in neither the nats nor the bytes.
 * Nothing a train.ts computed enters these sums.
 */
import { noGrad, ops, scope, tensor } from "../../engine/index.ts";
import type { TokenArray } from "../dataset.ts";
import { makeBatchLoader } from "../dataloader.ts";

/** One evaluation batch: input ids and next-token targets, both B × T, row-major. */
export interface EvalBatch {
  ids: Int32Array;
  targets: Int32Array;
}

export interface EvalShape {
  batchSize: number;
  seqLen: number;
  vocabSize: number;
}

/**
 * The batches that score `evalTokens` tokens of a split (capped at what it holds; a whole
 * number of batches). Throws when the split is smaller than one batch.
 */
export function evaluationBatches(
  tokens: TokenArray,
  bosId: number,
  split: string,
  evalTokens: number,
  shape: Pick<EvalShape, "batchSize" | "seqLen">,
): EvalBatch[] {
  const { batchSize, seqLen } = shape;
  const perBatch = batchSize * seqLen;
  const steps = Math.floor(Math.min(evalTokens, tokens.length) / perBatch);
  if (steps < 1)
    throw new RangeError(
      `the ${split} split has ${tokens.length} tokens, fewer than one evaluation batch (${perBatch}): prepare more data`,
    );
  const loader = makeBatchLoader(tokens, bosId, batchSize, seqLen, { seed: null });
  const batches: EvalBatch[] = [];
  for (let s = 0; s < steps; s++) {
    const { x, y } = loader.next();
    batches.push({ ids: x.toArray() as Int32Array, targets: y.toArray() as Int32Array });
    x.dispose();
    y.dispose();
  }
  return batches;
}

export interface BpbResult {
  bpb: number;
  /** Tokens scored (a multiple of batchSize × seqLen). */
  tokens: number;
  nats: number;
  bytes: number;
}

/** Sums nats and target bytes over batches of logits, in the order they are added. */
export class BpbAccumulator {
  #nats = 0;
  #bytes = 0;
  #tokens = 0;

  constructor(
    private readonly tokenBytes: Int32Array,
    private readonly vocabSize: number,
  ) {}

  /**
   * logits: (N, V) float32 row-major for the N = targets.length positions of one batch.
   * Returns the N per-position losses in nats (special targets included).
   */
  add(logits: Float32Array, targets: Int32Array): Float32Array {
    const V = this.vocabSize;
    const N = targets.length;
    if (logits.length !== N * V)
      throw new RangeError(`BpbAccumulator.add: ${logits.length} logits for ${N} targets × vocab ${V}`);
    const losses = scope(() =>
      noGrad(() => {
        const flat = tensor(logits, [N, V], "float32");
        return ops.crossEntropy(flat, tensor(targets, [N], "int32"), { reduction: "none", ignoreIndex: -1 }).toArray() as Float32Array;
      }),
    );
    for (let i = 0; i < N; i++) {
      const b = this.tokenBytes[targets[i]!]!;
      if (b > 0) {
        this.#nats += losses[i]!;
        this.#bytes += b;
      }
    }
    this.#tokens += N;
    return losses;
  }

  result(): BpbResult {
    return { bpb: this.#nats / (Math.LN2 * this.#bytes), tokens: this.#tokens, nats: this.#nats, bytes: this.#bytes };
  }
}
