/**
 * Reading the `text` column of a .parquet file for `nightshift prepare --data`, whatever the
 * compression codec its writer chose. hyparquet decodes uncompressed and snappy pages itself;
 * gzip, brotli, zstd, lz4 and lz4_raw pages go through hyparquet-compressors (pure JS, plus
 * wasm shipped inside the package: nothing is downloaded). That module is imported only when a
 * file needs it, so commands that never read such a file do not pay for loading it. A codec
 * neither can decode (LZO, or one newer than this reader) is refused before any page is read,
 * with the codec's name and a way out. Must not split, hash or tokenize.
 */
import { type Compressors, type FileMetaData, asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects, parquetSchema } from "hyparquet";
import { decodeUtf8, normalizeText } from "./documents.ts";
import { DataError } from "./errors.ts";

/** Codecs hyparquet decodes without help. */
const BUILT_IN_CODECS = new Set(["UNCOMPRESSED", "SNAPPY"]);
/** Codecs decoded through hyparquet-compressors. */
const EXTRA_CODECS = ["GZIP", "BROTLI", "ZSTD", "LZ4", "LZ4_RAW"] as const;
type ExtraCodec = (typeof EXTRA_CODECS)[number];

/** Every codec this reader accepts, as a user would name them. */
export const READABLE_PARQUET_CODECS = ["uncompressed", "snappy", "gzip", "brotli", "zstd", "lz4", "lz4_raw"] as const;

const isExtraCodec = (codec: string): codec is ExtraCodec => (EXTRA_CODECS as readonly string[]).includes(codec);

let extraDecompressors: Promise<Compressors> | undefined;

/** The decompressors of hyparquet-compressors, loaded on first use. */
function loadExtraDecompressors(): Promise<Compressors> {
  // Its own `compressors` map would also instantiate a wasm snappy decoder at import; hyparquet
  // already decodes snappy, so only the codecs it lacks are taken, by name.
  extraDecompressors ??= import("hyparquet-compressors").then((lib) => ({
    GZIP: lib.decompressGzip,
    BROTLI: lib.decompressBrotli,
    ZSTD: (input: Uint8Array) => lib.decompressZstd(input),
    LZ4: lib.decompressLz4,
    LZ4_RAW: lib.decompressLz4Raw,
  }));
  return extraDecompressors;
}

/**
 * The codecs of the `text` column's chunks. A codec number this hyparquet does not know comes
 * back from its thrift decoding as undefined; it is reported as "unknown".
 */
function textColumnCodecs(metadata: FileMetaData): Set<string> {
  const codecs = new Set<string>();
  for (const group of metadata.row_groups)
    for (const chunk of group.columns) {
      const meta = chunk.meta_data;
      if (meta && meta.path_in_schema.length === 1 && meta.path_in_schema[0] === "text") codecs.add(String(meta.codec ?? "unknown"));
    }
  return codecs;
}

/** The decompressors the codecs need, or a DataError naming the first codec nothing here decodes. */
async function decompressorsFor(file: string, codecs: Set<string>): Promise<Compressors | undefined> {
  for (const codec of codecs)
    if (!BUILT_IN_CODECS.has(codec) && !isExtraCodec(codec))
      throw new DataError(
        "DATA_PARQUET_UNSUPPORTED_CODEC",
        `${file}: its "text" column is compressed with ${codec}, which nightshift cannot decode; rewrite the file with one of ${READABLE_PARQUET_CODECS.join(", ")} (e.g. pyarrow: pq.write_table(table, path, compression="zstd"))`,
      );
  return [...codecs].some(isExtraCodec) ? loadExtraDecompressors() : undefined;
}

/** Documents of a .parquet file: every non-empty value of its `text` column. */
export async function readParquetDocuments(file: string): Promise<string[]> {
  let rows: Record<string, unknown>[];
  try {
    const buffer = await asyncBufferFromFile(file);
    const metadata = await parquetMetadataAsync(buffer);
    const columns = parquetSchema(metadata).children.map((child) => child.element.name);
    if (!columns.includes("text"))
      throw new DataError(
        "DATA_PARQUET_NO_TEXT_COLUMN",
        `${file}: no "text" column (its columns: ${columns.join(", ") || "none"}); nightshift reads documents from a string column named "text": rename the column`,
      );
    const compressors = await decompressorsFor(file, textColumnCodecs(metadata));
    rows = (await parquetReadObjects({ file: buffer, metadata, columns: ["text"], compressors })) as Record<string, unknown>[];
  } catch (err) {
    if (err instanceof DataError) throw err;
    throw new DataError(
      "DATA_PARQUET_UNREADABLE",
      `${file}: cannot read this parquet file (${(err as Error).message}); check that it is a complete parquet file, or rewrite it (e.g. with pyarrow)`,
      { cause: err },
    );
  }
  const documents: string[] = [];
  for (let i = 0; i < rows.length; i++) {
    const value = rows[i]!.text;
    if (value === null || value === undefined) continue;
    let text: string;
    if (typeof value === "string") text = value;
    else if (value instanceof Uint8Array) text = decodeUtf8(`${file} (row ${i})`, value);
    else
      throw new DataError(
        "DATA_PARQUET_UNREADABLE",
        `${file}: row ${i} of the "text" column holds a ${typeof value}, not a string; the "text" column must be strings`,
      );
    const doc = normalizeText(text).trim();
    if (doc.length > 0) documents.push(doc);
  }
  return documents;
}
