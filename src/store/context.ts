/**
 * What every store method works with: the connection, a cache of prepared statements, the
 * clock and the redactor. Concept modules (orgs.ts, runs.ts, ...) are plain functions of a
 * StoreContext; store.ts assembles them into the Store class.
 */
import type Database from "better-sqlite3";
import { StoreError } from "./errors.ts";
import type { Redactor } from "./secrets.ts";

export class StoreContext {
  readonly #statements = new Map<string, Database.Statement>();
  // One wrapper reused for every write: better-sqlite3 turns the callback into BEGIN/COMMIT
  // (ROLLBACK on a throw), and nested calls into savepoints.
  readonly #transaction: Database.Transaction<(fn: () => unknown) => unknown>;

  constructor(
    readonly db: Database.Database,
    readonly readonly: boolean,
    readonly redactor: Redactor,
    private readonly clock: () => Date,
  ) {
    this.#transaction = db.transaction((fn: () => unknown) => fn());
  }

  stmt(sql: string): Database.Statement {
    let s = this.#statements.get(sql);
    if (s === undefined) {
      s = this.db.prepare(sql);
      this.#statements.set(sql, s);
    }
    return s;
  }

  now(): string {
    return this.clock().toISOString();
  }

  /**
   * Runs `fn` in one IMMEDIATE transaction: the write lock is taken at BEGIN, so a
   * read-then-write (e.g. the next seq) never fails half-way with SQLITE_BUSY_SNAPSHOT when
   * another process wrote in between; it waits up to the busy timeout instead.
   */
  write<T>(doing: string, fn: () => T): T {
    if (this.readonly) throw new StoreError("STORE_READONLY", `${doing}: the store was opened read-only`);
    return this.#transaction.immediate(fn) as T;
  }
}
