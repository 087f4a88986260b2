/**
 * Triangle meshes for MuJoCo's primitive geoms, built once and cached by the
 * renderer. Shapes are made in the geom's local frame with MuJoCo's axis
 * conventions (capsule and cylinder along z, plane in xy facing +z), wound
 * counter-clockwise seen from outside, with per-vertex normals. Where a shape
 * can be stretched by a diagonal scale without bending its normals (sphere,
 * cylinder, box, plane) it is made at unit size; capsules and ellipsoids are
 * made at their actual size.
 */

export interface Tessellation {
  /** xyz per vertex. */
  positions: Float64Array;
  /** Unit normal per vertex. */
  normals: Float64Array;
  /** Three vertex indices per triangle. */
  indices: Uint32Array;
  vertexCount: number;
  triangleCount: number;
}

/** Segment counts around the axis the renderer picks from, coarse to fine. */
export const SEGMENT_LEVELS: readonly number[] = [8, 12, 16, 24, 32, 48, 64];

class Builder {
  pos: number[] = [];
  nrm: number[] = [];
  idx: number[] = [];
  vertex(x: number, y: number, z: number, nx: number, ny: number, nz: number): number {
    const i = this.pos.length / 3;
    this.pos.push(x, y, z);
    this.nrm.push(nx, ny, nz);
    return i;
  }
  tri(a: number, b: number, c: number): void {
    this.idx.push(a, b, c);
  }
  build(): Tessellation {
    return {
      positions: Float64Array.from(this.pos),
      normals: Float64Array.from(this.nrm),
      indices: Uint32Array.from(this.idx),
      vertexCount: this.pos.length / 3,
      triangleCount: this.idx.length / 3,
    };
  }
}

/**
 * Surface of revolution about z. The profile runs from top to bottom; entries
 * with rho = 0 are poles (one vertex). Consecutive entries at the same point
 * (a crease, where only the normal changes) produce no triangles between them.
 */
function lathe(rho: number[], zs: number[], nrho: number[], nz: number[], segments: number): Tessellation {
  const b = new Builder();
  const ring: number[] = []; // first vertex index per profile entry
  const cos: number[] = [];
  const sin: number[] = [];
  for (let j = 0; j < segments; j++) {
    const t = (2 * Math.PI * j) / segments;
    cos.push(Math.cos(t));
    sin.push(Math.sin(t));
  }
  for (let k = 0; k < rho.length; k++) {
    if (rho[k] === 0) {
      ring.push(b.vertex(0, 0, zs[k], 0, 0, nz[k] >= 0 ? 1 : -1));
      continue;
    }
    ring.push(b.pos.length / 3);
    for (let j = 0; j < segments; j++) b.vertex(rho[k] * cos[j], rho[k] * sin[j], zs[k], nrho[k] * cos[j], nrho[k] * sin[j], nz[k]);
  }
  for (let k = 0; k + 1 < rho.length; k++) {
    if (rho[k] === rho[k + 1] && zs[k] === zs[k + 1]) continue; // crease
    if (rho[k] === 0 && rho[k + 1] === 0) continue;
    for (let j = 0; j < segments; j++) {
      const j1 = (j + 1) % segments;
      const a = rho[k] === 0 ? ring[k] : ring[k] + j; // upper, angle j
      const d = rho[k] === 0 ? ring[k] : ring[k] + j1; // upper, angle j+1
      const bb = rho[k + 1] === 0 ? ring[k + 1] : ring[k + 1] + j; // lower, angle j
      const c = rho[k + 1] === 0 ? ring[k + 1] : ring[k + 1] + j1; // lower, angle j+1
      // Quad (a, bb, c, d) as two triangles; at a pole one of them collapses and is dropped.
      if (rho[k + 1] !== 0) b.tri(a, bb, c);
      if (rho[k] !== 0) b.tri(a, c, d);
    }
  }
  return b.build();
}

/** Unit sphere with `segments` around z and segments/2 rings. */
export function tessellateSphere(segments: number): Tessellation {
  const rings = Math.max(2, segments >> 1);
  const rho: number[] = [];
  const zs: number[] = [];
  for (let k = 0; k <= rings; k++) {
    const phi = (Math.PI * k) / rings;
    rho.push(k === 0 || k === rings ? 0 : Math.sin(phi));
    zs.push(Math.cos(phi));
  }
  return lathe(rho, zs, rho, zs, segments);
}

