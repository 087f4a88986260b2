/**
 * What the ROS-facing arms (RosArm, McapReplayArm) share: picking the
 * configured joints out of a sensor_msgs/JointState by name (any order on the
 * wire, missing joints named in the error), velocities by finite difference
 * when the message carries none, and camera frames copied out of their CDR
 * bytes as RGB.
 */
import type { CameraImage } from '../../../src/robot/arm';
import { imageViewToCamera, viewImage } from '../msgs/image-view';
import type { JointStateMsg } from '../nodes/common';

export class ArmDataError extends Error {
  override name = 'ArmDataError';
}

export interface JointSample {
  positions: Float64Array;
  /** From the message when it carries one velocity per name, else undefined. */
  velocities: Float64Array | undefined;
  efforts: Float64Array | undefined;
}

/** The joints `names` out of a JointState, in that order; throws naming the joints the message lacks. */
export function pickJointState(msg: JointStateMsg, names: readonly string[], topic: string): JointSample {
  const index = names.map((n) => msg.name.indexOf(n));
  const missing = names.filter((_, k) => index[k]! < 0);
  if (missing.length > 0) {
    throw new ArmDataError(`${topic}: JointState lacks joint${missing.length > 1 ? 's' : ''} ${missing.join(', ')} (it has ${msg.name.join(', ') || 'no names'})`);
  }
  if (msg.position.length !== msg.name.length) {
    throw new ArmDataError(`${topic}: JointState has ${msg.name.length} names but ${msg.position.length} positions`);
  }
  const pick = (a: ArrayLike<number>) => (a.length === msg.name.length ? Float64Array.from(index, (i) => a[i]!) : undefined);
  const positions = pick(msg.position)!;
  const bad = names.filter((_, k) => !Number.isFinite(positions[k]));
  if (bad.length > 0) throw new ArmDataError(`${topic}: JointState position of ${bad.join(', ')} is not finite`);
  return { positions, velocities: pick(msg.velocity), efforts: pick(msg.effort) };
}

/** Velocities of `cur`: its own, else (cur - prev) / dt, else zeros (first sample). */
export function velocitiesOf(cur: JointSample, t_s: number, prev: { positions: Float64Array; t_s: number } | undefined): Float64Array {
  if (cur.velocities) return cur.velocities;
  const v = new Float64Array(cur.positions.length);
  if (prev && t_s > prev.t_s) for (let i = 0; i < v.length; i++) v[i] = (cur.positions[i]! - prev.positions[i]!) / (t_s - prev.t_s);
  return v;
}

/** A sensor_msgs/Image (CDR bytes) as an RGB CameraImage that owns its pixels. */
export function cameraFromCdr(cdr: Uint8Array): CameraImage {
  const img = imageViewToCamera(viewImage(cdr));
  // The view may alias the message buffer, which a transport can reuse: keep a copy.
  return img.rgb.buffer === cdr.buffer ? { ...img, rgb: img.rgb.slice() } : img;
}
