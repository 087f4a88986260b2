/**
 * Builds each node with its stage objects from parameters, for the node
 * executables and the all-in-one process: the world model (`checkpoint`,
 * `backend`), the planner (`planner`, `horizon`, `samples`, ...), goal images
 * per task (`task_goal_images`), IK from `robot_description`, the guardrails
 * (`safety_file` + `robot_description`), the world memory (`memory_file`).
 * Parameters are declared on the node they configure, so a launch file sets
 * them in the node's own section of the YAML.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { loadModel } from '../../../src/addon/index';
import type { WorldModel } from '../../../src/addon/types';
import { WorldMemory } from '../../../src/memory/world-memory';
import { SurpriseMonitor } from '../../../src/perception/surprise';
import { imageToChw } from '../../../src/perception/preprocess';
import { CemPlanner } from '../../../src/planning/cem';
import { MppiPlanner } from '../../../src/planning/mppi';
import type { PlanGoal } from '../../../src/planning/types';
import { loadJointLimitsYaml } from '../../../src/robot/jointLimits';
import { KinematicModel } from '../../../src/robot/kinematics';
import { parseUrdf, loadUrdf } from '../../../src/robot/urdf';
import { loadSafetyYaml } from '../../../src/safety/config';
import { compileGuardrails, type Guardrails } from '../../../src/safety/guardrails';
import { decodePng } from '../msgs/image-view';
import { NodeConfigError, declareParameters, intParam, param } from '../nodes/common';
import { MemoryNode } from '../nodes/memory';
import { PerceptionNode } from '../nodes/perception';
import { type GoalResolver, type InverseKinematics, PlannerNode } from '../nodes/planner';
import { ShieldNode } from '../nodes/shield';
import type { NodeOptions, Transport, TransportNode } from '../transport/types';

const MODEL_PARAMS = {
  checkpoint: param(z.string().min(1, 'set checkpoint to a folder holding config.json and model.safetensors'), '', 'world-model checkpoint folder', true),
  backend: param(z.enum(['auto', 'cpu', 'cuda', 'reference']), 'auto', 'model backend', true),
};

async function model(node: TransportNode): Promise<WorldModel> {
  const p = declareParameters(node, MODEL_PARAMS);
  return loadModel(p.checkpoint, { backend: p.backend });
}

export interface Built {
  node: TransportNode;
  close(): void;
}

export async function buildPerception(transport: Transport, options: NodeOptions = {}): Promise<Built & { perception: PerceptionNode }> {
  const node = transport.createNode('perception', options);
  const m = await model(node);
  const p = declareParameters(node, {
    surprise: param(z.boolean(), true, 'score prediction errors and publish surprise events', true),
    surprise_metric: param(z.enum(['l2', 'l1', 'cosine']), 'l2', 'prediction error metric', true),
  });
  const perception = new PerceptionNode(node, { model: m, surprise: p.surprise ? new SurpriseMonitor({ metric: p.surprise_metric }) : undefined });
  return { node, perception, close: () => (node.destroy(), m.dispose()) };
}

/** `task=path.png` entries → goal latents, encoded once at start. */
async function goalImages(entries: readonly string[], m: WorldModel): Promise<GoalResolver | undefined> {
  if (entries.length === 0) return undefined;
  const enc = m.config.encoder;
  if (enc.kind === 'mlp') throw new NodeConfigError('task_goal_images needs an image encoder; this checkpoint encodes states');
  const goals = new Map<string, PlanGoal>();
  for (const entry of entries) {
    const at = entry.indexOf('=');
    if (at <= 0) throw new NodeConfigError(`task_goal_images entry '${entry}' must be task_id=path/to/goal.png`);
    const img = decodePng(readFileSync(entry.slice(at + 1)));
    const buf = new Float32Array(3 * enc.imageSize * enc.imageSize);
    imageToChw(img, enc.imageSize, buf, 0, entry.slice(at + 1));
    goals.set(entry.slice(0, at), { latent: await m.encode(buf, 1) });
  }
  return (task) => goals.get(task);
}

/** DLS inverse kinematics on a URDF for `jointNames`, as the planner's pose goals need it. */
export function inverseKinematics(urdfXml: string, jointNames: readonly string[], tipLink: string): InverseKinematics {
  const km = new KinematicModel(parseUrdf(urdfXml, 'robot_description'), { jointNames });
  return (p, q) => {
    const [x, y, z, w] = q;
    const T = new Float64Array(16);
    T.set([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w), p[0], 2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w), p[1], 2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y), p[2], 0, 0, 0, 1]);
    const r = km.inverseKinematics(T, { tipLink });
    return r.converged ? r.q : undefined;
  };
}

