import { describe, expect, it } from 'vitest';
import { PreprocessError, framesToBatch, imageToChw, tileProprio } from '../../src/perception/preprocess';

function image(width: number, height: number, f: (x: number, y: number, c: number) => number) {
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) for (let c = 0; c < 3; c++) rgb[3 * (y * width + x) + c] = f(x, y, c);
  return { width, height, rgb };
}

describe('image preprocessing', () => {
  it('converts HWC uint8 to CHW floats in [0,1] at the same size', () => {
    const img = image(2, 2, (x, y, c) => [10, 20, 30][c]! + 100 * x + 50 * y);
    const out = new Float32Array(12);
    imageToChw(img, 2, out);
    expect(out[0]).toBeCloseTo(10 / 255, 7); // R at (0,0)
    expect(out[1]).toBeCloseTo(110 / 255, 7); // R at (1,0)
    expect(out[2]).toBeCloseTo(60 / 255, 7); // R at (0,1)
    expect(out[4]).toBeCloseTo(20 / 255, 7); // G plane starts at 4
    expect(out[11]).toBeCloseTo((30 + 150) / 255, 7); // B at (1,1)
  });

  it('area-averages when shrinking: a 4x4 checkerboard becomes uniform grey at 2x2', () => {
    const img = image(4, 4, (x, y) => ((x + y) % 2 ? 255 : 0));
    const out = new Float32Array(12);
    imageToChw(img, 2, out);
    for (const v of out) expect(v).toBeCloseTo(0.5, 6);
  });

  it('averages with fractional pixel coverage when the ratio is not an integer', () => {
    // 3 px wide → 2 px: output 0 covers pixels 0 and half of 1.
    const img = image(3, 3, (x) => [0, 90, 180][x]!);
    const out = new Float32Array(12);
    imageToChw(img, 2, out);
    expect(out[0]! * 255).toBeCloseTo((0 * 1 + 90 * 0.5) / 1.5, 4);
    expect(out[1]! * 255).toBeCloseTo((90 * 0.5 + 180 * 1) / 1.5, 4);
  });

  it('interpolates bilinearly when growing, keeping corner pixels', () => {
    const img = image(2, 1, (x) => (x ? 200 : 0));
    const out = new Float32Array(3 * 16);
    imageToChw(img, 4, out);
    const row = Array.from(out.slice(0, 4), (v) => Math.round(v * 255));
    expect(row).toEqual([0, 50, 150, 200]);
  });

  it('batches frames one after another and refuses malformed images', () => {
    const a = image(2, 2, () => 255);
    const b = image(2, 2, () => 0);
    const batch = framesToBatch([a, b], 2);
    expect(batch.length).toBe(24);
    expect(batch[11]).toBe(1);
    expect(batch[12]).toBe(0);
    expect(() => framesToBatch([{ width: 2, height: 2, rgb: new Uint8Array(5) }], 2)).toThrow(PreprocessError);
    expect(() => framesToBatch([{ width: 2, height: 2, rgb: new Uint8Array(5) }], 2)).toThrow(/frame 0: rgb must be a Uint8Array of width\*height\*3 = 12/);
  });

  it('tiles proprio values as planes after a frame, and refuses too few or non-finite values', () => {
    const out = new Float32Array(5 * 4).fill(-1);
    tileProprio([0.5, -2, 9], 2, 2, out, 12, 'joints');
    expect(Array.from(out.subarray(0, 12))).toEqual(new Array(12).fill(-1)); // the frame's channels are left alone
    expect(Array.from(out.subarray(12))).toEqual([0.5, 0.5, 0.5, 0.5, -2, -2, -2, -2]);
    expect(() => tileProprio([1], 2, 2, out, 12, 'joints')).toThrow(/joints: the encoder takes 2 proprio planes, got 1 values/);
    expect(() => tileProprio([1, Number.NaN], 2, 2, out, 12, 'joints')).toThrow(/joints: proprio value 1 is NaN/);
    expect(() => tileProprio([1, 2], 2, 2, out, 16, 'joints')).toThrow(/output buffer too small/);
  });
});
