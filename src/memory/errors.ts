/**
 * Error classes of the persistent world memory. Every message names the
 * memory file (when one is involved), what was wrong, and what to do.
 */

/** Base class: every error thrown by src/memory/ is a MemoryError. */
export class MemoryError extends Error {
  override name = 'MemoryError';
}

/** The file exists but is not a SQLite database, or SQLite reports it corrupt. */
export class MemoryFileCorruptError extends MemoryError {
  override name = 'MemoryFileCorruptError';
  constructor(
    readonly file: string,
    detail: string,
  ) {
    super(
      `memory file ${file} is not a readable SQLite database or is corrupt (${detail}); ` +
        `move it aside and start with a new memory file, or restore it from a backup`,
    );
  }
}

/** A valid SQLite database that was not written by jepa-runtime's world memory. */
export class NotAMemoryFileError extends MemoryError {
  override name = 'NotAMemoryFileError';
  constructor(
    readonly file: string,
    detail: string,
  ) {
    super(
      `${file} is a SQLite database but not a jepa-runtime world memory (${detail}); ` +
        `refusing to modify it — point the memory at a new file or at one this runtime created`,
    );
  }
}

/** The file was written by a newer jepa-runtime whose schema this build does not know. */
export class MemorySchemaTooNewError extends MemoryError {
  override name = 'MemorySchemaTooNewError';
  constructor(
    readonly file: string,
    readonly fileVersion: number,
    readonly supportedVersion: number,
  ) {
    super(
      `memory file ${file} has schema version ${fileVersion}, but this build of jepa-runtime only knows ` +
        `versions up to ${supportedVersion}; upgrade jepa-runtime, or use a new memory file`,
    );
  }
}

/** A bad argument to a memory call (wrong type, NaN, out-of-range value). */
export class MemoryInputError extends MemoryError {
  override name = 'MemoryInputError';
  constructor(
    /** The call that refused the value, e.g. 'recordObject'. */
    readonly call: string,
    /** Path of the offending field, e.g. 'sighting.pose.position_m[1]'. */
    readonly field: string,
    problem: string,
  ) {
    super(`${call}: ${field}: ${problem}`);
  }
}

/** A latent whose length differs from the latent size this memory file was created with. */
export class LatentSizeMismatchError extends MemoryError {
  override name = 'LatentSizeMismatchError';
  constructor(
    readonly file: string,
    readonly call: string,
    readonly expected: number,
    readonly got: number,
  ) {
    super(
      `${call}: latent has ${got} elements but memory file ${file} stores latents of ${expected} elements ` +
        `(latents from different encoders cannot be compared); use the encoder this memory was built with, ` +
        `or a new memory file`,
    );
  }
}

/** An episodic event names an episode that was never begun. */
export class UnknownEpisodeError extends MemoryError {
  override name = 'UnknownEpisodeError';
  constructor(
    readonly file: string,
    readonly episodeId: string,
  ) {
    super(`episode '${episodeId}' does not exist in memory file ${file}; call beginEpisode('${episodeId}', time_s) first`);
  }
}

/** An episodic event earlier than the last event already logged for its episode. */
export class EventOrderError extends MemoryError {
  override name = 'EventOrderError';
  constructor(
    readonly episodeId: string,
    readonly time_s: number,
    readonly lastTime_s: number,
  ) {
    super(
      `logEvent: time_s ${time_s} is earlier than the last event of episode '${episodeId}' (${lastTime_s}); ` +
        `events of one episode must be logged in time order — use one clock per episode`,
    );
  }
}

/** A stored row that no longer satisfies its schema (edited by hand or by a foreign writer). */
export class MemoryRecordError extends MemoryError {
  override name = 'MemoryRecordError';
  constructor(
    readonly file: string,
    readonly table: string,
    readonly rowKey: string,
    problem: string,
  ) {
    super(
      `memory file ${file}, table ${table}, row ${rowKey}: ${problem}; ` +
        `the row was not written by this runtime's memory API — delete the row or use a new memory file`,
    );
  }
}

/** A call on a memory whose close() has already run. */
export class MemoryClosedError extends MemoryError {
  override name = 'MemoryClosedError';
  constructor(
    readonly file: string,
    call: string,
  ) {
    super(`${call} called after close() on memory file ${file}; open the memory again to keep using it`);
  }
}