export async function buildPlanner(transport: Transport, options: NodeOptions = {}): Promise<Built & { planner: PlannerNode }> {
  const node = transport.createNode('planner', options);
  const m = await model(node);
  const p = declareParameters(node, {
    planner: param(z.enum(['cem', 'mppi']), 'cem', 'sampling planner', true),
    horizon: intParam(z.number().int().positive(), 8, 'plan length H, model steps', true),
    samples: intParam(z.number().int().min(2), 256, 'candidate sequences per iteration', true),
    seed: intParam(z.number().int(), 0, 'sampling seed', true),
    init_std: param(z.number().positive(), 0.5, 'initial std of the sampling distribution', true),
    task_goal_images: param(z.array(z.string()), [], 'goal images per task id: task_id=path/to/goal.png', true),
    robot_description: param(z.string(), '', 'URDF XML (as robot_state_publisher takes it), for end-effector pose goals', true),
    tip_link: param(z.string(), 'tool0', 'link an end-effector pose goal places', true),
  });
  const opts = { horizon: p.horizon, samples: p.samples, seed: p.seed, initStd: p.init_std, energy: {} };
  const planner = p.planner === 'cem' ? new CemPlanner(m, opts) : new MppiPlanner(m, opts);
  const goals = await goalImages(p.task_goal_images, m);
  // joint_names is declared by the PlannerNode; IK reads the same override (or default) through a getter.
  let ik: InverseKinematics | undefined;
  const urdf = p.robot_description;
  const plannerNode = new PlannerNode(node, {
    model: m,
    planner,
    goals,
    ik: urdf ? (pos, q, frame) => (ik ??= inverseKinematics(urdf, node.getParameter<string[]>('joint_names'), p.tip_link))(pos, q, frame) : undefined,
  });
  return { node, planner: plannerNode, close: () => (node.destroy(), m.dispose()) };
}

/** Guardrails from the safety file, with the robot description from a URDF string when one is given. */
export function guardrailsFrom(safetyFile: string, robotDescription: string): Guardrails {
  const safety = loadSafetyYaml(safetyFile);
  if (!robotDescription && !safety.robot) throw new NodeConfigError(`${safetyFile} names no robot.urdf and robot_description is empty; set one of them`);
  const base = dirname(safetyFile);
  const robot = robotDescription ? parseUrdf(robotDescription, 'robot_description') : loadUrdf(resolve(base, safety.robot!.urdf));
  const names = robot.joints.map((j) => j.name);
  const limits = (safety.robot?.joint_limits ?? []).map((f) => loadJointLimitsYaml(resolve(base, f), names));
  return compileGuardrails(robot, limits, safety, safetyFile);
}

export async function buildShield(transport: Transport, options: NodeOptions = {}): Promise<Built & { shield: ShieldNode }> {
  const node = transport.createNode('shield', options);
  const p = declareParameters(node, {
    safety_file: param(z.string().min(1, 'set safety_file to the guardrails YAML'), '', 'safety file (src/safety schema)', true),
    robot_description: param(z.string(), '', 'URDF XML; replaces the safety file robot.urdf when set', true),
  });
  const shield = new ShieldNode(node, { guardrails: guardrailsFrom(p.safety_file, p.robot_description) });
  return { node, shield, close: () => (shield.destroy(), node.destroy()) };
}

export async function buildMemory(transport: Transport, options: NodeOptions = {}): Promise<Built & { memory: MemoryNode }> {
  const node = transport.createNode('memory', options);
  const p = declareParameters(node, {
    memory_file: param(z.string().min(1), 'jepa_memory.sqlite', 'SQLite file of the world memory (created when missing)', true),
    confidence_half_life_s: param(z.number().positive(), 60, 'half-life of an unseen object confidence, s', true),
  });
  const memory = WorldMemory.open({ file: p.memory_file, confidenceDecayRate_per_s: Math.LN2 / p.confidence_half_life_s });
  const memoryNode = new MemoryNode(node, { memory });
  return { node, memory: memoryNode, close: () => (memoryNode.destroy(), node.destroy(), memory.close()) };
}
