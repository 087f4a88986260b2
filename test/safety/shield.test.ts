import { describe, expect, it } from 'vitest';
import { Shield, type ShieldDecision } from '../../src/safety/shield';
import { protectiveSeparation } from '../../src/safety/separation';
import { cheapGuardrails, cheapSafetyRaw } from './fixtures';
import type { Guardrails } from '../../src/safety/guardrails';
import { readdirSync, readFileSync } from 'node:fs';

/**
 * A shield on the cheap arm, standing at `q`, with fresh state and
 * perception; only the named keep-out zones of the fixture are configured.
 */
function setup(q = [0, 0.3, 0.6], zones: string[] = []) {
  const raw = cheapSafetyRaw();
  raw.keep_out = raw.keep_out.filter((z) => zones.includes(z.id));
  const clock = { t: 10 };
  const g = cheapGuardrails(raw);
  const shield = new Shield(g, { clock: () => clock.t });
  shield.updateJointState({ positions: q, velocities: [0, 0, 0], stamp_s: clock.t });
  shield.updatePerception({ stamp_s: clock.t, persons: [] });
  return { shield, clock, g };
}

function move(shield: Shield, t: number, to: number[], duration: number): ShieldDecision {
  return shield.check({ kind: 'target', positions: to, duration_s: duration, stamp_s: t });
}

