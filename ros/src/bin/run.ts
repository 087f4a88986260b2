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

export async function runNodes(builders: readonly Builder[], argv: readonly string[] = process.argv.slice(2)): Promise<void> {
  const options: NodeOptions = { useSimTime: argv.includes('--use-sim-time') };
  let transport: Transport;
  try {
    transport = await RclnodejsTransport.create();
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    process.exit(1);
  }
  const built: Built[] = [];
  let closing = false;
  const close = async (code: number) => {
    if (closing) return;
    closing = true;
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
  }
}
