import { execFileSync, spawnSync } from 'node:child_process';
import { accessSync, chmodSync, constants, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { parse as parseYaml } from 'yaml';
import { InProcessTransport } from '../../ros/src/transport/in-process';
import { PerceptionNode } from '../../ros/src/nodes/perception';
import { PlannerNode } from '../../ros/src/nodes/planner';
import { ShieldNode } from '../../ros/src/nodes/shield';
import { MemoryNode } from '../../ros/src/nodes/memory';
import { guardrailsFrom } from '../../ros/src/bin/stages';
import { CemPlanner } from '../../src/planning/cem';
import { WorldMemory } from '../../src/memory/world-memory';
import { loadUrdf } from '../../src/robot/urdf';
import { graphRegistry, tinyModel } from './helpers';

const ROS = 'ros';
const LAUNCH = ['robot.launch.py', 'gazebo.launch.py', 'jepa_nodes.launch.py'];
const read = (p: string) => readFileSync(join(ROS, p), 'utf8');
const packageXml = new XMLParser({ ignoreAttributes: false }).parse(read('package.xml')).package;
const asList = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
const deps = new Set<string>([...asList(packageXml.depend), ...asList(packageXml.exec_depend), ...asList(packageXml.buildtool_depend)] as string[]);
const cmake = read('CMakeLists.txt');

/** `ros__parameters` of one node in a params YAML, flattened the way ROS 2 names nested parameters (a.b.c). */
function nodeParams(file: string, node: string): Record<string, unknown> {
  const doc = parseYaml(read(file)) as Record<string, { ros__parameters: Record<string, unknown> }>;
  const out: Record<string, unknown> = {};
  const walk = (prefix: string, v: unknown) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) for (const [k, x] of Object.entries(v)) walk(prefix ? `${prefix}.${k}` : k, x);
    else out[prefix] = v;
  };
  walk('', doc[node]!.ros__parameters);
  return out;
}