describe('limits and scaling', () => {
  it('a slow, small move passes unchanged', () => {
    const { shield, clock } = setup();
    const d = move(shield, clock.t, [0.01, 0.31, 0.6], 1.0);
    expect(d.verdict).toBe('pass');
    expect(d.trajectory!.points[0]!.time_from_start_s).toBe(1.0);
  });

  it('a too-fast move is slowed so the fastest joint sits at its velocity limit (j1: 1.5 rad/s) and nothing else changes', () => {
    const { shield, clock } = setup([0, 0, 0.3]);
    // 0.3 rad in 0.1 s = 3 rad/s -> needs 2x; acceleration from rest over the stretched segment: 1.5 / 0.2 = 7.5 < 8.
    const d = move(shield, clock.t, [0.3, 0, 0.3], 0.1);
    expect(d.verdict).toBe('scale');
    expect(d.reasons).toContain('JOINT_VELOCITY_LIMIT');
    expect(d.timeScale).toBeCloseTo(2, 6);
    expect(d.trajectory!.points[0]!.positions).toEqual([0.3, 0, 0.3]);
  });

  it('acceleration from the measured velocity is limited: reversing at speed is stretched until |dv/dt| <= 8 rad/s²', () => {
    const { shield, clock } = setup([0, 0, 0.3]);
    shield.updateJointState({ positions: [0, 0, 0.3], velocities: [1.0, 0, 0], stamp_s: clock.t });
    const d = move(shield, clock.t, [-0.05, 0, 0.3], 0.1);
    expect(d.reasons).toContain('JOINT_ACCELERATION_LIMIT');
    const h = d.trajectory!.points[0]!.time_from_start_s;
    expect(Math.abs((-0.05 / h - 1.0) / h)).toBeLessThanOrEqual(8);
  });

  it('TOOL_SPEED: the sharp-object limit (0.2 m/s) slows the same move more than the normal limit (0.8 m/s)', () => {
    const { shield, clock } = setup([0, 0.5, 0.5]);
    const normal = move(shield, clock.t, [0, 0.5, 0.9], 0.4);
    shield.setHoldingSharpObject(true);
    const sharp = move(shield, clock.t, [0, 0.5, 0.9], 0.4);
    expect(normal.verdict).toBe('pass');
    expect(normal.metrics.tcpSpeedBound_mps).toBeGreaterThan(0.2);
    expect(sharp.reasons).toEqual(['TOOL_SPEED']);
    // Only the tool limit binds, so the slow-down is exactly bound / limit.
    expect(sharp.timeScale).toBeCloseTo(normal.metrics.tcpSpeedBound_mps / 0.2, 6);
    expect(sharp.metrics.tcpSpeedBound_mps).toBeLessThanOrEqual(0.2);
  });

  it('JOINT_BOUND: a waypoint 0.01 beyond the margin is clamped onto it; 0.5 beyond halts', () => {
    const { shield, clock, g } = setup();
    const hi = g.upper[1]!;
    shield.updateJointState({ positions: [0, 0.3, 0], velocities: [0, 0, 0], stamp_s: clock.t });
    const c = shield.check({ kind: 'trajectory', points: [{ positions: [0, 0.4, 0], time_from_start_s: 0.5 }, { positions: [0, hi + 0.01, 0], time_from_start_s: 5 }], stamp_s: clock.t });
    expect(c.verdict).toBe('clamp');
    expect(c.reasons).toContain('JOINT_BOUND');
    expect(c.trajectory!.points[1]!.positions[1]).toBe(hi);
    const h = move(shield, clock.t, [0, hi + 0.5, 0], 5);
    expect(h.verdict).toBe('halt');
    expect(h.reasons).toEqual(['JOINT_BOUND']);
  });

  it('the URDF safety_controller (j2: k_position 5, soft upper 1.8) slows motion towards the soft limit: v <= 5 x room left', () => {
    const { shield, clock } = setup([0, 1.74, 0]);
    // Already moving at 0.3 rad/s (so acceleration does not bind): 0.01 rad in 30 ms = 0.333 rad/s,
    // room is 5 x (1.8 - 1.74) = 0.3 rad/s -> slowed by 0.333 / 0.3; moving away is not slowed by it.
    shield.updateJointState({ positions: [0, 1.74, 0], velocities: [0, 0.3, 0], stamp_s: clock.t });
    const up = move(shield, clock.t, [0, 1.75, 0], 0.03);
    expect(up.reasons).toEqual(['JOINT_BOUND']);
    expect(up.timeScale).toBeCloseTo(0.01 / 0.03 / 0.3, 5);
    shield.updateJointState({ positions: [0, 1.74, 0], velocities: [0, 0, 0], stamp_s: clock.t });
    const down = move(shield, clock.t, [0, 1.73, 0], 0.1);
    expect(down.reasons).not.toContain('JOINT_BOUND');
  });

  it('joint_names in another order are mapped onto the configured joints and returned in the caller\'s order', () => {
    const { shield, clock } = setup([0, 0.3, 0.6]);
    const d = shield.check({ kind: 'trajectory', joint_names: ['j3', 'j1', 'j2'], points: [{ positions: [0.62, 0.01, 0.3], time_from_start_s: 1 }], stamp_s: clock.t });
    expect(d.verdict).toBe('pass');
    expect(d.trajectory!.joint_names).toEqual(['j3', 'j1', 'j2']);
    expect(d.trajectory!.points[0]!.positions).toEqual([0.62, 0.01, 0.3]);
  });
});

