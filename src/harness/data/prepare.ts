/**
 * `prepare`: the one-time data preparation behind `nightshift prepare` (autoresearch's
 * prepare.py, offline). Sources (the embedded corpus, or --data files) -> documents -> a
 * per-document hash split (train / pinned val / held-out test) -> a BPE tokenizer trained on
 * train only -> token shards, token byte lengths and manifest.json in
 * `<datasetsDir>/<id>/`, where id hashes everything the dataset is built from. Re-running with
 * the same inputs finds the finished dataset by its id and does nothing; a damaged one is
 * reported and rebuilt. Builds happen in `<id>.tmp-<pid>/` and are renamed into place, the
 * manifest written last, so a dataset directory with a manifest is always complete.
 *
 * Usage (the CLI wraps exactly this):
 *   await prepare({ profile: "cpu" });                              // embedded corpus, vocab 4096
 *   await prepare({ profile: "gpu", data: ["~/corpus/"], verify: true });
 *
 * Must not train models or read datasets for training (dataset.ts does that).
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { unknownOption } from "../../util/suggest.ts";
import { PROFILES, type Profile } from "../constants.ts";
import { Tokenizer } from "../tokenizer.ts";
import { datasetsDir, nightshiftHome } from "../paths.ts";
import type { DatasetManifest, SplitInfo, SplitName } from "../types.ts";
import {
  DEFAULT_MAX_SHARD_TOKENS,
  LATEST_FILE,
  MANIFEST_FILE,
  REPORT_FILE,
  SPLIT_NAMES,
  SplitShardWriter,
  TOKEN_BYTES_FILE,
  checkDataset,
  removeAbandonedBuilds,
  tokenDTypeFor,
  writeHashedFile,
  writeInt32File,
  writeLatest,
} from "./cache.ts";
import { DataError } from "./errors.ts";
import { type Progress, createProgress, formatBytes, formatCount, formatSeconds, progressMode } from "./progress.ts";
import { type DataSource, resolveSources } from "./sources.ts";
import { type Document, SPLIT_RULE_VERSION, type SplitPlan, assignSplits, makeDocument, planSplits } from "./splits.ts";

/** Bump when prepare's own output changes (shard layout, tokenizer text caps, file set). */
export const PREPARE_RULES_VERSION = 1;
/** Tokenizer training sees at most this many characters of each document (autoresearch: 10,000)... */
export const TOKENIZER_DOC_CHARS = 10_000;
/** ...and at most this many characters in all (autoresearch: 1e9). */
export const TOKENIZER_MAX_CHARS = 1_000_000_000;
/** Documents per encodeBatch call: large enough to amortize the call, small enough for smooth progress. */
const ENCODE_BATCH_DOCS = 2048;

// ---- the tokenizer, as prepare needs it --------------------------------------------------------

/** The part of the harness tokenizer (src/harness/tokenizer.ts) that prepare uses. */
export interface PrepareTokenizer {
  readonly vocabSize: number;
  readonly bosId: number;
  encodeBatch(texts: string[], options: { prependBos: boolean }): Int32Array[];
  /** UTF-8 byte length of every token id, 0 for special tokens. */
  tokenBytes(): Int32Array;
  save(file: string): void;
}

/** How prepare gets a tokenizer: the real BPE trainer by default, a stand-in in tests. */
export interface TokenizerTrainer {
  /** Identifies the implementation in the dataset id: datasets of different tokenizers never mix. */
  name: string;
  /** File name the tokenizer is saved under inside the dataset directory. */
  fileName: string;
  train(texts: Iterable<string>, vocabSize: number): PrepareTokenizer | Promise<PrepareTokenizer>;
}

/**
 * The harness BPE tokenizer. Its name goes into the dataset id: change it (v2, ...) whenever
 * Tokenizer.train starts producing different tokenizers for the same text, so old datasets are
 * not reused with a new tokenizer.
 */
export const harnessTokenizerTrainer: TokenizerTrainer = {
  name: "nightshift-bpe-v1",
  fileName: "tokenizer.json",
  train: (texts, vocabSize) => Tokenizer.train(texts, vocabSize),
};

// ---- options -------------------------------------------------------------------------------

