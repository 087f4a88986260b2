import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseUrdf } from '../../src/robot/urdf';
import { KinematicModel } from '../../src/robot/kinematics';
import { pushTUrdf, simArmUrdf, twoRoomsUrdf } from '../../src/runtime/embedded-robots';
import { loadGuardrails } from '../../src/safety/guardrails';
import { FER_JOINT_LIMITS, pandaTcp } from '../../src/sim/scenes/panda-kinematics';
import { pushTSceneXml } from '../../src/sim/scenes/push-t';

describe('embedded robot descriptions', () => {
  it('are committed exactly as generated (run `npm run gen:robots` after changing a scene)', () => {
    expect(readFileSync('config/robots/sim-arm.urdf', 'utf8')).toBe(simArmUrdf());
    expect(readFileSync('config/robots/two-rooms.urdf', 'utf8')).toBe(twoRoomsUrdf());
    expect(readFileSync('config/robots/push-t.urdf', 'utf8')).toBe(pushTUrdf());
  });

  it('give the arm the same TCP pose as the scene kinematics at random configurations', () => {
    const model = new KinematicModel(parseUrdf(simArmUrdf(), 'sim-arm.urdf'));
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    for (let trial = 0; trial < 20; trial++) {
      const q = FER_JOINT_LIMITS.map((l) => l.lower_rad + rand() * (l.upper_rad - l.lower_rad));
      const T = model.linkTransform(q, 'tcp');
      const ref = pandaTcp(q);
      for (let i = 0; i < 3; i++) {
        expect(T[4 * i + 3]).toBeCloseTo(ref.p[i]!, 9);
        for (let j = 0; j < 3; j++) expect(T[4 * i + j]).toBeCloseTo(ref.R[3 * i + j]!, 9);
      }
    }
  });

  it("give the push-t pusher the actuators' reach as its joint limits", () => {
    const scene = pushTSceneXml();
    const reach = /ctrlrange="(-?[\d.]+) ([\d.]+)"/.exec(scene)!;
    const pusher = loadGuardrails('config/safety/sim-push-t.yaml');
    expect(pusher.jointNames).toEqual(['pusher_x', 'pusher_y']);
    for (let j = 0; j < 2; j++) {
      expect(pusher.robot.joints.find((x) => x.name === pusher.jointNames[j])!.limit).toMatchObject({ lower: Number(reach[1]), upper: Number(reach[2]) });
      expect(pusher.upper[j]).toBeCloseTo(Number(reach[2]) - 0.005, 9);
    }
    expect(pusher.config.keep_out).toEqual([]);
  });

  it('compile into guardrails with the FER position limits and the two-rooms wall', () => {
    const arm = loadGuardrails('config/safety/sim-arm.yaml');
    const rooms = loadGuardrails('config/safety/sim-two-rooms.yaml');
    // FER joint4 is [-3.0718, -0.0698] rad, less the 0.05 rad margin.
    expect(arm.lower[3]).toBeCloseTo(-3.0218, 9);
    expect(arm.upper[3]).toBeCloseTo(-0.1198, 9);
    expect(arm.maxVelocity[0]).toBe(1.5);
    expect(rooms.jointNames).toEqual(['agent_x', 'agent_y']);
    expect(rooms.upper[0]).toBeCloseTo(0.46 - 0.01, 9);
    expect(rooms.config.keep_out.map((z) => z.id)).toEqual(['wall_south', 'wall_north']);
  });
});
