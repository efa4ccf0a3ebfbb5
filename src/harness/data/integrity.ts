/**
 * Integrity of the held-out data: before every evaluation the trusted evaluator checks that the
 * val and test shards and the token byte lengths (the bpb weights) are still the bytes
 * `nightshift prepare` wrote, by their SHA-256 in manifest.json. A train.ts that ran outside the
 * sandbox once rewrote token_bytes.bin, which would have skewed every later score.
 *
 * Hashing every shard before every evaluation would cost seconds on a real dataset, so verified
 * hashes are remembered per file by what a write changes: size, inode, device, mtime and ctime
 * (nanoseconds). ctime is in the key because utimes(2) can put mtime back after a write but
 * always moves ctime to now. The memory is kept in this process and in <dataset>/.verified.json
 * for the next one, and belongs to one manifest: a manifest with other bytes throws it all away.
 *
 * What this does not stop: whoever can write the dataset directory can also forge
 * .verified.json, or swap manifest.json for one listing their own hashes (pass manifestSha256,
 * recorded when the dataset was trusted, to pin it). Keeping train.ts away from that directory
 * is the sandbox's job; this check catches what got through before it, and plain corruption.
 *
 * Reads the dataset and writes nothing but the cache file; never opens the train split.
 */
import { createHash, randomBytes } from "node:crypto";
import { closeSync, openSync, readFileSync, readSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { DatasetError } from "../dataset.ts";
import type { DatasetManifest } from "../types.ts";
import { unknownOption } from "../../util/suggest.ts";
import { MANIFEST_FILE, bytesPerToken } from "./cache.ts";

/** The cross-process memory of verified hashes, inside the dataset directory. */
export const VERIFIED_CACHE_FILE = ".verified.json";

export interface VerifyHeldOutOptions {
  /**
   * Where verified hashes are remembered between processes. Default
   * `<datasetDir>/.verified.json`; null keeps them in this process only.
   */
  cacheFile?: string | null;
  /**
   * The SHA-256 (hex) the whole manifest.json must have, when the caller recorded it while the
   * dataset was trusted. Without it a swapped manifest is only caught where its hashes
   * disagree with the files.
   */
  manifestSha256?: string;
  /** Computes a file's SHA-256 as lowercase hex. Default sha256File; tests count the calls. */
  hashFile?: (path: string) => string;
}

const OPTION_NAMES = ["cacheFile", "manifestSha256", "hashFile"] as const;

/**
 * Throws DatasetError DATASET_CORRUPT naming the file when a val or test shard or the token
 * byte-length file of the dataset at `datasetDir` is missing, has another size than the manifest
 * implies, or does not match its SHA-256 in the manifest (DATASET_MISSING when there is no
 * manifest at all). Returns quietly when all of them match; files unchanged since they last
 * matched are not read again.
 */
export function verifyHeldOutData(datasetDir: string, options: VerifyHeldOutOptions = {}): void {
  const problem = unknownOption(options, OPTION_NAMES);
  if (problem) throw new TypeError(`verifyHeldOutData: ${problem}`);
  if (typeof datasetDir !== "string" || datasetDir === "") throw new TypeError("verifyHeldOutData: datasetDir must be a non-empty path");
  if (options.cacheFile !== undefined && options.cacheFile !== null && (typeof options.cacheFile !== "string" || options.cacheFile === ""))
    throw new TypeError("verifyHeldOutData: cacheFile must be a path or null");
  if (options.manifestSha256 !== undefined && !/^[0-9a-fA-F]{64}$/.test(String(options.manifestSha256)))
    throw new TypeError(`verifyHeldOutData: manifestSha256 must be 64 hex digits, got ${JSON.stringify(options.manifestSha256)}`);
  if (options.hashFile !== undefined && typeof options.hashFile !== "function")
    throw new TypeError("verifyHeldOutData: hashFile must be a function (path) => hex SHA-256");
  const hashFile = options.hashFile ?? sha256File;

  const manifestPath = join(datasetDir, MANIFEST_FILE);
  let manifestBytes: Buffer;
  try {
    manifestBytes = readFileSync(manifestPath);
  } catch {
    throw new DatasetError("DATASET_MISSING", `no prepared dataset at ${datasetDir} (${MANIFEST_FILE} unreadable or missing): run \`nightshift prepare\``);
  }
  // The bytes hashed are the bytes parsed, so the manifest cannot change between the two.
  const manifestSha = createHash("sha256").update(manifestBytes).digest("hex");
  if (options.manifestSha256 !== undefined && options.manifestSha256.toLowerCase() !== manifestSha)
    throw corrupt(
      `${manifestPath} is not the manifest this dataset was trusted with (SHA-256 ${manifestSha.slice(0, 12)}…, expected ${options.manifestSha256.slice(0, 12)}…)`,
    );
  const targets = heldOutFiles(parseManifest(manifestBytes, manifestPath));

  const dir = realpathSync(datasetDir);
  const cacheFile = options.cacheFile === undefined ? join(dir, VERIFIED_CACHE_FILE) : options.cacheFile;
  let memory = memoryCache.get(dir);
  if (memory?.manifestSha256 !== manifestSha) {
    memory = { manifestSha256: manifestSha, files: new Map() };
    memoryCache.set(dir, memory);
  }
  let disk: Map<string, VerifiedFile> | null = null;
  let diskChanged = false;

  for (const target of targets) {
    const path = join(dir, target.file);
    const before = fingerprint(path, target);
    const known = memory.files.get(path);
    if (known && known.sha256 === target.sha256 && sameFile(known, before)) continue;
    disk ??= cacheFile === null ? new Map() : readCache(cacheFile, manifestSha);
    const remembered = disk.get(path);
    if (remembered && remembered.sha256 === target.sha256 && sameFile(remembered, before)) {
      memory.files.set(path, remembered);
      continue;
    }

    const startedNs = BigInt(Date.now()) * 1_000_000n;
    const actual = hashFile(path);
    if (!sameFile(before, fingerprint(path, target)))
      throw corrupt(`dataset file ${path} changed while it was being verified; something is writing the held-out data`);
    if (actual !== target.sha256)
      throw corrupt(`dataset file ${path} does not match its SHA-256 in ${MANIFEST_FILE} (held-out data changed after \`nightshift prepare\`)`);
    if (isRacy(before, startedNs)) continue;
    const verified = { ...before, sha256: actual };
    memory.files.set(path, verified);
    disk.set(path, verified);
    diskChanged = true;
  }

  if (diskChanged && cacheFile !== null && disk !== null) {
    const wanted = new Set(targets.map((t) => join(dir, t.file)));
    writeCache(cacheFile, manifestSha, [...disk].filter(([path]) => wanted.has(path)));
  }
}

/** Forgets what this process verified, as if it had just started (the cache file stays). */
export function forgetVerifiedHashes(): void {
  memoryCache.clear();
}

/** SHA-256 of a file as lowercase hex, read in 1 MiB chunks (shards can be large). */
export function sha256File(path: string): string {
  const hash = createHash("sha256");
  const buffer = Buffer.allocUnsafe(1 << 20);
  const fd = openSync(path, "r");
  try {
    for (let n = readSync(fd, buffer); n > 0; n = readSync(fd, buffer)) hash.update(buffer.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return hash.digest("hex");
}

// ---- what is checked -----------------------------------------------------------------------

interface HeldOutFile {
  file: string;
  sha256: string;
  /** The size the manifest implies. */
  bytes: number;
}

function parseManifest(bytes: Buffer, manifestPath: string): DatasetManifest {
  let manifest: DatasetManifest;
  try {
    manifest = JSON.parse(bytes.toString("utf8")) as DatasetManifest;
  } catch (err) {
    throw corrupt(`${manifestPath} is not valid JSON (${(err as Error).message})`);
  }
  const shardsOk = (split: unknown) =>
    Array.isArray((split as { shards?: unknown } | undefined)?.shards) &&
    (split as { shards: unknown[] }).shards.every((s) => isFileEntry(s) && Number.isSafeInteger((s as { tokens?: unknown }).tokens));
  if (
    typeof manifest !== "object" ||
    manifest === null ||
    (manifest.tokenDType !== "uint16" && manifest.tokenDType !== "uint32") ||
    !Number.isSafeInteger(manifest.vocabSize) ||
    !isFileEntry(manifest.tokenBytes) ||
    !shardsOk(manifest.splits?.val) ||
    !shardsOk(manifest.splits?.test)
  )
    throw corrupt(`${manifestPath} lacks the val/test shards, token byte lengths or sizes a prepared dataset lists`);
  return manifest;
}

/** A { file, sha256 } whose file is a plain name inside the dataset directory. */
function isFileEntry(value: unknown): boolean {
  const v = value as { file?: unknown; sha256?: unknown } | null;
  return (
    typeof v === "object" &&
    v !== null &&
    typeof v.file === "string" &&
    v.file !== "" &&
    v.file !== "." &&
    v.file !== ".." &&
    basename(v.file) === v.file &&
    typeof v.sha256 === "string" &&
    /^[0-9a-f]{64}$/.test(v.sha256)
  );
}

function heldOutFiles(manifest: DatasetManifest): HeldOutFile[] {
  const width = bytesPerToken(manifest.tokenDType);
  const files: HeldOutFile[] = [];
  for (const split of ["val", "test"] as const)
    for (const shard of manifest.splits[split].shards) files.push({ file: shard.file, sha256: shard.sha256, bytes: shard.tokens * width });
  files.push({ ...manifest.tokenBytes, bytes: manifest.vocabSize * 4 });
  return files;
}

// ---- file identity -------------------------------------------------------------------------

/** What a write to a file changes. Times in nanoseconds, as decimal strings (JSON has no bigint). */
interface FileFingerprint {
  size: number;
  ino: string;
  dev: string;
  mtimeNs: string;
  ctimeNs: string;
}

interface VerifiedFile extends FileFingerprint {
  sha256: string;
}

/** The fingerprint of a held-out file; DATASET_CORRUPT when it is missing, not a file, or of the wrong size. */
function fingerprint(path: string, target: HeldOutFile): FileFingerprint {
  const stats = statSync(path, { bigint: true, throwIfNoEntry: false });
  if (!stats) throw corrupt(`dataset file ${path} is missing`);
  if (!stats.isFile()) throw corrupt(`dataset file ${path} is not a regular file`);
  if (stats.size !== BigInt(target.bytes))
    throw corrupt(`dataset file ${path} has ${stats.size} bytes, ${MANIFEST_FILE} implies ${target.bytes}`);
  return {
    size: Number(stats.size),
    ino: String(stats.ino),
    dev: String(stats.dev),
    mtimeNs: String(stats.mtimeNs),
    ctimeNs: String(stats.ctimeNs),
  };
}

function sameFile(a: FileFingerprint, b: FileFingerprint): boolean {
  return a.size === b.size && a.ino === b.ino && a.dev === b.dev && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs;
}

/**
 * Linux stamps files from a clock that advances in ticks of up to 10 ms, so a second write in
 * the tick of a verified one keeps size and times alike (git's "racily clean" index entries).
 * A file changed this close to the start of its hash is verified but not remembered.
 */
const RACY_WINDOW_NS = 50_000_000n;

function isRacy(file: FileFingerprint, hashStartedNs: bigint): boolean {
  return BigInt(file.mtimeNs) > hashStartedNs - RACY_WINDOW_NS || BigInt(file.ctimeNs) > hashStartedNs - RACY_WINDOW_NS;
}

// ---- the memory ----------------------------------------------------------------------------

interface MemoryEntry {
  manifestSha256: string;
  /** By absolute file path. */
  files: Map<string, VerifiedFile>;
}

/** This process's memory, by real dataset directory. */
const memoryCache = new Map<string, MemoryEntry>();

const CACHE_VERSION = 1;

interface CacheFile {
  version: typeof CACHE_VERSION;
  manifestSha256: string;
  files: Record<string, VerifiedFile>;
}

/** The entries of the cache file when it is readable, well formed and of this manifest; else none. */
function readCache(cacheFile: string, manifestSha: string): Map<string, VerifiedFile> {
  const entries = new Map<string, VerifiedFile>();
  let parsed: Partial<CacheFile>;
  try {
    parsed = JSON.parse(readFileSync(cacheFile, "utf8")) as Partial<CacheFile>;
  } catch {
    return entries;
  }
  if (typeof parsed !== "object" || parsed === null || parsed.version !== CACHE_VERSION || parsed.manifestSha256 !== manifestSha)
    return entries;
  if (typeof parsed.files !== "object" || parsed.files === null) return entries;
  for (const [path, v] of Object.entries(parsed.files)) {
    const e = v as Partial<VerifiedFile> | null;
    if (
      typeof e === "object" &&
      e !== null &&
      Number.isSafeInteger(e.size) &&
      [e.ino, e.dev, e.mtimeNs, e.ctimeNs].every((s) => typeof s === "string" && /^\d+$/.test(s)) &&
      typeof e.sha256 === "string"
    )
      entries.set(path, { size: e.size!, ino: e.ino!, dev: e.dev!, mtimeNs: e.mtimeNs!, ctimeNs: e.ctimeNs!, sha256: e.sha256 });
  }
  return entries;
}

/**
 * Writes the cache through a temp file and a rename, so a reader never sees half of it. A
 * failure (a read-only dataset directory, a full disk) is ignored: the cache only saves time,
 * and the next process hashes again.
 */
function writeCache(cacheFile: string, manifestSha: string, entries: [string, VerifiedFile][]): void {
  const content: CacheFile = { version: CACHE_VERSION, manifestSha256: manifestSha, files: Object.fromEntries(entries) };
  const temp = `${cacheFile}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
  try {
    writeFileSync(temp, `${JSON.stringify(content, null, 1)}\n`);
    renameSync(temp, cacheFile);
  } catch {
    rmSync(temp, { force: true });
  }
}

function corrupt(what: string): DatasetError {
  return new DatasetError("DATASET_CORRUPT", `${what}: run \`nightshift prepare\` to rebuild`);
}
