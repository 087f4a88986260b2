/**
 * Zero-copy views of camera messages in their CDR bytes: sensor_msgs/Image
 * header fields are read straight from the buffer and the pixel payload is a
 * Uint8Array view into it, so a frame never becomes a JS object on the hot
 * path. Also turns an Image view into the runtime's RGB CameraImage (a view
 * when the encoding is rgb8 with no row padding, one conversion pass
 * otherwise) and decodes sensor_msgs/CompressedImage PNG payloads with
 * node:zlib. JPEG (and any other compressed format) is refused: decoding it
 * would need a new dependency.
 *
 * CDR (XCDR1, as rmw implementations write it): a 4-byte encapsulation header
 * (byte 1 = 0x01 little-endian, 0x00 big-endian), then fields aligned to their
 * size relative to the end of that header; strings are uint32 length
 * (including the NUL) + bytes; sequences are uint32 count + elements.
 */
import { inflateSync } from 'node:zlib';
import type { CameraImage } from '../../../src/robot/arm';
import type { RosTime } from '../transport/types';

export class ImageDecodeError extends Error {
  override name = 'ImageDecodeError';
}

const HEADER_BYTES = 4;
const UTF8 = new TextDecoder();

class CdrCursor {
  #pos = HEADER_BYTES;
  readonly #view: DataView;
  readonly #little: boolean;

  constructor(
    readonly bytes: Uint8Array,
    readonly what: string,
  ) {
    if (bytes.byteLength < HEADER_BYTES) throw new ImageDecodeError(`${what}: ${bytes.byteLength} bytes is shorter than the CDR encapsulation header`);
    const kind = bytes[1];
    if (bytes[0] !== 0 || (kind !== 0 && kind !== 1)) {
      throw new ImageDecodeError(`${what}: encapsulation ${bytes[0]} ${bytes[1]} is not plain CDR (expected 00 00 big-endian or 00 01 little-endian)`);
    }
    this.#little = kind === 1;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  #need(n: number, field: string): void {
    if (this.#pos + n > this.bytes.byteLength) {
      throw new ImageDecodeError(`${this.what}: field ${field} needs ${n} bytes at offset ${this.#pos}, but the message has ${this.bytes.byteLength}`);
    }
  }

