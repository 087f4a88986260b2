/**
 * The embedded simulator's camera: snapshots of MuJoCo geometry, a software
 * rasteriser producing RGB and depth images, and a PNG encoder for reports.
 */
export * from './snapshot';
export * from './renderer';
export { encodePng, depthToGray, PngError } from './png';