/** Capsule of radius r and cylinder half-length h along z. */
export function tessellateCapsule(r: number, h: number, segments: number): Tessellation {
  const q = Math.max(2, segments >> 2);
  const rho: number[] = [];
  const zs: number[] = [];
  const nr: number[] = [];
  const nz: number[] = [];
  for (let k = 0; k <= q; k++) {
    const phi = ((Math.PI / 2) * k) / q;
    const s = k === 0 ? 0 : Math.sin(phi);
    const c = Math.cos(phi);
    rho.push(r * s);
    zs.push(h + r * c);
    nr.push(s);
    nz.push(c);
  }
  for (let k = 0; k <= q; k++) {
    const phi = Math.PI / 2 + ((Math.PI / 2) * k) / q;
    const s = k === q ? 0 : Math.sin(phi);
    const c = Math.cos(phi);
    rho.push(r * s);
    zs.push(-h + r * c);
    nr.push(s);
    nz.push(c);
  }
  return lathe(rho, zs, nr, nz, segments);
}

/** Ellipsoid with semi-axes a, b, c; normals from the implicit surface. */
export function tessellateEllipsoid(a: number, b: number, c: number, segments: number): Tessellation {
  const t = tessellateSphere(segments);
  const p = t.positions;
  const n = t.normals;
  for (let i = 0; i < t.vertexCount; i++) {
    const x = p[i * 3];
    const y = p[i * 3 + 1];
    const z = p[i * 3 + 2];
    p[i * 3] = x * a;
    p[i * 3 + 1] = y * b;
    p[i * 3 + 2] = z * c;
    const gx = x / a;
    const gy = y / b;
    const gz = z / c;
    const l = Math.hypot(gx, gy, gz);
    n[i * 3] = gx / l;
    n[i * 3 + 1] = gy / l;
    n[i * 3 + 2] = gz / l;
  }
  return t;
}

/** Cylinder of radius 1 and half-length 1 along z, with flat caps. */
export function tessellateCylinder(segments: number): Tessellation {
  return lathe([0, 1, 1, 1, 1, 0], [1, 1, 1, -1, -1, -1], [0, 0, 1, 1, 0, 0], [1, 1, 0, 0, -1, -1], segments);
}

/** Cube with half-extent 1 and one normal per face. */
export function tessellateBox(): Tessellation {
  const b = new Builder();
  // Each face: normal n and tangents u, v with u x v = n.
  const faces: [number[], number[], number[]][] = [
    [[1, 0, 0], [0, 1, 0], [0, 0, 1]],
    [[-1, 0, 0], [0, 0, 1], [0, 1, 0]],
    [[0, 1, 0], [0, 0, 1], [1, 0, 0]],
    [[0, -1, 0], [1, 0, 0], [0, 0, 1]],
    [[0, 0, 1], [1, 0, 0], [0, 1, 0]],
    [[0, 0, -1], [0, 1, 0], [1, 0, 0]],
  ];
  for (const [n, u, v] of faces) {
    const base = b.pos.length / 3;
    for (const [su, sv] of [
      [-1, -1],
      [1, -1],
      [1, 1],
      [-1, 1],
    ]) {
      b.vertex(n[0] + su * u[0] + sv * v[0], n[1] + su * u[1] + sv * v[1], n[2] + su * u[2] + sv * v[2], n[0], n[1], n[2]);
    }
    b.tri(base, base + 1, base + 2);
    b.tri(base, base + 2, base + 3);
  }
  return b.build();
}

/** Square [-1, 1]^2 in the xy plane facing +z. */
export function tessellatePlane(): Tessellation {
  const b = new Builder();
  b.vertex(-1, -1, 0, 0, 0, 1);
  b.vertex(1, -1, 0, 0, 0, 1);
  b.vertex(1, 1, 0, 0, 0, 1);
  b.vertex(-1, 1, 0, 0, 0, 1);
  b.tri(0, 1, 2);
  b.tri(0, 2, 3);
  return b.build();
}
