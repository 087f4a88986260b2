/**
 * Levels of detail for triangle meshes by vertex clustering: vertices are
 * snapped to a cubic grid, each occupied cell becomes one vertex at the mean of
 * its members, and triangles that collapse are dropped. The silhouette moves by
 * at most about one cell, so the renderer picks the coarsest level whose cell
 * projects to under a pixel. Deterministic (no hashing order dependence: cells
 * are numbered in order of first appearance).
 */

export interface MeshLevel {
  /** Grid cell size in metres (0 for the original mesh). */
  cell_m: number;
  positions: Float64Array;
  indices: Uint32Array;
  faceNormals: Float64Array;
  vertexCount: number;
  triangleCount: number;
}

export function faceNormalsOf(positions: Float64Array, indices: Uint32Array): Float64Array {
  const nf = indices.length / 3;
  const out = new Float64Array(nf * 3);
  for (let t = 0; t < nf; t++) {
    const a = indices[t * 3] * 3;
    const b = indices[t * 3 + 1] * 3;
    const c = indices[t * 3 + 2] * 3;
    const ux = positions[b] - positions[a];
    const uy = positions[b + 1] - positions[a + 1];
    const uz = positions[b + 2] - positions[a + 2];
    const wx = positions[c] - positions[a];
    const wy = positions[c + 1] - positions[a + 1];
    const wz = positions[c + 2] - positions[a + 2];
    const nx = uy * wz - uz * wy;
    const ny = uz * wx - ux * wz;
    const nz = ux * wy - uy * wx;
    const l = Math.hypot(nx, ny, nz);
    if (l > 0) {
      out[t * 3] = nx / l;
      out[t * 3 + 1] = ny / l;
      out[t * 3 + 2] = nz / l;
    }
  }
  return out;
}

/**
 * Merges vertices at exactly the same position (MuJoCo keeps one vertex per
 * face corner for meshes loaded with normals, three times the unique count),
 * so each position is transformed once per frame. Faces keep their order.
 */
export function weldVertices(positions: Float64Array, indices: Uint32Array): { positions: Float64Array; indices: Uint32Array } {
  const nv = positions.length / 3;
  const ids = new Map<string, number>();
  const remap = new Uint32Array(nv);
  const out: number[] = [];
  for (let i = 0; i < nv; i++) {
    const x = positions[i * 3], y = positions[i * 3 + 1], z = positions[i * 3 + 2];
    const key = `${x},${y},${z}`;
    let id = ids.get(key);
    if (id === undefined) {
      id = out.length / 3;
      ids.set(key, id);
      out.push(x, y, z);
    }
    remap[i] = id;
  }
  const idx = new Uint32Array(indices.length);
  for (let i = 0; i < indices.length; i++) idx[i] = remap[indices[i]];
  return { positions: Float64Array.from(out), indices: idx };
}

/** Grid coordinates per axis stay below this, so a cell key fits exactly in a double. */
const GRID = 1 << 17;

/**
 * Simplifies `positions`/`indices` by clustering vertices on a grid of `cell_m`
 * (raised if needed so the mesh spans at most 2^17 cells per axis).
 */
export function clusterMesh(positions: Float64Array, indices: Uint32Array, cell_m: number): MeshLevel {
  const nv = positions.length / 3;
  const cellOf = new Int32Array(nv);
  const ids = new Map<number, number>();
  const sums: number[] = [];
  const counts: number[] = [];
  // Grid coordinates are offset so keys are non-negative integers below 2^51.
  let minX = Infinity, minY = Infinity, minZ = Infinity;
  let maxX = -Infinity, maxY = -Infinity, maxZ = -Infinity;
  for (let i = 0; i < nv; i++) {
    minX = Math.min(minX, positions[i * 3]);
    minY = Math.min(minY, positions[i * 3 + 1]);
    minZ = Math.min(minZ, positions[i * 3 + 2]);
    maxX = Math.max(maxX, positions[i * 3]);
    maxY = Math.max(maxY, positions[i * 3 + 1]);
    maxZ = Math.max(maxZ, positions[i * 3 + 2]);
  }
  const K = GRID;
  const cell = Math.max(cell_m, Math.max(maxX - minX, maxY - minY, maxZ - minZ) / (K - 2));
  for (let i = 0; i < nv; i++) {
    const x = positions[i * 3], y = positions[i * 3 + 1], z = positions[i * 3 + 2];
    const ix = Math.floor((x - minX) / cell);
    const iy = Math.floor((y - minY) / cell);
    const iz = Math.floor((z - minZ) / cell);
    const key = (iz * K + iy) * K + ix;
    let id = ids.get(key);
    if (id === undefined) {
      id = counts.length;
      ids.set(key, id);
      sums.push(0, 0, 0);
      counts.push(0);
    }
    cellOf[i] = id;
    sums[id * 3] += x;
    sums[id * 3 + 1] += y;
    sums[id * 3 + 2] += z;
    counts[id]++;
  }
  const n = counts.length;
  const out = new Float64Array(n * 3);
  for (let c = 0; c < n; c++) {
    out[c * 3] = sums[c * 3] / counts[c];
    out[c * 3 + 1] = sums[c * 3 + 1] / counts[c];
    out[c * 3 + 2] = sums[c * 3 + 2] / counts[c];
  }
  const kept: number[] = [];
  for (let t = 0; t < indices.length; t += 3) {
    const a = cellOf[indices[t]], b = cellOf[indices[t + 1]], c = cellOf[indices[t + 2]];
    if (a === b || b === c || a === c) continue;
    kept.push(a, b, c);
  }
  const idx = Uint32Array.from(kept);
  return { cell_m: cell, positions: out, indices: idx, faceNormals: faceNormalsOf(out, idx), vertexCount: n, triangleCount: idx.length / 3 };
}
