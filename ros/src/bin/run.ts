/**
 * Process frame of the node executables: connects to the live ROS 2 graph
 * (rclnodejs), builds the requested nodes, and shuts down cleanly on SIGINT
 * or SIGTERM (nodes destroyed, memory closed, model released, rcl shut
 * down). `--use-sim-time` sets use_sim_time on every node (a launch file sets
 * the parameter instead).
 */
import { RclnodejsTransport } from '../transport/rclnodejs';
import type { NodeOptions, Transport } from '../transport/types';
import type { Built } from './stages';

export type Builder = (transport: Transport, options: NodeOptions) => Promise<Built>;

export interface RunOptions {
  argv?: readonly string[];
  /** Default: the live graph through rclnodejs. */
  createTransport?: () => Promise<Transport>;
  /** Parameter values for every node (each node reads the ones it declares); a launch file's take precedence on a live graph. */
  parameterOverrides?: Record<string, unknown>;
}

export async function runNodes(builders: readonly Builder[], run: RunOptions = {}): Promise<void> {
  const argv = run.argv ?? process.argv.slice(2);
  const options: NodeOptions = { useSimTime: argv.includes('--use-sim-time'), parameterOverrides: run.parameterOverrides };
  let transport: Transport;
  try {
    transport = await (run.createTransport ?? RclnodejsTransport.create)();
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    process.exit(1);
  }
  const built: Built[] = [];
  // Node timers do not hold the process open; this does, until a signal.
  const keepAlive = setInterval(() => {}, 1 << 30);
  let closing = false;
  const close = async (code: number) => {
    if (closing) return;
    closing = true;
    clearInterval(keepAlive);
    for (const b of built.reverse()) {
      try {
        b.close();
      } catch (e) {
        process.stderr.write(`shutdown of ${b.node.name}: ${(e as Error).message}\n`);
      }
    }
    await transport.shutdown();
    process.exit(code);
  };
  process.once('SIGINT', () => void close(0));
  process.once('SIGTERM', () => void close(0));
  try {
    for (const b of builders) built.push(await b(transport, options));
  } catch (e) {
    process.stderr.write(`${(e as Error).name}: ${(e as Error).message}\n`);
    await close(1);
    return;
  }
  process.stderr.write(`jepa_runtime: ${built.map((b) => b.node.name).join(', ')} running on ${transport.kind}\n`);
}
