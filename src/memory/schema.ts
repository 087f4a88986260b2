/**
 * The on-disk format of the world memory: the SQLite tables, the ordered list
 * of schema migrations, and the checks run when a file is opened (is it
 * SQLite, is it ours, is its schema one this build knows). A file is
 * identified as ours by PRAGMA application_id; its schema version is the
 * highest row of table `schema_version`, mirrored into PRAGMA user_version for
 * people inspecting the file with the sqlite3 shell.
 */
import type Database from 'better-sqlite3';
import { MemorySchemaTooNewError, NotAMemoryFileError } from './errors';

/** PRAGMA application_id of every world-memory file: the ASCII bytes 'JEPM'. */
export const MEMORY_APPLICATION_ID = 0x4a45504d;

export interface Migration {
  /** Schema version the database has after this migration; versions start at 1 and increase by 1. */
  version: number;
  description: string;
  up(db: Database.Database): void;
}

/** Version 1: objects, tasks, episodes and their events, and a key/value meta table. */
const V1_SQL = `
CREATE TABLE memory_meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) STRICT;

CREATE TABLE objects (
  id            TEXT PRIMARY KEY,
  label         TEXT NOT NULL,
  latent        BLOB NOT NULL,
  latent_size   INTEGER NOT NULL CHECK (latent_size > 0 AND length(latent) = 4 * latent_size),
  px REAL NOT NULL, py REAL NOT NULL, pz REAL NOT NULL,
  qx REAL NOT NULL, qy REAL NOT NULL, qz REAL NOT NULL, qw REAL NOT NULL,
  frame_id      TEXT NOT NULL,
  first_seen_s  REAL NOT NULL,
  last_seen_s   REAL NOT NULL CHECK (last_seen_s >= first_seen_s),
  sightings     INTEGER NOT NULL CHECK (sightings >= 1),
  confidence    REAL NOT NULL CHECK (confidence >= 0 AND confidence <= 1),
  in_view       INTEGER NOT NULL CHECK (in_view IN (0, 1))
) STRICT;
CREATE INDEX objects_by_view ON objects (in_view, last_seen_s);

CREATE TABLE tasks (
  task_id         TEXT PRIMARY KEY,
  sub_goal_index  INTEGER NOT NULL CHECK (sub_goal_index >= 0),
  status          TEXT NOT NULL CHECK (status IN ('pending', 'active', 'succeeded', 'failed', 'abandoned')),
  attempts        INTEGER NOT NULL CHECK (attempts >= 0),
  updated_s       REAL NOT NULL
) STRICT;

CREATE TABLE episodes (
  episode_id  TEXT PRIMARY KEY,
  started_s   REAL NOT NULL,
  note        TEXT
) STRICT;

CREATE TABLE events (
  seq         INTEGER PRIMARY KEY AUTOINCREMENT,
  episode_id  TEXT NOT NULL REFERENCES episodes (episode_id) ON DELETE CASCADE,
  time_s      REAL NOT NULL,
  kind        TEXT NOT NULL CHECK (kind IN ('decision', 'shield', 'surprise')),
  payload     TEXT NOT NULL CHECK (json_valid(payload))
) STRICT;
CREATE INDEX events_by_episode_time ON events (episode_id, time_s, seq);
`;

/** Every migration this build knows, in order. Append new ones; never edit a released one. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'objects, tasks, episodes, events',
    up(db) {
      db.exec(V1_SQL);
    },
  },
];

/** Highest schema version this build knows. */
export function latestVersion(migrations: readonly Migration[] = MIGRATIONS): number {
  return migrations.length === 0 ? 0 : migrations[migrations.length - 1].version;
}

/** Table names a SQLite file holds, excluding SQLite's own. */
function userTables(db: Database.Database): string[] {
  const rows = db
    .prepare(`SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
    .all() as { name: string }[];
  return rows.map((r) => r.name);
}

function applicationId(db: Database.Database): number {
  return db.pragma('application_id', { simple: true }) as number;
}

/**
 * Reads the schema version of an opened file: 0 for an empty SQLite file
 * (ready to be initialised), else the version recorded by our migrations.
 * Throws NotAMemoryFileError for a database someone else made and
 * MemorySchemaTooNewError for one from a newer build.
 */
export function readSchemaVersion(
  db: Database.Database,
  file: string,
  migrations: readonly Migration[] = MIGRATIONS,
): number {
  const appId = applicationId(db);
  const tables = userTables(db);
  if (appId !== MEMORY_APPLICATION_ID) {
    if (appId === 0 && tables.length === 0) return 0;
    const hex = `0x${(appId >>> 0).toString(16).padStart(8, '0')}`;
    throw new NotAMemoryFileError(
      file,
      `application_id is ${hex}, expected 0x${MEMORY_APPLICATION_ID.toString(16)}; ` +
        `tables: ${tables.length === 0 ? 'none' : tables.slice(0, 8).join(', ')}`,
    );
  }
  if (!tables.includes('schema_version')) {
    throw new NotAMemoryFileError(file, 'application_id matches but table schema_version is missing');
  }
  const row = db.prepare('SELECT max(version) AS version FROM schema_version').get() as { version: number | null };
  const version = row.version ?? 0;
  const supported = latestVersion(migrations);
  if (version > supported) throw new MemorySchemaTooNewError(file, version, supported);
  return version;
}

/**
 * Brings the file to the latest schema. Each migration runs in its own
 * IMMEDIATE transaction together with its schema_version row, so a crash
 * mid-migration leaves the file at the previous version, never half-migrated.
 * Returns the versions applied.
 */
export function migrate(
  db: Database.Database,
  file: string,
  migrations: readonly Migration[] = MIGRATIONS,
  now_ms: () => number = Date.now,
): number[] {
  const applied: number[] = [];
  for (const migration of migrations) {
    const step = db.transaction(() => {
      // Re-read inside the write lock: another process may have migrated meanwhile.
      const current = readSchemaVersion(db, file, migrations);
      if (migration.version <= current) return false;
      if (migration.version !== current + 1) {
        throw new Error(`internal: migration ${migration.version} cannot follow schema version ${current}`);
      }
      if (current === 0) {
        db.pragma(`application_id = ${MEMORY_APPLICATION_ID}`);
        db.exec(`CREATE TABLE schema_version (
          version     INTEGER PRIMARY KEY,
          description TEXT NOT NULL,
          applied_ms  INTEGER NOT NULL
        ) STRICT`);
      }
      migration.up(db);
      db.prepare('INSERT INTO schema_version (version, description, applied_ms) VALUES (?, ?, ?)').run(
        migration.version,
        migration.description,
        Math.round(now_ms()),
      );
      db.pragma(`user_version = ${migration.version}`);
      return true;
    });
    if (step.immediate()) applied.push(migration.version);
  }
  return applied;
}
