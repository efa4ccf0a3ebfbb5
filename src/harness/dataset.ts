/**
 * Reading a prepared dataset directory (written by `nightshift prepare`): manifest.json, the
 * token shards of each split and the per-token byte lengths. Every file is checked against the
 * manifest (sizes always, SHA-256 on request) so a corrupt or partial cache is reported, never
 * trained on. Read-only: this module never writes a dataset.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { DatasetManifest, SplitName } from "./types.ts";
import { CodedError } from "../util/errors.ts";

export type DatasetErrorCode = "DATASET_MISSING" | "DATASET_CORRUPT" | "DATASET_UNSUPPORTED";

export class DatasetError extends CodedError<DatasetErrorCode> {}

export type TokenArray = Uint16Array | Uint32Array;

export interface Dataset {
  dir: string;
  manifest: DatasetManifest;
  /** UTF-8 byte length per token id; 0 for special tokens. */
  tokenBytes: Int32Array;
  /** All tokens of a split, shards concatenated; each document starts with manifest.bosId. */
  split(name: SplitName): TokenArray;
}

export interface OpenDatasetOptions {
  /** Also check every file's SHA-256 (slower); sizes are always checked. */
  verify?: boolean;
  /**
   * Which files to read: "all" (default); "train", the train split alone (what a training
   * process gets: no tokenizer, no byte lengths, nothing held out); "held-out", val and test
   * with the token byte lengths (what the trusted evaluator needs).
   */
  part?: "all" | "train" | "held-out";
}

const PART_SPLITS: Record<NonNullable<OpenDatasetOptions["part"]>, readonly SplitName[]> = {
  all: ["train", "val", "test"],
  train: ["train"],
  "held-out": ["val", "test"],
};

export function openDataset(dir: string, options: OpenDatasetOptions = {}): Dataset {
  const manifestPath = join(dir, "manifest.json");
  if (!existsSync(manifestPath))
    throw new DatasetError(
      "DATASET_MISSING",
      `no prepared dataset at ${dir} (manifest.json missing): run \`nightshift prepare\` first`,
    );
  let manifest: DatasetManifest;
  try {
    manifest = JSON.parse(readFileSync(manifestPath, "utf8")) as DatasetManifest;
  } catch (err) {
    throw new DatasetError("DATASET_CORRUPT", `${manifestPath} is not valid JSON (${(err as Error).message}): run \`nightshift prepare\` to rebuild`);
  }
  if (manifest.formatVersion !== 1)
    throw new DatasetError(
      "DATASET_UNSUPPORTED",
      `${manifestPath} has format version ${String(manifest.formatVersion)}; this nightshift reads version 1: run \`nightshift prepare\``,
    );
  const width = manifest.tokenDType === "uint32" ? 4 : 2;

  const readChecked = (file: string, sha256: string, expectedBytes: number | null): Buffer => {
    const path = join(dir, file);
    if (!existsSync(path))
      throw new DatasetError("DATASET_CORRUPT", `dataset file ${path} is missing: run \`nightshift prepare\` to rebuild`);
    const size = statSync(path).size;
    if (expectedBytes !== null && size !== expectedBytes)
      throw new DatasetError(
        "DATASET_CORRUPT",
        `dataset file ${path} has ${size} bytes, the manifest says ${expectedBytes}: run \`nightshift prepare\` to rebuild`,
      );
    const data = readFileSync(path);
    if (options.verify && createHash("sha256").update(data).digest("hex") !== sha256)
      throw new DatasetError("DATASET_CORRUPT", `dataset file ${path} does not match its SHA-256: run \`nightshift prepare\` to rebuild`);
    return data;
  };

  const part = options.part ?? "all";
  let tokenBytes: Int32Array = new Int32Array(0);
  if (part !== "train") {
    const tb = readChecked(manifest.tokenBytes.file, manifest.tokenBytes.sha256, manifest.vocabSize * 4);
    tokenBytes = new Int32Array(tb.buffer.slice(tb.byteOffset, tb.byteOffset + tb.byteLength));
  }
  if (part === "all") readChecked(manifest.tokenizer.file, manifest.tokenizer.sha256, null);

  const splits = new Map<SplitName, TokenArray>();
  for (const name of PART_SPLITS[part]) {
    const info = manifest.splits[name];
    const total = info.shards.reduce((n, s) => n + s.tokens, 0);
    const out = width === 4 ? new Uint32Array(total) : new Uint16Array(total);
    let at = 0;
    for (const shard of info.shards) {
      const buf = readChecked(shard.file, shard.sha256, shard.tokens * width);
      // A copy: small files come from Node's shared pool at offsets typed arrays may not use.
      const bytes = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
      const view = width === 4 ? new Uint32Array(bytes) : new Uint16Array(bytes);
      out.set(view, at);
      at += shard.tokens;
    }
    if (total > 0 && out[0] !== manifest.bosId)
      throw new DatasetError("DATASET_CORRUPT", `split ${name} of ${dir} does not start with BOS: run \`nightshift prepare\` to rebuild`);
    splits.set(name, out);
  }
  return {
    dir,
    manifest,
    tokenBytes,
    split: (name) => {
      const tokens = splits.get(name);
      if (!tokens) throw new DatasetError("DATASET_MISSING", `split ${name} of ${dir} was not opened (part "${part}")`);
      return tokens;
    },
  };
}