  #align(n: number): void {
    const rel = this.#pos - HEADER_BYTES;
    this.#pos += (n - (rel % n)) % n;
  }

  u8(field: string): number {
    this.#need(1, field);
    return this.bytes[this.#pos++]!;
  }

  u32(field: string): number {
    this.#align(4);
    this.#need(4, field);
    const v = this.#view.getUint32(this.#pos, this.#little);
    this.#pos += 4;
    return v;
  }

  i32(field: string): number {
    this.#align(4);
    this.#need(4, field);
    const v = this.#view.getInt32(this.#pos, this.#little);
    this.#pos += 4;
    return v;
  }

  string(field: string): string {
    const len = this.u32(`${field} length`);
    if (len === 0) return '';
    this.#need(len, field);
    const bytes = this.bytes.subarray(this.#pos, this.#pos + len - 1);
    this.#pos += len;
    // Frame ids and encodings are short ASCII: build them directly (TextDecoder costs microseconds per call).
    if (bytes.length <= 64) {
      let out = '';
      for (let i = 0; i < bytes.length; i++) {
        const b = bytes[i]!;
        if (b >= 0x80) return UTF8.decode(bytes);
        out += String.fromCharCode(b);
      }
      return out;
    }
    return UTF8.decode(bytes);
  }

  /** A uint8[] sequence as a view into the message bytes (no copy). */
  byteView(field: string): Uint8Array {
    const len = this.u32(`${field} length`);
    this.#need(len, field);
    const v = this.bytes.subarray(this.#pos, this.#pos + len);
    this.#pos += len;
    return v;
  }
}

export interface ImageHeaderView {
  stamp: RosTime;
  frameId: string;
}

/** sensor_msgs/Image read in place; `data` aliases the CDR bytes. */
export interface ImageView extends ImageHeaderView {
  height: number;
  width: number;
  encoding: string;
  isBigEndian: boolean;
  step: number;
  data: Uint8Array;
}

function readHeader(c: CdrCursor): ImageHeaderView {
  const sec = c.i32('header.stamp.sec');
  const nanosec = c.u32('header.stamp.nanosec');
  return { stamp: { sec, nanosec }, frameId: c.string('header.frame_id') };
}

/** Reads a sensor_msgs/msg/Image from its CDR bytes without copying the pixels. */
export function viewImage(cdr: Uint8Array): ImageView {
  const c = new CdrCursor(cdr, 'sensor_msgs/msg/Image');
  const header = readHeader(c);
  const height = c.u32('height');
  const width = c.u32('width');
  const encoding = c.string('encoding');
  const isBigEndian = c.u8('is_bigendian') !== 0;
  const step = c.u32('step');
  const data = c.byteView('data');
  if (data.length < step * height) {
    throw new ImageDecodeError(`sensor_msgs/msg/Image: data holds ${data.length} bytes, less than step ${step} x height ${height}`);
  }
  return { ...header, height, width, encoding, isBigEndian, step, data };
}

/** sensor_msgs/CompressedImage read in place; `data` aliases the CDR bytes. */
export interface CompressedImageView extends ImageHeaderView {
  format: string;
  data: Uint8Array;
}

export function viewCompressedImage(cdr: Uint8Array): CompressedImageView {
  const c = new CdrCursor(cdr, 'sensor_msgs/msg/CompressedImage');
  const header = readHeader(c);
  const format = c.string('format');
  return { ...header, format, data: c.byteView('data') };
}

/** Raw encodings turned into RGB, with their bytes per pixel and channel order. */
const RAW_ENCODINGS: Record<string, { bpp: number; r: number; g: number; b: number }> = {
  rgb8: { bpp: 3, r: 0, g: 1, b: 2 },
  bgr8: { bpp: 3, r: 2, g: 1, b: 0 },
  rgba8: { bpp: 4, r: 0, g: 1, b: 2 },
  bgra8: { bpp: 4, r: 2, g: 1, b: 0 },
  mono8: { bpp: 1, r: 0, g: 0, b: 0 },
};

export const SUPPORTED_IMAGE_ENCODINGS = Object.keys(RAW_ENCODINGS);

/**
 * An Image view as a CameraImage (RGB, 3 bytes per pixel). rgb8 frames whose
 * rows are not padded are returned as a view of the message bytes; others are
 * converted in one pass into a new buffer.
 */
export function imageViewToCamera(img: ImageView): CameraImage {
  const enc = RAW_ENCODINGS[img.encoding];
  if (!enc) {
    throw new ImageDecodeError(
      `sensor_msgs/msg/Image encoding '${img.encoding}' is not supported (supported: ${SUPPORTED_IMAGE_ENCODINGS.join(', ')}); publish one of those or convert with image_proc`,
    );
  }
  const { width: W, height: H, step, data } = img;
  if (W === 0 || H === 0) throw new ImageDecodeError(`sensor_msgs/msg/Image is empty (${W}x${H})`);
  if (step < W * enc.bpp) throw new ImageDecodeError(`sensor_msgs/msg/Image step ${step} is less than width ${W} x ${enc.bpp} bytes per pixel`);
  if (img.encoding === 'rgb8' && step === W * 3) return { width: W, height: H, rgb: data.subarray(0, W * H * 3) };
  const rgb = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) {
    const row = y * step;
    for (let x = 0; x < W; x++) {
      const s = row + x * enc.bpp;
      const d = 3 * (y * W + x);
      rgb[d] = data[s + enc.r]!;
      rgb[d + 1] = data[s + enc.g]!;
      rgb[d + 2] = data[s + enc.b]!;
    }
  }
  return { width: W, height: H, rgb };
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/**
 * Decodes a CompressedImage payload. PNG (8-bit grey, grey+alpha, RGB, RGBA;
 * not interlaced, not palette) is decoded with node:zlib; any other format,
 * JPEG included, is refused with an ImageDecodeError saying what to publish.
 */
export function decodeCompressedImage(view: CompressedImageView): CameraImage {
  const d = view.data;
  const isPng = d.length >= 8 && PNG_SIGNATURE.every((b, i) => d[i] === b);
  if (!isPng) {
    const jpeg = d.length >= 2 && d[0] === 0xff && d[1] === 0xd8;
    throw new ImageDecodeError(
      `sensor_msgs/msg/CompressedImage format '${view.format}'${jpeg ? ' (JPEG data)' : ''} cannot be decoded: only PNG is supported without extra dependencies; ` +
        `publish raw sensor_msgs/msg/Image (e.g. image_transport republish compressed -> raw) or PNG ('png' format of compressed_image_transport)`,
    );
  }
  return decodePng(d);
}

const PNG_CHANNELS: Record<number, number> = { 0: 1, 2: 3, 4: 2, 6: 4 };

/** Decodes an 8-bit, non-interlaced PNG (colour types 0, 2, 4, 6) into RGB. */
export function decodePng(bytes: Uint8Array): CameraImage {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 8;
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat: Uint8Array[] = [];
  while (pos + 8 <= bytes.length) {
    const len = view.getUint32(pos);
    const type = String.fromCharCode(bytes[pos + 4]!, bytes[pos + 5]!, bytes[pos + 6]!, bytes[pos + 7]!);
    const body = bytes.subarray(pos + 8, pos + 8 + len);
    if (body.length !== len) throw new ImageDecodeError(`PNG chunk ${type} at offset ${pos} is truncated`);
    if (type === 'IHDR') {
      const bv = new DataView(body.buffer, body.byteOffset, body.byteLength);
      width = bv.getUint32(0);
      height = bv.getUint32(4);
      const depth = body[8]!;
      const colour = body[9]!;
      const interlace = body[12]!;
      channels = PNG_CHANNELS[colour] ?? 0;
      if (depth !== 8 || channels === 0 || interlace !== 0) {
        throw new ImageDecodeError(`PNG with bit depth ${depth}, colour type ${colour}, interlace ${interlace} is not supported (8-bit grey/RGB/RGBA, not interlaced)`);
      }
    } else if (type === 'IDAT') {
      idat.push(body);
    } else if (type === 'IEND') {
      break;
    }
    pos += 12 + len;
  }
  if (width === 0 || height === 0) throw new ImageDecodeError('PNG has no IHDR chunk');
  let raw: Buffer;
  try {
    raw = inflateSync(Buffer.concat(idat));
  } catch (e) {
    throw new ImageDecodeError(`PNG image data does not inflate: ${(e as Error).message}`);
  }
  const stride = width * channels;
  if (raw.length < height * (stride + 1)) throw new ImageDecodeError(`PNG image data holds ${raw.length} bytes, expected ${height * (stride + 1)}`);
  const cur = new Uint8Array(stride);
  const prev = new Uint8Array(stride);
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const base = y * (stride + 1);
    const filter = raw[base]!;
    for (let i = 0; i < stride; i++) {
      const x = raw[base + 1 + i]!;
      const a = i >= channels ? cur[i - channels]! : 0;
      const b = prev[i]!;
      const c = i >= channels ? prev[i - channels]! : 0;
      let v: number;
      switch (filter) {
        case 0: v = x; break;
        case 1: v = x + a; break;
        case 2: v = x + b; break;
        case 3: v = x + ((a + b) >> 1); break;
        case 4: {
          const p = a + b - c;
          const pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
          v = x + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
          break;
        }
        default:
          throw new ImageDecodeError(`PNG row ${y} has unknown filter type ${filter}`);
      }
      cur[i] = v & 0xff;
    }
    for (let xx = 0; xx < width; xx++) {
      const s = xx * channels;
      const d = 3 * (y * width + xx);
      if (channels <= 2) rgb[d] = rgb[d + 1] = rgb[d + 2] = cur[s]!;
      else {
        rgb[d] = cur[s]!;
        rgb[d + 1] = cur[s + 1]!;
        rgb[d + 2] = cur[s + 2]!;
      }
    }
    prev.set(cur);
  }
  return { width, height, rgb };
}