describe('ROS 2 package files', () => {
  it('launch files compile with python3 -m py_compile', () => {
    // Byte code goes to a temporary folder, not into ros/launch/__pycache__.
    const env = { ...process.env, PYTHONPYCACHEPREFIX: mkdtempSync(join(tmpdir(), 'pyc-')) };
    for (const f of LAUNCH) execFileSync('python3', ['-m', 'py_compile', join(ROS, 'launch', f)], { env });
    expect(() => execFileSync('python3', ['-m', 'py_compile', '/dev/stdin'], { env, input: 'def broken(:\n', stdio: 'pipe' })).toThrow();
  });

  it('package.xml is format 3, names the CMake project, and depends on every package the launch files use', () => {
    expect(packageXml['@_format']).toBe('3');
    expect(packageXml.name).toBe('jepa_runtime');
    expect(cmake).toMatch(/project\(jepa_runtime\)/);
    expect(packageXml.export.build_type).toBe('ament_cmake');
    const used = new Set<string>(['launch', 'launch_ros']);
    for (const f of LAUNCH) {
      const text = read(join('launch', f));
      for (const m of text.matchAll(/package="(\w+)"/g)) used.add(m[1]!);
      for (const m of text.matchAll(/FindPackageShare\("(\w+)"\)/g)) used.add(m[1]!);
      for (const m of text.matchAll(/FindExecutable\(name="(\w+)"\)/g)) used.add(m[1]!);
    }
    used.delete('jepa_runtime');
    expect([...used].sort()).toEqual(expect.arrayContaining(['controller_manager', 'robot_state_publisher', 'ros_gz_bridge', 'ros_gz_sim', 'xacro']));
    for (const pkg of used) expect(deps, `package.xml lacks ${pkg}`).toContain(pkg);
    for (const pkg of ['sensor_msgs', 'trajectory_msgs', 'control_msgs', 'action_msgs', 'joint_trajectory_controller', 'ros2_control', 'gz_ros2_control']) expect(deps).toContain(pkg);
  });

  it('every file and executable the launch files reference exists and is installed', () => {
    for (const f of LAUNCH) {
      const text = read(join('launch', f));
      const files = [...text.matchAll(/PathJoinSubstitution\(\[share, ((?:"[\w.]+",? ?)+)\]\)/g)].map((m) => [...m[1]!.matchAll(/"([\w.]+)"/g)].map((x) => x[1]!));
      expect(files.length).toBeGreaterThanOrEqual(2);
      for (const parts of files) {
        expect(existsSync(join(ROS, ...parts)), `${f} references ${parts.join('/')}`).toBe(true);
        expect(cmake).toMatch(new RegExp(`install\\(DIRECTORY [^)]*\\b${parts[0]}\\b[^)]*DESTINATION share/\\$\\{PROJECT_NAME\\}`));
      }
      const executables = [...text.matchAll(/package=PACKAGE,\s*executable="(\w+)"/g)].map((m) => m[1]!);
      // The nodes are declared once, in jepa_nodes.launch.py; the robot and Gazebo launch files include it.
      if (f === 'jepa_nodes.launch.py') expect(executables.sort()).toEqual(['memory_node', 'perception_node', 'planner_node', 'shield_node']);
      else {
        expect(executables).toEqual([]);
        expect(text).toContain('PathJoinSubstitution([share, "launch", "jepa_nodes.launch.py"])');
      }
      for (const exe of executables) {
        accessSync(join(ROS, 'bin', exe), constants.X_OK);
        expect(cmake).toContain(`bin/${exe}`);
      }
    }
    // Every package path in the xacro exists (it includes the plain URDF and defaults to the controllers file).
    const xacro = read('urdf/jepa_arm.urdf.xacro');
    const found = [...xacro.matchAll(/\$\(find jepa_runtime\)\/([\w./]+)/g)].map((m) => m[1]!);
    expect(found.sort()).toEqual(['config/controllers.yaml', 'urdf/jepa_arm.urdf']);
    for (const f of found) expect(existsSync(join(ROS, f)), f).toBe(true);
    for (const f of ['urdf/jepa_arm.urdf.xacro', 'urdf/jepa_arm.urdf', 'worlds/jepa_table.sdf']) {
      expect(XMLValidator.validate(read(f)), `${f} is not well-formed XML`).toBe(true);
    }
  });

  it('the launcher finds the runtime in the install layout CMakeLists.txt produces, and names a missing one', () => {
    // <prefix>/lib/jepa_runtime/<executables> and <prefix>/share/jepa_runtime/runtime/{src,ros/src,node_modules,...},
    // built here from links into the checkout, as the install() rules lay them out.
    const prefix = mkdtempSync(join(tmpdir(), 'install-'));
    const lib = join(prefix, 'lib', 'jepa_runtime');
    const runtime = join(prefix, 'share', 'jepa_runtime', 'runtime');
    mkdirSync(lib, { recursive: true });
    mkdirSync(join(runtime, 'ros'), { recursive: true });
    for (const exe of ['jepa_ts_node', 'shield_node']) copyFileSync(join(ROS, 'bin', exe), join(lib, exe)), chmodSync(join(lib, exe), 0o755);
    for (const [from, to] of [['src', 'src'], ['node_modules', 'node_modules'], ['package.json', 'package.json'], ['ros/src', 'ros/src'], ['ros/msg', 'ros/msg'], ['ros/action', 'ros/action']])
      symlinkSync(resolve(from!), join(runtime, to!));
    expect(cmake).toMatch(/install\(DIRECTORY src msg action DESTINATION \$\{RUNTIME_DEST\}\/ros\)/);
    expect(cmake).toMatch(/set\(RUNTIME_DEST share\/\$\{PROJECT_NAME\}\/runtime\)/);
    const env = { ...process.env, ROS_DISTRO: '', AMENT_PREFIX_PATH: '', JEPA_RUNTIME_ROOT: '' };
    const r = spawnSync(join(lib, 'shield_node'), [], { env, encoding: 'utf8', timeout: 30000 });
    expect(r.stderr).toMatch(/ROS 2 is not sourced/);
    expect(r.status).toBe(1);
    const missing = spawnSync(join(lib, 'shield_node'), [], { env: { ...env, JEPA_RUNTIME_ROOT: join(prefix, 'nowhere') }, encoding: 'utf8' });
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/no node entry .*nowhere\/ros\/src\/bin\/shield\.ts; set JEPA_RUNTIME_ROOT/);
  });

  it('the launcher runs a node entry with tsx and says what to source when ROS 2 is not sourced', () => {
    const env = { ...process.env, ROS_DISTRO: '', AMENT_PREFIX_PATH: '' };
    const r = spawnSync(join(ROS, 'bin', 'shield_node'), ['--ros-args', '-r', '__node:=shield'], { env, encoding: 'utf8', timeout: 30000 });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/ROS 2 is not sourced.*source \/opt\/ros\/jazzy\/setup\.bash/);
  });

  it('the robot description, joint limits, controllers and safety file agree on the joints, and the guardrails compile', () => {
    const robot = loadUrdf(join(ROS, 'urdf', 'jepa_arm.urdf'));
    const movable = robot.joints.filter((j) => j.type !== 'fixed').map((j) => j.name);
    const controllers = parseYaml(read('config/controllers.yaml')) as { joint_trajectory_controller: { ros__parameters: { joints: string[] } } };
    const g = guardrailsFrom(join(ROS, 'config', 'safety', 'jepa_arm.yaml'), '');
    expect(controllers.joint_trajectory_controller.ros__parameters.joints).toEqual(movable);
    expect([...g.jointNames]).toEqual(movable);
    expect(nodeParams('config/jepa_runtime.yaml', 'planner').joint_names).toEqual(movable);
    // joint_limits.yaml (ros2_control layout) and the safety file both narrow the URDF: joint3 URDF 1.8 rad/s, safety 1.0.
    expect(g.maxVelocity[2]).toBe(1.0);
    expect(g.maxAcceleration[5]).toBe(6.0);
  });

  it('the shield compiles guardrails from robot_description as the launch files pass it (URDF with ros2_control and gazebo tags)', () => {
    // What xacro makes of jepa_arm.urdf.xacro: the plain URDF plus a ros2_control block and Gazebo extensions.
    const extra =
      '<ros2_control name="jepa_arm_system" type="system"><hardware><plugin>mock_components/GenericSystem</plugin></hardware>' +
      '<joint name="joint1"><command_interface name="position"/><state_interface name="position"><param name="initial_value">0.0</param></state_interface></joint></ros2_control>' +
      '<gazebo reference="camera_link"><sensor name="camera" type="camera"><topic>camera/image_raw</topic></sensor></gazebo>';
    const expanded = read('urdf/jepa_arm.urdf').replace('</robot>', `${extra}</robot>`);
    const g = guardrailsFrom(join(ROS, 'config', 'safety', 'jepa_arm.yaml'), expanded);
    expect(g.robot.source).toBe('robot_description');
    expect([...g.jointNames]).toEqual(['joint1', 'joint2', 'joint3', 'joint4', 'joint5', 'joint6']);
    expect(() => guardrailsFrom(join(ROS, 'config', 'safety', 'jepa_arm.yaml'), '<robot name="x"><link name="a"/></robot>')).toThrow(/joint_limits\.yaml: joint_limits\.joint1: joint "joint1" matches no joint of the robot/);
  });

  it('every node accepts its section of config/jepa_runtime.yaml through its validated parameters', () => {
    const bus = new InProcessTransport(graphRegistry());
    const model = tinyModel();
    const opts = (n: string) => ({ parameterOverrides: nodeParams('config/jepa_runtime.yaml', n) });
    const perception = new PerceptionNode(bus.createNode('perception', opts('perception')), { model, log: () => {} });
    expect(perception.params.image_topic).toBe('/camera/image_raw');
    const planner = new PlannerNode(bus.createNode('planner', opts('planner')), { model, planner: new CemPlanner(model, { horizon: 8, samples: 4, energy: {} }), log: () => {} });
    expect(planner.params.step_duration_s).toBe(0.1);
    const shield = new ShieldNode(bus.createNode('shield', opts('shield')), { guardrails: guardrailsFrom(join(ROS, 'config', 'safety', 'jepa_arm.yaml'), ''), timer: false, log: () => {} });
    // joint4 is tightened from the safety file's 1.5 rad/s to the YAML's 1.2
    expect(shield.shield.guardrails.maxVelocity[3]).toBe(1.2);
    expect(shield.shield.guardrails.config.watchdog.incoming_command_timeout_s).toBe(1.0);
    const memory = WorldMemory.open({ file: ':memory:' });
    const mem = new MemoryNode(bus.createNode('memory', opts('memory')), { memory, timer: false, log: () => {} });
    expect(mem.params.object_radius_m).toBe(0.05);
    mem.destroy();
    memory.close();
    void bus.shutdown();
  });
});

describe('node process', () => {
  it('builds nodes from parameters, runs until SIGTERM, then closes the memory file cleanly and exits 0', async () => {
    const { spawn } = await import('node:child_process');
    const file = join(mkdtempSync(join(tmpdir(), 'mem-')), 'memory.sqlite');
    const child = spawn(join('node_modules', '.bin', 'tsx'), [join('test', 'ros', 'fixtures', 'run-nodes.ts'), file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const until = Date.now() + 25000;
    while (!/running on in-process/.test(err) && child.exitCode === null && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    expect(err).toMatch(/jepa_runtime: shield, memory running on in-process/);
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    expect(code).toBe(0);
    // The episode was begun, and the file closed without damage.
    const memory = WorldMemory.open({ file, readonly: true, integrityCheck: 'full' });
    expect(memory.episodes().map((e) => e.episodeId)).toEqual(['shutdown-test']);
    expect(memory.integrityProblems()).toEqual([]);
    memory.close();
  }, 30_000);
});
