/**
 * WorldMemory: the runtime's persistent memory of the world, one SQLite file.
 * It owns three things:
 *  - objects: the last sighting of every object perception has reported
 *    (latent, pose, time, confidence, in view or not). Objects that leave the
 *    view stay, with a confidence that decays with time out of view, so the
 *    planner can still reason about them (objectsOutOfView, recall, nearest);
 *  - task progress: which sub-goal each task is on, its status and attempts;
 *  - an episodic log of planner decisions, shield verdicts and surprise events,
 *    each with a zod-validated JSON payload, grouped by episode.
 *
 * Durability: WAL journal with synchronous=FULL, so once a write call returns
 * the change is in the fsynced WAL — it survives SIGKILL of this process and
 * power loss within the guarantees of the disk. Every public write is one
 * transaction (multi-row writes included), so a crash leaves either all of a
 * call's rows or none.
 *
 * Time: every time is a caller-supplied number of seconds on the runtime's
 * clock (simulated or ROS time); the memory never reads the wall clock for
 * record times. Queries that report confidence take `now_s`.
 *
 * Cost: better-sqlite3 is synchronous, so a call blocks the event loop. A
 * write waits for one fsync of the WAL (on this project's shared build VM:
 * p50 4-6 ms, p90 8-14 ms); nearest() over 1000 objects with 384-dim
 * latents took 13 ms on that VM under heavy load, most of it fetching the
 * rows. Write once per tick from the loop (recordFrame batches a whole
 * frame into one commit), not from a hot inner path.
 */
import Database from 'better-sqlite3';
import { endianness } from 'node:os';
import { z } from 'zod';
import {
  EventOrderError,
  LatentSizeMismatchError,
  MemoryClosedError,
  MemoryError,
  MemoryFileCorruptError,
  MemoryInputError,
  MemoryRecordError,
  UnknownEpisodeError,
} from './errors';
import {
  EpisodicEventInputSchema,
  FrameSightingsSchema,
  LatentSchema,
  ObjectSightingSchema,
  PAYLOAD_SCHEMAS,
  TaskProgressSchema,
  TaskStatusSchema,
  TimeSchema,
  parseInput,
  type EpisodicEvent,
  type EpisodicEventInput,
  type EventKind,
  type FrameSightings,
  type ObjectRecord,
  type ObjectSighting,
  type TaskProgress,
  type TaskStatus,
} from './records';
import { MIGRATIONS, latestVersion, migrate, readSchemaVersion, type Migration } from './schema';

export const WorldMemoryOptionsSchema = z.strictObject({
  /** Path of the SQLite file; created when missing (its directory must exist). ':memory:' gives a non-persistent memory. */
  file: z.string().min(1),
  /** Rate λ of the exponential decay of confidence out of view, per second (half-life = ln 2 / λ). */
  confidenceDecayRate_per_s: z.number().min(0).default(Math.LN2 / 60),
  /** Open without writing (queries only; no migration). The file must exist and be at the latest schema. */
  readonly: z.boolean().default(false),
  /** Integrity check at open: 'quick' (PRAGMA quick_check, default), 'full' (integrity_check) or 'none'. */
  integrityCheck: z.enum(['quick', 'full', 'none']).default('quick'),
  /** How long a write waits for another process holding the write lock. */
  busyTimeout_ms: z.int().min(0).default(5000),
});
export type WorldMemoryOptions = z.input<typeof WorldMemoryOptionsSchema>;

/** Filter for objectsOutOfView / objects. */
export interface ObjectQuery {
  /** Leave out objects whose decayed confidence at now_s is below this. */
  minConfidence?: number;
}

export interface NearestOptions extends ObjectQuery {
  /** 'l2' (default): Euclidean distance; 'cosine': 1 - cosine similarity. */
  metric?: 'l2' | 'cosine';
  /** Which objects to search: 'all' (default), 'in-view' or 'out-of-view'. */
  scope?: 'all' | 'in-view' | 'out-of-view';
}

export interface NearestMatch {
  object: ObjectRecord;
  distance: number;
}