export interface PrepareOptions {
  /** The profile whose constants apply: its VOCAB_SIZE is the default vocab, its EVAL_TOKENS sizes val. */
  profile: Profile;
  /** Tokenizer vocabulary, special tokens included (default: the profile's VOCAB_SIZE). */
  vocabSize?: number;
  /** Files or directories of .txt / .jsonl / .parquet; absent: the embedded corpus. */
  data?: string[];
  /** The nightshift home (default: $NIGHTSHIFT_HOME or ~/.cache/nightshift). */
  home?: string;
  /** Check every file's SHA-256 before reusing an existing dataset (default: sizes only). */
  verify?: boolean;
  /** Rebuild even when a valid dataset with the same id exists. */
  force?: boolean;
  /** No progress and no summary. */
  quiet?: boolean;
  /** At most this many documents from each source: quick trials and tests. Part of the id. */
  maxDocs?: number;
  /** At most this many tokens per shard file (default 16Mi). Part of the id. */
  maxShardTokens?: number;
  /** The tokenizer trainer (default: the harness BPE tokenizer). */
  tokenizer?: TokenizerTrainer;
  /** Where summary lines go (default: stdout). */
  print?: (line: string) => void;
  /** Where progress lines go when stderr is not a terminal (default: stderr). */
  log?: (line: string) => void;
}

export interface PrepareResult {
  dir: string;
  manifest: DatasetManifest;
  /** True when an existing dataset was found valid and nothing was written. */
  reused: boolean;
  /** Things the user should know (a val split smaller than EVAL_TOKENS, ...), also in prepare.json. */
  warnings: string[];
}

const OPTION_KEYS = ["profile", "vocabSize", "data", "home", "verify", "force", "quiet", "maxDocs", "maxShardTokens", "tokenizer", "print", "log"] as const;

function invalid(message: string): DataError {
  return new DataError("DATA_INVALID_OPTION", message);
}

function checkOptions(options: PrepareOptions): void {
  if (typeof options !== "object" || options === null) throw invalid("prepare needs an options object");
  const problem = unknownOption(options, OPTION_KEYS);
  if (problem) throw invalid(problem);
  if (!(options.profile in PROFILES)) throw invalid(`unknown profile '${String(options.profile)}': use ${Object.keys(PROFILES).join(" or ")}`);
  const positiveInt = (name: string, value: unknown, min: number): void => {
    if (value === undefined) return;
    if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > 2 ** 31 - 1)
      throw invalid(`${name} must be an integer from ${min} to 2^31-1, got ${String(value)}`);
  };
  // 256 byte tokens plus a few specials is the smallest vocabulary a byte-level BPE can have.
  positiveInt("vocabSize", options.vocabSize, 260);
  positiveInt("maxDocs", options.maxDocs, 1);
  positiveInt("maxShardTokens", options.maxShardTokens, 1);
  if (options.data !== undefined) {
    if (!Array.isArray(options.data) || options.data.length === 0)
      throw invalid("data must list at least one file or directory (leave it out for the embedded corpus)");
    for (const path of options.data) if (typeof path !== "string" || path.length === 0) throw invalid(`data paths must be non-empty strings, got ${JSON.stringify(path)}`);
  }
}

// ---- the dataset id ----------------------------------------------------------------------------

interface IdInputs {
  sources: readonly DataSource[];
  vocabSize: number;
  evalTokens: number;
  maxShardTokens: number;
  tokenizerName: string;
}

/** A short hash of everything that determines the dataset's content (not of paths or argument order). */
export function datasetId(inputs: IdInputs): string {
  const key = {
    prepare: PREPARE_RULES_VERSION,
    splitRule: SPLIT_RULE_VERSION,
    sources: inputs.sources.map((s) => s.fingerprint).sort(),
    vocabSize: inputs.vocabSize,
    evalTokens: inputs.evalTokens,
    maxShardTokens: inputs.maxShardTokens,
    tokenizer: inputs.tokenizerName,
    tokenizerText: [TOKENIZER_DOC_CHARS, TOKENIZER_MAX_CHARS],
  };
  return createHash("sha256").update(JSON.stringify(key)).digest("hex").slice(0, 16);
}

// ---- prepare -------------------------------------------------------------------------------

interface BuildReport {
  id: string;
  profile: Profile;
  tokenizer: string;
  splitRule: { version: number; valFraction: number; testFraction: number; targetValTokens: number };
  sources: { name: string; fingerprint: string; docs: number; bytes: number }[];
  warnings: string[];
  seconds: { read: number; tokenizer: number; encode: number; total: number };
}

