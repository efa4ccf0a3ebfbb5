/**
 * Real parquet files for the data tests, written by hyparquet-writer with the compression codec
 * a test asks for: gzip and brotli from node:zlib, zstd from @hpcc-js/wasm-zstd (Node 20's zlib
 * has no zstd), LZ4 and LZ4_RAW as literal-only blocks (valid LZ4 that any decoder must read;
 * Node ships no LZ4 compressor). For a codec nothing can decode here (LZO), the pages are
 * stored as they are under that codec's name: a reader must refuse such a file by the codec in
 * its metadata, before it decodes a page. Test-only: never imported by src/.
 */
import { writeFileSync } from "node:fs";
import { brotliCompressSync, gzipSync } from "node:zlib";
import { Zstd } from "@hpcc-js/wasm-zstd";
import { type CompressionCodec, type FileMetaData, parquetMetadata } from "hyparquet";
import { parquetWriteBuffer } from "hyparquet-writer";

type Compressor = (input: Uint8Array) => Uint8Array;

/** One LZ4 block holding `input` as a single run of literals (no matches). */
function lz4LiteralBlock(input: Uint8Array): Uint8Array {
  const header: number[] = [];
  const length = input.length;
  header.push(Math.min(length, 15) << 4);
  if (length >= 15) {
    let rest = length - 15;
    for (; rest >= 255; rest -= 255) header.push(255);
    header.push(rest);
  }
  const out = new Uint8Array(header.length + length);
  out.set(header, 0);
  out.set(input, header.length);
  return out;
}

/** Hadoop's LZ4 framing, which parquet's (deprecated) LZ4 codec uses: two big-endian sizes, then the block. */
function hadoopLz4(input: Uint8Array): Uint8Array {
  const block = lz4LiteralBlock(input);
  const out = new Uint8Array(8 + block.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, input.length);
  view.setUint32(4, block.length);
  out.set(block, 8);
  return out;
}

let zstd: Zstd | undefined;

async function compressorFor(codec: CompressionCodec): Promise<Compressor | undefined> {
  switch (codec) {
    case "UNCOMPRESSED":
    case "SNAPPY":
      return undefined; // hyparquet-writer's own
    case "GZIP":
      return (input) => gzipSync(input);
    case "BROTLI":
      return (input) => brotliCompressSync(input);
    case "ZSTD": {
      zstd ??= await Zstd.load();
      const loaded = zstd;
      return (input) => loaded.compress(input);
    }
    case "LZ4":
      return hadoopLz4;
    case "LZ4_RAW":
      return lz4LiteralBlock;
    default:
      return (input) => input;
  }
}

/** Writes `texts` as the string column `text` of a parquet file whose pages all use `codec`; returns its metadata. */
export async function writeTextParquet(file: string, texts: readonly string[], codec: CompressionCodec): Promise<FileMetaData> {
  const compressor = await compressorFor(codec);
  const buffer = parquetWriteBuffer({
    columnData: [{ name: "text", data: [...texts], type: "STRING" }],
    codec,
    compressors: compressor ? { [codec]: compressor } : undefined,
  });
  writeFileSync(file, new Uint8Array(buffer));
  return parquetMetadata(buffer);
}
