import { describe, expect, it } from 'vitest';
import type { MessageDefinition, MessageDefinitionField } from '@foxglove/message-definition';
import type { MessageRegistry } from '../../ros/src/msgs/registry';
import { InProcessTransport } from '../../ros/src/transport/in-process';
import { graphRegistry } from './helpers';

/** Every type the nodes, the shield's controller interface, actions and record/replay put on the wire. */
const TYPES = [
  'sensor_msgs/msg/Image',
  'sensor_msgs/msg/CompressedImage',
  'sensor_msgs/msg/JointState',
  'std_msgs/msg/Float32MultiArray',
  'std_msgs/msg/String',
  'trajectory_msgs/msg/JointTrajectory',
  'geometry_msgs/msg/PoseStamped',
  'rosgraph_msgs/msg/Clock',
  'action_msgs/msg/GoalStatusArray',
  'action_msgs/srv/CancelGoal_Request',
  'action_msgs/srv/CancelGoal_Response',
  'jepa_runtime/msg/CollisionObject',
  'jepa_runtime/msg/SolidPrimitive',
  ...['Goal', 'Result', 'Feedback', 'SendGoal_Request', 'SendGoal_Response', 'GetResult_Request', 'GetResult_Response', 'FeedbackMessage'].flatMap((s) => [
    `jepa_runtime/action/PlanToGoal_${s}`,
    `control_msgs/action/FollowJointTrajectory_${s}`,
  ]),
];

/** A message with a distinct, non-default value in every field (arrays of 2, bounded arrays at their bound). */
function sample(defs: MessageDefinition[], name: string, seed: { n: number }): Record<string, unknown> {
  const def = defs.find((d) => d.name === name) ?? defs[0]!;
  const out: Record<string, unknown> = {};
  for (const f of def.definitions) {
    if (f.isConstant) continue;
    const count = f.isArray ? (f.arrayLength ?? Math.min(2, f.arrayUpperBound ?? 2)) : 1;
    const one = () => value(defs, f, seed);
    out[f.name] = f.isArray ? Array.from({ length: count }, one) : one();
  }
  return out;
}

function value(defs: MessageDefinition[], f: MessageDefinitionField, seed: { n: number }): unknown {
  const n = ++seed.n;
  if (f.isComplex) return sample(defs, f.type, seed);
  switch (f.type) {
    case 'bool': return n % 2 === 0;
    case 'string': case 'wstring': return `s${n}`;
    case 'float32': return n + 0.5;
    case 'float64': return n + 0.25;
    case 'int64': case 'uint64': return BigInt(n);
    case 'int8': return -(n % 100);
    case 'uint8': case 'byte': case 'char': return n % 200;
    case 'int16': case 'int32': return -n;
    case 'uint16': case 'uint32': return n;
    case 'time': case 'duration': return { sec: n, nanosec: n };
    default: throw new Error(`no sample for field type ${f.type}`);
  }
}

/** Typed arrays → plain arrays, so decoded and sent values compare structurally. */
function plain(v: unknown): unknown {
  if (ArrayBuffer.isView(v) && !(v instanceof DataView)) return Array.from(v as unknown as ArrayLike<number>);
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

function roundTrip(reg: MessageRegistry, type: string) {
  const defs = reg.definitions(type);
  const msg = sample(defs, defs[0]!.name ?? '', { n: 0 });
  const codec = reg.codec(type);
  const back = codec.decode(codec.encode(msg));
  return { msg, back };
}

describe('CDR round trip of every message type the package uses', () => {
  for (const flavour of ['humble', 'master'] as const) {
    const reg = graphRegistry(flavour);
    // The bus adds rosgraph_msgs/Clock when the definitions lack it, as rcl_interfaces here does.
    void new InProcessTransport(reg);
    for (const type of TYPES) {
      it(`${type} (control_msgs ${flavour})`, () => {
        const { msg, back } = roundTrip(reg, type);
        expect(plain(back)).toEqual(plain(msg));
      });
    }
  }

  it('shows why both control_msgs releases are needed: a master feedback is longer than a humble one', () => {
    const humble = graphRegistry('humble');
    const master = graphRegistry('master');
    const type = 'control_msgs/action/FollowJointTrajectory_Feedback';
    const m = roundTrip(master, type).msg;
    const h = roundTrip(humble, type).msg;
    const extra = Object.keys(m).filter((k) => !(k in h));
    expect(extra.length).toBe(2);
    expect(master.codec(type).encode(m).length).toBeGreaterThan(humble.codec(type).encode(h).length);
  });
});
