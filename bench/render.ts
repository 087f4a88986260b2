/**
 * Benchmark of the embedded simulator's software camera: frames per second on
 * one thread at 64x64 and 224x224 for a primitives scene at arm-scene scale
 * (plane + 23 primitives), for the simulator's own arm scene (its `front`
 * camera) and for the Menagerie Panda (49 visible meshes, ~127k triangles). Reports render-only rates (snapshot taken once) and
 * snapshot + render rates (a fresh snapshot from MuJoCo every frame, as the
 * simulator does), and writes one PNG per scene and size next to the report
 * when --png-dir is given.
 *
 *   npx tsx bench/render.ts [--json] [--png-dir DIR] [--min-time-ms N]
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { loadMjcfFile, loadMjcfString, mujoco } from '../src/sim/mujoco';
import { createRenderer } from '../src/sim/render/renderer';
import { freeCamera, snapshotFromMujoco, type SceneCamera, type SceneSnapshot } from '../src/sim/render/snapshot';
import { encodePng } from '../src/sim/render/png';
import { SCENES } from '../src/sim/scenes/index';

const FlagsSchema = z.object({
  json: z.boolean(),
  pngDir: z.string().optional(),
  minTime_ms: z.number().int().positive(),
});

function parseFlags(argv: string[]): z.infer<typeof FlagsSchema> {
  const raw: { json: boolean; pngDir?: string; minTime_ms: number } = { json: false, minTime_ms: 1500 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--json') raw.json = true;
    else if (a === '--png-dir') raw.pngDir = argv[++i];
    else if (a === '--min-time-ms') raw.minTime_ms = Number(argv[++i]);
    else throw new Error(`bench/render.ts: unknown flag '${a}'; use --json, --png-dir DIR, --min-time-ms N`);
  }
  return FlagsSchema.parse(raw);
}

/** Plane + 23 primitives: a capsule-and-cylinder arm on a table with objects, like the simulator's arm scenes. */
export const PRIMITIVES_MJCF = `
<mujoco model="render-bench-primitives">
  <asset><mesh name="wedge" vertex="0 0 0  0.06 0 0  0 0.06 0  0 0 0.06"/></asset>
  <worldbody>
    <light pos="0 0 2" dir="0 0 -1" directional="true"/>
    <camera name="front" pos="1.1 0 0.75" xyaxes="0 1 0 -0.55 0 0.835" fovy="55"/>
    <geom name="floor" type="plane" size="0 0 0.05" rgba="0.6 0.6 0.6 1"/>
    <geom name="table" type="box" pos="0.45 0 0.2" size="0.35 0.45 0.02" rgba="0.55 0.4 0.3 1"/>
    <geom name="leg1" type="cylinder" pos="0.15 0.4 0.09" size="0.02 0.09" rgba="0.4 0.3 0.2 1"/>
    <geom name="leg2" type="cylinder" pos="0.75 0.4 0.09" size="0.02 0.09" rgba="0.4 0.3 0.2 1"/>
    <geom name="leg3" type="cylinder" pos="0.15 -0.4 0.09" size="0.02 0.09" rgba="0.4 0.3 0.2 1"/>
    <geom name="leg4" type="cylinder" pos="0.75 -0.4 0.09" size="0.02 0.09" rgba="0.4 0.3 0.2 1"/>
    <geom name="base" type="cylinder" pos="0.1 0 0.26" size="0.07 0.04" rgba="0.2 0.2 0.2 1"/>
    <geom name="link1" type="capsule" fromto="0.1 0 0.3 0.1 0 0.55" size="0.045" rgba="0.9 0.9 0.9 1"/>
    <geom name="joint1" type="sphere" pos="0.1 0 0.55" size="0.055" rgba="0.3 0.3 0.3 1"/>
    <geom name="link2" type="capsule" fromto="0.1 0 0.55 0.35 0 0.6" size="0.04" rgba="0.9 0.9 0.9 1"/>
    <geom name="joint2" type="sphere" pos="0.35 0 0.6" size="0.048" rgba="0.3 0.3 0.3 1"/>
    <geom name="link3" type="capsule" fromto="0.35 0 0.6 0.5 0 0.42" size="0.035" rgba="0.9 0.9 0.9 1"/>
    <geom name="wrist" type="cylinder" pos="0.5 0 0.4" size="0.03 0.025" rgba="0.3 0.3 0.3 1"/>
    <geom name="palm" type="box" pos="0.5 0 0.36" size="0.025 0.05 0.015" rgba="0.2 0.2 0.2 1"/>
    <geom name="finger1" type="box" pos="0.5 0.03 0.32" size="0.008 0.008 0.025" rgba="0.2 0.2 0.2 1"/>
    <geom name="finger2" type="box" pos="0.5 -0.03 0.32" size="0.008 0.008 0.025" rgba="0.2 0.2 0.2 1"/>
    <geom name="cube_red" type="box" pos="0.55 0.15 0.245" size="0.025 0.025 0.025" rgba="0.9 0.15 0.1 1"/>
    <geom name="cube_blue" type="box" pos="0.4 -0.2 0.245" size="0.025 0.025 0.025" euler="0 0 0.5" rgba="0.1 0.3 0.9 1"/>
    <geom name="ball" type="sphere" pos="0.65 -0.1 0.25" size="0.03" rgba="0.1 0.8 0.2 1"/>
    <geom name="can" type="cylinder" pos="0.3 0.25 0.26" size="0.03 0.04" rgba="0.9 0.8 0.1 1"/>
    <geom name="egg" type="ellipsoid" pos="0.7 0.25 0.24" size="0.03 0.04 0.02" rgba="0.9 0.5 0.9 1"/>
    <geom name="pill" type="capsule" pos="0.6 -0.3 0.24" size="0.02 0.04" euler="0 1.57 0" rgba="0.2 0.8 0.8 1"/>
    <geom name="goal" type="cylinder" pos="0.3 -0.05 0.221" size="0.05 0.001" rgba="0.2 0.9 0.2 0.5"/>
    <geom name="wedge" type="mesh" mesh="wedge" pos="0.25 0.35 0.22" rgba="0.8 0.4 0.1 1"/>
  </worldbody>
</mujoco>`;

