/**
 * StoreError: every failure of the store surfaces as this class with a stable `code` and a
 * one-line message. SQLite's own errors are wrapped (busy, disk full, constraint), so callers
 * never need to know better-sqlite3's error shapes; nothing here prints or exits.
 */
import { unknownOption } from "../util/suggest.ts";
import { CodedError } from "../util/errors.ts";

export type StoreErrorCode =
  | "STORE_INVALID_ARGUMENT" // a bad id, commit hash, number, status or option
  | "STORE_NOT_FOUND" // read-only open of a file that does not exist
  | "STORE_CANNOT_OPEN" // SQLite could not open the file (permissions, a directory, no such folder)
  | "STORE_NOT_NIGHTSHIFT" // the file is not a nightshift store (another SQLite database, or not SQLite)
  | "STORE_TOO_NEW" // written by a newer nightshift: this one does not know its schema
  | "STORE_OUTDATED" // read-only open of a store that needs a migration first
  | "STORE_EMPTY" // read-only open of an empty file: never an old store to migrate
  | "STORE_READONLY" // a write through a store opened read-only
  | "STORE_CLOSED" // a call after close()
  | "STORE_UNKNOWN_ORG"
  | "STORE_UNKNOWN_RUN"
  | "STORE_UNKNOWN_EXPERIMENT"
  | "STORE_CONFLICT" // a unique name or branch already taken
  | "STORE_BAD_TRANSITION" // e.g. finishing an experiment that is not running
  | "STORE_BUSY" // another connection held the write lock past the busy timeout
  | "STORE_SQLITE"; // any other SQLite failure (disk full, I/O error, corruption)

export class StoreError extends CodedError<StoreErrorCode> {}

export function invalid(message: string): never {
  throw new StoreError("STORE_INVALID_ARGUMENT", message);
}

/** Rejects keys an input object does not know, suggesting the closest known one. */
export function checkKeys(where: string, input: unknown, known: readonly string[]): void {
  if (input === undefined) return;
  if (typeof input !== "object" || input === null || Array.isArray(input)) invalid(`${where}: expected an object`);
  const problem = unknownOption(input, known);
  if (problem) invalid(`${where}: ${problem}`);
}

/** The SQLite error code (e.g. SQLITE_BUSY) of an error thrown by better-sqlite3, if any. */
export function sqliteCode(err: unknown): string | undefined {
  if (err instanceof Error && "code" in err && typeof err.code === "string" && err.code.startsWith("SQLITE_"))
    return err.code;
  return undefined;
}

/** Wraps a better-sqlite3 failure as a StoreError; StoreErrors pass through unchanged. */
export function wrapSqlite(err: unknown, doing: string): unknown {
  if (err instanceof StoreError) return err;
  const code = sqliteCode(err);
  if (code === undefined) return err; // a programming error in the store: let it surface as is
  const detail = err instanceof Error ? err.message.split("\n")[0] : String(err);
  if (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED"))
    return new StoreError("STORE_BUSY", `${doing}: the store is locked by another writer (${detail})`, { cause: err });
  if (code.startsWith("SQLITE_READONLY"))
    return new StoreError("STORE_READONLY", `${doing}: the store is read-only (${detail})`, { cause: err });
  if (code === "SQLITE_NOTADB")
    return new StoreError("STORE_NOT_NIGHTSHIFT", `${doing}: not a nightshift store (${detail})`, { cause: err });
  return new StoreError("STORE_SQLITE", `${doing}: ${detail} [${code}]`, { cause: err });
}
