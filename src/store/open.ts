/**
 * Opening a store file: recognizing it (a fresh file, a nightshift store, or something else),
 * setting the connection up (WAL, foreign keys, busy timeout, synchronous FULL) and bringing its
 * schema up to date. Opening an up-to-date store writes nothing.
 *
 * Why synchronous = FULL rather than NORMAL: under WAL both survive a killed process (a commit
 * is in the WAL before COMMIT returns); they differ on power loss, where NORMAL may lose the
 * last transactions. The lab's git commits and the store must agree after a crash, and the store
 * commits only a handful of transactions per experiment (each a minutes-long training run), so
 * the extra fsync per commit costs nothing that matters (measured: see test/store/store.test.ts).
 */
import { existsSync, statSync } from "node:fs";
import Database from "better-sqlite3";
import { StoreError, checkKeys, sqliteCode, wrapSqlite } from "./errors.ts";
import { APPLICATION_ID, LATEST_VERSION, MIGRATIONS } from "./migrations.ts";
import type { StoreOptions } from "./types.ts";

const OPTION_KEYS = ["readonly", "busyTimeoutMs", "secrets", "now"] as const;
export const DEFAULT_BUSY_TIMEOUT_MS = 5000;

export function checkStoreOptions(path: unknown, options: StoreOptions): void {
  checkKeys("openStore", options, OPTION_KEYS);
  const bad = (message: string): never => {
    throw new StoreError("STORE_INVALID_ARGUMENT", `openStore: ${message}`);
  };
  if (typeof path !== "string" || path === "") bad("path must be a non-empty string");
  if (options.readonly !== undefined && typeof options.readonly !== "boolean") bad("readonly must be a boolean");
  const t = options.busyTimeoutMs;
  if (t !== undefined && (typeof t !== "number" || !Number.isSafeInteger(t) || t < 0))
    bad("busyTimeoutMs must be a non-negative integer");
  if (options.secrets !== undefined && (!Array.isArray(options.secrets) || options.secrets.some((s) => typeof s !== "string")))
    bad("secrets must be an array of strings");
  if (options.now !== undefined && typeof options.now !== "function") bad("now must be a function returning a Date");
}

/** Opens the SQLite connection and makes sure it is a nightshift store at LATEST_VERSION. */
export function openConnection(path: string, options: StoreOptions): { db: Database.Database; version: number } {
  const readonly = options.readonly ?? false;
  if (readonly && !existsSync(path))
    throw new StoreError("STORE_NOT_FOUND", `no store at ${path} (a read-only open never creates one)`);
  if (existsSync(path) && statSync(path).isDirectory())
    throw new StoreError("STORE_CANNOT_OPEN", `cannot open store ${path}: it is a directory`);

  let db: Database.Database;
  try {
    db = new Database(path, {
      readonly,
      fileMustExist: readonly,
      timeout: options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS,
    });
  } catch (err) {
    const detail = err instanceof Error ? err.message.split("\n")[0] : String(err);
    throw new StoreError("STORE_CANNOT_OPEN", `cannot open store ${path}: ${detail}`, { cause: err });
  }
  try {
    const version = identify(db, path);
    if (version > LATEST_VERSION)
      throw new StoreError(
        "STORE_TOO_NEW",
        `store ${path} has schema version ${version}, written by a newer nightshift (this one knows up to ${LATEST_VERSION}): upgrade nightshift to open it`,
      );
    db.pragma("foreign_keys = ON");
    if (!readonly) {
      // WAL: readers never block the writer and see only committed transactions.
      db.pragma("journal_mode = WAL");
      db.pragma("synchronous = FULL");
      return { db, version: migrate(db, version) };
    }
    // An empty file is not an old store: opening it read-write would make a fresh one over
    // whatever it held before it was emptied.
    if (version === 0)
      throw new StoreError(
        "STORE_EMPTY",
        `store ${path} is empty: nothing is recorded in it${statSync(path).size === 0 ? " (the file is 0 bytes: if runs were recorded there, its contents were lost; restore it from a backup)" : ""}`,
      );
    if (version < LATEST_VERSION)
      throw new StoreError(
        "STORE_OUTDATED",
        `store ${path} has schema version ${version}, older than this nightshift's ${LATEST_VERSION}: open it once read-write to migrate it`,
      );
    return { db, version };
  } catch (err) {
    db.close();
    throw wrapSqlite(err, `opening store ${path}`);
  }
}

/** The schema version of the file: 0 for an empty database; throws for a foreign file. */
function identify(db: Database.Database, path: string): number {
  const notOurs = (why: string, cause?: unknown): StoreError =>
    new StoreError("STORE_NOT_NIGHTSHIFT", `${path} is not a nightshift store: ${why}`, { cause });
  let appId: number;
  let objects: number;
  try {
    appId = db.pragma("application_id", { simple: true }) as number;
    objects = (db.prepare("SELECT count(*) AS n FROM sqlite_schema").get() as { n: number }).n;
  } catch (err) {
    if (sqliteCode(err) === "SQLITE_NOTADB") throw notOurs("not an SQLite database", err);
    throw err;
  }
  if (appId === 0 && objects === 0) return 0;
  if (appId !== APPLICATION_ID)
    throw notOurs(appId === 0 ? "an SQLite database of something else" : `an SQLite database with application_id ${appId}`);
  const hasVersions = db.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'schema_version'").get();
  if (!hasVersions) throw notOurs("it has no schema_version table");
  return currentVersion(db);
}

function currentVersion(db: Database.Database): number {
  const row = db.prepare("SELECT max(version) AS v FROM schema_version").get() as { v: number | null };
  return row.v ?? 0;
}

/**
 * Applies the missing migrations, each in its own IMMEDIATE transaction with its version row.
 * The version is re-read inside the transaction: two processes opening a fresh file at once
 * serialize on the write lock, and the second finds nothing left to do.
 */
function migrate(db: Database.Database, from: number): number {
  let version = from;
  for (const step of MIGRATIONS) {
    if (step.version <= version) continue;
    const apply = db.transaction(() => {
      db.exec(`CREATE TABLE IF NOT EXISTS schema_version (
        version     INTEGER PRIMARY KEY,
        description TEXT NOT NULL,
        applied_at  TEXT NOT NULL
      ) STRICT`);
      if (currentVersion(db) >= step.version) return;
      db.exec(step.sql);
      db.prepare("INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)").run(
        step.version,
        step.description,
        new Date().toISOString(),
      );
      // The header field is part of the transaction: a crash leaves either no mark or a full v1.
      db.pragma(`application_id = ${APPLICATION_ID}`);
    });
    apply.immediate();
    version = step.version;
  }
  return Math.max(version, currentVersion(db));
}
