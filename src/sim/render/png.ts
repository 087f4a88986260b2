/**
 * Minimal PNG encoder for rendered images (8-bit RGB or greyscale, no
 * interlacing), used by the renderer's benchmark, tests and reports. Depth
 * images can be turned into greyscale with `depthToGray`.
 */
import { deflateSync } from 'node:zlib';

export class PngError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PngError';
  }
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'ascii');
  out.set(data, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

/** Encodes row-major pixels with `channels` bytes each (1 = grey, 3 = RGB) as a PNG file. */
export function encodePng(width: number, height: number, pixels: Uint8Array, channels: 1 | 3 = 3): Buffer {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1)
    throw new PngError(`image size must be positive integers, got ${width}x${height}`);
  if (pixels.length !== width * height * channels)
    throw new PngError(`expected ${width}x${height}x${channels} = ${width * height * channels} bytes, got ${pixels.length}`);
  const stride = width * channels;
  const raw = Buffer.alloc((stride + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (stride + 1)] = 0; // filter: none
    raw.set(pixels.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = channels === 3 ? 2 : 0; // colour type
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([signature, chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', new Uint8Array(0))]);
}

/** Depth in metres -> grey bytes (near = bright, far or +Infinity = black), scaled between the finite min and max. */
export function depthToGray(depth: Float32Array): Uint8Array {
  let lo = Infinity;
  let hi = -Infinity;
  for (const d of depth) {
    if (!Number.isFinite(d)) continue;
    if (d < lo) lo = d;
    if (d > hi) hi = d;
  }
  const out = new Uint8Array(depth.length);
  const span = hi > lo ? hi - lo : 1;
  for (let i = 0; i < depth.length; i++) {
    const d = depth[i];
    out[i] = Number.isFinite(d) ? Math.round(255 - (200 * (d - lo)) / span) : 0;
  }
  return out;
}
