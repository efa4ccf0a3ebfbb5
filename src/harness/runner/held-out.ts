/**
 * The trusted side's evaluation data: the validation (and, for a verified winner, test)
 * batches, their targets and the token byte lengths, checked against the hashes `prepare`
 * wrote before every evaluation. Loaded in the runner's process only; a child never gets them.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { PROFILES, type Profile } from "../constants.ts";
import { verifyHeldOutData } from "../data/integrity.ts";
import { openDataset } from "../dataset.ts";
import { EVAL_BATCH_SIZE } from "../evaluate.ts";
import { type EvalBatch, type EvalShape, evaluationBatches } from "../evaluation/score.ts";
import type { DatasetManifest } from "../types.ts";

export interface HeldOutData {
  manifest: DatasetManifest;
  shape: EvalShape;
  tokenBytes: Int32Array;
  val: EvalBatch[];
  /** The test batches, built on first use (only a verified winner is scored on test). */
  test(): EvalBatch[];
}

/** The last data loaded: a loop evaluates hundreds of runs on one dataset. */
let cached: { key: string; data: HeldOutData } | null = null;

/**
 * The evaluation batches of `datasetDir` for `profile`. Throws DatasetError when a held-out
 * file does not match its hash (the run says nothing about train.ts then).
 */
export function loadHeldOutData(datasetDir: string, profile: Profile): HeldOutData {
  // Every run: the files still match the manifest's hashes (cheap while they are unchanged).
  verifyHeldOutData(datasetDir);
  const { evalTokens, maxSeqLen } = PROFILES[profile];
  // The manifest names every file's hash: unchanged manifest + verified files = the same data.
  const manifestText = readFileSync(join(datasetDir, "manifest.json"), "utf8");
  const key = JSON.stringify([datasetDir, manifestText, evalTokens, maxSeqLen]);
  if (cached?.key === key) return cached.data;
  const dataset = openDataset(datasetDir, { part: "held-out" });
  const { manifest } = dataset;
  const shape = { batchSize: EVAL_BATCH_SIZE, seqLen: maxSeqLen, vocabSize: manifest.vocabSize };
  const batches = (split: "val" | "test"): EvalBatch[] =>
    evaluationBatches(dataset.split(split), manifest.bosId, split, evalTokens, shape);
  let test: EvalBatch[] | null = null;
  const data = { manifest, shape, tokenBytes: dataset.tokenBytes, val: batches("val"), test: () => (test ??= batches("test")) };
  cached = { key, data };
  return data;
}