export interface EventQuery {
  episodeId?: string;
  kind?: EventKind;
  /** At most this many events (the first ones in the chosen order). */
  limit?: number;
  /** 'oldest-first' (default) or 'newest-first'. */
  order?: 'oldest-first' | 'newest-first';
}

export interface EpisodeSummary {
  episodeId: string;
  started_s: number;
  note?: string;
  /** Number of events logged in the episode. */
  events: number;
  /** Time of the latest event; undefined when none. */
  lastEvent_s?: number;
}

interface EpisodeRow {
  episode_id: string;
  started_s: number;
  note: string | null;
  events: number;
  last_event_s: number | null;
}

interface ObjectRow {
  id: string;
  label: string;
  latent: Buffer;
  latent_size: number;
  px: number;
  py: number;
  pz: number;
  qx: number;
  qy: number;
  qz: number;
  qw: number;
  frame_id: string;
  first_seen_s: number;
  last_seen_s: number;
  sightings: number;
  confidence: number;
  in_view: number;
}

interface TaskRow {
  task_id: string;
  sub_goal_index: number;
  status: string;
  attempts: number;
  updated_s: number;
}

interface EventRow {
  seq: number;
  episode_id: string;
  time_s: number;
  kind: string;
  payload: string;
}

const SQLITE_FILE_ERRORS = new Set(['SQLITE_NOTADB', 'SQLITE_CORRUPT', 'SQLITE_CORRUPT_INDEX', 'SQLITE_CORRUPT_VTAB', 'SQLITE_CORRUPT_SEQUENCE']);

function isSqliteError(error: unknown): error is Error & { code: string } {
  return error instanceof Error && typeof (error as { code?: unknown }).code === 'string';
}

/** Stores a latent as its little-endian float32 bytes (the host is checked to be little-endian at open). */
function latentToBlob(latent: Float32Array): Buffer {
  return Buffer.from(latent.buffer, latent.byteOffset, latent.byteLength);
}

/** A fresh, aligned Float32Array from a BLOB. */
function blobToLatent(blob: Buffer, size: number): Float32Array {
  const out = new Float32Array(size);
  new Uint8Array(out.buffer).set(blob.subarray(0, size * 4));
  return out;
}

export class WorldMemory {
  /** The file as given (':memory:' for an in-memory database). */
  readonly file: string;
  readonly confidenceDecayRate_per_s: number;
  /** Schema version of the open file (always the latest this build knows once open). */
  readonly schemaVersion: number;
  private readonly db: Database.Database;
  private closed = false;
  private latentSize: number | undefined;
  private readonly stmt: ReturnType<WorldMemory['prepareStatements']>;
  /** events() statements, prepared on first use per filter/order/limit combination. */
  private readonly eventQueries = new Map<string, Database.Statement>();

  /**
   * Opens (creating and migrating when needed) the memory file. Throws
   * MemoryFileCorruptError, NotAMemoryFileError or MemorySchemaTooNewError,
   * each naming the file.
   */
  static open(options: WorldMemoryOptions): WorldMemory {
    return new WorldMemory(parseInput(WorldMemoryOptionsSchema, options, 'WorldMemory.open', 'options'), MIGRATIONS);
  }

  /** For tests of the migration machinery: open with an explicit migration list. */
  static openWithMigrations(options: WorldMemoryOptions, migrations: readonly Migration[]): WorldMemory {
    return new WorldMemory(parseInput(WorldMemoryOptionsSchema, options, 'WorldMemory.openWithMigrations', 'options'), migrations);
  }

  private constructor(options: z.output<typeof WorldMemoryOptionsSchema>, migrations: readonly Migration[]) {
    if (endianness() !== 'LE') {
      throw new MemoryError(`world memory stores latents as little-endian float32; this host is big-endian`);
    }
    this.file = options.file;
    this.confidenceDecayRate_per_s = options.confidenceDecayRate_per_s;
    let db: Database.Database;
    try {
      db = new Database(options.file, { readonly: options.readonly, fileMustExist: options.readonly, timeout: options.busyTimeout_ms });
    } catch (error) {
      throw new MemoryError(
        `cannot open memory file ${options.file}: ${(error as Error).message}; ` +
          `check that its directory exists and is writable${options.readonly ? ' and that the file exists' : ''}`,
      );
    }
    this.db = db;
    try {
      this.schemaVersion = this.guard('WorldMemory.open', () => this.configure(options, migrations));
      this.stmt = this.prepareStatements();
      const meta = this.db.prepare(`SELECT value FROM memory_meta WHERE key = 'latent_size'`).get() as { value: string } | undefined;
      this.latentSize = meta === undefined ? undefined : Number(meta.value);
    } catch (error) {
      db.close();
      throw error;
    }
  }

