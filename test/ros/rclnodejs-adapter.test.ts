// The rclnodejs adapter's parameter handling, against a stand-in for the rclnodejs module
// (rclnodejs needs a sourced ROS 2 to build, so the real module is not available here).
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { RclnodejsTransport } from '../../ros/src/transport/rclnodejs';
import type { Transport } from '../../ros/src/transport/types';
import { declareParameters, intParam, param } from '../../ros/src/nodes/common';

const TYPES = { PARAMETER_NOT_SET: 0, PARAMETER_BOOL: 1, PARAMETER_INTEGER: 2, PARAMETER_DOUBLE: 3, PARAMETER_STRING: 4, PARAMETER_BYTE_ARRAY: 5, PARAMETER_BOOL_ARRAY: 6, PARAMETER_INTEGER_ARRAY: 7, PARAMETER_DOUBLE_ARRAY: 8, PARAMETER_STRING_ARRAY: 9 };

interface Declared { name: string; type: number; value: unknown; descriptorType: number; description: string }

/** Values a launch file would have set on the node (rcl applies them at declaration). */
function fakeRclnodejs(launch: Record<string, unknown>) {
  const declared: Declared[] = [];
  class Parameter {
    constructor(readonly name: string, readonly type: number, readonly value: unknown) {}
  }
  class ParameterDescriptor {
    constructor(readonly name: string, readonly type: number, readonly description: string, readonly readOnly: boolean) {}
  }
  class Node {
    readonly params = new Map<string, Parameter>();
    constructor(readonly n: string) {}
    name() { return this.n; }
    namespace() { return '/'; }
    now() { return { secondsAndNanoseconds: { seconds: 1, nanoseconds: 0 } }; }
    declareParameter(p: Parameter, d: ParameterDescriptor) {
      const value = Object.hasOwn(launch, p.name) ? launch[p.name] : p.value;
      const set = new Parameter(p.name, p.type, value);
      this.params.set(p.name, set);
      declared.push({ name: p.name, type: p.type, value, descriptorType: d.type, description: d.description });
      return set;
    }
    getParameter(name: string) { return this.params.get(name)!; }
    setParameter(p: Parameter) { this.params.set(p.name, p); return { successful: true, reason: '' }; }
    addOnSetParametersCallback() {}
    destroy() {}
  }
  const module = { Node, Parameter, ParameterDescriptor, ParameterType: TYPES, spin() {}, isShutdown: () => false, shutdown() {} };
  return { module, declared };
}

function transport(launch: Record<string, unknown> = {}) {
  const fake = fakeRclnodejs(launch);
  const Ctor = RclnodejsTransport as unknown as new (rcl: unknown) => Transport;
  return { t: new Ctor(fake.module), declared: fake.declared };
}

const SPECS = {
  step_duration_s: param(z.number().positive(), 1, 'a double whose default is a whole number'),
  samples: intParam(z.number().int().min(2), 64, 'an integer'),
  joint_names: param(z.array(z.string()), [] as string[], 'an empty string array'),
};

describe('rclnodejs transport parameters', () => {
  it('declares doubles as PARAMETER_DOUBLE even when the default is a whole number, integers as PARAMETER_INTEGER', () => {
    const { t, declared } = transport();
    const values = declareParameters(t.createNode('planner'), SPECS);
    expect(values).toEqual({ step_duration_s: 1, samples: 64, joint_names: [] });
    expect(declared.map((d) => [d.name, d.type, d.descriptorType])).toEqual([
      ['step_duration_s', TYPES.PARAMETER_DOUBLE, TYPES.PARAMETER_DOUBLE],
      ['samples', TYPES.PARAMETER_INTEGER, TYPES.PARAMETER_INTEGER],
      ['joint_names', TYPES.PARAMETER_STRING_ARRAY, TYPES.PARAMETER_STRING_ARRAY],
    ]);
    expect(declared[0]!.description).toBe('a double whose default is a whole number');
  });

  it('uses programmatic overrides as defaults, lets launch values win, and validates what it gets', () => {
    const { t, declared } = transport({ samples: 128 });
    const values = declareParameters(t.createNode('planner', { parameterOverrides: { step_duration_s: 0.25, samples: 32 } }), SPECS);
    expect(values.step_duration_s).toBe(0.25);
    expect(values.samples).toBe(128); // the launch file's value
    expect(declared.find((d) => d.name === 'step_duration_s')!.value).toBe(0.25);
    const bad = transport({ samples: 1 });
    expect(() => declareParameters(bad.t.createNode('planner'), SPECS)).toThrow(/parameter samples = 1: .*an integer/);
  });
});
