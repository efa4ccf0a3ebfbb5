/**
 * The user's own data for `nightshift prepare --data PATH...`: finding the files under each
 * path and reading them into documents.
 *
 * - `.txt`: one document per file. A file over TXT_WHOLE_FILE_MAX_BYTES (a book, a dump) is cut
 *   at blank-line gaps into documents of at most TXT_GROUP_BYTES (paragraphs are never split),
 *   so it does not become one giant document the packing loader would mostly crop away, and so
 *   the per-document hash split can still spread it over train/val/test.
 * - `.jsonl`: one document per line, from its string `text` field; blank lines are skipped;
 *   any other bad line is an error that lists the line numbers.
 * - `.parquet`: one document per row of its `text` column (parquet.ts; any common codec).
 *
 * Directories are searched recursively; hidden entries (".name") are skipped, and so are files
 * of other types inside a directory (they are reported). Must not split, hash or tokenize.
 */
import { readdirSync, readFileSync, realpathSync, statSync } from "node:fs";
import { basename, extname, join } from "node:path";
import { decodeUtf8, groupParagraphs, normalizeText, splitParagraphs } from "./documents.ts";
import { DataError } from "./errors.ts";
import { readParquetDocuments } from "./parquet.ts";

export const SUPPORTED_EXTENSIONS = [".txt", ".jsonl", ".parquet"] as const;
export type DataFileKind = "txt" | "jsonl" | "parquet";

/** A .txt file up to this size is one document. */
export const TXT_WHOLE_FILE_MAX_BYTES = 64 * 1024;
/** Larger .txt files become paragraph groups of at most this size. */
export const TXT_GROUP_BYTES = 8 * 1024;

const SUPPORTED_LIST = SUPPORTED_EXTENSIONS.join(", ");

export function dataFileKind(file: string): DataFileKind | null {
  switch (extname(file).toLowerCase()) {
    case ".txt":
      return "txt";
    case ".jsonl":
      return "jsonl";
    case ".parquet":
      return "parquet";
    default:
      return null;
  }
}

export interface DataFileListing {
  /** Supported files, real paths, sorted. */
  files: string[];
  /** Files inside directories that were passed over because of their extension. */
  skipped: string[];
}

/** The data files a --data argument names: the file itself, or every supported file below a directory. */
export function listDataFiles(path: string): DataFileListing {
  let stats;
  try {
    stats = statSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT")
      throw new DataError("DATA_PATH_NOT_FOUND", `--data ${path}: no such file or directory; check the path`);
    throw new DataError("DATA_UNREADABLE", `--data ${path}: cannot read it (${(err as Error).message})`, { cause: err });
  }
  if (stats.isFile()) {
    if (dataFileKind(path) === null)
      throw new DataError(
        "DATA_UNSUPPORTED_EXTENSION",
        `--data ${path}: unsupported file type "${extname(path) || "(none)"}"; use ${SUPPORTED_LIST} files (convert it, or rename it if it is plain text)`,
      );
    return { files: [realpathSync(path)], skipped: [] };
  }
  if (!stats.isDirectory())
    throw new DataError("DATA_UNSUPPORTED_EXTENSION", `--data ${path}: neither a file nor a directory; pass ${SUPPORTED_LIST} files or directories of them`);

  const files: string[] = [];
  const skipped: string[] = [];
  const visited = new Set<string>();
  const walk = (dir: string): void => {
    const real = realpathSync(dir);
    if (visited.has(real)) return; // a symlink loop, or the same folder reached twice
    visited.add(real);
    let entries: string[];
    try {
      entries = readdirSync(dir);
    } catch (err) {
      throw new DataError("DATA_UNREADABLE", `--data ${path}: cannot list ${dir} (${(err as Error).message})`, { cause: err });
    }
    for (const name of entries.sort()) {
      if (name.startsWith(".")) continue;
      const full = join(dir, name);
      const entry = statSync(full, { throwIfNoEntry: false });
      if (!entry) continue; // a dangling symlink
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile()) {
        if (dataFileKind(name) !== null) files.push(realpathSync(full));
        else skipped.push(full);
      }
    }
  };
  walk(path);
  if (files.length === 0) {
    const examples = skipped.slice(0, 3).map((f) => basename(f));
    const note = skipped.length > 0 ? ` (it has ${skipped.length} other file(s), e.g. ${examples.join(", ")})` : "";
    throw new DataError("DATA_DIR_EMPTY", `--data ${path}: no ${SUPPORTED_LIST} files found in this directory${note}; point --data at your data files`);
  }
  return { files: files.sort(), skipped };
}

export function readFileBytes(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new DataError("DATA_UNREADABLE", `${file}: cannot read it (${(err as Error).message})`, { cause: err });
  }
}

/** Documents of a .txt file (see the file comment for the rule). */
export function readTxtDocuments(file: string, bytes: Uint8Array): string[] {
  const text = normalizeText(decodeUtf8(file, bytes));
  if (bytes.byteLength <= TXT_WHOLE_FILE_MAX_BYTES) {
    const doc = text.trim();
    return doc.length > 0 ? [doc] : [];
  }
  return groupParagraphs(splitParagraphs(text), TXT_GROUP_BYTES);
}

/** Documents of a .jsonl file: the `text` field of every line. Throws listing every bad line. */
export function readJsonlDocuments(file: string, bytes: Uint8Array): string[] {
  const text = normalizeText(decodeUtf8(file, bytes));
  const documents: string[] = [];
  const bad: string[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim().length === 0) continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      bad.push(`line ${i + 1}: not valid JSON`);
      continue;
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      bad.push(`line ${i + 1}: not a JSON object`);
      continue;
    }
    const field = (value as Record<string, unknown>).text;
    if (typeof field !== "string") {
      bad.push(`line ${i + 1}: ${field === undefined ? "no" : "non-string"} "text" field`);
      continue;
    }
    const doc = field.trim();
    if (doc.length > 0) documents.push(normalizeText(doc));
  }
  if (bad.length > 0) {
    const shown = bad.slice(0, 5).join("; ");
    const more = bad.length > 5 ? `; and ${bad.length - 5} more` : "";
    throw new DataError(
      "DATA_JSONL_BAD_LINES",
      `${file}: ${bad.length} bad line(s) (${shown}${more}); every line must be a JSON object with a string "text" field: fix or remove them`,
    );
  }
  return documents;
}

/** Documents of one data file of any supported kind. */
export async function readDataFile(file: string): Promise<string[]> {
  switch (dataFileKind(file)) {
    case "txt":
      return readTxtDocuments(file, readFileBytes(file));
    case "jsonl":
      return readJsonlDocuments(file, readFileBytes(file));
    case "parquet":
      return readParquetDocuments(file);
    default:
      throw new DataError("DATA_UNSUPPORTED_EXTENSION", `${file}: unsupported file type; use ${SUPPORTED_LIST} files`);
  }
}
