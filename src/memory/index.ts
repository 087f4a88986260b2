/**
 * Public surface of the persistent world memory (src/memory/): open a
 * WorldMemory on a SQLite file, record sightings, task progress and episodic
 * events, and query what is remembered. See world-memory.ts for the
 * durability and time conventions.
 */
export { WorldMemory, WorldMemoryOptionsSchema } from './world-memory';
export type { WorldMemoryOptions, ObjectQuery, NearestOptions, NearestMatch, EventQuery, EpisodeSummary } from './world-memory';
export * from './records';
export * from './errors';
export { MEMORY_APPLICATION_ID, MIGRATIONS, latestVersion } from './schema';
export type { Migration } from './schema';
