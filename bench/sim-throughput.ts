/**
 * Simulator throughput: environment (control) steps per second and physics
 * steps per second for each task, with and without camera rendering, on one
 * core. Rates are given per CPU-second of this process (robust when the
 * machine is shared) and per wall-clock second.
 * Usage: npx tsx bench/sim-throughput.ts [--steps N] [--size PX] [--task T]
 */
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { existsSync } from 'node:fs';
import { SimEnv } from '../src/sim/env';
import { MjSim } from '../src/sim/mujoco';
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
console.log('task        render  env steps/s(cpu)  physics steps/s(cpu)  env steps/s(wall)  cpu ms/step  cameras');
for (const task of tasks) {
  for (const render of [false, true]) {
    const env = await SimEnv.create({ task, imageSize: args.size, render });
    const policy = env.task.randomPolicy(new Rng(1, 99));
    env.reset(0);
    // Warm up until V8 has tiered the wasm and JS up (and the renderer filled its caches).
    const warm0 = performance.now();
    for (let i = 0; i < 20 || performance.now() - warm0 < 1500; i++) env.step(policy.act(env.sim));
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    for (let i = 0; i < args.steps; i++) env.step(policy.act(env.sim));
    const cpu = process.cpuUsage(c0);
    const cpu_s = (cpu.user + cpu.system) / 1e6;
    const wall_s = (performance.now() - t0) / 1000;
    const sps = args.steps / cpu_s;
    console.log(
      `${task.padEnd(11)} ${String(render).padEnd(6)}  ${sps.toFixed(1).padStart(16)}  ${(sps * env.task.spec.frameskip).toFixed(0).padStart(20)}  ${(args.steps / wall_s).toFixed(1).padStart(17)}  ${((cpu_s / args.steps) * 1000).toFixed(2).padStart(11)}  ${render ? env.cameraNames.join(',') : '-'}`,
    );
    env.close();
  }
}

// Reference point: raw physics rate of the MuJoCo Menagerie Panda (meshes, no rendering).
const PANDA = '../shared/data/robots/panda_mjcf/scene.xml';
if (existsSync(PANDA)) {
  const sim = await MjSim.fromFile(PANDA);
  sim.ctrl.set([0.3, -0.3, 0, -2, 0, 1.8, 0.5]);
  const warm0 = performance.now();
  while (performance.now() - warm0 < 1500) sim.step(100);
  const n = 20_000;
  const c0 = process.cpuUsage();
  sim.step(n);
  const cpu = process.cpuUsage(c0);
  console.log(`menagerie panda (raw mj_step, no render): ${(n / ((cpu.user + cpu.system) / 1e6)).toFixed(0)} physics steps per CPU-second`);
  sim.free();
}
