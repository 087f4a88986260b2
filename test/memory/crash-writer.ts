/**
 * Child process of crash.test.ts: writes to a world memory through the real
 * src/memory module as fast as it can until it is killed, and acknowledges
 * each write on stdout only after the call returned.
 *
 * Protocol (one line each):
 *   child → parent  `ready`                   modules loaded, waiting
 *   parent → child  `go <run> <file>`         open <file> and start writing as run <run>
 *   child → parent  `opened`                  the file is open and the run's episode exists
 *   child → parent  `ack <kind> <run> <seq>`  write <seq> of kind event|frame|task has returned
 *
 * Loading modules before `go` lets the parent start the next writer while
 * the current one runs, so tsx start-up does not dominate the test's time.
 *
 * What each write is (so the parent can check it afterwards):
 *   event  logEvent in episode `run-<run>`, decision payload with iterations = seq, time_s = seq
 *   frame  recordFrame at time_s = seq seeing objects `r<run>-a` and `r<run>-b` (one transaction,
 *          two rows), latent = crashLatent(run, seq, object)
 *   task   setTaskProgress task `run-<run>`, subGoalIndex = seq, attempts = seq
 */
import { writeSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { WorldMemory } from '../../src/memory/index';
import { CRASH_LATENT_SIZE, crashLatent } from './crash-shared';

function ack(kind: string, run: number, seq: number): void {
  // writeSync on fd 1: the line is in the pipe before the next write begins.
  writeSync(1, `ack ${kind} ${run} ${seq}\n`);
}

function writeForever(run: number, file: string): never {
  const memory = WorldMemory.open({ file, integrityCheck: 'none' });
  const episode = `run-${run}`;
  memory.beginEpisode(episode, 0);
  writeSync(1, 'opened\n');
  const pose = { position_m: [0.1, 0.2, 0.3] as [number, number, number], orientation_xyzw: [0, 0, 0, 1] as [number, number, number, number], frameId: 'world' };
  for (let seq = 1; ; seq++) {
    switch (seq % 3) {
      case 0:
        memory.logEvent({
          episodeId: episode,
          time_s: seq,
          kind: 'decision',
          payload: { planner: 'crash-writer', energy: seq * 0.5, iterations: seq, action: [seq, -seq] },
        });
        ack('event', run, seq);
        break;
      case 1:
        memory.recordFrame({
          time_s: seq,
          seen: ['a', 'b'].map((name) => ({
            id: `r${run}-${name}`,
            label: name,
            latent: crashLatent(run, seq, name),
            pose,
            confidence: 0.75,
          })),
        });
        ack('frame', run, seq);
        break;
      default:
        memory.setTaskProgress({ taskId: episode, subGoalIndex: seq, status: 'active', attempts: seq, updated_s: seq });
        ack('task', run, seq);
    }
  }
}

writeSync(1, `ready ${CRASH_LATENT_SIZE}\n`);
const lines = createInterface({ input: process.stdin });
lines.once('line', (line) => {
  const match = /^go (\d+) (.+)$/.exec(line);
  if (!match) {
    process.stderr.write(`crash-writer: expected 'go <run> <file>', got '${line}'\n`);
    process.exit(2);
  }
  lines.close();
  writeForever(Number(match[1]), match[2]);
});
