/**
 * The BPE tokenizer as a specification: the pre-split pattern, training against a naive
 * reference trainer, encoding against a naive reference encoder, byte-exact round trips (invalid
 * UTF-8 included), token byte lengths for bpb, and a file that is deterministic and refuses to
 * load when damaged. The references here share no code with native/src/text.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SOTU_PACKAGE, locatePackage, sotuSpeechFiles, speechDocuments } from "../../src/harness/data/embedded.ts";
import { MIN_VOCAB_SIZE, SPLIT_PATTERN, Tokenizer, preSplit } from "../../src/harness/tokenizer.ts";
import { seededRandom } from "../support/random.ts";

const root = mkdtempSync(join(tmpdir(), "ns-tokenizer-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const utf8 = (s: string) => new TextEncoder().encode(s);

const speechFiles = sotuSpeechFiles(locatePackage(SOTU_PACKAGE).root);

/**
 * Real English: State of the Union addresses (the embedded corpus) from the `skipSpeeches`-th
 * on, about `targetBytes` of text, in the sentence-group documents prepare makes of them.
 */
function speechText(targetBytes: number, skipSpeeches = 0): string[] {
  const documents: string[] = [];
  let bytes = 0;
  for (const file of speechFiles.slice(skipSpeeches)) {
    for (const doc of speechDocuments(readFileSync(file, "utf8"))) {
      documents.push(doc);
      bytes += utf8(doc).length;
      if (bytes >= targetBytes) return documents;
    }
  }
  return documents;
}

// ---- independent references ------------------------------------------------------------------

/** Replaces every (a, b), left to right without overlap, by z. */
function mergePair(ids: number[], a: number, b: number, z: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < ids.length; ) {
    if (i + 1 < ids.length && ids[i] === a && ids[i + 1] === b) {
      out.push(z);
      i += 2;
    } else out.push(ids[i++]!);
  }
  return out;
}

/** BPE training by brute force: recount every pair of every chunk before each merge. */
function referenceTrain(texts: string[], numMerges: number): Array<[number, number]> {
  const chunkCounts = new Map<string, number>();
  for (const t of texts) for (const c of preSplit(t)) chunkCounts.set(c, (chunkCounts.get(c) ?? 0) + 1);
  const words = [...chunkCounts].map(([chunk, count]) => ({ ids: [...utf8(chunk)], count }));
  const KEY = 2 ** 20;
  const merges: Array<[number, number]> = [];
  for (let k = 0; k < numMerges; k++) {
    const pairCounts = new Map<number, number>();
    for (const w of words)
      for (let i = 0; i + 1 < w.ids.length; i++) {
        const key = w.ids[i]! * KEY + w.ids[i + 1]!;
        pairCounts.set(key, (pairCounts.get(key) ?? 0) + w.count);
      }
    let best = -1;
    let bestCount = 0;
    for (const [key, count] of pairCounts)
      if (count > bestCount || (count === bestCount && key < best)) [best, bestCount] = [key, count];
    if (best < 0) break;
    const [a, b] = [Math.floor(best / KEY), best % KEY];
    for (const w of words) w.ids = mergePair(w.ids, a, b, 256 + k);
    merges.push([a, b]);
  }
  return merges;
}

/** BPE encoding by brute force: every merge, in learned order, over the chunk's bytes. */
function referenceEncodeChunk(merges: Array<[number, number]>, bytes: Uint8Array): number[] {
  let ids = [...bytes];
  merges.forEach(([a, b], k) => {
    if (ids.length > 1) ids = mergePair(ids, a, b, 256 + k);
  });
  return ids;
}

function referenceEncode(merges: Array<[number, number]>, text: string): number[] {
  return preSplit(text).flatMap((chunk) => referenceEncodeChunk(merges, utf8(chunk)));
}

// ---- shared fixtures -------------------------------------------------------------------------

const VOCAB = 1024;
let english: string[];
let tok: Tokenizer;

beforeAll(() => {
  english = speechText(300_000);
  tok = Tokenizer.train(english, VOCAB);
});