describe('Cartesian guards', () => {
  it('HALT_FOR_COLLISION: a move whose end points are clear but which sweeps through the ball zone is caught', () => {
    // Ball at (-0.3, 0.35, 0.45) r 0.1: j1 = -0.86 with j2 = -0.9 points the arm into it; both end points are far from it.
    const { shield, clock } = setup([-2.0, -0.9, 0.0], ['ball']);
    expect(move(shield, clock.t, [-2.0, -0.9, 0.01], 8).verdict).toBe('pass');
    const d = move(shield, clock.t, [0.3, -0.9, 0.0], 8);
    expect(d.verdict).toBe('halt');
    expect(d.reasons).toEqual(['HALT_FOR_COLLISION']);
    expect(d.detail).toMatch(/segment 0 at fraction 0\.[0-9]+/);
  });

  it('WORKSPACE_BOUND: folding the tool down below the box floor (z = -0.05) halts', () => {
    const { shield, clock } = setup([0, 0.2, 0.2]);
    const d = move(shield, clock.t, [0, 1.7, 1.0], 8);
    expect(d.reasons).toEqual(['WORKSPACE_BOUND']);
  });

  it('a moving zone predicted to arrive where the arm will be is caught; the same zone moving away is not', () => {
    const { shield, clock } = setup([0, 0, 0], ['drone']);
    // The arm stands straight up (tip near z = 0.7); the drone starts 0.5 m away and flies at 0.5 m/s towards it.
    shield.updatePerception({ stamp_s: clock.t, persons: [], zones: [{ id: 'drone', position_m: [0.5, 0, 0.6], velocity_mps: [-0.5, 0, 0] }] });
    const towards = move(shield, clock.t, [0.01, 0, 0], 2);
    expect(towards.verdict).toBe('halt');
    expect(towards.detail).toMatch(/moving keep-out zone/);
    shield.updatePerception({ stamp_s: clock.t, persons: [], zones: [{ id: 'drone', position_m: [0.5, 0, 0.6], velocity_mps: [0.5, 0, 0] }] });
    expect(move(shield, clock.t, [0.01, 0, 0], 2).verdict).not.toBe('halt');
  });
});

describe('speed and separation monitoring (ISO/TS 15066)', () => {
  const raw = cheapSafetyRaw();
  const sp0 = protectiveSeparation({ ...raw.separation, stopping_model: 'constant_deceleration', stopping_distance_m: 0, person_radius_m: 0.2, person_height_m: 1.8, floor_z_m: -0.7, min_speed_fraction: 0.02 }, 0, 1.6).S_p;

  it('S_p adds up its six terms: 1.6 (0.1 + 0.2) + 0.5 x 0.1 + 0.5 x 0.2 / 2 + 0.1 + 0.05 + 0.01', () => {
    const p = protectiveSeparation({ ...raw.separation, stopping_model: 'constant_deceleration', stopping_distance_m: 0, person_radius_m: 0.2, person_height_m: 1.8, floor_z_m: -0.7, min_speed_fraction: 0.02 }, 0.5, 1.6);
    expect(p.S_h).toBeCloseTo(0.48, 12);
    expect(p.S_r).toBeCloseTo(0.05, 12);
    expect(p.S_s).toBeCloseTo(0.05, 12);
    expect(p.S_p).toBeCloseTo(0.48 + 0.05 + 0.05 + 0.1 + 0.05 + 0.01, 12);
  });

  it('the arm slows as a person approaches and halts below S_p; the slow-down is monotone in the distance', () => {
    const scales: number[] = [];
    let halted = -1;
    for (const x of [3.0, 2.0, 1.6, 1.3, 1.1, 0.95]) {
      const { shield, clock } = setup([0, 0, 0.3]);
      shield.updatePerception({ stamp_s: clock.t, persons: [{ id: 'p', position_m: [x, 0, 0], velocity_mps: [0, 0, 0] }] });
      const d = move(shield, clock.t, [0.2, 0, 0.3], 0.4);
      if (d.verdict === 'halt') {
        expect(d.reasons).toEqual(['HALT_FOR_PERSON']);
        if (halted < 0) halted = x;
        continue;
      }
      expect(d.metrics.minSeparation_m).toBeGreaterThanOrEqual(d.metrics.protectiveSeparation_m);
      if (x < 1.5 + 0.3) expect(d.reasons).toContain('DECELERATE_FOR_APPROACHING_PERSON');
      scales.push(d.timeScale);
    }
    for (let i = 1; i < scales.length; i++) expect(scales[i]!).toBeGreaterThanOrEqual(scales[i - 1]!);
    expect(scales[0]).toBe(scales[1]); // far away: no person effect
    expect(halted).toBeGreaterThan(0);
    expect(sp0).toBeCloseTo(0.64, 12);
  });

  it('tick() halts a standing-still arm when a person steps inside S_p, and a measured faster person raises S_p', () => {
    const { shield, clock } = setup([0, 0, 0.3]);
    shield.check({ kind: 'target', positions: [0, 0, 0.3], duration_s: 1, stamp_s: clock.t });
    shield.updatePerception({ stamp_s: clock.t, persons: [{ id: 'p', position_m: [1.0, 0, 0], velocity_mps: [0, 0, 0] }] });
    expect(shield.tick().verdict).toBe('pass');
    shield.updatePerception({ stamp_s: clock.t, persons: [{ id: 'p', position_m: [1.0, 0, 0], velocity_mps: [-3, 0, 0] }] });
    const d = shield.tick();
    expect(d.verdict).toBe('halt');
    expect(d.reasons).toContain('HALT_FOR_PERSON');
  });
});