  private configure(options: z.output<typeof WorldMemoryOptionsSchema>, migrations: readonly Migration[]): number {
    const db = this.db;
    // The first statement reads the header: a non-SQLite file fails here with SQLITE_NOTADB.
    db.pragma('foreign_keys = ON');
    if (!options.readonly && options.file !== ':memory:') {
      // Check ownership before switching to WAL: never change the journal mode of someone else's database.
      readSchemaVersion(db, options.file, migrations);
      const mode = db.pragma('journal_mode = WAL', { simple: true });
      if (mode !== 'wal') {
        throw new MemoryError(
          `memory file ${options.file}: SQLite refused WAL journal mode (got '${String(mode)}'); ` +
            `put the memory on a local filesystem that supports shared memory (not a network share)`,
        );
      }
    }
    db.pragma('synchronous = FULL');
    if (options.integrityCheck !== 'none') {
      const pragma = options.integrityCheck === 'quick' ? 'quick_check' : 'integrity_check';
      const rows = db.pragma(`${pragma}(20)`) as Record<string, string>[];
      const problems = rows.map((r) => Object.values(r)[0]).filter((v) => v !== 'ok');
      if (problems.length > 0) throw new MemoryFileCorruptError(options.file, `${pragma}: ${problems.join('; ')}`);
    }
    if (options.readonly) {
      const version = readSchemaVersion(db, options.file, migrations);
      if (version !== latestVersion(migrations)) {
        throw new MemoryError(
          `memory file ${options.file} has schema version ${version}, this build writes ${latestVersion(migrations)}; ` +
            `open it once without readonly to migrate it`,
        );
      }
      return version;
    }
    migrate(db, options.file, migrations);
    return readSchemaVersion(db, options.file, migrations);
  }

  /** Runs fn, turning SQLite's corruption errors into MemoryFileCorruptError and refusing calls after close(). */
  private guard<T>(call: string, fn: () => T): T {
    if (this.closed) throw new MemoryClosedError(this.file, call);
    try {
      return fn();
    } catch (error) {
      if (isSqliteError(error) && SQLITE_FILE_ERRORS.has(error.code)) {
        throw new MemoryFileCorruptError(this.file, `${error.code}: ${error.message}`);
      }
      throw error;
    }
  }