export async function prepare(options: PrepareOptions): Promise<PrepareResult> {
  const started = performance.now();
  checkOptions(options);
  const constants = PROFILES[options.profile];
  const vocabSize = options.vocabSize ?? constants.vocabSize;
  const maxShardTokens = options.maxShardTokens ?? DEFAULT_MAX_SHARD_TOKENS;
  const root = datasetsDir(options.home ?? nightshiftHome());
  const progress = createProgress(progressMode(options.quiet ?? false), options.log);
  const print = options.quiet ? () => {} : (options.print ?? ((line: string) => console.log(line)));

  mkdirSync(root, { recursive: true });
  for (const name of removeAbandonedBuilds(root)) progress.note(`removed an abandoned partial build ${join(root, name)} (its process is gone)`);

  const trainer = options.tokenizer ?? harnessTokenizerTrainer;
  const sources = await resolveSources(options.data, options.maxDocs);
  for (const source of sources)
    if (source.skipped.length > 0)
      progress.note(`skipped ${source.skipped.length} file(s) of other types under ${source.name} (e.g. ${source.skipped.slice(0, 3).join(", ")})`);

  const id = datasetId({ sources, vocabSize, evalTokens: constants.evalTokens, maxShardTokens, tokenizerName: trainer.name });
  const dir = join(root, id);
  const latestEntry = () => ({ id, vocabSize, preparedAt: new Date().toISOString() });

  if (existsSync(dir) && !options.force) {
    const check = await checkDataset(dir, id, options.verify ?? false);
    if (check.ok) {
      writeLatest(root, options.profile, latestEntry());
      const warnings = recordedWarnings(dir);
      printSummary(print, options.profile, dir, check.manifest, warnings, `already prepared: reused after checking ${options.verify ? "every SHA-256" : "file sizes"} in ${formatSeconds((performance.now() - started) / 1000)}`);
      return { dir, manifest: check.manifest, reused: true, warnings };
    }
    progress.note(`dataset ${id} at ${dir} is damaged: ${check.problem}; rebuilding it`);
  }

  const tmp = join(root, `${id}.tmp-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  let report: BuildReport;
  let manifest: DatasetManifest;
  try {
    ({ manifest, report } = await build({ id, tmp, sources, vocabSize, maxShardTokens, trainer, progress, profile: options.profile, started }));
    const installed = await install(root, tmp, dir, id);
    if (installed !== null) {
      // Another prepare finished the same dataset first: use that one.
      writeLatest(root, options.profile, latestEntry());
      return { dir, manifest: installed, reused: true, warnings: recordedWarnings(dir) };
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  writeLatest(root, options.profile, latestEntry());
  printSummary(print, options.profile, dir, manifest, report.warnings, `prepared in ${formatSeconds(report.seconds.total)} (read ${formatSeconds(report.seconds.read)}, tokenizer ${formatSeconds(report.seconds.tokenizer)}, encode ${formatSeconds(report.seconds.encode)})`);
  return { dir, manifest, reused: false, warnings: report.warnings };
}

interface BuildInputs {
  id: string;
  tmp: string;
  sources: readonly DataSource[];
  vocabSize: number;
  maxShardTokens: number;
  trainer: TokenizerTrainer;
  progress: Progress;
  profile: Profile;
  started: number;
}

async function build(inputs: BuildInputs): Promise<{ manifest: DatasetManifest; report: BuildReport }> {
  const { tmp, progress, vocabSize } = inputs;
  const constants = PROFILES[inputs.profile];
  const warnings: string[] = [];

  // 1. Documents.
  const readStart = performance.now();
  const documents: Document[] = [];
  const sourceStats: BuildReport["sources"] = [];
  const reading = progress.task("reading sources", inputs.sources.length, "sources");
  for (const source of inputs.sources) {
    const texts = await source.load();
    let bytes = 0;
    for (const text of texts) {
      const doc = makeDocument(text);
      bytes += doc.bytes;
      documents.push(doc);
    }
    sourceStats.push({ name: source.name, fingerprint: source.fingerprint, docs: texts.length, bytes });
    reading.advance(1);
  }
  reading.done();
  if (documents.length === 0)
    throw new DataError(
      "DATA_NO_DOCUMENTS",
      `no usable documents in ${inputs.sources.map((s) => s.name).join(", ") || "the given data"} (every file is empty or whitespace); check the files you passed to --data`,
    );
  const totalBytes = sourceStats.reduce((n, s) => n + s.bytes, 0);
  const plan: SplitPlan = planSplits(totalBytes, constants.evalTokens);
  const splits = assignSplits(documents, plan);
  documents.length = 0;
  const readSeconds = (performance.now() - readStart) / 1000;

  // 2. Tokenizer, trained on train only.
  const tokenizerStart = performance.now();
  const trainText = tokenizerTrainingText(splits.train);
  progress.note(`training the tokenizer (vocab ${vocabSize}) on ${formatCount(splits.train.length)} train documents...`);
  const tokenizer = await inputs.trainer.train(trainText, vocabSize);
  const tokenizerSeconds = (performance.now() - tokenizerStart) / 1000;
  progress.note(`tokenizer trained in ${formatSeconds(tokenizerSeconds)}`);
  if (tokenizer.vocabSize !== vocabSize)
    warnings.push(`the tokenizer has ${tokenizer.vocabSize} tokens, not the ${vocabSize} asked for (the training text ran out of pairs to merge)`);
  const tokenBytes = tokenizer.tokenBytes();
  if (tokenBytes.length !== tokenizer.vocabSize)
    throw new Error(`tokenizer.tokenBytes() has ${tokenBytes.length} entries for a vocabulary of ${tokenizer.vocabSize}`);

  // 3. Shards.
  const encodeStart = performance.now();
  const dtype = tokenDTypeFor(tokenizer.vocabSize);
  const totalSplitBytes = SPLIT_NAMES.reduce((n, name) => n + splitBytes(splits[name]), 0);
  const encoding = progress.task("encoding + writing", totalSplitBytes, "bytes");
  const splitInfos = {} as Record<SplitName, SplitInfo>;
  for (const name of SPLIT_NAMES) {
    const docs = splits[name];
    const writer = new SplitShardWriter(tmp, name, dtype, inputs.maxShardTokens);
    for (let start = 0; start < docs.length; start += ENCODE_BATCH_DOCS) {
      const batch = docs.slice(start, start + ENCODE_BATCH_DOCS);
      const encoded = tokenizer.encodeBatch(
        batch.map((d) => d.text),
        { prependBos: true },
      );
      checkEncoded(encoded, batch.length, tokenizer.bosId, tokenizer.vocabSize);
      writer.write(encoded);
      encoding.advance(splitBytes(batch));
      // Let the progress bar redraw between batches (encodeBatch itself is synchronous).
      await new Promise((resolve) => setImmediate(resolve));
    }
    const shards = writer.finish();
    splitInfos[name] = {
      shards,
      tokens: shards.reduce((n, s) => n + s.tokens, 0),
      docs: shards.reduce((n, s) => n + s.docs, 0),
      bytes: splitBytes(docs),
    };
  }
  encoding.done();
  if (splitInfos.val.tokens < constants.evalTokens)
    warnings.push(
      `val has ${formatCount(splitInfos.val.tokens)} tokens, fewer than the ${inputs.profile} profile's EVAL_TOKENS (${formatCount(constants.evalTokens)}): evaluation scores all of val; pass more data with --data for a full-size evaluation`,
    );

  tokenizer.save(join(tmp, inputs.trainer.fileName));
  const tokenizerSha = createHash("sha256").update(readFileSync(join(tmp, inputs.trainer.fileName))).digest("hex");
  const tokenBytesSha = writeInt32File(join(tmp, TOKEN_BYTES_FILE), tokenBytes);
  const encodeSeconds = (performance.now() - encodeStart) / 1000;

  const report: BuildReport = {
    id: inputs.id,
    profile: inputs.profile,
    tokenizer: inputs.trainer.name,
    splitRule: { version: SPLIT_RULE_VERSION, valFraction: plan.valFraction, testFraction: plan.testFraction, targetValTokens: plan.targetValTokens },
    sources: sourceStats,
    warnings,
    seconds: {
      read: roundMs(readSeconds),
      tokenizer: roundMs(tokenizerSeconds),
      encode: roundMs(encodeSeconds),
      total: roundMs((performance.now() - inputs.started) / 1000),
    },
  };
  writeHashedFile(join(tmp, REPORT_FILE), Buffer.from(`${JSON.stringify(report, null, 2)}\n`));

  const manifest: DatasetManifest = {
    formatVersion: 1,
    id: inputs.id,
    vocabSize: tokenizer.vocabSize,
    bosId: tokenizer.bosId,
    tokenDType: dtype,
    tokenizer: { file: inputs.trainer.fileName, sha256: tokenizerSha },
    tokenBytes: { file: TOKEN_BYTES_FILE, sha256: tokenBytesSha },
    splits: splitInfos,
    sources: sourceStats.map(({ name, docs, bytes }) => ({ name, docs, bytes })),
    createdAt: new Date().toISOString(),
  };
  // Last: a directory with a manifest is a complete dataset.
  writeFileSync(join(tmp, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
  return { manifest, report };
}

const roundMs = (seconds: number): number => Math.round(seconds * 1000) / 1000;

function splitBytes(docs: readonly Document[]): number {
  let bytes = 0;
  for (const d of docs) bytes += d.bytes;
  return bytes;
}

/** The train documents as the tokenizer sees them: each capped, the total capped (autoresearch's text_iterator). */
function* tokenizerTrainingText(train: readonly Document[]): Generator<string> {
  let chars = 0;
  for (const doc of train) {
    const text = doc.text.length > TOKENIZER_DOC_CHARS ? doc.text.slice(0, TOKENIZER_DOC_CHARS) : doc.text;
    yield text;
    chars += text.length;
    if (chars >= TOKENIZER_MAX_CHARS) return;
  }
}

/** Every document must start with BOS, hold no other BOS (BOS marks boundaries) and stay inside the vocabulary. */
function checkEncoded(encoded: readonly Int32Array[], expected: number, bosId: number, vocabSize: number): void {
  if (encoded.length !== expected) throw new Error(`encodeBatch returned ${encoded.length} documents for ${expected} texts`);
  for (const ids of encoded) {
    if (ids[0] !== bosId) throw new Error(`encodeBatch did not prepend BOS (${bosId}); got ${String(ids[0])}`);
    for (let i = 1; i < ids.length; i++) {
      const id = ids[i]!;
      if (id === bosId || id < 0 || id >= vocabSize) throw new Error(`encodeBatch produced token ${id} inside a document (bos ${bosId}, vocab ${vocabSize})`);
    }
  }
}

/**
 * Moves the finished build into place. Returns null when installed, or the manifest of an
 * identical dataset another prepare installed meanwhile.
 */
async function install(root: string, tmp: string, dir: string, id: string): Promise<DatasetManifest | null> {
  if (existsSync(dir)) {
    // A damaged dataset (or --force): move it aside first, so `dir` is never half old, half new.
    const stale = join(root, `${id}.stale-${process.pid}`);
    rmSync(stale, { recursive: true, force: true });
    renameSync(dir, stale);
    rmSync(stale, { recursive: true, force: true });
  }
  try {
    renameSync(tmp, dir);
    return null;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== "ENOTEMPTY" && code !== "EEXIST") throw err;
    const check = await checkDataset(dir, id, true);
    if (check.ok) return check.manifest;
    throw new Error(`cannot install dataset ${id}: ${dir} appeared during the build and is damaged (${check.problem}); run prepare again`);
  }
}

function recordedWarnings(dir: string): string[] {
  try {
    const report = JSON.parse(readFileSync(join(dir, REPORT_FILE), "utf8")) as Partial<BuildReport>;
    return Array.isArray(report.warnings) ? report.warnings.filter((w): w is string => typeof w === "string") : [];
  } catch {
    return [];
  }
}

function printSummary(print: (line: string) => void, profile: Profile, dir: string, manifest: DatasetManifest, warnings: readonly string[], headline: string): void {
  print(`dataset ${manifest.id}: ${headline}`);
  print(`  dir      ${dir}`);
  print(`  sources  ${manifest.sources.map((s) => `${s.name} (${formatCount(s.docs)} docs, ${formatBytes(s.bytes)})`).join("; ")}`);
  print(`  vocab    ${manifest.vocabSize} (bos ${manifest.bosId}), tokens stored as ${manifest.tokenDType}`);
  print(`  split         docs        tokens        bytes  tokens/byte  shards`);
  for (const name of SPLIT_NAMES) {
    const s = manifest.splits[name];
    // Text tokens only: the BOS in front of each document encodes no byte.
    const ratio = s.bytes > 0 ? ((s.tokens - s.docs) / s.bytes).toFixed(3) : "-";
    print(
      `  ${name.padEnd(6)} ${formatCount(s.docs).padStart(10)} ${formatCount(s.tokens).padStart(13)} ${formatBytes(s.bytes).padStart(12)} ${ratio.padStart(12)} ${String(s.shards.length).padStart(7)}`,
    );
  }
  for (const warning of warnings) print(`  warning: ${warning}`);
  print(`  latest   ${join(dirname(dir), LATEST_FILE)} points \`nightshift train\` (profile ${profile}) here`);
}
