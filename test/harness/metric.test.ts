import { mkdtempSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { type Tensor, ops, tensor, zeros } from "../../src/engine/index.ts";
import { DatasetError, openDataset } from "../../src/harness/dataset.ts";
import { documentStarts, makeBatchLoader } from "../../src/harness/dataloader.ts";
import { evaluateBpb } from "../../src/harness/evaluate.ts";
import type { TrainedModel } from "../../src/harness/types.ts";
import { tokenByteLength, writeTinyDataset } from "../support/tiny-dataset.ts";

const root = mkdtempSync(join(tmpdir(), "ns-metric-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = () => {
  const dir = join(root, `ds${n++}`);
  writeTinyDataset(dir);
  return dir;
};

/** A model whose logits are all zero: every token has probability 1/V. */
function uniformModel(V: number, extra: Partial<TrainedModel> = {}): TrainedModel {
  return {
    logits: (idx: Tensor) => zeros([...idx.shape, V]),
    numParams: 0,
    flopsPerToken: 0,
    depth: 0,
    ...extra,
  };
}

describe("openDataset", () => {
  it("reads splits that start with BOS and token byte lengths", () => {
    const ds = openDataset(fresh(), { verify: true });
    expect(ds.split("train")[0]).toBe(ds.manifest.bosId);
    expect(ds.tokenBytes.length).toBe(ds.manifest.vocabSize);
    expect(ds.tokenBytes[ds.manifest.bosId]).toBe(0);
  });

  it("says to run prepare when there is no dataset", () => {
    expect(() => openDataset(join(root, "nothing"))).toThrow(
      expect.objectContaining({ code: "DATASET_MISSING", message: expect.stringMatching(/nightshift prepare/) }),
    );
  });

  it("detects a truncated shard, a missing file and a corrupt manifest", () => {
    const a = fresh();
    truncateSync(join(a, "val-00000.bin"), 10);
    expect(() => openDataset(a)).toThrow(expect.objectContaining({ code: "DATASET_CORRUPT" }));
    const b = fresh();
    rmSync(join(b, "token_bytes.bin"));
    expect(() => openDataset(b)).toThrow(/token_bytes.bin is missing/);
    const c = fresh();
    writeFileSync(join(c, "manifest.json"), "{ not json");
    expect(() => openDataset(c)).toThrow(DatasetError);
  });

  it("catches same-size tampering only when asked to verify hashes", () => {
    const dir = fresh();
    const path = join(dir, "train-00000.bin");
    const buf = readFileSync(path);
    buf[buf.length - 1]! ^= 1;
    writeFileSync(path, buf);
    expect(() => openDataset(dir)).not.toThrow();
    expect(() => openDataset(dir, { verify: true })).toThrow(/does not match its SHA-256/);
  });
});

describe("BOS-aligned best-fit packing", () => {
  const ds = openDataset(fresh());
  const bos = ds.manifest.bosId;
  const train = ds.split("train");

  it("starts every row with BOS, shifts targets by one and fills rows completely", () => {
    const loader = makeBatchLoader(train, bos, 4, 32, { seed: 1 });
    for (let b = 0; b < 5; b++) {
      const { x, y } = loader.next();
      const xs = x.toArray();
      const ys = y.toArray();
      for (let r = 0; r < 4; r++) {
        expect(xs[r * 32]).toBe(bos);
        for (let t = 0; t < 31; t++) expect(ys[r * 32 + t]).toBe(xs[r * 32 + t + 1]);
      }
      // No padding: every position holds a real token id.
      expect(Array.from(xs).every((v) => v >= 0 && v < ds.manifest.vocabSize)).toBe(true);
    }
  });

  it("places whole documents when they fit (crops only to fill the end of a row)", () => {
    const starts = documentStarts(train, bos);
    const lengths = new Set<number>();
    for (let i = 0; i + 1 < starts.length; i++) lengths.add(starts[i + 1]! - starts[i]!);
    const loader = makeBatchLoader(train, bos, 1, 255, { seed: 3 });
    const row = Array.from(loader.next().x.toArray());
    const bosAt = row.flatMap((v, i) => (v === bos ? [i] : []));
    // Every document but the last in the row is complete.
    for (let k = 0; k + 1 < bosAt.length; k++) expect(lengths.has(bosAt[k + 1]! - bosAt[k]!)).toBe(true);
  });

  it("is deterministic for a seed and differs across seeds; null keeps the split order", () => {
    const first = (seed: number | null) => Array.from(makeBatchLoader(train, bos, 2, 16, { seed }).next().x.toArray());
    expect(first(5)).toEqual(first(5));
    expect(first(5)).not.toEqual(first(6));
    expect(first(null)).toEqual(first(null));
  });

  it("counts epochs as it wraps around the split", () => {
    const loader = makeBatchLoader(train, bos, 8, 64, { seed: 1 });
    let epoch = 1;
    for (let i = 0; i < 200 && epoch === 1; i++) epoch = loader.next().epoch;
    expect(epoch).toBe(2);
  });

  it("rejects a split without documents and bad shapes", () => {
    expect(() => makeBatchLoader(new Uint16Array([1, 2, 3]), bos, 1, 4, { seed: 1 })).toThrow(/no documents/);
    expect(() => makeBatchLoader(train, bos, 0, 4, { seed: 1 })).toThrow(/batch size/);
  });
});

describe("evaluateBpb", () => {
  const ds = openDataset(fresh());
  const V = ds.manifest.vocabSize;
  const opts = { evalTokens: 2048, seqLen: 64, batchSize: 4 };

  it("gives exactly log2(V) · tokens / bytes for uniform logits", () => {
    const r = evaluateBpb(uniformModel(V), ds, opts);
    // Recount the scored targets independently from the packed batches.
    const loader = makeBatchLoader(ds.split("val"), ds.manifest.bosId, 4, 64, { seed: null });
    let tokens = 0;
    let bytes = 0;
    for (let s = 0; s < r.tokens / 256; s++)
      for (const t of loader.next().y.toArray()) {
        const b = tokenByteLength(t, V);
        if (b > 0) {
          tokens++;
          bytes += b;
        }
      }
    expect(r.bytes).toBe(bytes);
    expect(r.bpb).toBeCloseTo((Math.log2(V) * tokens) / bytes, 5);
  });

  it("does not depend on the evaluation batch size (when the split covers evalTokens)", () => {
    const within = { ...opts, evalTokens: 1024 };
    expect(ds.split("val").length).toBeGreaterThan(1024);
    const a = evaluateBpb(uniformModel(V), ds, { ...within, batchSize: 4 });
    const b = evaluateBpb(uniformModel(V), ds, { ...within, batchSize: 2 });
    expect(b.tokens).toBe(a.tokens);
    expect(b.bpb).toBeCloseTo(a.bpb, 6);
  });

  it("ignores any loss the model computes itself", () => {
    const liar = uniformModel(V, { loss: () => 0, valBpb: 0.01 } as Partial<TrainedModel>);
    expect(evaluateBpb(liar, ds, opts).bpb).toBe(evaluateBpb(uniformModel(V), ds, opts).bpb);
  });

  it("scores a model that predicts the data better than uniform", () => {
    // The tiny data's rule: next = (7 t + 3) mod (V - 4) with probability 0.9.
    const normal = V - 4;
    const rule: TrainedModel = {
      logits: (idx) => {
        const ids = idx.toArray();
        const out = new Float32Array(ids.length * V);
        ids.forEach((t, i) => {
          if (t < normal) out[i * V + ((t * 7 + 3) % normal)] = 5;
        });
        return ops.reshape(tensor(out), [...idx.shape, V]);
      },
      numParams: 0,
      flopsPerToken: 0,
      depth: 0,
    };
    expect(evaluateBpb(rule, ds, opts).bpb).toBeLessThan(0.5 * evaluateBpb(uniformModel(V), ds, opts).bpb);
  });

  it("rejects logits of the wrong shape with a message naming both shapes", () => {
    const bad: TrainedModel = { ...uniformModel(V), logits: (idx) => zeros([...idx.shape, V - 1]) };
    expect(() => evaluateBpb(bad, ds, opts)).toThrow(/returned shape \[4, 64, 63\]; the harness needs \[4, 64, 64\]/);
  });

  it("needs at least one batch of validation tokens", () => {
    expect(() => evaluateBpb(uniformModel(V), ds, { ...opts, seqLen: 4096, batchSize: 8 })).toThrow(/fewer than one evaluation batch/);
  });
});