  private prepareStatements() {
    const db = this.db;
    return {
      upsertObject: db.prepare(`
        INSERT INTO objects (id, label, latent, latent_size, px, py, pz, qx, qy, qz, qw, frame_id,
                             first_seen_s, last_seen_s, sightings, confidence, in_view)
        VALUES (@id, @label, @latent, @latent_size, @px, @py, @pz, @qx, @qy, @qz, @qw, @frame_id,
                @time_s, @time_s, 1, @confidence, 1)
        ON CONFLICT (id) DO UPDATE SET
          label = excluded.label, latent = excluded.latent, latent_size = excluded.latent_size,
          px = excluded.px, py = excluded.py, pz = excluded.pz,
          qx = excluded.qx, qy = excluded.qy, qz = excluded.qz, qw = excluded.qw,
          frame_id = excluded.frame_id, last_seen_s = excluded.last_seen_s,
          sightings = objects.sightings + 1, confidence = excluded.confidence, in_view = 1`),
      lastSeen: db.prepare(`SELECT last_seen_s FROM objects WHERE id = ?`).pluck(),
      markAllOutOfView: db.prepare(`UPDATE objects SET in_view = 0 WHERE in_view = 1`),
      markOutOfView: db.prepare(`UPDATE objects SET in_view = 0 WHERE id = ? AND in_view = 1`),
      getObject: db.prepare(`SELECT * FROM objects WHERE id = ?`),
      allObjects: db.prepare(`SELECT * FROM objects ORDER BY last_seen_s DESC, id`),
      objectsByView: db.prepare(`SELECT * FROM objects WHERE in_view = ? ORDER BY last_seen_s DESC, id`),
      deleteObject: db.prepare(`DELETE FROM objects WHERE id = ?`),
      setMeta: db.prepare(`INSERT INTO memory_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`),
      upsertTask: db.prepare(`
        INSERT INTO tasks (task_id, sub_goal_index, status, attempts, updated_s)
        VALUES (@taskId, @subGoalIndex, @status, @attempts, @updated_s)
        ON CONFLICT (task_id) DO UPDATE SET sub_goal_index = excluded.sub_goal_index, status = excluded.status,
          attempts = excluded.attempts, updated_s = excluded.updated_s`),
      getTask: db.prepare(`SELECT * FROM tasks WHERE task_id = ?`),
      allTasks: db.prepare(`SELECT * FROM tasks ORDER BY updated_s DESC, task_id`),
      tasksByStatus: db.prepare(`SELECT * FROM tasks WHERE status = ? ORDER BY updated_s DESC, task_id`),
      insertEpisode: db.prepare(`INSERT INTO episodes (episode_id, started_s, note) VALUES (?, ?, ?) ON CONFLICT (episode_id) DO NOTHING`),
      hasEpisode: db.prepare(`SELECT 1 FROM episodes WHERE episode_id = ?`).pluck(),
      lastEventTime: db.prepare(`SELECT max(time_s) FROM events WHERE episode_id = ?`).pluck(),
      insertEvent: db.prepare(`INSERT INTO events (episode_id, time_s, kind, payload) VALUES (?, ?, ?, ?)`),
      episodeSummaries: db.prepare(`
        SELECT e.episode_id, e.started_s, e.note, count(v.seq) AS events, max(v.time_s) AS last_event_s
        FROM episodes e LEFT JOIN events v ON v.episode_id = e.episode_id
        GROUP BY e.episode_id ORDER BY e.started_s, e.episode_id`),
    };
  }

  // -------------------------------------------------------------------------
  // Objects

  /** Records one sighting (the object is now in view). Returns the stored record. */
  recordObject(sighting: ObjectSighting, time_s: number): ObjectRecord {
    return this.guard('recordObject', () => {
      const parsed = parseInput(ObjectSightingSchema, sighting, 'recordObject', 'sighting');
      const time = parseInput(TimeSchema, time_s, 'recordObject', 'time_s');
      this.db.transaction(() => this.writeSighting('recordObject', 'sighting', parsed, time)).immediate();
      return this.recallRow(parsed.id, time)!;
    });
  }

  /**
   * Records everything seen in one frame, in one transaction. With
   * othersLeftView (the default), objects in view before the frame but not
   * seen in it are marked out of view; their last sighting is kept.
   */
  recordFrame(frame: FrameSightings): void {
    this.guard('recordFrame', () => {
      const parsed = parseInput(FrameSightingsSchema, frame, 'recordFrame', 'frame');
      const ids = new Set<string>();
      parsed.seen.forEach((s, i) => {
        if (ids.has(s.id)) {
          throw new MemoryInputError('recordFrame', `frame.seen[${i}].id`, `'${s.id}' appears twice in one frame; report each object once`);
        }
        ids.add(s.id);
      });
      this.db
        .transaction(() => {
          if (parsed.othersLeftView) this.stmt.markAllOutOfView.run();
          parsed.seen.forEach((s, i) => this.writeSighting('recordFrame', `frame.seen[${i}]`, s, parsed.time_s));
        })
        .immediate();
    });
  }

  /** Marks objects out of view (they keep their last sighting). Unknown ids are ignored. Returns how many changed. */
  markOutOfView(ids: readonly string[]): number {
    return this.guard('markOutOfView', () => {
      const parsed = parseInput(z.array(z.string()), ids, 'markOutOfView', 'ids');
      return this.db
        .transaction(() => parsed.reduce((n, id) => n + this.stmt.markOutOfView.run(id).changes, 0))
        .immediate();
    });
  }