const SAMPLES: Record<string, string> = {
  ascii: "Hello, world! The quick brown fox jumps over the lazy dog.",
  accents: "Café déjà vu — naïve façade, Ærøskøbing, São Paulo, Øresund, Łódź.",
  cjk: "日本語のテキストと中文文本，还有한국어 텍스트。",
  emoji: "emoji 😀👍🏽👨‍👩‍👧‍👦 and flags 🇫🇷🇯🇵!",
  whitespace: "  tabs\t\tand\r\n\r\nnewlines \n\n\n   trailing   \u00a0\u3000",
  numbers: "1234567890 3.14159 1,000,000 -42 ½ ٣٤٥ Ⅻ",
  bom: "\ufeffstarts with a byte order mark",
  empty: "",
  specialsAsText: "<|reserved_0|> is plain text to encode()",
};

// ---- specification ---------------------------------------------------------------------------

describe("pre-splitting with the GPT-4-style pattern", () => {
  // Expected chunks come from Python's `regex` module running autoresearch's SPLIT_PATTERN
  // verbatim (possessive quantifiers and all); the JS translation must cut the same places.
  const cases: Array<[string, string[]]> = [
    ["Hello world's HE'LL don'T", ["Hello", " world", "'s", " HE", "'LL", " don", "'T"]],
    ["I'm x'\u017f", ["I", "'m", " x", "'\u017f"]],
    ["1234567 + 12.5%", ["12", "34", "56", "7", " +", " ", "12", ".", "5", "%"]],
    ["   leading\tand  two  spaces  ", ["  ", " leading", "\tand", " ", " two", " ", " spaces", "  "]],
    ["line one.\r\n\r\n  next ?!...\n\nend", ["line", " one", ".\r\n\r\n", " ", " next", " ?!...\n\n", "end"]],
    ["(x) «quote» $100", ["(x", ")", " «", "quote", "»", " $", "10", "0"]],
    ["日本語、テキスト。😀👍🏽!!", ["日本語", "、テキスト", "。😀👍🏽!!"]],
    // U+0085 is Unicode White_Space and U+FEFF is not: JS's own \s would get both wrong.
    ["a\u0085\u0085b\ufeffc", ["a", "\u0085", "\u0085b", "\ufeffc"]],
  ];
  it.each(cases)("splits %j as the Rust/Python pattern does", (text, chunks) => {
    expect(preSplit(text)).toEqual(chunks);
  });

  it("cuts every text into chunks that join back to it", () => {
    for (const text of [...Object.values(SAMPLES), ...english.slice(0, 200)]) expect(preSplit(text).join("")).toBe(text);
  });
});

