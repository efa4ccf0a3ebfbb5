/**
 * The BPE tokenizer of the harness (autoresearch's prepare.py: rustbpe training + tiktoken
 * encoding): byte-level BPE over text pre-split by the GPT-4-style pattern, 4 special tokens
 * after the merges, BOS = `<|reserved_0|>`. Pre-splitting and validation run here; merge
 * training, encoding and decoding run in native code (native/src/text, one call per batch).
 * Saved as one JSON file; the same training input always gives a byte-identical file.
 * Must not read datasets or know about shards: data prep hands it texts.
 *
 * Usage:
 *   const tok = Tokenizer.train(texts, 4096);  // vocab includes the 4 specials
 *   tok.save("tokenizer.json");
 *   const ids = Tokenizer.load("tokenizer.json").encodeBatch(docs, { prependBos: true });
 */
import { createHash } from "node:crypto";
import { readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { native } from "../engine/native.ts";
import { CodedError } from "../util/errors.ts";

export type TokenizerErrorCode =
  | "INVALID_ARGUMENT" // a text that is not a string, an unknown option, ...
  | "INVALID_VOCAB_SIZE" // not an integer in [MIN_VOCAB_SIZE, MAX_VOCAB_SIZE]
  | "NOT_ENOUGH_DATA" // the training text runs out of pairs before reaching the vocab size
  | "TOO_MANY_CHUNKS" // the training text has more distinct chunks than a JS Map holds (2^24)
  | "INVALID_TOKEN_ID" // decode of an id outside [0, vocabSize)
  | "TOKENIZER_NOT_FOUND" // load of a file that does not exist
  | "TOKENIZER_UNREADABLE" // load or save failed for an I/O reason (permissions, disk)
  | "TOKENIZER_CORRUPT" // load of a truncated, edited or damaged file
  | "TOKENIZER_UNSUPPORTED"; // load of a file from another format version or split pattern

export class TokenizerError extends CodedError<TokenizerErrorCode> {}

/** autoresearch's SPLIT_PATTERN (Rust/Python regex syntax), kept verbatim in saved files. */
export const SPLIT_PATTERN =
  "'(?i:[sdmt]|ll|ve|re)|[^\\r\\n\\p{L}\\p{N}]?+\\p{L}+|\\p{N}{1,2}| ?[^\\s\\p{L}\\p{N}]++[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+";

/**
 * SPLIT_PATTERN as a JS regex. It matches the same chunks:
 * - `(?i:...)`: JS (Node 20) has no inline flag groups, so the case variants are spelled out;
 *   `ſ` (U+017F) is there because Unicode case folding maps it to `s` and Rust's `(?i)` with
 *   Unicode matches it (no other character folds to d, m, t, l, v, e or r).
 * - `[^\r\n\p{L}\p{N}]?+\p{L}+`: the possessive `?+` never changes a match, because the
 *   optional character cannot be a letter: giving it back cannot help `\p{L}+` match.
 * - `[^\s\p{L}\p{N}]++[\r\n]*`: `[\r\n]*` always succeeds, so backtracking into the `++` never
 *   happens; plain `+` matches the same.
 * - `\s` / `\S`: Rust's `\s` is Unicode White_Space; JS's `\s` adds U+FEFF and lacks U+0085, so
 *   the property is written out as `\p{White_Space}`.
 * The alternatives cover every code point (letters, numbers, whitespace, everything else), so
 * the matches tile the text with no gap: every character lands in exactly one chunk.
 */
const SPLIT_SOURCE =
  "'(?:[sdmtSDMT\\u017F]|[lL][lL]|[vV][eE]|[rR][eE])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,2}|" +
  " ?[^\\p{White_Space}\\p{L}\\p{N}]+[\\r\\n]*|\\p{White_Space}*[\\r\\n]|" +
  "\\p{White_Space}+(?!\\P{White_Space})|\\p{White_Space}+";

export const SPECIAL_TOKENS: readonly string[] = Object.freeze([0, 1, 2, 3].map((i) => `<|reserved_${i}|>`));
export const BOS_TOKEN = "<|reserved_0|>";
const BYTE_VOCAB = 256;
/** The smallest vocabulary: the 256 bytes and the special tokens, no merge. */
export const MIN_VOCAB_SIZE = BYTE_VOCAB + SPECIAL_TOKENS.length;
/** A sanity bound: real BPE vocabularies stay under 2^18; training memory grows with the vocab. */
export const MAX_VOCAB_SIZE = 2 ** 20;

const FILE_FORMAT = "nightshift-bpe";
const FILE_VERSION = 1;

/** The slice of the addon this file uses (src/engine/native.ts declares the tensor side). */
interface NativeBpeTokenizer {
  encodeTexts(texts: string[], ends: Uint32Array, chunkCounts: Uint32Array, prependId: number): {
    ids: Int32Array;
    offsets: Int32Array;
  };
  encodeByteChunks(bytes: Uint8Array, ends: Uint32Array): Int32Array;
  decode(ids: Int32Array): Uint8Array;
  tokenBytes(): Int32Array;
}

interface TokenizerNative {
  bpeTrain(chunks: string[], counts: Float64Array, maxMerges: number): Int32Array;
  BpeTokenizer: new (merges: Int32Array, specials: string[]) => NativeBpeTokenizer;
}

const tokenizerNative = native as unknown as TokenizerNative;

// ---- pre-splitting ---------------------------------------------------------------------------

/** A growable list of chunk ends, so a whole batch is split into one typed array. */
class ChunkEnds {
  private buffer = new Uint32Array(1024);
  length = 0;
  push(end: number): void {
    if (this.length === this.buffer.length) {
      const grown = new Uint32Array(this.buffer.length * 2);
      grown.set(this.buffer);
      this.buffer = grown;
    }
    this.buffer[this.length++] = end;
  }
  view(): Uint32Array {
    return this.buffer.subarray(0, this.length);
  }
}

/** Appends the UTF-16 end of every chunk of text to ends; returns the number of chunks. */
function splitInto(text: string, ends: ChunkEnds): number {
  const re = new RegExp(SPLIT_SOURCE, "gu");
  let chunks = 0;
  while (re.exec(text) !== null) {
    ends.push(re.lastIndex);
    chunks++;
  }
  return chunks;
}

/** The chunks the split pattern cuts text into (what BPE merges never cross). */
export function preSplit(text: string): string[] {
  return text.match(new RegExp(SPLIT_SOURCE, "gu")) ?? [];
}

/**
 * Length of the well-formed UTF-8 sequence starting at bytes[i], or 0 when the byte there does
 * not start one (a stray continuation byte, an overlong form, a surrogate, past U+10FFFF, or a
 * sequence cut short).
 */
function utf8SequenceLength(bytes: Uint8Array, i: number): number {
  const b0 = bytes[i]!;
  const cont = (k: number, lo = 0x80, hi = 0xbf) => i + k < bytes.length && bytes[i + k]! >= lo && bytes[i + k]! <= hi;
  if (b0 < 0x80) return 1;
  if (b0 >= 0xc2 && b0 <= 0xdf) return cont(1) ? 2 : 0;
  if (b0 >= 0xe0 && b0 <= 0xef) {
    const lo = b0 === 0xe0 ? 0xa0 : 0x80;
    const hi = b0 === 0xed ? 0x9f : 0xbf;
    return cont(1, lo, hi) && cont(2) ? 3 : 0;
  }
  if (b0 >= 0xf0 && b0 <= 0xf4) {
    const lo = b0 === 0xf0 ? 0x90 : 0x80;
    const hi = b0 === 0xf4 ? 0x8f : 0xbf;
    return cont(1, lo, hi) && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
// ignoreBOM: a leading U+FEFF is content here; the default decoder would drop it.
const lenientUtf8 = new TextDecoder("utf-8", { ignoreBOM: true });

/**
 * Byte-chunk ends for bytes that are not valid UTF-8. Maximal well-formed runs are decoded and
 * split by the pattern exactly as text would be; each maximal run of bytes that do not form
 * UTF-8 is one chunk of its own (byte-level BPE encodes any bytes). So a valid stretch
 * tokenizes the same with or without garbage elsewhere in the input, up to the split at its edges.
 */
function splitInvalidUtf8(bytes: Uint8Array): Uint32Array {
  const ends = new ChunkEnds();
  let i = 0;
  while (i < bytes.length) {
    let j = i;
    for (let len = 0; j < bytes.length && (len = utf8SequenceLength(bytes, j)) > 0; ) j += len;
    if (j > i) {
      let end = i;
      for (const chunk of preSplit(strictUtf8.decode(bytes.subarray(i, j)))) {
        end += Buffer.byteLength(chunk, "utf8");
        ends.push(end);
      }
    }
    let k = j;
    while (k < bytes.length && utf8SequenceLength(bytes, k) === 0) k++;
    if (k > j) ends.push(k);
    i = k;
  }
  return ends.view();
}

// ---- the tokenizer ---------------------------------------------------------------------------

export interface EncodeBatchOptions {
  /** Start every document with bosId (document boundaries for the packing loader). Default false. */
  prependBos?: boolean;
}
const ENCODE_BATCH_OPTIONS = new Set(["prependBos"]);

export class Tokenizer {
  /** Tokens: 256 bytes, then the merges in learned order, then the special tokens. */
  readonly vocabSize: number;
  /** `<|reserved_0|>`, id vocabSize - 4. */
  readonly bosId: number;
  readonly specialTokens: readonly string[] = SPECIAL_TOKENS;
  // Flat [left0, right0, left1, right1, ...]: merge i creates token 256 + i.
  private readonly mergePairs: Int32Array;
  private readonly impl: NativeBpeTokenizer;

  private constructor(mergePairs: Int32Array) {
    this.mergePairs = mergePairs;
    this.vocabSize = BYTE_VOCAB + mergePairs.length / 2 + SPECIAL_TOKENS.length;
    this.bosId = BYTE_VOCAB + mergePairs.length / 2 + SPECIAL_TOKENS.indexOf(BOS_TOKEN);
    this.impl = new tokenizerNative.BpeTokenizer(mergePairs, [...SPECIAL_TOKENS]);
  }

  /**
   * Learns vocabSize - 256 - 4 merges on texts (each pre-split, so merges never cross a chunk).
   * Throws NOT_ENOUGH_DATA when the texts run out of adjacent pairs first.
   */
  static train(texts: Iterable<string>, vocabSize: number): Tokenizer {
    checkVocabSize(vocabSize);
    if (texts === null || typeof texts !== "object" || typeof (texts as Iterable<string>)[Symbol.iterator] !== "function")
      throw new TokenizerError("INVALID_ARGUMENT", "Tokenizer.train: texts must be an iterable of strings");
    const chunkCounts = new Map<string, number>();
    let index = 0;
    for (const text of texts) {
      if (typeof text !== "string")
        throw new TokenizerError("INVALID_ARGUMENT", `Tokenizer.train: text ${index} is a ${typeof text}, not a string`);
      const re = new RegExp(SPLIT_SOURCE, "gu");
      try {
        for (let m = re.exec(text); m !== null; m = re.exec(text)) {
          const chunk = m[0];
          chunkCounts.set(chunk, (chunkCounts.get(chunk) ?? 0) + 1);
        }
      } catch (err) {
        // V8 caps a Map at 2^24 entries; no natural-language corpus has that many distinct words.
        if (err instanceof RangeError)
          throw new TokenizerError(
            "TOO_MANY_CHUNKS",
            `Tokenizer.train: over ${chunkCounts.size} distinct pre-split chunks after ${index} texts: ` +
              "train the tokenizer on a sample of the data",
            { cause: err },
          );
        throw err;
      }
      index++;
    }
    const counts = Float64Array.from(chunkCounts.values());
    const wanted = vocabSize - MIN_VOCAB_SIZE;
    const merges = tokenizerNative.bpeTrain([...chunkCounts.keys()], counts, wanted);
    const learned = merges.length / 2;
    if (learned < wanted)
      throw new TokenizerError(
        "NOT_ENOUGH_DATA",
        `Tokenizer.train: the training text (${index} texts) allows only ${learned} merges, a vocabulary of at most ` +
          `${MIN_VOCAB_SIZE + learned}, but vocabSize is ${vocabSize}: train on more text or ask for a smaller vocabulary`,
      );
    return new Tokenizer(merges);
  }

  /** Reads a file written by save(); throws TokenizerError when it is missing, damaged or foreign. */
  static load(file: string): Tokenizer {
    let content: string;
    try {
      content = readFileSync(file, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT")
        throw new TokenizerError(
          "TOKENIZER_NOT_FOUND",
          `no tokenizer file at ${file}: run \`nightshift prepare\` to train one`,
          { cause: err },
        );
      throw new TokenizerError("TOKENIZER_UNREADABLE", `cannot read tokenizer file ${file}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    const merges = parseTokenizerFile(content, file);
    try {
      return new Tokenizer(merges);
    } catch (err) {
      // The native tables reject what the JS checks cannot see cheaply (a merge listed twice).
      throw new TokenizerError("TOKENIZER_CORRUPT", `tokenizer file ${file} is corrupt: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  /** Writes the tokenizer to one JSON file (atomically: a crash never leaves half a file). */
  save(file: string): void {
    const temporary = `${file}.${process.pid}.tmp`;
    try {
      writeFileSync(temporary, this.serialize());
      renameSync(temporary, file);
    } catch (err) {
      rmSync(temporary, { force: true });
      throw new TokenizerError("TOKENIZER_UNREADABLE", `cannot write tokenizer file ${file}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  /** The learned merges in order: merge i joins (left, right) into token 256 + i. */
  merges(): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    for (let i = 0; i < this.mergePairs.length; i += 2) out.push([this.mergePairs[i]!, this.mergePairs[i + 1]!]);
    return out;
  }

  /** Ids of the UTF-8 bytes of text. Special-token names in text are ordinary text here. */
  encode(text: string): Int32Array {
    if (typeof text !== "string")
      throw new TokenizerError("INVALID_ARGUMENT", `Tokenizer.encode: text must be a string, got ${typeof text}`);
    return this.encodeStrings([text], false)[0]!;
  }

  /** encode() of many documents in one native call; prependBos starts each with bosId. */
  encodeBatch(texts: string[], options: EncodeBatchOptions = {}): Int32Array[] {
    if (!Array.isArray(texts))
      throw new TokenizerError("INVALID_ARGUMENT", "Tokenizer.encodeBatch: texts must be an array of strings");
    for (const key of Object.keys(options))
      if (!ENCODE_BATCH_OPTIONS.has(key))
        throw new TokenizerError("INVALID_ARGUMENT", `Tokenizer.encodeBatch: unknown option '${key}' (known: prependBos)`);
    const prependBos = options.prependBos ?? false;
    if (typeof prependBos !== "boolean")
      throw new TokenizerError("INVALID_ARGUMENT", "Tokenizer.encodeBatch: prependBos must be a boolean");
    texts.forEach((text, i) => {
      if (typeof text !== "string")
        throw new TokenizerError("INVALID_ARGUMENT", `Tokenizer.encodeBatch: text ${i} is a ${typeof text}, not a string`);
    });
    return this.encodeStrings(texts, prependBos);
  }

  /**
   * Ids of arbitrary bytes. Valid UTF-8 encodes exactly as encode() of its text; otherwise the
   * well-formed runs are split as text and each run of stray bytes is a chunk of its own.
   */
  encodeBytes(bytes: Uint8Array): Int32Array {
    if (!(bytes instanceof Uint8Array))
      throw new TokenizerError("INVALID_ARGUMENT", "Tokenizer.encodeBytes: bytes must be a Uint8Array");
    let text: string;
    try {
      text = strictUtf8.decode(bytes);
    } catch {
      return this.impl.encodeByteChunks(bytes, splitInvalidUtf8(bytes));
    }
    return this.encode(text);
  }

  /** The bytes of ids; special tokens give their names (as tiktoken's decode does). */
  decodeBytes(ids: ArrayLike<number>): Uint8Array {
    return this.impl.decode(this.checkedIds(ids));
  }

  /** decodeBytes() as text; bytes that are not valid UTF-8 become U+FFFD. */
  decode(ids: ArrayLike<number>): string {
    return lenientUtf8.decode(this.decodeBytes(ids));
  }

  /** The UTF-8 byte length of every id, 0 for special tokens: bits per byte divides by these. */
  tokenBytes(): Int32Array {
    return this.impl.tokenBytes();
  }

  private encodeStrings(texts: string[], prependBos: boolean): Int32Array[] {
    const ends = new ChunkEnds();
    const chunkCounts = new Uint32Array(texts.length);
    texts.forEach((text, i) => {
      chunkCounts[i] = splitInto(text, ends);
    });
    const { ids, offsets } = this.impl.encodeTexts(texts, ends.view(), chunkCounts, prependBos ? this.bosId : -1);
    if (texts.length === 1) return [ids];
    // Copies, so one document's array never pins the whole batch's buffer.
    return texts.map((_, i) => ids.slice(offsets[i], offsets[i + 1]));
  }

  private checkedIds(ids: ArrayLike<number>): Int32Array {
    if (ids === null || typeof ids !== "object" || typeof ids.length !== "number")
      throw new TokenizerError("INVALID_ARGUMENT", "Tokenizer.decode: ids must be an array of token ids");
    const out = ids instanceof Int32Array ? ids : new Int32Array(ids.length);
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize)
        throw new TokenizerError(
          "INVALID_TOKEN_ID",
          `Tokenizer.decode: id ${id} at position ${i} is not a token id of this vocabulary [0, ${this.vocabSize})`,
        );
      out[i] = id;
    }
    return out;
  }

  private serialize(): string {
    const lines = this.merges().map(([left, right]) => `    [${left}, ${right}]`);
    const header = {
      format: FILE_FORMAT,
      version: FILE_VERSION,
      vocabSize: this.vocabSize,
      pattern: SPLIT_PATTERN,
      specialTokens: SPECIAL_TOKENS,
      bosToken: BOS_TOKEN,
      mergesSha256: mergesChecksum(this.mergePairs),
    };
    const head = JSON.stringify(header, null, 2).slice(0, -2); // drop the closing "\n}"
    return `${head},\n  "merges": [\n${lines.join(",\n")}\n  ]\n}\n`;
  }
}

function checkVocabSize(vocabSize: number): void {
  if (!Number.isInteger(vocabSize) || vocabSize < MIN_VOCAB_SIZE || vocabSize > MAX_VOCAB_SIZE)
    throw new TokenizerError(
      "INVALID_VOCAB_SIZE",
      `vocabSize must be an integer in [${MIN_VOCAB_SIZE}, ${MAX_VOCAB_SIZE}] (256 bytes + ${SPECIAL_TOKENS.length} ` +
        `special tokens + merges), got ${vocabSize}`,
    );
}

/** sha256 of the merges as little-endian int32: catches a flipped digit the structure checks miss. */
function mergesChecksum(mergePairs: Int32Array): string {
  const le = new DataView(new ArrayBuffer(mergePairs.length * 4));
  mergePairs.forEach((id, i) => le.setInt32(i * 4, id, true));
  return createHash("sha256").update(new Uint8Array(le.buffer)).digest("hex");
}

/** Validates a saved file's content and returns its merges (flat pairs). */
function parseTokenizerFile(content: string, file: string): Int32Array {
  const corrupt = (what: string, cause?: unknown) =>
    new TokenizerError(
      "TOKENIZER_CORRUPT",
      `tokenizer file ${file} is corrupt (${what}): delete it and run \`nightshift prepare\` again`,
      { cause },
    );
  let parsed: unknown;
  try {
    parsed = JSON.parse(content);
  } catch (err) {
    throw corrupt("not complete JSON: truncated or damaged", err);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) throw corrupt("not a JSON object");
  const doc = parsed as Record<string, unknown>;
  if (doc.format !== FILE_FORMAT) throw corrupt(`format is ${JSON.stringify(doc.format)}, expected "${FILE_FORMAT}"`);
  if (doc.version !== FILE_VERSION)
    throw new TokenizerError(
      "TOKENIZER_UNSUPPORTED",
      `tokenizer file ${file} has format version ${JSON.stringify(doc.version)}; this nightshift reads version ` +
        `${FILE_VERSION}: run \`nightshift prepare\` again with this version`,
    );
  if (doc.pattern !== SPLIT_PATTERN)
    throw new TokenizerError(
      "TOKENIZER_UNSUPPORTED",
      `tokenizer file ${file} was trained with another split pattern; this nightshift only splits with ${SPLIT_PATTERN}`,
    );
  if (JSON.stringify(doc.specialTokens) !== JSON.stringify(SPECIAL_TOKENS) || doc.bosToken !== BOS_TOKEN)
    throw corrupt(`special tokens are not ${JSON.stringify(SPECIAL_TOKENS)} with BOS ${BOS_TOKEN}`);
  const vocabSize = doc.vocabSize;
  if (typeof vocabSize !== "number" || !Number.isInteger(vocabSize) || vocabSize < MIN_VOCAB_SIZE || vocabSize > MAX_VOCAB_SIZE)
    throw corrupt(`vocabSize ${JSON.stringify(vocabSize)} is not an integer in [${MIN_VOCAB_SIZE}, ${MAX_VOCAB_SIZE}]`);
  const merges = doc.merges;
  const expected = vocabSize - MIN_VOCAB_SIZE;
  if (!Array.isArray(merges) || merges.length !== expected)
    throw corrupt(`expected ${expected} merges for vocabSize ${vocabSize}, found ${Array.isArray(merges) ? merges.length : "none"}`);
  const flat = new Int32Array(2 * expected);
  merges.forEach((pair: unknown, i) => {
    const newId = BYTE_VOCAB + i;
    const ok =
      Array.isArray(pair) &&
      pair.length === 2 &&
      pair.every((id: unknown) => typeof id === "number" && Number.isInteger(id) && id >= 0 && id < newId);
    if (!ok) throw corrupt(`merge ${i} is ${JSON.stringify(pair)}, not two ids below ${newId}`);
    flat[2 * i] = pair[0] as number;
    flat[2 * i + 1] = pair[1] as number;
  });
  if (doc.mergesSha256 !== mergesChecksum(flat)) throw corrupt("the merges do not match their checksum");
  return flat;
}
