/**
 * Runs the `jepa` CLI in-process (src/cli/main) with stdout and stderr
 * captured: what each stream received, and both interleaved as written.
 */
import { main } from '../../src/cli/main';

export interface CliRun {
  code: number;
  out: string;
  err: string;
  /** stdout and stderr in the order they were written. */
  text: string;
}

export async function runJepa(argv: string[]): Promise<CliRun> {
  let out = '';
  let err = '';
  let text = '';
  const orig = { out: process.stdout.write.bind(process.stdout), err: process.stderr.write.bind(process.stderr) };
  process.stdout.write = ((c: string | Uint8Array) => ((out += c.toString()), (text += c.toString()), true)) as typeof process.stdout.write;
  process.stderr.write = ((c: string | Uint8Array) => ((err += c.toString()), (text += c.toString()), true)) as typeof process.stderr.write;
  try {
    return { code: await main(argv), out, err, text };
  } finally {
    process.stdout.write = orig.out;
    process.stderr.write = orig.err;
  }
}
