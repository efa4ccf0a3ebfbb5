/**
 * DataError: every way `nightshift prepare` can refuse its input — a missing path, an empty
 * directory, a file it cannot read or parse, options it does not accept — as one class with a
 * stable `code` and a one-line message that says what to do. Only input problems belong here:
 * a bug in prepare itself stays an ordinary Error.
 */
import { CodedError } from "../../util/errors.ts";
export type DataErrorCode =
  | "DATA_PATH_NOT_FOUND" // a --data path does not exist
  | "DATA_DIR_EMPTY" // a --data directory holds no .txt/.jsonl/.parquet file
  | "DATA_UNSUPPORTED_EXTENSION" // a --data file that is not .txt/.jsonl/.parquet
  | "DATA_UNREADABLE" // a file exists but cannot be read (permissions, I/O)
  | "DATA_NOT_UTF8" // a .txt or .jsonl file that is not valid UTF-8
  | "DATA_JSONL_BAD_LINES" // .jsonl lines that are not JSON objects with a string `text`
  | "DATA_PARQUET_NO_TEXT_COLUMN" // a .parquet file without a `text` column
  | "DATA_PARQUET_UNREADABLE" // a .parquet file hyparquet cannot decode
  | "DATA_PARQUET_UNSUPPORTED_CODEC" // a .parquet file whose text column uses a codec nothing here decodes (LZO)
  | "DATA_NO_DOCUMENTS" // the sources hold no non-empty document
  | "DATA_TOO_FEW_DOCUMENTS" // too few documents for a train, a val and a test split
  | "DATA_EMBEDDED_MISSING" // the embedded corpus package is not installed (or has lost its data files)
  | "DATA_INVALID_OPTION"; // a prepare option of the wrong kind, or an unknown one

export class DataError extends CodedError<DataErrorCode> {}