describe("training", () => {
  it("learns exactly the merges of a brute-force reference trainer", () => {
    const texts = speechText(20_000, 40);
    const numMerges = 300;
    const trained = Tokenizer.train(texts, MIN_VOCAB_SIZE + numMerges);
    expect(trained.merges()).toEqual(referenceTrain(texts, numMerges));
  });

  it("breaks ties between equally frequent pairs by the smallest pair of ids", () => {
    // Every pair occurs once; the first merge must be the smallest, (97 'a', 98 'b').
    const trained = Tokenizer.train(["zy", "cd", "ab"], MIN_VOCAB_SIZE + 1);
    expect(trained.merges()).toEqual([[97, 98]]);
  });

  it("is deterministic and independent of the order of the texts", () => {
    const again = Tokenizer.train(english, VOCAB);
    const reversed = Tokenizer.train([...english].reverse(), VOCAB);
    expect(again.merges()).toEqual(tok.merges());
    expect(reversed.merges()).toEqual(tok.merges());
  });

  it("learns merges that compress English", () => {
    const text = speechText(30_000, 60).join("\n");
    const ids = tok.encode(text);
    expect(ids.length).toBeLessThan(utf8(text).length / 2.5);
  });

  it("trains the cpu profile's 4096-token vocabulary on a few hundred KB of real text", () => {
    const trained = Tokenizer.train(speechText(400_000, 100), 4096);
    expect(trained.vocabSize).toBe(4096);
    expect(trained.merges()).toHaveLength(4096 - MIN_VOCAB_SIZE);
  });

  it("accepts the smallest vocabulary: bytes and specials, no merge", () => {
    const bytesOnly = Tokenizer.train(["anything"], MIN_VOCAB_SIZE);
    expect(bytesOnly.merges()).toEqual([]);
    expect([...bytesOnly.encode("hi")]).toEqual([104, 105]);
  });

  it("rejects a vocabulary size outside [260, 2^20] or not an integer", () => {
    for (const bad of [0, 259, 2 ** 20 + 1, 1000.5, Number.NaN])
      expect(() => Tokenizer.train(english, bad)).toThrow(
        expect.objectContaining({ code: "INVALID_VOCAB_SIZE", message: expect.stringMatching(/260/) }),
      );
  });

  it("refuses a vocabulary the text cannot fill, saying how large it can be", () => {
    // "abcabc" has 3 distinct bytes: at most 5 merges (ab, abc, ..., abcabc as one token).
    expect(() => Tokenizer.train(["abcabc"], MIN_VOCAB_SIZE + 50)).toThrow(
      expect.objectContaining({ code: "NOT_ENOUGH_DATA", message: expect.stringMatching(/only \d+ merges/) }),
    );
    expect(() => Tokenizer.train([], MIN_VOCAB_SIZE + 1)).toThrow(expect.objectContaining({ code: "NOT_ENOUGH_DATA" }));
  });

  it("rejects texts that are not strings", () => {
    expect(() => Tokenizer.train(["ok", 42 as unknown as string], 300)).toThrow(
      expect.objectContaining({ code: "INVALID_ARGUMENT", message: expect.stringMatching(/text 1/) }),
    );
  });
});

describe("encoding and decoding", () => {
  it.each(Object.entries(SAMPLES))("round-trips %s text", (_, text) => {
    const ids = tok.encode(text);
    expect(tok.decode(ids)).toBe(text);
    expect(tok.decodeBytes(ids)).toEqual(utf8(text));
  });

  it("encodes real text exactly as the brute-force reference encoder", () => {
    const merges = tok.merges();
    for (const text of [...Object.values(SAMPLES), ...speechText(20_000, 80)])
      expect([...tok.encode(text)]).toEqual(referenceEncode(merges, text));
  });

  it("encodes long chunks (the heap path) exactly as the reference", () => {
    const random = seededRandom(7);
    const letters = "etaoinshrdlucmfwypvbgkqjxz";
    const randomWord = Array.from({ length: 3000 }, () => letters[Math.floor(random() * letters.length)]).join("");
    const merges = tok.merges();
    for (const text of ["a".repeat(5000), " ".repeat(777), "the".repeat(1500), randomWord, "é".repeat(999)]) {
      expect(preSplit(text).length).toBeLessThanOrEqual(2); // one long chunk, or two for a space run
      expect([...tok.encode(text)]).toEqual(referenceEncode(merges, text));
    }
  });

  it("encodes a batch as each text alone, optionally starting each with BOS", () => {
    const texts = [...Object.values(SAMPLES), ...english.slice(0, 50)];
    const plain = tok.encodeBatch(texts);
    const withBos = tok.encodeBatch(texts, { prependBos: true });
    texts.forEach((text, i) => {
      expect(plain[i]).toEqual(tok.encode(text));
      expect(withBos[i]![0]).toBe(tok.bosId);
      expect(withBos[i]!.subarray(1)).toEqual(plain[i]);
    });
    expect(tok.encodeBatch([])).toEqual([]);
  });

  it("rejects an unknown batch option by name", () => {
    expect(() => tok.encodeBatch(["x"], { prependBOS: true } as never)).toThrow(
      expect.objectContaining({ code: "INVALID_ARGUMENT", message: expect.stringMatching(/'prependBOS'/) }),
    );
  });

  it("does not recognize special-token names in text; decodes special ids to their names", () => {
    const ids = tok.encode("<|reserved_0|>");
    expect([...ids].every((id) => id < tok.vocabSize - 4)).toBe(true);
    expect(tok.decode([tok.bosId, ...tok.encode("doc")])).toBe("<|reserved_0|>doc");
  });

  it("encodes valid UTF-8 bytes exactly as their text", () => {
    for (const text of Object.values(SAMPLES)) expect(tok.encodeBytes(utf8(text))).toEqual(tok.encode(text));
  });

  it("round-trips bytes that are not UTF-8", () => {
    const random = seededRandom(11);
    const cases = [
      Uint8Array.from({ length: 256 }, (_, i) => i),
      Uint8Array.from([0xff, 0xfe, 0x80, 0xbf, 0xc0, 0xaf]), // stray continuation, overlong "/"
      Uint8Array.from([0xed, 0xa0, 0x80, 0x20, 0xf4, 0x90, 0x80, 0x80]), // a surrogate, past U+10FFFF
      new Uint8Array([...utf8("caf"), 0xc3]), // cut in the middle of "é"
      new Uint8Array([...utf8("日本"), 0xe8, 0xaa, ...utf8(" words\n\n"), 0xff, ...utf8("more 😀")]),
      Uint8Array.from({ length: 5000 }, () => Math.floor(random() * 256)),
    ];
    for (const bytes of cases) expect(tok.decodeBytes(tok.encodeBytes(bytes))).toEqual(bytes);
  });

  it("keeps valid text between invalid bytes tokenized as text", () => {
    const bytes = new Uint8Array([0xff, ...utf8(" the nation"), 0xfe]);
    const ids = [...tok.encodeBytes(bytes)];
    expect(ids.slice(1, -1)).toEqual([...tok.encode(" the nation")]);
  });

  it("turns lone surrogates into U+FFFD, as TextEncoder does", () => {
    expect(tok.decode(tok.encode("a\ud800b"))).toBe("a\ufffdb");
  });

  it("rejects ids outside the vocabulary", () => {
    for (const bad of [-1, tok.vocabSize, 1.5])
      expect(() => tok.decode([1, bad])).toThrow(
        expect.objectContaining({ code: "INVALID_TOKEN_ID", message: expect.stringMatching(/position 1/) }),
      );
  });
});

