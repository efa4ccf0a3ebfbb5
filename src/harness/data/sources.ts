/**
 * Where documents come from: the embedded corpus when no --data is given, otherwise one source
 * per --data argument (a file, or every supported file below a directory). Each source has a
 * cheap fingerprint — SHA-256 over its raw file bytes and the rules that turn them into
 * documents — computed without parsing, so `prepare` can recognise an existing dataset before
 * doing any real work. Must not split, tokenize or write anything.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { resolve } from "node:path";
import { embeddedCorpus } from "./embedded.ts";
import { DataError } from "./errors.ts";
import { TXT_GROUP_BYTES, TXT_WHOLE_FILE_MAX_BYTES, listDataFiles, readDataFile } from "./text-files.ts";

/** Bump when the reading of .txt / .jsonl / .parquet files changes what documents they yield. */
export const TEXT_RULES_VERSION = 1;

export interface DataSource {
  /** Shown in the manifest's `sources` (a package@version, or the --data path). */
  name: string;
  /** SHA-256 of the source's raw bytes and document rules: equal fingerprints, equal documents. */
  fingerprint: string;
  /** Files inside directories that were passed over because of their type (reported, not fatal). */
  skipped: string[];
  /** Reads and parses the documents (at most maxDocs of them, in file order, when that is set). */
  load(): Promise<string[]>;
}

async function hashFile(file: string): Promise<Buffer> {
  const hash = createHash("sha256");
  try {
    for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  } catch (err) {
    throw new DataError("DATA_UNREADABLE", `${file}: cannot read it (${(err as Error).message})`, { cause: err });
  }
  return hash.digest();
}

/**
 * The sources of a prepare run. `data` undefined means the embedded corpus. A file reached by
 * two arguments (a file and a directory holding it) is read once, for the first argument.
 */
export async function resolveSources(data: readonly string[] | undefined, maxDocs?: number): Promise<DataSource[]> {
  const capped = (docs: string[]): string[] => (maxDocs === undefined ? docs : docs.slice(0, maxDocs));
  if (data === undefined) {
    return embeddedCorpus(maxDocs).map((corpus) => ({
      name: corpus.name,
      fingerprint: corpus.fingerprint,
      skipped: [],
      load: async () => capped(await corpus.load()),
    }));
  }
  const claimed = new Set<string>();
  const sources: DataSource[] = [];
  for (const path of data) {
    const listing = listDataFiles(path);
    const files = listing.files.filter((file) => !claimed.has(file));
    for (const file of files) claimed.add(file);
    if (files.length === 0) continue;
    // Sorted file hashes: renaming or moving files does not change the documents, so neither
    // does it change the fingerprint; the rules and the cap do.
    const fileHashes = await Promise.all(files.map(hashFile));
    fileHashes.sort(Buffer.compare);
    const fingerprint = createHash("sha256").update(
      `files\0rules=${TEXT_RULES_VERSION}\0whole=${TXT_WHOLE_FILE_MAX_BYTES}\0group=${TXT_GROUP_BYTES}\0maxDocs=${maxDocs ?? "all"}\0`,
    );
    for (const h of fileHashes) fingerprint.update(h);
    sources.push({
      name: resolve(path),
      fingerprint: fingerprint.digest("hex"),
      skipped: listing.skipped,
      async load() {
        const documents: string[] = [];
        for (const file of files) {
          for (const doc of await readDataFile(file)) documents.push(doc);
          if (maxDocs !== undefined && documents.length >= maxDocs) break;
        }
        return capped(documents);
      },
    });
  }
  return sources;
}
