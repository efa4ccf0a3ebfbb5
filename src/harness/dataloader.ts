/**
 * BOS-aligned best-fit packing, as autoresearch's make_dataloader: every row of T + 1 tokens
 * starts at a document's BOS; documents are packed largest-that-fits first from a buffer of
 * candidates, and when none fits the shortest is cropped to fill the row exactly (no padding).
 * Training order is a seeded shuffle of documents per epoch, so a seed fixes the data order;
 * evaluation uses the split's own order (seed null) so every run scores the same tokens.
 */
import { Generator, type Tensor, tensor } from "../engine/index.ts";
import type { TokenArray } from "./dataset.ts";
import type { Batch, BatchLoader } from "./types.ts";

export interface BatchLoaderOptions {
  /** Seed of the per-epoch document shuffle; null keeps the split's order (evaluation). */
  seed: number | null;
  /** Candidate documents considered for each placement (autoresearch: 1000). */
  bufferSize?: number;
}

/** Start offsets of documents (positions of bosId), plus the end as a final entry. */
export function documentStarts(tokens: TokenArray, bosId: number): Uint32Array {
  let count = 0;
  for (let i = 0; i < tokens.length; i++) if (tokens[i] === bosId) count++;
  const starts = new Uint32Array(count + 1);
  let k = 0;
  for (let i = 0; i < tokens.length; i++) if (tokens[i] === bosId) starts[k++] = i;
  starts[count] = tokens.length;
  return starts;
}

export function makeBatchLoader(
  tokens: TokenArray,
  bosId: number,
  batchSize: number,
  seqLen: number,
  options: BatchLoaderOptions,
): BatchLoader {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batch size must be a positive integer, got ${batchSize}`);
  if (!Number.isInteger(seqLen) || seqLen < 1) throw new RangeError(`sequence length must be a positive integer, got ${seqLen}`);
  const starts = documentStarts(tokens, bosId);
  const numDocs = starts.length - 1;
  if (numDocs === 0) throw new RangeError("the split has no documents (no BOS token found)");
  const bufferSize = options.bufferSize ?? 1000;
  const gen = options.seed === null ? null : new Generator(options.seed);

  // The document stream: a (shuffled) permutation per epoch.
  let order = new Uint32Array(numDocs);
  let cursor = numDocs;
  let epoch = 0;
  const nextDoc = (): number => {
    if (cursor === numDocs) {
      epoch += 1;
      for (let i = 0; i < numDocs; i++) order[i] = i;
      if (gen) {
        for (let i = numDocs - 1; i > 0; i--) {
          const j = Math.floor(gen.random() * (i + 1));
          const t = order[i]!;
          order[i] = order[j]!;
          order[j] = t;
        }
      }
      cursor = 0;
    }
    return order[cursor++]!;
  };

  // Candidate buffer of documents as [start, length] pairs; removal swaps with the last.
  const bufStart: number[] = [];
  const bufLen: number[] = [];
  const take = (i: number): void => {
    const last = bufStart.length - 1;
    bufStart[i] = bufStart[last]!;
    bufLen[i] = bufLen[last]!;
    bufStart.pop();
    bufLen.pop();
  };

  const bufferTarget = Math.min(bufferSize, numDocs);
  const rowCap = seqLen + 1;
  const row = new Int32Array(rowCap);
  const xs = new Int32Array(batchSize * seqLen);
  const ys = new Int32Array(batchSize * seqLen);

  return {
    batchSize,
    seqLen,
    next(): Batch {
      for (let r = 0; r < batchSize; r++) {
        let pos = 0;
        while (pos < rowCap) {
          while (bufStart.length < bufferTarget) {
            const d = nextDoc();
            bufStart.push(starts[d]!);
            bufLen.push(starts[d + 1]! - starts[d]!);
          }
          const remaining = rowCap - pos;
          let best = -1;
          let bestLen = 0;
          let shortest = 0;
          for (let i = 0; i < bufLen.length; i++) {
            const len = bufLen[i]!;
            if (len <= remaining && len > bestLen) {
              best = i;
              bestLen = len;
            }
            if (len < bufLen[shortest]!) shortest = i;
          }
          const pick = best >= 0 ? best : shortest;
          const n = best >= 0 ? bestLen : remaining;
          row.set(tokens.subarray(bufStart[pick]!, bufStart[pick]! + n), pos);
          pos += n;
          take(pick);
        }
        xs.set(row.subarray(0, seqLen), r * seqLen);
        ys.set(row.subarray(1, rowCap), r * seqLen);
      }
      const x: Tensor = tensor(xs, [batchSize, seqLen], "int32");
      const y: Tensor = tensor(ys, [batchSize, seqLen], "int32");
      return { x, y, epoch };
    },
  };
}
