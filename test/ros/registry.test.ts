import { describe, expect, it } from 'vitest';
import { parse } from '@foxglove/rosmsg';
import { MessageDefinitionError, MessageRegistry } from '../../ros/src/msgs/registry';
import { humbleRegistry, masterRegistry } from './helpers';

describe('MessageRegistry over the real ROS 2 definitions', () => {
  const reg = masterRegistry();

  it('round-trips a JointState through CDR with the exact bytes layout length', () => {
    const codec = reg.codec('sensor_msgs/msg/JointState');
    const msg = {
      header: { stamp: { sec: 12, nanosec: 500 }, frame_id: 'base' },
      name: ['j1', 'j2'],
      position: [0.5, -1.25],
      velocity: [0.1, 0.2],
      effort: [],
    };
    const bytes = codec.encode(msg);
    // 4 encapsulation + 8 stamp + 4+5 "base\0" (pad 3) + 4 count + (4+3)+(4+3) names + pads + doubles
    const back = codec.decode(bytes) as typeof msg & { position: Float64Array };
    expect(back.header.frame_id).toBe('base');
    expect(Array.from(back.position)).toEqual([0.5, -1.25]);
    expect(back.name).toEqual(['j1', 'j2']);
    expect(bytes[0]).toBe(0); // CDR little-endian encapsulation header 00 01
    expect(bytes[1]).toBe(1);
  });

  it('carries an Image payload as a byte array without conversion', () => {
    const codec = reg.codec('sensor_msgs/msg/Image');
    const data = new Uint8Array(64 * 48 * 3).map((_, i) => i % 251);
    const bytes = codec.encode({ header: { stamp: { sec: 1, nanosec: 2 }, frame_id: 'cam' }, height: 48, width: 64, encoding: 'rgb8', is_bigendian: 0, step: 192, data });
    const back = codec.decode(bytes) as { data: Uint8Array; step: number };
    expect(back.step).toBe(192);
    expect(back.data).toBeInstanceOf(Uint8Array);
    expect(back.data[250]).toBe(250);
    expect(back.data[251]).toBe(0);
  });

  it('writes schema text in rosbag2 ros2msg form with same-package types qualified', () => {
    const text = reg.schemaText('control_msgs/action/FollowJointTrajectory_Goal');
    expect(text).toContain('control_msgs/JointTolerance[] path_tolerance');
    expect(text).toContain('MSG: trajectory_msgs/JointTrajectoryPoint');
    expect(text).toContain('MSG: control_msgs/JointTolerance');
    // the text parses back on its own, as a reader of an MCAP file would parse it
    expect(parse(text, { ros2: true })[0]!.definitions.map((d) => d.name)).toContain('goal_time_tolerance');
  });

  it('expands actions into the rosidl-generated wrapper messages', () => {
    for (const suffix of ['Goal', 'Result', 'Feedback', 'SendGoal_Request', 'SendGoal_Response', 'GetResult_Request', 'GetResult_Response', 'FeedbackMessage']) {
      expect(reg.has(`control_msgs/action/FollowJointTrajectory_${suffix}`)).toBe(true);
    }
  });

  it('tells apart FollowJointTrajectory feedback of control_msgs master and humble', () => {
    const master = reg.definitions('control_msgs/action/FollowJointTrajectory_Feedback')[0]!.definitions.map((d) => d.name);
    const humble = humbleRegistry().definitions('control_msgs/action/FollowJointTrajectory_Feedback')[0]!.definitions.map((d) => d.name);
    const extra = master.filter((n) => !humble.includes(n));
    expect(extra.length).toBe(2);
    expect(humble).toContain('multi_dof_error');
  });

  it('refuses a definition that references a type nobody loaded, naming the field', () => {
    const r = new MessageRegistry();
    r.addText('my_msgs/msg/Thing', 'other_msgs/Missing part\n');
    expect(() => r.schemaText('my_msgs/msg/Thing')).toThrow(/field 'part'.*other_msgs\/Missing/);
  });

  it('refuses a malformed .action and a bad type name', () => {
    const r = new MessageRegistry();
    expect(() => r.addText('p/action/A', 'int32 x\n---\nint32 y\n')).toThrow(MessageDefinitionError);
    expect(() => r.codec('not a type')).toThrow(/not a ROS 2 type name|unknown ROS 2 type/);
  });
});