describe('watchdog, non-finite input and the e-stop latch', () => {
  it('stale joint state halts within one control period of its timeout (injected clock)', () => {
    const { shield, clock, g } = setup();
    const period = g.config.watchdog.control_period_s, timeout = g.config.watchdog.joint_state_timeout_s;
    const stamp = clock.t;
    let haltedAt = Infinity;
    for (let k = 0; k < 20; k++) {
      clock.t = stamp + k * period;
      shield.updatePerception({ stamp_s: clock.t, persons: [] });
      shield.check({ kind: 'target', positions: [0, 0.3, 0.6], duration_s: 1, stamp_s: clock.t });
      const d = shield.tick();
      if (d.verdict === 'halt') {
        expect(d.reasons).toEqual(['WATCHDOG_TIMEOUT']);
        haltedAt = clock.t;
        break;
      }
    }
    expect(haltedAt - stamp).toBeGreaterThan(timeout);
    expect(haltedAt - stamp).toBeLessThanOrEqual(timeout + period + 1e-9);
  });

  it('no command for incoming_command_timeout (0.1 s) halts at the next tick; a command older than that is refused', () => {
    const { shield, clock } = setup();
    shield.check({ kind: 'target', positions: [0, 0.3, 0.6], duration_s: 1, stamp_s: clock.t });
    for (let k = 1; k <= 11; k++) {
      clock.t += 0.01;
      shield.updateJointState({ positions: [0, 0.3, 0.6], velocities: [0, 0, 0], stamp_s: clock.t });
      shield.updatePerception({ stamp_s: clock.t, persons: [] });
      const d = shield.tick();
      expect(d.verdict).toBe(k <= 10 ? 'pass' : 'halt');
    }
    const old = shield.check({ kind: 'target', positions: [0, 0.3, 0.6], duration_s: 1, stamp_s: clock.t - 0.2 });
    expect(old.reasons).toEqual(['WATCHDOG_TIMEOUT']);
  });

  it('NaN or Inf anywhere in a command halts with NON_FINITE_INPUT', () => {
    const { shield, clock } = setup();
    for (const bad of [NaN, Infinity, -Infinity]) {
      expect(move(shield, clock.t, [0, bad, 0.6], 1).reasons).toEqual(['NON_FINITE_INPUT']);
      expect(move(shield, clock.t, [0, 0.3, 0.6], bad).reasons).toEqual(['NON_FINITE_INPUT']);
      expect(shield.check({ kind: 'target', positions: [0, 0.3, 0.6], duration_s: 1, stamp_s: bad }).reasons).toEqual(['NON_FINITE_INPUT']);
    }
  });

  it('a NaN joint state latches; reset is refused until a finite state arrives, then clears', () => {
    const { shield, clock } = setup();
    shield.updateJointState({ positions: [0, NaN, 0], velocities: [0, 0, 0], stamp_s: clock.t });
    expect(shield.latched?.reason).toBe('NON_FINITE_INPUT');
    expect(move(shield, clock.t, [0, 0.3, 0.6], 1).reasons).toEqual(['ESTOP_LATCHED']);
    expect(shield.reset()).toMatchObject({ ok: false, detail: 'reset refused: the latest joint state is not finite' });
    shield.updateJointState({ positions: [0, 0.3, 0.6], velocities: [0, 0, 0], stamp_s: clock.t });
    expect(move(shield, clock.t, [0, 0.3, 0.6], 1).reasons).toEqual(['ESTOP_LATCHED']);
    expect(shield.reset().ok).toBe(true);
    expect(move(shield, clock.t, [0, 0.31, 0.6], 1).verdict).toBe('pass');
  });

  it('the e-stop input latches; reset is refused while it is engaged and accepted after release', () => {
    const { shield, clock } = setup();
    shield.setEstopInput(true);
    expect(shield.tick().reasons).toContain('ESTOP_LATCHED');
    expect(shield.reset().ok).toBe(false);
    shield.setEstopInput(false);
    expect(move(shield, clock.t, [0, 0.3, 0.6], 1).reasons).toEqual(['ESTOP_LATCHED']);
    expect(shield.reset().ok).toBe(true);
  });

  it('an effort above max_effort x max_fraction latches EFFORT_LIMIT (j3: 5 N·m)', () => {
    const { shield, clock } = setup();
    shield.updateJointState({ positions: [0, 0.3, 0.6], velocities: [0, 0, 0], efforts: [1, 1, 5.5], stamp_s: clock.t });
    expect(shield.latched?.reason).toBe('EFFORT_LIMIT');
    expect(shield.reset().detail).toMatch(/j3 effort 5\.5 exceeds 5/);
    shield.updateJointState({ positions: [0, 0.3, 0.6], velocities: [0, 0, 0], efforts: [1, 1, 4], stamp_s: clock.t });
    expect(shield.reset().ok).toBe(true);
  });

  it('every decision is logged (bounded) and sent to the listener', () => {
    const clock = { t: 0 };
    const seen: string[] = [];
    const raw = cheapSafetyRaw();
    raw.keep_out = [];
    const shield = new Shield(cheapGuardrails(raw), { clock: () => clock.t, logCapacity: 3, listener: (d) => seen.push(d.verdict) });
    shield.updateJointState({ positions: [0, 0.3, 0.6], velocities: [0, 0, 0], stamp_s: 0 });
    shield.updatePerception({ stamp_s: 0, persons: [] });
    for (let i = 0; i < 5; i++) move(shield, 0, [0, 0.3 + 0.01 * i, 0.6], 1);
    move(shield, 0, [NaN, 0, 0], 1);
    expect(seen).toEqual(['pass', 'pass', 'pass', 'pass', 'pass', 'halt']);
    expect(shield.log.map((d) => d.verdict)).toEqual(['pass', 'pass', 'halt']);
  });
});