  private writeSighting(call: string, field: string, s: ObjectSighting, time_s: number): void {
    if (this.latentSize === undefined) {
      this.stmt.setMeta.run('latent_size', String(s.latent.length));
      this.latentSize = s.latent.length;
    } else if (s.latent.length !== this.latentSize) {
      throw new LatentSizeMismatchError(this.file, call, this.latentSize, s.latent.length);
    }
    const last = this.stmt.lastSeen.get(s.id) as number | undefined;
    if (last !== undefined && time_s < last) {
      throw new MemoryInputError(
        call,
        `${field}.id`,
        `object '${s.id}' was last seen at ${last} s, later than this sighting at ${time_s} s; record sightings in time order`,
      );
    }
    const [qx, qy, qz, qw] = s.pose.orientation_xyzw;
    const norm = Math.hypot(qx, qy, qz, qw);
    this.stmt.upsertObject.run({
      id: s.id,
      label: s.label,
      latent: latentToBlob(s.latent),
      latent_size: s.latent.length,
      px: s.pose.position_m[0],
      py: s.pose.position_m[1],
      pz: s.pose.position_m[2],
      qx: qx / norm,
      qy: qy / norm,
      qz: qz / norm,
      qw: qw / norm,
      frame_id: s.pose.frameId,
      time_s,
      confidence: s.confidence,
    });
  }

  /** Confidence of a record at now_s (no decay in view, or before the last sighting). */
  confidenceAt(confidenceAtLastSeen: number, lastSeen_s: number, inView: boolean, now_s: number): number {
    if (inView) return confidenceAtLastSeen;
    return confidenceAtLastSeen * Math.exp(-this.confidenceDecayRate_per_s * Math.max(0, now_s - lastSeen_s));
  }

  private toRecord(row: ObjectRow, now_s: number): ObjectRecord {
    if (row.latent.length !== row.latent_size * 4) {
      throw new MemoryRecordError(this.file, 'objects', row.id, `latent BLOB has ${row.latent.length} bytes, latent_size says ${row.latent_size}`);
    }
    const inView = row.in_view === 1;
    return {
      id: row.id,
      label: row.label,
      latent: blobToLatent(row.latent, row.latent_size),
      pose: { position_m: [row.px, row.py, row.pz], orientation_xyzw: [row.qx, row.qy, row.qz, row.qw], frameId: row.frame_id },
      firstSeen_s: row.first_seen_s,
      lastSeen_s: row.last_seen_s,
      sightings: row.sightings,
      inView,
      confidenceAtLastSeen: row.confidence,
      confidence: this.confidenceAt(row.confidence, row.last_seen_s, inView, now_s),
    };
  }

  private recallRow(id: string, now_s: number): ObjectRecord | undefined {
    const row = this.stmt.getObject.get(id) as ObjectRow | undefined;
    return row === undefined ? undefined : this.toRecord(row, now_s);
  }

  private checkNow(call: string, now_s: number): number {
    return parseInput(TimeSchema, now_s, call, 'now_s');
  }

  private filterConfidence(call: string, records: ObjectRecord[], query: ObjectQuery | undefined): ObjectRecord[] {
    if (query?.minConfidence === undefined) return records;
    const min = parseInput(z.number().min(0).max(1), query.minConfidence, call, 'query.minConfidence');
    return records.filter((r) => r.confidence >= min);
  }

  /** The remembered object with this id, in view or not; undefined when never seen (or forgotten). */
  recall(id: string, now_s: number): ObjectRecord | undefined {
    return this.guard('recall', () => {
      parseInput(z.string(), id, 'recall', 'id');
      return this.recallRow(id, this.checkNow('recall', now_s));
    });
  }

  /** Objects not in view, most recently seen first, with confidence decayed to now_s. */
  objectsOutOfView(now_s: number, query?: ObjectQuery): ObjectRecord[] {
    return this.guard('objectsOutOfView', () => {
      const now = this.checkNow('objectsOutOfView', now_s);
      const rows = this.stmt.objectsByView.all(0) as ObjectRow[];
      return this.filterConfidence('objectsOutOfView', rows.map((r) => this.toRecord(r, now)), query);
    });
  }

