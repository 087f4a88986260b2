/**
 * What the crash writer and crash.test.ts agree on: the latent written for
 * an object at a given run and time, so the parent can check that a stored
 * BLOB is whole and belongs to the sighting the row says it does.
 */
export const CRASH_LATENT_SIZE = 16;

/** Values are exact in float32 (multiples of 1/4 well below 2^22). */
export function crashLatent(run: number, seq: number, object: string): Float32Array {
  const latent = new Float32Array(CRASH_LATENT_SIZE);
  const base = run * 4096 + seq + (object === 'a' ? 0 : 0.5);
  for (let i = 0; i < CRASH_LATENT_SIZE; i++) latent[i] = base + i * 0.25;
  return latent;
}
