/**
 * The on-disk side of `prepare`: writing token shards, checking an existing dataset directory
 * against its manifest, clearing partial builds, and the `latest.json` pointer that lets
 * `nightshift train` find the most recent dataset of a profile with no arguments.
 *
 * Layout under datasetsDir():
 *   <id>/manifest.json, tokenizer file, token_bytes.bin, {train,val,test}-NNNNN.bin, prepare.json
 *   <id>.tmp-<pid>/   a build in progress (renamed to <id>/ when complete; manifest written last)
 *   latest.json       { "<profile>": { "id": "<id>", "vocabSize": N, "preparedAt": ISO } }
 *
 * Must not parse sources or tokenize; reading a dataset for training is dataset.ts's job.
 */
import { createHash, type Hash } from "node:crypto";
import { closeSync, createReadStream, existsSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
import { endianness } from "node:os";
import { join } from "node:path";
import type { Profile } from "../constants.ts";
import type { DatasetManifest, ShardInfo, SplitName } from "../types.ts";

export const MANIFEST_FILE = "manifest.json";
export const TOKEN_BYTES_FILE = "token_bytes.bin";
/** Extra facts of a build that the manifest has no field for: split rule, warnings, timings. */
export const REPORT_FILE = "prepare.json";
export const LATEST_FILE = "latest.json";
/** At most this many tokens per shard file (documents are never split across shards). */
export const DEFAULT_MAX_SHARD_TOKENS = 16 * 2 ** 20;

export const SPLIT_NAMES: readonly SplitName[] = ["train", "val", "test"];

export type TokenDType = DatasetManifest["tokenDType"];

export function tokenDTypeFor(vocabSize: number): TokenDType {
  return vocabSize <= 65536 ? "uint16" : "uint32";
}

export function bytesPerToken(dtype: TokenDType): number {
  return dtype === "uint16" ? 2 : 4;
}

export function shardFileName(split: SplitName, index: number): string {
  return `${split}-${String(index).padStart(5, "0")}.bin`;
}

const bigEndianHost = endianness() === "BE";

/** Little-endian bytes of a typed array (a copy-free view on little-endian hosts). */
function littleEndianBytes(values: Uint16Array | Uint32Array | Int32Array): Buffer {
  const bytes = Buffer.from(values.buffer, values.byteOffset, values.byteLength);
  if (!bigEndianHost) return bytes;
  const copy = Buffer.from(bytes);
  return values.BYTES_PER_ELEMENT === 2 ? copy.swap16() : copy.swap32();
}

/** Writes a file and returns its SHA-256. */
export function writeHashedFile(path: string, data: Uint8Array): string {
  writeFileSync(path, data);
  return createHash("sha256").update(data).digest("hex");
}

export function writeInt32File(path: string, values: Int32Array): string {
  return writeHashedFile(path, littleEndianBytes(values));
}

/**
 * Streams the documents of one split into shard files of at most maxShardTokens tokens each,
 * hashing as it writes. A document is never split across shards (so every shard starts with
 * BOS); a single document longer than the limit gets a shard of its own.
 */
export class SplitShardWriter {
  readonly shards: ShardInfo[] = [];
  private fd: number | null = null;
  private hash: Hash | null = null;
  private shardTokens = 0;
  private shardDocs = 0;

  constructor(
    private readonly dir: string,
    private readonly split: SplitName,
    private readonly dtype: TokenDType,
    private readonly maxShardTokens: number,
  ) {}

  /** Appends encoded documents (each already starting with BOS). */
  write(documents: readonly Int32Array[]): void {
    let runStart = 0; // documents[runStart..i) go into the current shard at the next flush
    let runTokens = 0;
    for (let i = 0; i < documents.length; i++) {
      const length = documents[i]!.length;
      const docsInShard = this.shardDocs + (i - runStart);
      if (docsInShard > 0 && this.shardTokens + runTokens + length > this.maxShardTokens) {
        this.writeRun(documents.slice(runStart, i), runTokens);
        this.closeShard();
        runStart = i;
        runTokens = 0;
      }
      runTokens += length;
    }
    this.writeRun(documents.slice(runStart), runTokens);
  }

  /** Closes the last shard; returns every shard written. */
  finish(): ShardInfo[] {
    this.closeShard();
    return this.shards;
  }

  private writeRun(documents: readonly Int32Array[], tokens: number): void {
    if (documents.length === 0) return;
    if (this.fd === null) this.openShard();
    const run = this.dtype === "uint16" ? new Uint16Array(tokens) : new Uint32Array(tokens);
    let at = 0;
    for (const doc of documents) {
      run.set(doc, at);
      at += doc.length;
    }
    const bytes = littleEndianBytes(run);
    writeSync(this.fd!, bytes);
    this.hash!.update(bytes);
    this.shardTokens += tokens;
    this.shardDocs += documents.length;
  }

  private openShard(): void {
    this.fd = openSync(join(this.dir, shardFileName(this.split, this.shards.length)), "w");
    this.hash = createHash("sha256");
    this.shardTokens = 0;
    this.shardDocs = 0;
  }

  private closeShard(): void {
    if (this.fd === null) return;
    closeSync(this.fd);
    this.shards.push({
      file: shardFileName(this.split, this.shards.length),
      sha256: this.hash!.digest("hex"),
      tokens: this.shardTokens,
      docs: this.shardDocs,
    });
    this.fd = null;
    this.hash = null;
    this.shardTokens = 0;
    this.shardDocs = 0;
  }
}

// ---- checking an existing dataset ------------------------------------------------------------

export type DatasetCheck = { ok: true; manifest: DatasetManifest } | { ok: false; problem: string };

async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/**
 * Checks a dataset directory against its manifest: the manifest parses, has the expected id
 * and format, and every file it lists exists with the size it implies (shards: tokens × width;
 * token_bytes: vocab × 4; the tokenizer: not empty). With `verify`, every file's SHA-256 too.
 */
export async function checkDataset(dir: string, expectedId: string, verify: boolean): Promise<DatasetCheck> {
  const manifestPath = join(dir, MANIFEST_FILE);
  if (!existsSync(manifestPath)) return { ok: false, problem: `${MANIFEST_FILE} is missing (an interrupted build?)` };
  let manifest: DatasetManifest;
  try {
    manifest = JSON.parse(readFileSync(manifestPath, "utf8")) as DatasetManifest;
  } catch (err) {
    return { ok: false, problem: `${MANIFEST_FILE} is unreadable (${(err as Error).message})` };
  }
  const shapeProblem = manifestShapeProblem(manifest, expectedId);
  if (shapeProblem) return { ok: false, problem: `${MANIFEST_FILE} ${shapeProblem}` };

  const width = bytesPerToken(manifest.tokenDType);
  const expected: { file: string; sha256: string; bytes: number | null }[] = [
    { ...manifest.tokenizer, bytes: null },
    { ...manifest.tokenBytes, bytes: manifest.vocabSize * 4 },
  ];
  for (const split of SPLIT_NAMES)
    for (const shard of manifest.splits[split].shards) expected.push({ file: shard.file, sha256: shard.sha256, bytes: shard.tokens * width });

  for (const { file, bytes } of expected) {
    const stats = statSync(join(dir, file), { throwIfNoEntry: false });
    if (!stats || !stats.isFile()) return { ok: false, problem: `${file} is missing` };
    if (bytes !== null && stats.size !== bytes) return { ok: false, problem: `${file} has ${stats.size} bytes, the manifest implies ${bytes}` };
    if (bytes === null && stats.size === 0) return { ok: false, problem: `${file} is empty` };
  }
  if (verify) {
    for (const { file, sha256 } of expected) {
      if ((await sha256OfFile(join(dir, file))) !== sha256) return { ok: false, problem: `${file} does not match its SHA-256 in the manifest` };
    }
  }
  return { ok: true, manifest };
}

function manifestShapeProblem(m: DatasetManifest, expectedId: string): string | null {
  if (typeof m !== "object" || m === null) return "is not a JSON object";
  if (m.formatVersion !== 1) return `has format version ${String(m.formatVersion)}, expected 1`;
  if (m.id !== expectedId) return `belongs to dataset ${String(m.id)}, not ${expectedId}`;
  if (!Number.isInteger(m.vocabSize) || !Number.isInteger(m.bosId)) return "lacks vocabSize or bosId";
  if (m.tokenDType !== "uint16" && m.tokenDType !== "uint32") return `has an unknown tokenDType ${String(m.tokenDType)}`;
  const fileRef = (r: unknown) => typeof r === "object" && r !== null && typeof (r as { file?: unknown }).file === "string" && typeof (r as { sha256?: unknown }).sha256 === "string";
  if (!fileRef(m.tokenizer) || !fileRef(m.tokenBytes)) return "lacks the tokenizer or token_bytes entry";
  for (const split of SPLIT_NAMES) {
    const info = m.splits?.[split];
    if (!info || !Array.isArray(info.shards) || !info.shards.every((s) => fileRef(s) && Number.isInteger(s.tokens)))
      return `lacks a valid "${split}" split`;
  }
  return null;
}

// ---- partial builds --------------------------------------------------------------------------

const PARTIAL_DIR = /^[0-9a-f]+\.(tmp|stale)-(\d+)$/;

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM"; // exists, owned by someone else
  }
}

