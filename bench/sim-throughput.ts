/**
 * Simulator throughput: environment (control) steps per second and physics
 * steps per second for each task, with and without camera rendering, on one
 * core. Usage: npx tsx bench/sim-throughput.ts [--steps N] [--size PX] [--task T]
 */
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { SimEnv } from '../src/sim/env';
import { Rng } from '../src/sim/rng';
import { TaskName } from '../src/sim/tasks/types';

const Args = z.object({
  steps: z.coerce.number().int().positive().default(200),
  size: z.coerce.number().int().min(8).max(1024).default(64),
  task: TaskName.optional(),
});

const { values } = parseArgs({ options: { steps: { type: 'string' }, size: { type: 'string' }, task: { type: 'string' } } });
const args = Args.parse(values);
const tasks = args.task ? [args.task] : TaskName.options;

console.log(`sim throughput: ${args.steps} control steps per run, images ${args.size}x${args.size}, random policy`);
console.log('task        render  env steps/s  physics steps/s  ms/step  cameras');
for (const task of tasks) {
  for (const render of [false, true]) {
    const env = await SimEnv.create({ task, imageSize: args.size, render });
    const policy = env.task.randomPolicy(new Rng(1, 99));
    env.reset(0);
    // Warm up (JIT, tessellation caches).
    for (let i = 0; i < 5; i++) env.step(policy.act(env.sim));
    const t0 = performance.now();
    for (let i = 0; i < args.steps; i++) env.step(policy.act(env.sim));
    const dt_s = (performance.now() - t0) / 1000;
    const sps = args.steps / dt_s;
    console.log(
      `${task.padEnd(11)} ${String(render).padEnd(6)}  ${sps.toFixed(1).padStart(11)}  ${(sps * env.task.spec.frameskip).toFixed(0).padStart(15)}  ${((dt_s / args.steps) * 1000).toFixed(2).padStart(7)}  ${render ? env.cameraNames.join(',') : '-'}`,
    );
    env.close();
  }
}
