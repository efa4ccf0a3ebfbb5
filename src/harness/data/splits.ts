/**
 * The train / val / test split, decided per DOCUMENT by a hash of its text, so it depends only
 * on which documents exist — never on file order, argument order or load order — and a
 * document never straddles two splits (identical documents always land together).
 *
 * Rule (SPLIT_RULE_VERSION 1): u = the first 48 bits of SHA-256(text) as a fraction in [0, 1).
 * test when u >= 1 - TEST_FRACTION; val when u < valFraction; train otherwise. valFraction is
 * 5%, raised (up to 10%) when 5% of the corpus would hold fewer than the profile's EVAL_TOKENS:
 * tokens are not known before the tokenizer exists, so the corpus bytes are converted with a
 * deliberately high SIZING_BYTES_PER_TOKEN, erring toward a larger val. Within each split,
 * documents are ordered by hash: a fixed, well-mixed order (the evaluator scores a prefix of
 * val, and the embedded corpus would otherwise come speech by speech, in time order).
 *
 * Must not read files or tokenize.
 */
import { createHash } from "node:crypto";
import type { SplitName } from "../types.ts";
import { DataError } from "./errors.ts";

/** Bump when anything below changes which split a document lands in, or the order within a split. */
export const SPLIT_RULE_VERSION = 1;
export const TEST_FRACTION = 0.05;
export const MIN_VAL_FRACTION = 0.05;
export const MAX_VAL_FRACTION = 0.1;
/**
 * Bytes per token assumed when sizing val before the tokenizer is trained. English BPE at
 * 4k-8k vocab gives ~4.0-4.5 bytes per token; a higher figure makes val larger, never too small.
 */
export const SIZING_BYTES_PER_TOKEN = 5;

export interface Document {
  text: string;
  /** SHA-256 of the UTF-8 text. */
  digest: Buffer;
  /** The digest's first 48 bits as a fraction in [0, 1). */
  unit: number;
  /** UTF-8 bytes of the text. */
  bytes: number;
}

export function makeDocument(text: string): Document {
  const utf8 = Buffer.from(text, "utf8");
  const digest = createHash("sha256").update(utf8).digest();
  return { text, digest, unit: digest.readUIntBE(0, 6) / 2 ** 48, bytes: utf8.byteLength };
}

export interface SplitPlan {
  valFraction: number;
  testFraction: number;
  /** Tokens the val split should hold (the profile's EVAL_TOKENS). */
  targetValTokens: number;
  /** True when even MAX_VAL_FRACTION of the corpus is estimated to fall short of targetValTokens. */
  valLikelyShort: boolean;
}

/** The val fraction for a corpus of totalBytes that should yield evalTokens validation tokens. */
export function planSplits(totalBytes: number, evalTokens: number): SplitPlan {
  const needed = totalBytes > 0 ? (evalTokens * SIZING_BYTES_PER_TOKEN) / totalBytes : Infinity;
  // Rounded up to 1e-4 so the recorded fraction is exact and readable.
  const valFraction = Math.min(MAX_VAL_FRACTION, Math.max(MIN_VAL_FRACTION, Math.ceil(needed * 1e4) / 1e4));
  return { valFraction, testFraction: TEST_FRACTION, targetValTokens: evalTokens, valLikelyShort: needed > MAX_VAL_FRACTION };
}

export function splitOf(unit: number, plan: SplitPlan): SplitName {
  if (unit >= 1 - plan.testFraction) return "test";
  if (unit < plan.valFraction) return "val";
  return "train";
}

const byDigest = (a: Document, b: Document): number => Buffer.compare(a.digest, b.digest);

/**
 * Splits the documents by the plan, each split ordered by digest. So that val and test are never
 * empty, the document with the lowest hash is always val and the one with the highest always
 * test (this only matters for tiny corpora, and is still a function of the document set alone).
 */
export function assignSplits(documents: readonly Document[], plan: SplitPlan): Record<SplitName, Document[]> {
  if (documents.length < 3)
    throw new DataError(
      "DATA_TOO_FEW_DOCUMENTS",
      `only ${documents.length} document(s): a train, a val and a test split need at least 3 (and a useful run far more); add data`,
    );
  const sorted = [...documents].sort(byDigest);
  const splits: Record<SplitName, Document[]> = { train: [], val: [], test: [] };
  const last = sorted.length - 1;
  sorted.forEach((doc, rank) => {
    let split = splitOf(doc.unit, plan);
    // Sorting by digest sorts by unit: rank 0 has the lowest, rank `last` the highest.
    if (rank === 0 && split === "train") split = "val";
    if (rank === last && split === "train") split = "test";
    splits[split].push(doc);
  });
  const empty = (Object.keys(splits) as SplitName[]).filter((name) => splits[name].length === 0);
  if (empty.length > 0)
    throw new DataError(
      "DATA_TOO_FEW_DOCUMENTS",
      `only ${documents.length} document(s), and the ${empty.join(" and ")} split would be empty; add data`,
    );
  return splits;
}
