/**
 * Writes a small synthetic prepared dataset (the `nightshift prepare` format, see
 * DatasetManifest) for tests: documents follow a learnable rule (each token mostly determines
 * the next), so a model trained for seconds beats the uniform baseline. Not a real tokenizer:
 * tokenizer.json is a placeholder, token byte lengths cycle 1..3 so bpb weighting is exercised.
 */
import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { DatasetManifest, ShardInfo, SplitInfo, SplitName } from "../../src/harness/types.ts";
import { seededRandom } from "./random.ts";

export interface TinyDatasetOptions {
  /** Vocabulary including the 4 special tokens at the end (default 64). */
  vocabSize?: number;
  /** Documents per split (default train 400, val 60, test 60). */
  docs?: Partial<Record<SplitName, number>>;
  seed?: number;
}

export function tokenByteLength(id: number, vocabSize: number): number {
  return id >= vocabSize - 4 ? 0 : 1 + (id % 3);
}

export function writeTinyDataset(dir: string, options: TinyDatasetOptions = {}): DatasetManifest {
  const V = options.vocabSize ?? 64;
  const bosId = V - 4;
  const normal = V - 4;
  const rand = seededRandom(options.seed ?? 7);
  const counts: Record<SplitName, number> = { train: 400, val: 60, test: 60, ...options.docs };
  mkdirSync(dir, { recursive: true });
  const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
  const write = (file: string, data: Uint8Array) => {
    writeFileSync(join(dir, file), data);
    return sha(data);
  };

  const splits = {} as Record<SplitName, SplitInfo>;
  for (const name of ["train", "val", "test"] as const) {
    const tokens: number[] = [];
    let bytes = 0;
    for (let d = 0; d < counts[name]; d++) {
      const len = 5 + Math.floor(rand() * 60);
      let t = Math.floor(rand() * normal);
      tokens.push(bosId);
      for (let i = 0; i < len; i++) {
        tokens.push(t);
        bytes += tokenByteLength(t, V);
        t = rand() < 0.9 ? (t * 7 + 3) % normal : Math.floor(rand() * normal);
      }
    }
    const data = new Uint8Array(Uint16Array.from(tokens).buffer);
    const file = `${name}-00000.bin`;
    const shard: ShardInfo = { file, sha256: write(file, data), tokens: tokens.length, docs: counts[name] };
    splits[name] = { shards: [shard], tokens: tokens.length, docs: counts[name], bytes };
  }
  const tokenBytes = Int32Array.from({ length: V }, (_, id) => tokenByteLength(id, V));
  const manifest: DatasetManifest = {
    formatVersion: 1,
    id: "tiny",
    vocabSize: V,
    bosId,
    tokenDType: "uint16",
    tokenizer: { file: "tokenizer.json", sha256: write("tokenizer.json", new TextEncoder().encode('{"placeholder":true}')) },
    tokenBytes: { file: "token_bytes.bin", sha256: write("token_bytes.bin", new Uint8Array(tokenBytes.buffer)) },
    splits,
    sources: [{ name: "synthetic", docs: counts.train + counts.val + counts.test, bytes: 0 }],
    createdAt: new Date(0).toISOString(),
  };
  writeFileSync(join(dir, "manifest.json"), JSON.stringify(manifest, null, 2));
  return manifest;
}
