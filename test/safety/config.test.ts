import { describe, expect, it } from 'vitest';
import { loadGuardrails, compileGuardrails } from '../../src/safety/guardrails';
import { parseSafetyConfig, parseSafetyYaml, loadSafetyYaml } from '../../src/safety/config';
import { SafetyConfigError } from '../../src/safety/errors';
import { loadUrdf, parseUrdf } from '../../src/robot/urdf';
import { loadJointLimitsYaml } from '../../src/robot/jointLimits';
import { Shield } from '../../src/safety/shield';
import { cheapSafetyRaw, cheapUrdf } from './fixtures';

describe('shipped safety files', () => {
  it('config/safety/fer.yaml compiles: limits are the tightest of URDF, YAML and safety file, with margins', () => {
    const g = loadGuardrails('config/safety/fer.yaml');
    expect(g.jointNames).toHaveLength(7);
    // fer_joint4: URDF/YAML [-3.0718, -0.0698], margin 0.1.
    expect(g.lower[3]).toBeCloseTo(-2.9718, 12);
    expect(g.upper[3]).toBeCloseTo(-0.1698, 12);
    expect(g.maxVelocity[0]).toBe(1.0);
    expect(g.maxAcceleration[1]).toBe(3.75);
    expect(g.maxJerk[6]).toBe(5000);
    expect(g.maxEffort[4]).toBe(12);
    expect(g.capsules.some((c) => c.link === 'fer_link0')).toBe(false);
    expect(g.capsules.filter((c) => c.link === 'fer_leftfinger')).toHaveLength(4);
    expect(Object.isFrozen(g.config.separation)).toBe(true);
  });

  it('config/safety/ur5e.yaml compiles: UR\'s !degrees limits become radians, elbow at ±(pi - 0.1)', () => {
    const g = loadGuardrails('config/safety/ur5e.yaml');
    expect(g.upper[2]).toBeCloseTo(Math.PI - 0.1, 12);
    expect(g.lower[0]).toBeCloseTo(-2 * Math.PI + 0.1, 12);
    expect(g.maxEffort).toEqual([150, 150, 150, 28, 28, 28]);
    expect(g.maxAcceleration).toEqual([4, 4, 4, 6, 6, 6]);
  });

  it('a UR5e shield built from the shipped file passes a gentle move and halts one into the table', () => {
    const g = loadGuardrails('config/safety/ur5e.yaml');
    const shield = new Shield(g, { clock: () => 0 });
    const q = [0, -1.57, 1.2, -1.2, -1.57, 0];
    shield.updateJointState({ positions: q, velocities: [0, 0, 0, 0, 0, 0], stamp_s: 0 });
    shield.updatePerception({ stamp_s: 0, persons: [] });
    expect(shield.check({ kind: 'target', positions: q.map((v) => v + 0.02), duration_s: 1, stamp_s: 0 }).verdict).not.toBe('halt');
    // Shoulder lift down to horizontal-and-beyond drives the forearm into the table.
    const d = shield.check({ kind: 'target', positions: [0, 0.6, 0.2, -1.2, -1.57, 0], duration_s: 10, stamp_s: 0 });
    expect(d.verdict).toBe('halt');
    expect(d.reasons[0]).toMatch(/HALT_FOR_COLLISION|WORKSPACE_BOUND/);
  });
});

