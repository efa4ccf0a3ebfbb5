/**
 * verifyHeldOutData on real datasets written by writeTinyDataset: good data passes; a changed,
 * resized or missing val shard, test shard or token_bytes.bin is DATASET_CORRUPT naming the
 * file, also when its mtime was put back; unchanged files are not hashed again (counted through
 * the injectable hasher, in this process and through the cache file); a corrupt cache file or
 * one from another manifest is not trusted.
 */
import { execFileSync } from "node:child_process";
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DatasetError } from "../../src/harness/dataset.ts";
import {
  VERIFIED_CACHE_FILE,
  forgetVerifiedHashes,
  sha256File,
  verifyHeldOutData,
  type VerifyHeldOutOptions,
} from "../../src/harness/data/integrity.ts";
import { writeTinyDataset } from "../support/tiny-dataset.ts";

const HELD_OUT = ["test-00000.bin", "token_bytes.bin", "val-00000.bin"];

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "nightshift-integrity-"));
});
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

let count = 0;
/**
 * A fresh tiny dataset, old enough to be remembered: files written in the last 50 ms are
 * verified but not cached (the racy window in integrity.ts), so wait that out.
 */
async function freshDataset(): Promise<string> {
  const dir = join(root, `ds-${++count}`);
  writeTinyDataset(dir, { docs: { train: 40, val: 12, test: 12 } });
  await sleep(120);
  return dir;
}

/** Options with a hasher that records the name of every file it hashes. */
function counting(extra: VerifyHeldOutOptions = {}): VerifyHeldOutOptions & { hashed: string[] } {
  const hashed: string[] = [];
  return {
    ...extra,
    hashed,
    hashFile: (path: string) => {
      hashed.push(basename(path));
      return sha256File(path);
    },
  };
}

function verify(dir: string, options: VerifyHeldOutOptions & { hashed?: string[] } = {}): void {
  const { hashed: _, ...rest } = options;
  verifyHeldOutData(dir, rest);
}

function expectCorrupt(run: () => void, file: string, message?: RegExp): void {
  let err: unknown;
  try {
    run();
  } catch (e) {
    err = e;
  }
  expect(err, `expected DATASET_CORRUPT for ${file}`).toBeInstanceOf(DatasetError);
  expect((err as DatasetError).code).toBe("DATASET_CORRUPT");
  expect((err as DatasetError).message).toContain(file);
  expect((err as DatasetError).message).toContain("run `nightshift prepare` to rebuild");
  expect((err as DatasetError).message).not.toContain("\n");
  if (message) expect((err as DatasetError).message).toMatch(message);
}

/**
 * Runs `write` on a file and then puts its mtime and atime back to the nanosecond, as
 * `touch -r` does (utimesSync would round them to what a double of seconds holds).
 */
function rewriteKeepingTimes(path: string, write: () => void): void {
  const reference = `${path}.times`;
  execFileSync("touch", ["-r", path, reference]);
  const before = statSync(path, { bigint: true }).mtimeNs;
  write();
  execFileSync("touch", ["-r", reference, path]);
  rmSync(reference);
  expect(statSync(path, { bigint: true }).mtimeNs, "the mtime was put back exactly").toBe(before);
}

function flipByte(path: string, at = 3): void {
  const data = readFileSync(path);
  data[at] = data[at]! ^ 0xff;
  writeFileSync(path, data);
}

