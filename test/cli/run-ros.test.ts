// `jepa run --robot ros` on a machine without ROS 2: the real bin/jepa.js, spawned, must say
// what to source and install, not print a stack trace.
import { execFile } from 'node:child_process';
import { describe, expect, it } from 'vitest';

function jepa(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['bin/jepa.js', ...args], { env, timeout: 25_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

const { ROS_DISTRO: _d, AMENT_PREFIX_PATH: _a, JEPA_DEBUG: _j, ...noRos } = process.env;
const GOAL = '0,-0.785,0,-2.356,0,1.571,0.785,0.02';

describe('jepa run --robot ros without ROS 2', () => {
  it('fails with one line saying ROS 2 is not sourced and how to install rclnodejs', async () => {
    const r = await jepa(['run', '--task', 'reach', '--robot', 'ros', '--goal-joints', GOAL], noRos);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^jepa run: RosUnavailableError: ROS 2 is not sourced \(ROS_DISTRO\/AMENT_PREFIX_PATH are unset\)\. Source a ROS 2 installation first .*npm install rclnodejs && npm rebuild rclnodejs/);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  }, 30_000);

  it('with ROS 2 "sourced" but no rclnodejs installed, says rclnodejs cannot be loaded', async () => {
    const r = await jepa(['run', '--task', 'reach', '--robot', 'ros', '--goal-joints', GOAL], { ...noRos, ROS_DISTRO: 'jazzy', AMENT_PREFIX_PATH: '/nonexistent' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/RosUnavailableError: ROS 2 jazzy is sourced but rclnodejs cannot be loaded \(Cannot find module 'rclnodejs'/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  }, 30_000);

  it('asks for the goal as joints before touching ROS 2', async () => {
    const r = await jepa(['run', '--task', 'reach', '--robot', 'ros'], noRos);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--robot ros needs the goal as joint positions: --goal-joints q1,q2,\.\.\./);
  }, 30_000);
});