describe('malformed safety configuration names the file and the field', () => {
  const urdf = parseUrdf(cheapUrdf(), 'cheap3.urdf');
  const compile = (mutate: (raw: ReturnType<typeof cheapSafetyRaw>) => void) => {
    const raw = cheapSafetyRaw();
    mutate(raw);
    return () => compileGuardrails(urdf, [], parseSafetyConfig(raw, 'site.yaml'), 'site.yaml');
  };
  const cases: [string, (raw: ReturnType<typeof cheapSafetyRaw>) => void, RegExp][] = [
    ['a negative clearance', (r) => (r.collision.clearance_m = -1), /site\.yaml: collision\.clearance_m: must be >= 0/],
    ['a string speed', (r) => ((r.tool as { max_speed_mps: unknown }).max_speed_mps = 'fast'), /site\.yaml: tool\.max_speed_mps: /],
    ['an unknown key', (r) => ((r as Record<string, unknown>).speed_limit = 3), /site\.yaml: \(root\): .*speed_limit/],
    ['a sharp-object speed above the normal one', (r) => (r.tool.sharp_object_max_speed_mps = 2), /tool\.sharp_object_max_speed_mps: must be <= tool\.max_speed_mps/],
    ['an inverted workspace box', (r) => (r.workspace.boxes[0]!.min_m[2] = 5), /workspace\.boxes\[0\]\.min_m\[2\]: must be < max_m/],
    ['duplicate zone ids', (r) => (r.keep_out[1]!.id = 'post'), /keep_out\[1\]\.id: duplicate zone id "post"/],
    ['a watchdog timeout shorter than the control period', (r) => (r.watchdog.joint_state_timeout_s = 0.001), /watchdog\.joint_state_timeout_s: must be >= watchdog\.control_period_s/],
    ['a wrong number of margins', (r) => ((r as { joint_limit_margins: unknown }).joint_limit_margins = [0.1, 0.1]), /joint_limit_margins: expected one value or 3 values/],
    ['a velocity looser than the URDF', (r) => (r.joint_limits.j1.max_velocity = 5), /site\.yaml: joint_limits\.j1\.max_velocity: 5 is looser than the robot description's 2 \(our limits must sit inside the vendor's\)/],
    ['a position limit outside the URDF', (r) => ((r.joint_limits.j2 as Record<string, number>).max_position = 3), /joint_limits\.j2\.max_position: 3 is above the robot description's 1\.8/],
    ['a missing jerk limit', (r) => delete (r.joint_limits.j3 as Partial<typeof r.joint_limits.j3>).max_jerk, /joint_limits\.j3\.max_jerk: no max_jerk for "j3".*set joint_limits\.j3\.max_jerk in the safety file/],
    ['an unknown joint', (r) => (r.joints[2] = 'elbow'), /site\.yaml: joints\[2\]: "elbow" is not a movable joint of cheap3\.urdf|joint_limits\.j3: "j3" is not in joints/],
    ['an unknown tcp link', (r) => (r.tcp_link = 'flange'), /site\.yaml: tcp_link: unknown link "flange" in cheap3\.urdf/],
    ['a slow-down distance inside S_p at standstill', (r) => (r.separation.slow_down_distance_m = 0.5), /separation\.slow_down_distance_m: 0\.5 must exceed the protective separation at standstill S_p\(0\) = 0\.640 m/],
  ];
  for (const [what, mutate, msg] of cases)
    it(`refuses ${what}`, () => {
      expect(compile(mutate)).toThrow(SafetyConfigError);
      expect(compile(mutate)).toThrow(msg);
    });

  it('refuses broken YAML and a missing file with the path', () => {
    expect(() => parseSafetyYaml('joints: [\n', 'x.yaml')).toThrow(/x\.yaml: yaml: not valid YAML/);
    expect(() => loadSafetyYaml('config/safety/none.yaml')).toThrow(/config\/safety\/none\.yaml: file: cannot read/);
  });

  it('refuses a FER safety file that widens Franka\'s velocity (joint_limits.yaml says 2.175 rad/s)', () => {
    const urdf = loadUrdf('../shared/data/robots/franka/fer.urdf');
    const yamlLimits = loadJointLimitsYaml('../shared/data/robots/franka/fer/joint_limits.yaml', urdf.joints.map((j) => j.name));
    const raw = loadSafetyYaml('config/safety/fer.yaml');
    const wider = { ...raw, joint_limits: { ...raw.joint_limits, fer_joint1: { ...raw.joint_limits.fer_joint1, max_velocity: 3.0 } } };
    expect(() => compileGuardrails(urdf, [yamlLimits], wider, 'fer-wide.yaml')).toThrow(/fer-wide\.yaml: joint_limits\.fer_joint1\.max_velocity: 3 is looser than the robot description's 2\.175/);
  });
});
