/**
 * A store as an older nightshift wrote it: the schema of the first `version` migrations, as
 * src/store/open.ts creates it (to the byte: migration tests compare schemas), left open for
 * the test to fill with raw SQL. Opening it with openStore then migrates it to the latest.
 */
import Database from "better-sqlite3";
import { APPLICATION_ID, MIGRATIONS } from "../../src/store/migrations.ts";

export function openStoreAtVersion(path: string, version: number, appliedAt: string): Database.Database {
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.pragma("foreign_keys = ON");
  db.exec(`CREATE TABLE IF NOT EXISTS schema_version (
        version     INTEGER PRIMARY KEY,
        description TEXT NOT NULL,
        applied_at  TEXT NOT NULL
      ) STRICT`);
  for (const m of MIGRATIONS.filter((m) => m.version <= version)) {
    db.exec(m.sql);
    db.prepare("INSERT INTO schema_version VALUES (?, ?, ?)").run(m.version, m.description, appliedAt);
  }
  db.pragma(`application_id = ${APPLICATION_ID}`);
  return db;
}
