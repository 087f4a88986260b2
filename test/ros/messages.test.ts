import { describe, expect, it } from 'vitest';
import { ImageDecodeError, decodeCompressedImage, decodePng, imageViewToCamera, viewCompressedImage, viewImage } from '../../ros/src/msgs/image-view';
import { encodePng } from '../../src/sim/render/png';
import { graphRegistry, imageMessage } from './helpers';

const stamp = { sec: 1_700_000_123, nanosec: 456_789 };

describe('zero-copy sensor_msgs/Image view', () => {
  const reg = graphRegistry();
  const codec = reg.codec('sensor_msgs/msg/Image');

  it('reads every header field as the registry codec decodes it, for frame ids of every padding', () => {
    for (const frame of ['', 'c', 'cam', 'camera', 'camera_optical_frame']) {
      for (const [w, h] of [[1, 1], [3, 2], [17, 5]] as const) {
        const msg = { ...imageMessage(w, h, w + h, stamp), header: { stamp, frame_id: frame } };
        const cdr = codec.encode(msg);
        const v = viewImage(cdr);
        const ref = codec.decode(cdr) as typeof msg;
        expect(v.stamp).toEqual(ref.header.stamp);
        expect(v.frameId).toBe(ref.header.frame_id);
        expect([v.width, v.height, v.step, v.encoding, v.isBigEndian]).toEqual([ref.width, ref.height, ref.step, ref.encoding, false]);
        expect(Array.from(v.data)).toEqual(Array.from(ref.data));
      }
    }
  });

  it('hands out the pixels as a view into the CDR buffer, not a copy', () => {
    const cdr = codec.encode(imageMessage(8, 4, 3, stamp));
    const v = viewImage(cdr);
    expect(v.data.buffer).toBe(cdr.buffer);
    const cam = imageViewToCamera(v);
    expect(cam.rgb.buffer).toBe(cdr.buffer);
    cdr[cdr.length - 1] = 250; // the last pixel byte
    expect(cam.rgb[cam.rgb.length - 1]).toBe(250);
  });

  it('converts bgr8, rgba8 and mono8 frames and padded rows to RGB', () => {
    const W = 3, H = 2;
    const px = (x: number, y: number) => [10 * x + y, 100 + x, 200 - y];
    const build = (encoding: string, bpp: number, order: number[], step: number) => {
      const data = new Uint8Array(step * H);
      for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
        const c = px(x, y);
        order.forEach((ch, k) => (data[y * step + x * bpp + k] = ch < 0 ? 255 : c[ch]!));
      }
      return codec.encode({ header: { stamp, frame_id: '' }, height: H, width: W, encoding, is_bigendian: 0, step, data });
    };
    for (const [enc, bpp, order] of [['rgb8', 3, [0, 1, 2]], ['bgr8', 3, [2, 1, 0]], ['rgba8', 4, [0, 1, 2, -1]], ['bgra8', 4, [2, 1, 0, -1]]] as const) {
      const cam = imageViewToCamera(viewImage(build(enc, bpp, [...order], W * bpp + 5)));
      expect(cam.rgb[3 * (1 * W + 2)]).toBe(px(2, 1)[0]);
      expect(cam.rgb[3 * (1 * W + 2) + 1]).toBe(px(2, 1)[1]);
      expect(cam.rgb[3 * (1 * W + 2) + 2]).toBe(px(2, 1)[2]);
    }
    const mono = imageViewToCamera(viewImage(codec.encode({ header: { stamp, frame_id: '' }, height: 1, width: 2, encoding: 'mono8', is_bigendian: 0, step: 2, data: Uint8Array.of(7, 9) })));
    expect(Array.from(mono.rgb)).toEqual([7, 7, 7, 9, 9, 9]);
  });

  it('reads big-endian CDR (encapsulation 00 00) and non-ASCII frame ids', () => {
    // Hand-written big-endian sensor_msgs/Image: fields aligned relative to the end of the 4-byte header.
    const out: number[] = [0, 0, 0, 0];
    const align = (n: number) => { while ((out.length - 4) % n) out.push(0); };
    const u32 = (v: number) => { align(4); out.push((v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255); };
    const str = (t: string) => { const b = new TextEncoder().encode(t); u32(b.length + 1); out.push(...b, 0); };
    u32(7); u32(8); str('kamera_ü'); u32(1); u32(2); str('rgb8'); out.push(1); u32(6); u32(6); out.push(1, 2, 3, 4, 5, 6);
    const v = viewImage(Uint8Array.from(out));
    expect([v.stamp.sec, v.stamp.nanosec, v.frameId, v.height, v.width, v.encoding, v.isBigEndian, v.step]).toEqual([7, 8, 'kamera_ü', 1, 2, 'rgb8', true, 6]);
    expect(Array.from(v.data)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('refuses unsupported encodings, truncated data and non-CDR bytes with the field named', () => {
    const full = codec.encode(imageMessage(2, 2, 1, stamp, 'rgb8'));
    expect(() => viewImage(full.slice(0, full.length - 4))).toThrow(/field data needs 12 bytes at offset \d+, but the message has \d+/);
    const f32 = codec.encode({ header: { stamp, frame_id: '' }, height: 1, width: 1, encoding: '32FC1', is_bigendian: 0, step: 4, data: new Uint8Array(4) });
    expect(() => imageViewToCamera(viewImage(f32))).toThrow(/encoding '32FC1' is not supported/);
    expect(() => viewImage(Uint8Array.of(1, 2, 3, 4, 5))).toThrow(ImageDecodeError);
    const short = codec.encode({ ...imageMessage(4, 4, 1, stamp), data: new Uint8Array(10) });
    expect(() => viewImage(short)).toThrow(/data holds 10 bytes, less than step 12 x height 4/);
  });
});

describe('sensor_msgs/CompressedImage', () => {
  const codec = graphRegistry().codec('sensor_msgs/msg/CompressedImage');

  it('decodes PNG payloads (RGB and grey) to the pixels that were encoded', () => {
    const W = 13, H = 7;
    const rgb = new Uint8Array(W * H * 3).map((_, i) => (i * 37) % 256);
    const cdr = codec.encode({ header: { stamp, frame_id: 'cam' }, format: 'png', data: new Uint8Array(encodePng(W, H, rgb, 3)) });
    const v = viewCompressedImage(cdr);
    expect(v.format).toBe('png');
    expect(v.frameId).toBe('cam');
    const img = decodeCompressedImage(v);
    expect([img.width, img.height]).toEqual([W, H]);
    expect(Buffer.from(img.rgb).equals(Buffer.from(rgb))).toBe(true);
    const grey = new Uint8Array(W * H).map((_, i) => (i * 11) % 256);
    const g = decodePng(new Uint8Array(encodePng(W, H, grey, 1)));
    expect(g.rgb[3 * 20]).toBe(grey[20]);
    expect(g.rgb[3 * 20 + 2]).toBe(grey[20]);
  });

  it('refuses JPEG, saying that only PNG decodes and what to publish instead', () => {
    const jpeg = Uint8Array.of(0xff, 0xd8, 0xff, 0xe0, 0, 16, 0x4a, 0x46, 0x49, 0x46);
    const v = viewCompressedImage(codec.encode({ header: { stamp, frame_id: '' }, format: 'rgb8; jpeg compressed bgr8', data: jpeg }));
    expect(() => decodeCompressedImage(v)).toThrow(/'rgb8; jpeg compressed bgr8' \(JPEG data\) cannot be decoded: only PNG is supported.*publish raw sensor_msgs\/msg\/Image/);
  });
});
