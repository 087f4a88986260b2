/**
 * Collision capsules per link, built from URDF collision geometry:
 * cylinder -> capsule around its axis (contains the cylinder); sphere ->
 * zero-length capsule; box -> capsule along its longest axis with radius
 * sqrt(b² + c²) of the two other half extents (contains the box); mesh ->
 * one capsule from the link origin to each child-joint origin (a sphere at
 * the collision origin when the link has no offset children), with a
 * configured radius, since meshes are not read. Every capsule is expressed in
 * its link's frame; `capsuleEndpointsInto` places them in the world.
 */
import { KinematicsError } from './errors';
import type { KinematicModel } from './kinematics';
import { makeTransformFromXyzRpy, type Vec3 } from './math';

export interface LinkCapsule {
  link: string;
  linkIndex: number;
  /** End points in the link frame, metres. */
  a: Vec3;
  b: Vec3;
  radius_m: number;
  from: 'box' | 'sphere' | 'cylinder' | 'mesh' | 'configured';
}

export interface CapsuleOptions {
  /** Radius used for mesh geometry, metres. */
  meshRadius_m: number;
  /** Per-link mesh radius, metres. */
  meshRadiusByLink_m?: Readonly<Record<string, number>>;
  /** Explicit capsules that replace a link's geometry. */
  overrides?: Readonly<Record<string, readonly { a: Vec3; b: Vec3; radius_m: number }[]>>;
  /** Links to leave out (e.g. a base that cannot move into anything). */
  exclude?: readonly string[];
}

function place(o: Float64Array, p: Vec3): Vec3 {
  return [o[0]! * p[0] + o[1]! * p[1] + o[2]! * p[2] + o[3]!, o[4]! * p[0] + o[5]! * p[1] + o[6]! * p[2] + o[7]!, o[8]! * p[0] + o[9]! * p[1] + o[10]! * p[2] + o[11]!];
}

export function buildLinkCapsules(model: KinematicModel, options: CapsuleOptions): LinkCapsule[] {
  const out: LinkCapsule[] = [];
  const exclude = new Set(options.exclude ?? []);
  for (const name of Object.keys(options.overrides ?? {})) model.indexOfLink(name);
  for (const name of exclude) model.indexOfLink(name);
  for (const link of model.robot.links) {
    if (exclude.has(link.name)) continue;
    const linkIndex = model.indexOfLink(link.name);
    const override = options.overrides?.[link.name];
    if (override) {
      for (const c of override) {
        if (!(c.radius_m >= 0)) throw new KinematicsError(`capsule override for link "${link.name}": radius_m must be >= 0`);
        out.push({ link: link.name, linkIndex, a: c.a, b: c.b, radius_m: c.radius_m, from: 'configured' });
      }
      continue;
    }
    for (const g of link.collisions) {
      const o = makeTransformFromXyzRpy(g.origin.xyz, g.origin.rpy);
      switch (g.kind) {
        case 'sphere': {
          const c = place(o, [0, 0, 0]);
          out.push({ link: link.name, linkIndex, a: c, b: c, radius_m: g.radius_m, from: 'sphere' });
          break;
        }
        case 'cylinder': {
          const h = g.length_m / 2;
          out.push({ link: link.name, linkIndex, a: place(o, [0, 0, -h]), b: place(o, [0, 0, h]), radius_m: g.radius_m, from: 'cylinder' });
          break;
        }
        case 'box': {
          const half = g.size_m.map((s) => s / 2);
          let axis = 0;
          if (half[1]! > half[axis]!) axis = 1;
          if (half[2]! > half[axis]!) axis = 2;
          const others = [0, 1, 2].filter((i) => i !== axis);
          const r = Math.hypot(half[others[0]!]!, half[others[1]!]!);
          const e: [number, number, number] = [0, 0, 0];
          e[axis] = half[axis]!;
          out.push({ link: link.name, linkIndex, a: place(o, [-e[0], -e[1], -e[2]]), b: place(o, e), radius_m: r, from: 'box' });
          break;
        }
        case 'mesh': {
          const r = options.meshRadiusByLink_m?.[link.name] ?? options.meshRadius_m;
          const kids = model.childOrigins(link.name).filter((p) => Math.hypot(p[0], p[1], p[2]) > 1e-6);
          if (kids.length === 0) {
            const c = place(o, [0, 0, 0]);
            out.push({ link: link.name, linkIndex, a: c, b: c, radius_m: r, from: 'mesh' });
          } else for (const k of kids) out.push({ link: link.name, linkIndex, a: [0, 0, 0], b: k, radius_m: r, from: 'mesh' });
          break;
        }
      }
    }
  }
  return out;
}

/** World end points of every capsule: out[6c..6c+5] = a, b. `fk` comes from model.forwardKinematics. */
export function capsuleEndpointsInto(out: Float64Array, fk: Float64Array, capsules: readonly LinkCapsule[]): Float64Array {
  for (let c = 0; c < capsules.length; c++) {
    const cap = capsules[c]!;
    const o = cap.linkIndex * 16;
    for (let e = 0; e < 2; e++) {
      const p = e === 0 ? cap.a : cap.b;
      out[6 * c + 3 * e] = fk[o]! * p[0] + fk[o + 1]! * p[1] + fk[o + 2]! * p[2] + fk[o + 3]!;
      out[6 * c + 3 * e + 1] = fk[o + 4]! * p[0] + fk[o + 5]! * p[1] + fk[o + 6]! * p[2] + fk[o + 7]!;
      out[6 * c + 3 * e + 2] = fk[o + 8]! * p[0] + fk[o + 9]! * p[1] + fk[o + 10]! * p[2] + fk[o + 11]!;
    }
  }
  return out;
}