describe('frozen guardrails: nothing at run time can loosen them', () => {
  it('mutating the guardrails object after construction throws and does not change decisions', () => {
    const { shield, clock, g } = setup([0, 0, 0.3]);
    expect(() => ((g.maxVelocity as number[])[0] = 100)).toThrow(TypeError);
    expect(() => ((g.config.tool as { max_speed_mps: number }).max_speed_mps = 100)).toThrow(TypeError);
    expect(() => (g.config.keep_out as unknown[]).push({})).toThrow(TypeError);
    expect(move(shield, clock.t, [0.3, 0, 0.3], 0.1).timeScale).toBeCloseTo(2, 6);
  });

  it('a shield built from an unfrozen look-alike copies it: later edits to the source do not reach it', () => {
    const g = cheapGuardrails();
    const loose = JSON.parse(JSON.stringify(g, (_k, v) => (v === Infinity ? 1e308 : v === -Infinity ? -1e308 : v))) as Guardrails;
    const clock = { t: 0 };
    const shield = new Shield(loose, { clock: () => clock.t });
    (loose.maxVelocity as number[])[0] = 1000;
    (loose.config.keep_out as unknown[]).length = 0;
    shield.updateJointState({ positions: [0, 0, 0.3], velocities: [0, 0, 0], stamp_s: 0 });
    shield.updatePerception({ stamp_s: 0, persons: [] });
    expect(move(shield, 0, [0.3, 0, 0.3], 0.1).timeScale).toBeCloseTo(2, 6);
    expect(shield.guardrails.config.keep_out).toHaveLength(4);
    expect(Object.isFrozen(shield.guardrails.maxVelocity)).toBe(true);
    expect(Object.isFrozen(shield)).toBe(true);
  });

  it('prototype pollution after construction does not widen a limit or add a zone field', () => {
    const { shield, clock } = setup([-2.0, -0.9, 0.0], ['ball']);
    shield.updateJointState({ positions: [0, 0, 0.3], velocities: [0, 0, 0], stamp_s: clock.t });
    const proto = Object.prototype as unknown as Record<string, unknown>;
    try {
      proto.max_velocity = 1e9;
      proto.max_speed_mps = 1e9;
      proto.max_time_scale = 1e9;
      proto.clearance_m = -10;
      expect(move(shield, clock.t, [0.3, 0, 0.3], 0.1).timeScale).toBeCloseTo(2, 6);
      shield.updateJointState({ positions: [-2.0, -0.9, 0.0], velocities: [0, 0, 0], stamp_s: clock.t });
      expect(move(shield, clock.t, [0.3, -0.9, 0.0], 8).verdict).toBe('halt');
    } finally {
      delete proto.max_velocity;
      delete proto.max_speed_mps;
      delete proto.max_time_scale;
      delete proto.clearance_m;
    }
  });

  it('zone updates may move a configured moving zone but not resize, remove or add zones, or move a static one', () => {
    const { shield, clock } = setup([-2.0, -0.9, 0.0], ['post', 'ball', 'bar', 'drone']);
    expect(() => shield.updatePerception({ stamp_s: clock.t, persons: [], zones: [{ id: 'drone', position_m: [0, 0, 0], velocity_mps: [0, 0, 0], radius_m: 0.001 } as never] })).toThrow(/only id, position_m, velocity_mps/);
    expect(() => shield.updatePerception({ stamp_s: clock.t, persons: [], zones: [{ id: 'ball', position_m: [5, 5, 5], velocity_mps: [0, 0, 0] }] })).toThrow(/zone "ball" is static/);
    expect(() => shield.updatePerception({ stamp_s: clock.t, persons: [], zones: [{ id: 'new', position_m: [5, 5, 5], velocity_mps: [0, 0, 0] }] })).toThrow(/not a configured keep-out zone/);
    // An update without zones keeps every configured zone.
    shield.updatePerception({ stamp_s: clock.t, persons: [] });
    expect(shield.guardrails.config.keep_out.map((z) => z.id)).toEqual(['post', 'ball', 'bar', 'drone']);
    expect(move(shield, clock.t, [0.3, -0.9, 0.0], 8).verdict).toBe('halt');
  });

  it('a command carrying its own "limits" or a time scale is judged by the configured limits only', () => {
    const { shield, clock } = setup([0, 0, 0.3]);
    const sneaky = { kind: 'target', positions: [0.3, 0, 0.3], duration_s: 0.1, stamp_s: clock.t, joint_limits: { j1: { max_velocity: 100 } }, max_time_scale: 1, tool: { max_speed_mps: 100 } };
    const d = shield.check(sneaky as never);
    expect(d.timeScale).toBeCloseTo(2, 6);
    expect(d.reasons).toContain('JOINT_VELOCITY_LIMIT');
  });

  it('the safety layer never imports the planner', () => {
    for (const f of readdirSync('src/safety')) expect(readFileSync(`src/safety/${f}`, 'utf8')).not.toMatch(/from '\.\.\/planning/);
  });
});