/** Removes `<id>.tmp-<pid>` / `<id>.stale-<pid>` directories whose process is gone; returns their names. */
export function removeAbandonedBuilds(datasetsDir: string): string[] {
  if (!existsSync(datasetsDir)) return [];
  const removed: string[] = [];
  for (const name of readdirSync(datasetsDir)) {
    const match = PARTIAL_DIR.exec(name);
    if (!match) continue;
    const pid = Number(match[2]);
    if (pid !== process.pid && processAlive(pid)) continue; // another prepare is building right now
    rmSync(join(datasetsDir, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}

// ---- the latest-dataset pointer --------------------------------------------------------------

export interface LatestEntry {
  id: string;
  vocabSize: number;
  preparedAt: string;
}

export type LatestPointer = Partial<Record<Profile, LatestEntry>>;

function readLatest(datasetsDir: string): LatestPointer {
  try {
    const parsed = JSON.parse(readFileSync(join(datasetsDir, LATEST_FILE), "utf8")) as unknown;
    return typeof parsed === "object" && parsed !== null ? (parsed as LatestPointer) : {};
  } catch {
    return {}; // absent or damaged: it is only a convenience, rewritten by every prepare
  }
}

/** Records `id` as the dataset `nightshift train` uses for `profile` when given none. */
export function writeLatest(datasetsDir: string, profile: Profile, entry: LatestEntry): void {
  const pointer = readLatest(datasetsDir);
  pointer[profile] = entry;
  const tmp = join(datasetsDir, `${LATEST_FILE}.tmp-${process.pid}`);
  writeFileSync(tmp, `${JSON.stringify(pointer, null, 2)}\n`);
  renameSync(tmp, join(datasetsDir, LATEST_FILE));
}

/** The directory of the most recently prepared dataset of `profile`, or null when there is none. */
export function latestDatasetDir(datasetsDir: string, profile: Profile): string | null {
  const entry = readLatest(datasetsDir)[profile];
  if (!entry || typeof entry.id !== "string" || !/^[0-9a-f]+$/.test(entry.id)) return null;
  const dir = join(datasetsDir, entry.id);
  return existsSync(join(dir, MANIFEST_FILE)) ? dir : null;
}