  /** Objects in view at the last recorded frame, most recently seen first. */
  objectsInView(now_s: number): ObjectRecord[] {
    return this.guard('objectsInView', () => {
      const now = this.checkNow('objectsInView', now_s);
      return (this.stmt.objectsByView.all(1) as ObjectRow[]).map((r) => this.toRecord(r, now));
    });
  }

  /** Every remembered object, most recently seen first. */
  objects(now_s: number, query?: ObjectQuery): ObjectRecord[] {
    return this.guard('objects', () => {
      const now = this.checkNow('objects', now_s);
      return this.filterConfidence('objects', (this.stmt.allObjects.all() as ObjectRow[]).map((r) => this.toRecord(r, now)), query);
    });
  }

  /**
   * The k remembered objects whose latent is closest to `latent`, closest
   * first (ties broken by id). Brute force over the stored latents: meant for
   * the hundreds to low thousands of objects a robot's memory holds.
   */
  nearest(latent: Float32Array, k: number, now_s: number, options: NearestOptions = {}): NearestMatch[] {
    return this.guard('nearest', () => {
      const query = parseInput(LatentSchema, latent, 'nearest', 'latent');
      const count = parseInput(z.int().min(1), k, 'nearest', 'k');
      const now = this.checkNow('nearest', now_s);
      const metric = parseInput(z.enum(['l2', 'cosine']).default('l2'), options.metric, 'nearest', 'options.metric');
      const scope = parseInput(z.enum(['all', 'in-view', 'out-of-view']).default('all'), options.scope, 'nearest', 'options.scope');
      if (this.latentSize !== undefined && query.length !== this.latentSize) {
        throw new LatentSizeMismatchError(this.file, 'nearest', this.latentSize, query.length);
      }
      const rows = (
        scope === 'all' ? this.stmt.allObjects.all() : this.stmt.objectsByView.all(scope === 'in-view' ? 1 : 0)
      ) as ObjectRow[];
      const minConfidence =
        options.minConfidence === undefined ? undefined : parseInput(z.number().min(0).max(1), options.minConfidence, 'nearest', 'options.minConfidence');
      let queryNorm = 0;
      for (let i = 0; i < query.length; i++) queryNorm += query[i] * query[i];
      queryNorm = Math.sqrt(queryNorm);
      // Score straight from the BLOBs through one aligned scratch buffer; build records only for the k kept.
      const scratch = new Float32Array(query.length);
      const scratchBytes = new Uint8Array(scratch.buffer);
      const scored: { row: ObjectRow; distance: number }[] = [];
      for (const row of rows) {
        if (row.latent_size !== query.length || row.latent.length !== query.length * 4) {
          throw new MemoryRecordError(this.file, 'objects', row.id, `latent has ${row.latent.length / 4} elements, the memory's latent size is ${query.length}`);
        }
        if (minConfidence !== undefined && this.confidenceAt(row.confidence, row.last_seen_s, row.in_view === 1, now) < minConfidence) continue;
        scratchBytes.set(row.latent);
        scored.push({ row, distance: latentDistance(query, queryNorm, scratch, metric) });
      }
      scored.sort((a, b) => a.distance - b.distance || (a.row.id < b.row.id ? -1 : a.row.id > b.row.id ? 1 : 0));
      const matches = scored.slice(0, count).map(({ row, distance }) => ({ object: this.toRecord(row, now), distance }));
      return matches;
    });
  }

  /** Deletes one object. Returns true when it existed. */
  forget(id: string): boolean {
    return this.guard('forget', () => this.stmt.deleteObject.run(parseInput(z.string(), id, 'forget', 'id')).changes > 0);
  }

  /** Deletes, in one transaction, the out-of-view objects whose confidence at now_s is below minConfidence. Returns their ids. */
  prune(now_s: number, minConfidence: number): string[] {
    return this.guard('prune', () => {
      const now = this.checkNow('prune', now_s);
      const min = parseInput(z.number().min(0).max(1), minConfidence, 'prune', 'minConfidence');
      return this.db
        .transaction(() => {
          const rows = this.stmt.objectsByView.all(0) as ObjectRow[];
          const doomed = rows.filter((r) => this.confidenceAt(r.confidence, r.last_seen_s, false, now) < min).map((r) => r.id);
          for (const id of doomed) this.stmt.deleteObject.run(id);
          return doomed;
        })
        .immediate();
    });
  }

