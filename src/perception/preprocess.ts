/**
 * Image preprocessing for the encoder: camera RGB (uint8, row-major HWC)
 * → Float32 CHW in [0, 1] at the encoder's input size. Normalisation
 * (mean/std from the checkpoint) is applied by the backend, not here, so the
 * same frame can go to any backend. Resizing is area-averaging when
 * shrinking (no aliasing from sub-sampled pixels) and bilinear when growing.
 */
import type { CameraImage } from '../robot/arm';

export class PreprocessError extends Error {
  override name = 'PreprocessError';
}

function checkImage(img: CameraImage, where: string): void {
  if (!Number.isInteger(img.width) || !Number.isInteger(img.height) || img.width < 1 || img.height < 1) {
    throw new PreprocessError(`${where}: image size ${img.width}x${img.height} is not a positive integer size`);
  }
  if (!(img.rgb instanceof Uint8Array) || img.rgb.length !== img.width * img.height * 3) {
    throw new PreprocessError(`${where}: rgb must be a Uint8Array of width*height*3 = ${img.width * img.height * 3} bytes, got ${img.rgb?.length}`);
  }
}

/**
 * Writes the first `planes` values of `proprio` into `out` at `offset`, each
 * repeated over a [size, size] plane: the trailing channels of a cnn encoder
 * with proprioPlanes (see src/model/config.ts), after the frame's 3.
 */
export function tileProprio(proprio: ArrayLike<number>, planes: number, size: number, out: Float32Array, offset: number, where = 'proprio'): void {
  if (proprio.length < planes) throw new PreprocessError(`${where}: the encoder takes ${planes} proprio planes, got ${proprio.length} values`);
  const plane = size * size;
  if (offset + planes * plane > out.length) throw new PreprocessError(`${where}: output buffer too small for ${planes} planes of ${size}px at offset ${offset}`);
  for (let c = 0; c < planes; c++) {
    const v = proprio[c]!;
    if (!Number.isFinite(v)) throw new PreprocessError(`${where}: proprio value ${c} is ${v}`);
    out.fill(v, offset + c * plane, offset + (c + 1) * plane);
  }
}

/**
 * One pixel encoder input at `offset`: the frame as [3, size, size] floats in
 * [0, 1], then the first `planes` values of `proprio` as planes (cnn
 * proprioPlanes; 0: the frame alone).
 */
export function encoderFrame(img: CameraImage, proprio: ArrayLike<number>, planes: number, size: number, out: Float32Array, offset = 0, where = 'image'): void {
  imageToChw(img, size, out, offset, where);
  if (planes > 0) tileProprio(proprio, planes, size, out, offset + 3 * size * size, where);
}

/**
 * The frame scaled to [size, size] RGB bytes by the same resampling the encoder input gets
 * (imageToChw), rounded: a dataset stored at the model's size from a larger render then holds
 * the frames the runtime feeds the model from its camera's larger frame.
 */
export function resizeRgb(img: CameraImage, size: number, where = 'image'): CameraImage {
  const plane = size * size;
  const chw = new Float32Array(3 * plane);
  imageToChw(img, size, chw, 0, where);
  const rgb = new Uint8Array(3 * plane);
  for (let i = 0; i < plane; i++) for (let c = 0; c < 3; c++) rgb[3 * i + c] = Math.round(chw[c * plane + i]! * 255);
  return { width: size, height: size, rgb };
}

/** Writes one frame into `out` at `offset` as [3, size, size] floats in [0, 1]. */
export function imageToChw(img: CameraImage, size: number, out: Float32Array, offset = 0, where = 'image'): void {
  checkImage(img, where);
  if (offset + 3 * size * size > out.length) throw new PreprocessError(`${where}: output buffer too small for a ${size}px frame at offset ${offset}`);
  const { width: W, height: H, rgb } = img;
  const plane = size * size;
  if (W === size && H === size) {
    for (let i = 0; i < plane; i++) {
      out[offset + i] = rgb[3 * i]! / 255;
      out[offset + plane + i] = rgb[3 * i + 1]! / 255;
      out[offset + 2 * plane + i] = rgb[3 * i + 2]! / 255;
    }
    return;
  }
  const sx = W / size;
  const sy = H / size;
  if (sx >= 1 && sy >= 1) {
    // Area average: each output pixel covers [x0, x1) x [y0, y1) of the input, with fractional edges.
    for (let oy = 0; oy < size; oy++) {
      const y0 = oy * sy;
      const y1 = y0 + sy;
      for (let ox = 0; ox < size; ox++) {
        const x0 = ox * sx;
        const x1 = x0 + sx;
        let r = 0, g = 0, b = 0, wsum = 0;
        for (let y = Math.floor(y0); y < Math.min(H, Math.ceil(y1)); y++) {
          const wy = Math.min(y + 1, y1) - Math.max(y, y0);
          for (let x = Math.floor(x0); x < Math.min(W, Math.ceil(x1)); x++) {
            const w = wy * (Math.min(x + 1, x1) - Math.max(x, x0));
            const p = 3 * (y * W + x);
            r += w * rgb[p]!;
            g += w * rgb[p + 1]!;
            b += w * rgb[p + 2]!;
            wsum += w;
          }
        }
        const o = offset + oy * size + ox;
        out[o] = r / wsum / 255;
        out[o + plane] = g / wsum / 255;
        out[o + 2 * plane] = b / wsum / 255;
      }
    }
    return;
  }
  // Bilinear, pixel centres aligned (align_corners = false).
  for (let oy = 0; oy < size; oy++) {
    const fy = Math.min(Math.max((oy + 0.5) * sy - 0.5, 0), H - 1);
    const y0 = Math.floor(fy);
    const y1 = Math.min(y0 + 1, H - 1);
    const ty = fy - y0;
    for (let ox = 0; ox < size; ox++) {
      const fx = Math.min(Math.max((ox + 0.5) * sx - 0.5, 0), W - 1);
      const x0 = Math.floor(fx);
      const x1 = Math.min(x0 + 1, W - 1);
      const tx = fx - x0;
      for (let c = 0; c < 3; c++) {
        const a = rgb[3 * (y0 * W + x0) + c]!;
        const b = rgb[3 * (y0 * W + x1) + c]!;
        const d = rgb[3 * (y1 * W + x0) + c]!;
        const e = rgb[3 * (y1 * W + x1) + c]!;
        const top = a + (b - a) * tx;
        const bot = d + (e - d) * tx;
        out[offset + c * plane + oy * size + ox] = (top + (bot - top) * ty) / 255;
      }
    }
  }
}

/** Stacks frames into one [count, 3, size, size] batch for `WorldModel.encode`. */
export function framesToBatch(images: CameraImage[], size: number): Float32Array {
  const out = new Float32Array(images.length * 3 * size * size);
  images.forEach((img, i) => imageToChw(img, size, out, i * 3 * size * size, `frame ${i}`));
  return out;
}