describe("token byte lengths (for bits per byte)", () => {
  it("puts BOS and the other specials after the merges with 0 bytes", () => {
    const lengths = tok.tokenBytes();
    expect(lengths.length).toBe(VOCAB);
    expect(tok.bosId).toBe(VOCAB - 4);
    expect([...lengths.subarray(VOCAB - 4)]).toEqual([0, 0, 0, 0]);
    expect([...lengths.subarray(0, 256)].every((n) => n === 1)).toBe(true);
    expect([...lengths.subarray(256, VOCAB - 4)].every((n) => n >= 2)).toBe(true);
  });

  it("sum to the byte length of the encoded text", () => {
    const lengths = tok.tokenBytes();
    for (const text of [...Object.values(SAMPLES), english.join("\n")]) {
      let sum = 0;
      for (const id of tok.encode(text)) sum += lengths[id]!;
      expect(sum).toBe(utf8(text).length);
    }
  });
});

describe("saving and loading", () => {
  const saved = () => {
    const file = join(root, `tok-${Math.random().toString(36).slice(2)}.json`);
    tok.save(file);
    return file;
  };
  const expectLoadError = (content: string | Uint8Array, code: string, pattern: RegExp) => {
    const file = join(root, `bad-${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(file, content);
    expect(() => Tokenizer.load(file)).toThrow(expect.objectContaining({ code, message: expect.stringMatching(pattern) }));
  };

  it("loads what it saved: same vocabulary, merges and encodings", () => {
    const loaded = Tokenizer.load(saved());
    expect(loaded.vocabSize).toBe(tok.vocabSize);
    expect(loaded.bosId).toBe(tok.bosId);
    expect(loaded.merges()).toEqual(tok.merges());
    expect(loaded.tokenBytes()).toEqual(tok.tokenBytes());
    const text = english.slice(0, 30).join("\n");
    expect(loaded.encode(text)).toEqual(tok.encode(text));
  });

  it("writes a byte-identical file for the same training input, even from another process", () => {
    const corpusFile = join(root, "corpus.json");
    const texts = english.slice(0, 400);
    writeFileSync(corpusFile, JSON.stringify(texts));
    const here = join(root, "here.json");
    Tokenizer.train(texts, 700).save(here);
    const there = join(root, "there.json");
    const script = join(root, "train-child.mts");
    const modulePath = resolve("src/harness/tokenizer.ts");
    writeFileSync(
      script,
      `import { readFileSync } from "node:fs";\n` +
        `import { Tokenizer } from ${JSON.stringify(modulePath)};\n` +
        `Tokenizer.train(JSON.parse(readFileSync(${JSON.stringify(corpusFile)}, "utf8")), 700).save(${JSON.stringify(there)});\n`,
    );
    const child = spawnSync(process.execPath, ["--import", "tsx", script], { encoding: "utf8" });
    expect(child.stderr).toBe("");
    expect(child.status).toBe(0);
    expect(readFileSync(there)).toEqual(readFileSync(here));
  });

  it("records the split pattern and the special tokens in the file", () => {
    const doc = JSON.parse(readFileSync(saved(), "utf8"));
    expect(doc.pattern).toBe(SPLIT_PATTERN);
    expect(doc.specialTokens).toEqual(["<|reserved_0|>", "<|reserved_1|>", "<|reserved_2|>", "<|reserved_3|>"]);
    expect(doc.merges).toHaveLength(VOCAB - MIN_VOCAB_SIZE);
  });

  it("says to run prepare when the file is missing", () => {
    expect(() => Tokenizer.load(join(root, "nope.json"))).toThrow(
      expect.objectContaining({ code: "TOKENIZER_NOT_FOUND", message: expect.stringMatching(/nightshift prepare/) }),
    );
  });

  it("refuses a truncated or empty file", () => {
    const content = readFileSync(saved());
    expectLoadError(content.subarray(0, content.length - 40), "TOKENIZER_CORRUPT", /truncated/);
    expectLoadError(content.subarray(0, 100), "TOKENIZER_CORRUPT", /truncated/);
    expectLoadError("", "TOKENIZER_CORRUPT", /truncated/);
  });

  it("refuses a changed merge (checksum), a missing merge and an impossible merge", () => {
    const doc = JSON.parse(readFileSync(saved(), "utf8"));
    const changed = structuredClone(doc);
    changed.merges[10] = [changed.merges[10][0], (changed.merges[10][1] + 1) % 256];
    expectLoadError(JSON.stringify(changed), "TOKENIZER_CORRUPT", /checksum/);
    const missing = structuredClone(doc);
    missing.merges.pop();
    expectLoadError(JSON.stringify(missing), "TOKENIZER_CORRUPT", /expected 764 merges/);
    const impossible = structuredClone(doc);
    impossible.merges[0] = [300, 1];
    expectLoadError(JSON.stringify(impossible), "TOKENIZER_CORRUPT", /merge 0/);
  });

  it("refuses a merge listed twice even with a matching checksum", () => {
    const doc = JSON.parse(readFileSync(saved(), "utf8"));
    doc.merges[5] = doc.merges[4];
    const flat = new DataView(new ArrayBuffer(doc.merges.length * 8));
    (doc.merges as Array<[number, number]>).forEach(([a, b], i) => {
      flat.setInt32(8 * i, a, true);
      flat.setInt32(8 * i + 4, b, true);
    });
    doc.mergesSha256 = createHash("sha256").update(new Uint8Array(flat.buffer)).digest("hex");
    expectLoadError(JSON.stringify(doc), "TOKENIZER_CORRUPT", /repeats an earlier merge/);
  });

  it("refuses another format version or another split pattern", () => {
    const doc = JSON.parse(readFileSync(saved(), "utf8"));
    expectLoadError(JSON.stringify({ ...doc, version: 2 }), "TOKENIZER_UNSUPPORTED", /version 2/);
    expectLoadError(JSON.stringify({ ...doc, pattern: "\\s+" }), "TOKENIZER_UNSUPPORTED", /split pattern/);
    expectLoadError(JSON.stringify([1, 2]), "TOKENIZER_CORRUPT", /not a JSON object/);
  });
});