  /** Latent size fixed by the first object recorded in this file (undefined while empty). */
  get storedLatentSize(): number | undefined {
    return this.latentSize;
  }

  // -------------------------------------------------------------------------
  // Tasks

  /** Creates or replaces the progress of one task. */
  setTaskProgress(progress: TaskProgress): void {
    this.guard('setTaskProgress', () => {
      this.stmt.upsertTask.run(parseInput(TaskProgressSchema, progress, 'setTaskProgress', 'progress'));
    });
  }

  /** Progress of one task; undefined when unknown. */
  taskProgress(taskId: string): TaskProgress | undefined {
    return this.guard('taskProgress', () => {
      const row = this.stmt.getTask.get(parseInput(z.string(), taskId, 'taskProgress', 'taskId')) as TaskRow | undefined;
      return row === undefined ? undefined : this.toTask(row);
    });
  }

  /** All tasks (optionally of one status), most recently updated first. */
  tasks(status?: TaskStatus): TaskProgress[] {
    return this.guard('tasks', () => {
      const rows = (
        status === undefined ? this.stmt.allTasks.all() : this.stmt.tasksByStatus.all(parseInput(TaskStatusSchema, status, 'tasks', 'status'))
      ) as TaskRow[];
      return rows.map((r) => this.toTask(r));
    });
  }

  private toTask(row: TaskRow): TaskProgress {
    const parsed = TaskProgressSchema.safeParse({
      taskId: row.task_id,
      subGoalIndex: row.sub_goal_index,
      status: row.status,
      attempts: row.attempts,
      updated_s: row.updated_s,
    });
    if (!parsed.success) throw new MemoryRecordError(this.file, 'tasks', row.task_id, parsed.error.issues[0].message);
    return parsed.data;
  }

  // -------------------------------------------------------------------------
  // Episodic log

  /** Starts an episode; returns false (and changes nothing) when it already exists, e.g. on resuming after a restart. */
  beginEpisode(episodeId: string, time_s: number, note?: string): boolean {
    return this.guard('beginEpisode', () => {
      const id = parseInput(z.string().min(1).max(256), episodeId, 'beginEpisode', 'episodeId');
      const time = parseInput(TimeSchema, time_s, 'beginEpisode', 'time_s');
      const text = parseInput(z.string().max(4096).optional(), note, 'beginEpisode', 'note');
      return this.stmt.insertEpisode.run(id, time, text ?? null).changes > 0;
    });
  }

  /** Every episode with its number of events and the time of its last event, oldest start first. */
  episodes(): EpisodeSummary[] {
    return this.guard('episodes', () =>
      (this.stmt.episodeSummaries.all() as EpisodeRow[]).map((r) => ({
        episodeId: r.episode_id,
        started_s: r.started_s,
        note: r.note ?? undefined,
        events: r.events,
        lastEvent_s: r.last_event_s ?? undefined,
      })),
    );
  }

  /**
   * Appends one event after validating its payload against the schema of its
   * kind. Events of one episode must come in time order (equal times are
   * fine; their order is the order of the calls). Returns the sequence number.
   */
  logEvent(event: EpisodicEventInput): number {
    return this.guard('logEvent', () => {
      const parsed = parseInput(EpisodicEventInputSchema, event, 'logEvent', 'event');
      return this.db
        .transaction(() => {
          if (this.stmt.hasEpisode.get(parsed.episodeId) === undefined) throw new UnknownEpisodeError(this.file, parsed.episodeId);
          const last = this.stmt.lastEventTime.get(parsed.episodeId) as number | null;
          if (last !== null && parsed.time_s < last) throw new EventOrderError(parsed.episodeId, parsed.time_s, last);
          const info = this.stmt.insertEvent.run(parsed.episodeId, parsed.time_s, parsed.kind, JSON.stringify(parsed.payload));
          return Number(info.lastInsertRowid);
        })
        .immediate();
    });
  }