describe("verifyHeldOutData", () => {
  it("passes on data as prepare wrote it, hashing only val, test and token_bytes", async () => {
    const dir = await freshDataset();
    const options = counting();
    verify(dir, options);
    expect([...options.hashed].sort()).toEqual(HELD_OUT);
    expect(existsSync(join(dir, VERIFIED_CACHE_FILE))).toBe(true);
  });

  it.each(["val-00000.bin", "test-00000.bin", "token_bytes.bin"])(
    "throws DATASET_CORRUPT naming %s when one byte of it flips after it was verified",
    async (file) => {
      const dir = await freshDataset();
      verify(dir);
      flipByte(join(dir, file));
      expectCorrupt(() => verify(dir), file, /does not match its SHA-256/);
      forgetVerifiedHashes();
      expectCorrupt(() => verify(dir), file, /does not match its SHA-256/);
    },
  );

  it("catches a rewrite of another size whose mtime was put back", async () => {
    const dir = await freshDataset();
    verify(dir);
    const path = join(dir, "val-00000.bin");
    rewriteKeepingTimes(path, () => appendFileSync(path, Buffer.from([1, 0])));
    expectCorrupt(() => verify(dir), "val-00000.bin", /has \d+ bytes/);
  });

  it("catches a same-size rewrite whose mtime was put back (ctime moves anyway)", async () => {
    const dir = await freshDataset();
    verify(dir);
    const path = join(dir, "token_bytes.bin");
    rewriteKeepingTimes(path, () => flipByte(path, 0));
    const options = counting();
    expectCorrupt(() => verify(dir, options), "token_bytes.bin", /does not match/);
    expect(options.hashed).toEqual(["token_bytes.bin"]);
  });

  it("throws DATASET_CORRUPT naming a missing held-out file, and DATASET_MISSING without a manifest", async () => {
    const dir = await freshDataset();
    rmSync(join(dir, "test-00000.bin"));
    expectCorrupt(() => verify(dir), "test-00000.bin", /is missing/);
    expect(() => verify(join(root, "nowhere"))).toThrow(expect.objectContaining({ code: "DATASET_MISSING" }));
  });

  it("does not hash unchanged files again, in this process nor in the next one (the cache file)", async () => {
    const dir = await freshDataset();
    const options = counting();
    verify(dir, options);
    expect(options.hashed).toHaveLength(3);
    verify(dir, options);
    expect(options.hashed).toHaveLength(3);
    forgetVerifiedHashes();
    verify(dir, options);
    expect(options.hashed).toHaveLength(3);
  });

  it("hashes again only the file that changed", async () => {
    const dir = await freshDataset();
    verify(dir);
    // Same bytes, new inode: nothing to complain about, but it must be read again.
    const path = join(dir, "test-00000.bin");
    const data = readFileSync(path);
    rmSync(path);
    writeFileSync(path, data);
    const options = counting();
    verify(dir, options);
    expect(options.hashed).toEqual(["test-00000.bin"]);
  });

  it("verifies but does not remember a file stamped within 50 ms of its hash (here: an hour ahead)", async () => {
    const dir = await freshDataset();
    execFileSync("touch", ["-m", "-d", "+1 hour", join(dir, "val-00000.bin")]);
    const options = counting();
    verify(dir, options);
    verify(dir, options);
    expect([...options.hashed].sort()).toEqual([...HELD_OUT, "val-00000.bin"].sort());
  });

  it.each([
    ["not JSON", "{ this is not json"],
    ["truncated", '{"version":1,"manifestSha256":"'],
    ["the wrong shape", JSON.stringify({ version: 1, manifestSha256: 42, files: [] })],
    ["an unknown version", JSON.stringify({ version: 99, files: {} })],
  ])("ignores a cache file that is %s, hashes everything and writes a good one", async (_, content) => {
    const dir = await freshDataset();
    verify(dir);
    forgetVerifiedHashes();
    writeFileSync(join(dir, VERIFIED_CACHE_FILE), content);
    const options = counting();
    verify(dir, options);
    expect([...options.hashed].sort()).toEqual(HELD_OUT);
    forgetVerifiedHashes();
    verify(dir, options);
    expect(options.hashed).toHaveLength(3);
  });

  it("does not trust cache entries whose fingerprint is not the file's", async () => {
    const dir = await freshDataset();
    verify(dir);
    forgetVerifiedHashes();
    const cachePath = join(dir, VERIFIED_CACHE_FILE);
    const cache = JSON.parse(readFileSync(cachePath, "utf8")) as { files: Record<string, { ino: string }> };
    for (const entry of Object.values(cache.files)) entry.ino = "1";
    writeFileSync(cachePath, JSON.stringify(cache));
    const options = counting();
    verify(dir, options);
    expect([...options.hashed].sort()).toEqual(HELD_OUT);
  });

  it("rehashes everything when the manifest's bytes change, and manifestSha256 pins them", async () => {
    const dir = await freshDataset();
    const manifestPath = join(dir, "manifest.json");
    const trusted = sha256File(manifestPath);
    verify(dir, { manifestSha256: trusted });
    writeFileSync(manifestPath, JSON.stringify(JSON.parse(readFileSync(manifestPath, "utf8"))));
    const options = counting();
    verify(dir, options);
    expect([...options.hashed].sort()).toEqual(HELD_OUT);
    expectCorrupt(() => verify(dir, { manifestSha256: trusted }), "manifest.json", /not the manifest this dataset was trusted with/);
  });

  it("rejects a manifest that points a held-out file outside the dataset directory", async () => {
    const dir = await freshDataset();
    const manifestPath = join(dir, "manifest.json");
    const manifest = JSON.parse(readFileSync(manifestPath, "utf8")) as { splits: { val: { shards: { file: string }[] } } };
    manifest.splits.val.shards[0]!.file = "../elsewhere.bin";
    writeFileSync(manifestPath, JSON.stringify(manifest));
    expectCorrupt(() => verify(dir), "manifest.json", /lacks the val\/test shards/);
  });

  it("keeps hashes in memory only with cacheFile: null", async () => {
    const dir = await freshDataset();
    const options = counting({ cacheFile: null });
    verify(dir, options);
    verify(dir, options);
    expect(options.hashed).toHaveLength(3);
    expect(existsSync(join(dir, VERIFIED_CACHE_FILE))).toBe(false);
  });

  it("checks its options by name", async () => {
    const dir = await freshDataset();
    expect(() => verifyHeldOutData(dir, { cachefile: null } as never)).toThrow(/unknown option 'cachefile' — did you mean 'cacheFile'\?/);
    expect(() => verifyHeldOutData(dir, { manifestSha256: "abc" })).toThrow(/64 hex digits/);
  });
});