const PANDA_SCENE = '../shared/data/robots/panda_mjcf/scene.xml';
const PANDA_CAMERA: SceneCamera = freeCamera({ name: 'panda-view', pos: [1.3, 0.9, 0.9], lookAt: [0.2, 0, 0.4], fovy_deg: 50 });

interface Row {
  scene: string;
  width: number;
  height: number;
  mode: 'render' | 'snapshot+render';
  frames: number;
  /** Frames per second of this process's CPU time (one dedicated core). */
  fps_cpu: number;
  /** Frames per second of wall time (lower on a loaded machine). */
  fps_wall: number;
  cpu_ms_per_frame: number;
  triangles_rasterised: number;
}

/**
 * Runs `fn` for at least `minTime_ms` of this process's CPU time. Both wall and
 * CPU time are reported: on a shared machine the CPU-time rate is what one
 * dedicated core would give, the wall rate is what this run got.
 */
function measure(minTime_ms: number, fn: () => void): { frames: number; wall_s: number; cpu_s: number } {
  for (let i = 0; i < 20; i++) fn(); // warm-up (JIT)
  let frames = 0;
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  let cpu_us = 0;
  while (cpu_us < minTime_ms * 1000) {
    for (let i = 0; i < 10; i++) fn();
    frames += 10;
    const c = process.cpuUsage(c0);
    cpu_us = c.user + c.system;
  }
  return { frames, wall_s: Number(process.hrtime.bigint() - t0) / 1e9, cpu_s: cpu_us / 1e6 };
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  const mj = await mujoco();
  const scenes: { name: string; snapshot: () => SceneSnapshot; camera: SceneCamera | string }[] = [];

  const pm = await loadMjcfString(PRIMITIVES_MJCF, { name: 'render-bench-primitives' });
  const pd = new mj.MjData(pm);
  mj.mj_forward(pm, pd);
  scenes.push({ name: 'primitives', snapshot: () => snapshotFromMujoco(pm, pd), camera: 'front' });

  const sm = await loadMjcfString(SCENES.arm.xml(), { name: 'arm' });
  const sd = new mj.MjData(sm);
  mj.mj_forward(sm, sd);
  scenes.push({ name: 'arm', snapshot: () => snapshotFromMujoco(sm, sd), camera: SCENES.arm.cameras[0] });

  const am = await loadMjcfFile(PANDA_SCENE);
  const ad = new mj.MjData(am);
  mj.mj_forward(am, ad);
  scenes.push({ name: 'panda', snapshot: () => snapshotFromMujoco(am, ad), camera: PANDA_CAMERA });

  const rows: Row[] = [];
  for (const sc of scenes) {
    for (const size of [64, 224]) {
      const r = createRenderer({ width: size, height: size });
      const snap = sc.snapshot();
      const img = r.render(snap, sc.camera);
      const tris = r.lastStats.trianglesRasterised;
      if (flags.pngDir) {
        mkdirSync(flags.pngDir, { recursive: true });
        writeFileSync(join(flags.pngDir, `render-${sc.name}-${size}.png`), encodePng(size, size, img.rgb));
      }
      const a = measure(flags.minTime_ms, () => r.render(snap, sc.camera));
      const b = measure(flags.minTime_ms, () => r.render(sc.snapshot(), sc.camera));
      for (const [mode, m] of [
        ['render', a],
        ['snapshot+render', b],
      ] as const) {
        rows.push({
          scene: sc.name,
          width: size,
          height: size,
          mode,
          frames: m.frames,
          fps_cpu: Math.round(m.frames / m.cpu_s),
          fps_wall: Math.round(m.frames / m.wall_s),
          cpu_ms_per_frame: Number(((m.cpu_s * 1000) / m.frames).toFixed(4)),
          triangles_rasterised: tris,
        });
      }
    }
  }
  pd.delete();
  pm.delete();
  sd.delete();
  sm.delete();
  ad.delete();
  am.delete();

  const target = rows.find((r) => r.scene === 'primitives' && r.width === 64 && r.mode === 'render');
  const report = {
    bench: 'render',
    node: process.version,
    single_thread: true,
    target_fps_64: 1000,
    target_met: target !== undefined && target.fps_cpu >= 1000,
    rows,
  };
  if (flags.json) {
    console.log(JSON.stringify(report, null, 2));
    return;
  }
  console.log(`software camera renderer, one thread, node ${process.version}`);
  console.log('scene       size     mode              fps(cpu)  fps(wall)  cpu ms/frame  triangles');
  for (const r of rows)
    console.log(
      `${r.scene.padEnd(11)} ${`${r.width}x${r.height}`.padEnd(8)} ${r.mode.padEnd(17)} ${String(r.fps_cpu).padStart(8)}  ${String(r.fps_wall).padStart(9)}  ${r.cpu_ms_per_frame.toFixed(3).padStart(12)}  ${r.triangles_rasterised}`,
    );
  console.log(`target >= 1000 fps at 64x64 (primitives, render, cpu time): ${report.target_met ? 'met' : 'NOT met'} (${target?.fps_cpu} fps)`);
}

await main();