  /**
   * Logged events. With an episodeId they come in episode time order (ties
   * in append order); across episodes, in append order.
   */
  events(query: EventQuery = {}): EpisodicEvent[] {
    return this.guard('events', () => {
      const q = parseInput(
        z.strictObject({
          episodeId: z.string().optional(),
          kind: z.enum(['decision', 'shield', 'surprise']).optional(),
          limit: z.int().min(1).optional(),
          order: z.enum(['oldest-first', 'newest-first']).default('oldest-first'),
        }),
        query,
        'events',
        'query',
      );
      const where: string[] = [];
      const args: (string | number)[] = [];
      if (q.episodeId !== undefined) {
        where.push('episode_id = ?');
        args.push(q.episodeId);
      }
      if (q.kind !== undefined) {
        where.push('kind = ?');
        args.push(q.kind);
      }
      const dir = q.order === 'oldest-first' ? 'ASC' : 'DESC';
      const orderBy = q.episodeId !== undefined ? `time_s ${dir}, seq ${dir}` : `seq ${dir}`;
      const sql =
        `SELECT * FROM events ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY ${orderBy}` +
        (q.limit !== undefined ? ' LIMIT ?' : '');
      if (q.limit !== undefined) args.push(q.limit);
      let statement = this.eventQueries.get(sql);
      if (statement === undefined) {
        statement = this.db.prepare(sql);
        this.eventQueries.set(sql, statement);
      }
      const rows = statement.all(...args) as EventRow[];
      return rows.map((r) => this.toEvent(r));
    });
  }

  private toEvent(row: EventRow): EpisodicEvent {
    const key = `seq ${row.seq}`;
    if (!(row.kind in PAYLOAD_SCHEMAS)) throw new MemoryRecordError(this.file, 'events', key, `unknown kind '${row.kind}'`);
    const kind = row.kind as EventKind;
    let json: unknown;
    try {
      json = JSON.parse(row.payload);
    } catch (error) {
      throw new MemoryRecordError(this.file, 'events', key, `payload is not JSON (${(error as Error).message})`);
    }
    const payload = PAYLOAD_SCHEMAS[kind].safeParse(json);
    if (!payload.success) {
      const issue = payload.error.issues[0];
      throw new MemoryRecordError(this.file, 'events', key, `payload.${issue.path.join('.')}: ${issue.message}`);
    }
    return { seq: row.seq, episodeId: row.episode_id, time_s: row.time_s, kind, payload: payload.data } as EpisodicEvent;
  }

  // -------------------------------------------------------------------------

  /** The SQLite settings durability rests on, as the open connection reports them (for reports and tests). */
  durabilitySettings(): { journalMode: string; synchronous: 'off' | 'normal' | 'full' | 'extra'; foreignKeys: boolean } {
    return this.guard('durabilitySettings', () => {
      const sync = this.db.pragma('synchronous', { simple: true }) as number;
      return {
        journalMode: String(this.db.pragma('journal_mode', { simple: true })),
        synchronous: (['off', 'normal', 'full', 'extra'] as const)[sync],
        foreignKeys: this.db.pragma('foreign_keys', { simple: true }) === 1,
      };
    });
  }

  /** Runs PRAGMA integrity_check; returns the problems found (empty when the file is sound). */
  integrityProblems(): string[] {
    return this.guard('integrityProblems', () => {
      const rows = this.db.pragma('integrity_check(50)') as Record<string, string>[];
      return rows.map((r) => Object.values(r)[0]).filter((v) => v !== 'ok');
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Closes the file (checkpointing the WAL into it). Later calls throw MemoryClosedError; closing twice is harmless. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }
}

/** l2: Euclidean distance; cosine: 1 - cos(angle), with a zero vector at distance 1 from everything. */
function latentDistance(query: Float32Array, queryNorm: number, other: Float32Array, metric: 'l2' | 'cosine'): number {
  if (metric === 'l2') {
    let sum = 0;
    for (let i = 0; i < query.length; i++) {
      const d = query[i] - other[i];
      sum += d * d;
    }
    return Math.sqrt(sum);
  }
  let dot = 0;
  let norm = 0;
  for (let i = 0; i < query.length; i++) {
    dot += query[i] * other[i];
    norm += other[i] * other[i];
  }
  const denominator = queryNorm * Math.sqrt(norm);
  return denominator === 0 ? 1 : 1 - dot / denominator;
}
