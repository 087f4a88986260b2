/**
 * What happens when the memory file is not what it should be (not SQLite,
 * someone else's database, corrupt pages, a newer schema) and how schema
 * migrations behave (in order, recorded, all-or-nothing).
 */
import { captureError } from '../helpers/random';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import {
  MEMORY_APPLICATION_ID,
  MIGRATIONS,
  MemoryError,
  MemoryFileCorruptError,
  MemorySchemaTooNewError,
  NotAMemoryFileError,
  WorldMemory,
  type Migration,
} from '../../src/memory/index';

const dir = mkdtempSync(join(tmpdir(), 'jepa-memory-file-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let count = 0;
const newFile = () => join(dir, `f-${++count}.db`);


const sighting = (id: string, value: number) => ({
  id,
  label: id,
  latent: new Float32Array([value, value + 1]),
  pose: { position_m: [0, 0, 0] as [number, number, number], orientation_xyzw: [0, 0, 0, 1] as [number, number, number, number], frameId: 'w' },
  confidence: 1,
});

describe('refusing files that are not a usable memory', () => {
  it('a file that is not SQLite is reported as such, naming the file', () => {
    const file = newFile();
    writeFileSync(file, 'these are not the bytes of a database\n'.repeat(200));
    const error = captureError(() => WorldMemory.open({ file }));
    expect(error).toBeInstanceOf(MemoryFileCorruptError);
    expect(error.message).toContain(`memory file ${file} is not a readable SQLite database`);
    expect(error.message).toContain('SQLITE_NOTADB');
  });

  it("someone else's SQLite database is refused and left exactly as it was", () => {
    const file = newFile();
    const other = new Database(file);
    other.exec(`CREATE TABLE recipes (name TEXT); INSERT INTO recipes VALUES ('soup')`);
    other.close();
    const before = readFileSync(file);
    const error = captureError(() => WorldMemory.open({ file }));
    expect(error).toBeInstanceOf(NotAMemoryFileError);
    expect(error.message).toContain(file);
    expect(error.message).toContain('tables: recipes');
    expect(readFileSync(file).equals(before)).toBe(true);
    const check = new Database(file);
    expect(check.pragma('journal_mode', { simple: true })).toBe('delete');
    check.close();
  });

  it('a file from a newer schema is refused with both versions in the message', () => {
    const file = newFile();
    WorldMemory.open({ file }).close();
    const raw = new Database(file);
    raw.prepare(`INSERT INTO schema_version (version, description, applied_ms) VALUES (7, 'from the future', 0)`).run();
    raw.close();
    const error = captureError(() => WorldMemory.open({ file }));
    expect(error).toBeInstanceOf(MemorySchemaTooNewError);
    expect(error.message).toBe(
      `memory file ${file} has schema version 7, but this build of jepa-runtime only knows versions up to 1; ` +
        `upgrade jepa-runtime, or use a new memory file`,
    );
  });

  it('corrupt table pages are caught by the integrity check at open', () => {
    const file = newFile();
    const memory = WorldMemory.open({ file });
    memory.beginEpisode('e', 0);
    for (let i = 0; i < 40; i++) {
      const payload = { planner: 'cem', energy: i, iterations: i, action: [i], note: 'x'.repeat(3000) };
      memory.logEvent({ episodeId: 'e', time_s: i, kind: 'decision', payload });
    }
    memory.close(); // checkpoints the WAL into the main file
    const pageSize = 4096;
    expect(statSync(file).size).toBeGreaterThan(8 * pageSize);
    // Scribble over the b-tree header of page 4 onwards (pages 1-3 hold the header and schema).
    const fd = openSync(file, 'r+');
    writeSync(fd, Buffer.alloc(pageSize * 3, 0xa5), 0, pageSize * 3, pageSize * 3);
    closeSync(fd);
    const error = captureError(() => WorldMemory.open({ file }));
    expect(error).toBeInstanceOf(MemoryFileCorruptError);
    expect(error.message).toContain(`memory file ${file}`);
    expect(error.message).toMatch(/quick_check|SQLITE_CORRUPT|SQLITE_NOTADB/);
  });

  it('a missing directory is reported with the path', () => {
    const file = join(dir, 'no-such-dir', 'memory.db');
    const error = captureError(() => WorldMemory.open({ file }));
    expect(error).toBeInstanceOf(MemoryError);
    expect(error.message).toContain(`cannot open memory file ${file}`);
  });

  it('marks new files with the memory application id and records the schema version', () => {
    const file = newFile();
    WorldMemory.open({ file }).close();
    const raw = new Database(file, { readonly: true });
    expect(raw.pragma('application_id', { simple: true })).toBe(MEMORY_APPLICATION_ID);
    expect(raw.pragma('user_version', { simple: true })).toBe(1);
    expect(raw.prepare('SELECT version, description FROM schema_version').all()).toEqual([
      { version: 1, description: MIGRATIONS[0].description },
    ]);
    raw.close();
  });
});

describe('schema migrations', () => {
  const v2: Migration = {
    version: 2,
    description: 'objects get a colour',
    up(db) {
      db.exec(`ALTER TABLE objects ADD COLUMN colour TEXT NOT NULL DEFAULT 'unknown'`);
    },
  };

  it('upgrades a version 1 file in place, keeping its data and recording the new version', () => {
    const file = newFile();
    const v1 = WorldMemory.open({ file });
    v1.recordObject(sighting('cup', 3), 1);
    v1.close();

    const upgraded = WorldMemory.openWithMigrations({ file }, [...MIGRATIONS, v2]);
    expect(upgraded.schemaVersion).toBe(2);
    expect(Array.from(upgraded.recall('cup', 1)!.latent)).toEqual([3, 4]);
    upgraded.close();

    const raw = new Database(file, { readonly: true });
    expect(raw.prepare('SELECT version FROM schema_version ORDER BY version').pluck().all()).toEqual([1, 2]);
    expect(raw.prepare(`SELECT colour FROM objects WHERE id = 'cup'`).pluck().get()).toBe('unknown');
    raw.close();
    // The version 1 build now refuses the file instead of misreading it.
    expect(captureError(() => WorldMemory.open({ file }))).toBeInstanceOf(MemorySchemaTooNewError);
  });

  it('a migration that fails leaves the file at the previous version, fully usable', () => {
    const file = newFile();
    const v1 = WorldMemory.open({ file });
    v1.recordObject(sighting('cup', 3), 1);
    v1.close();
    const broken: Migration = {
      version: 2,
      description: 'half-done',
      up(db) {
        db.exec(`ALTER TABLE objects ADD COLUMN colour TEXT`);
        throw new Error('migration step failed');
      },
    };
    expect(() => WorldMemory.openWithMigrations({ file }, [...MIGRATIONS, broken])).toThrow('migration step failed');
    const again = WorldMemory.open({ file });
    expect(again.schemaVersion).toBe(1);
    expect(again.recall('cup', 1)?.id).toBe('cup');
    again.close();
    const raw = new Database(file, { readonly: true });
    const columns = (raw.prepare(`PRAGMA table_info(objects)`).all() as { name: string }[]).map((c) => c.name);
    expect(columns).not.toContain('colour');
    raw.close();
  });

  it('opens read-only for queries, refusing a file that needs migrating', () => {
    const file = newFile();
    const writer = WorldMemory.open({ file });
    writer.recordObject(sighting('cup', 3), 1);
    writer.close();
    const reader = WorldMemory.open({ file, readonly: true });
    expect(reader.recall('cup', 1)?.id).toBe('cup');
    expect(() => reader.recordObject(sighting('mug', 1), 2)).toThrow(/readonly/);
    reader.close();
    const error = captureError(() => WorldMemory.openWithMigrations({ file, readonly: true }, [...MIGRATIONS, v2]));
    expect(error.message).toContain('open it once without readonly to migrate it');
  });
});
