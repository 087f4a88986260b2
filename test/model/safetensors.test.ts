// The TypeScript safetensors reader against real files from other projects,
// a malformed corpus that must all be refused, and the atomic float32 writer.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  bfloat16ToFloat,
  float8e4m3ToFloat,
  float8e5m2ToFloat,
  halfToFloat,
  parseSafetensors,
  parseStrictJson,
  readSafetensors,
  SafetensorsError,
  serializeSafetensors,
  writeSafetensors,
} from '../../src/model/safetensors';
import { encodeSafetensors, malformedSafetensorsCorpus } from '../helpers/safetensors-corpus';

const DATA = '../shared/data/safetensors';
const tmp = mkdtempSync(path.join(tmpdir(), 'st-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const sum = (xs: ArrayLike<number>) => Array.from(xs).reduce((a, b) => a + b, 0);

describe('real safetensors files', () => {
  it('reads the safetensors-cpp F64 model with the values numpy reads', async () => {
    const st = await readSafetensors(`${DATA}/safetensors-cpp/gen/model.safetensors`);
    expect(st.names).toEqual(['weight1', 'weight2']);
    expect(st.entry('weight2')).toMatchObject({ dtype: 'F64', shape: [16, 16] });
    const w1 = st.tensor('weight1');
    expect(w1).toBeInstanceOf(Float64Array);
    expect(w1[0]).toBe(0.08001627472781947);
    expect(w1[63]).toBe(0.2801403670534558);
    expect(sum(w1 as Float64Array)).toBeCloseTo(31.741862223954197, 10);
    const w2 = st.float64('weight2');
    expect(w2[3 * 16 + 5]).toBe(0.6947499966850393);
    expect(sum(w2)).toBeCloseTo(126.67609970765007, 10);
    expect(st.float32('weight1')[0]).toBe(Math.fround(0.08001627472781947));
  });

  it('reads candle mel filters (F32 [80, 201])', async () => {
    const st = await readSafetensors(`${DATA}/candle/mel_filters.safetensors`);
    expect(st.entry('mel_80').shape).toEqual([80, 201]);
    const mel = st.float32('mel_80');
    expect(mel.length).toBe(80 * 201);
    expect(mel[1]).toBe(Math.fround(0.02486259490251541));
    expect(mel[79 * 201 + 200]).toBe(0);
    expect(sum(mel)).toBeCloseTo(1.9990241527557373, 4);
    const row10 = mel.subarray(10 * 201, 11 * 201);
    expect(row10.indexOf(Math.max(...row10))).toBe(10);
  });

  it('reads candle I64 codes and an I64 + U8 pair', async () => {
    const jfk = await readSafetensors(`${DATA}/candle/candle-examples/examples/encodec/jfk-codes.safetensors`);
    const codes = jfk.tensor('codes') as BigInt64Array;
    expect(codes).toBeInstanceOf(BigInt64Array);
    expect(Array.from(codes.subarray(0, 5), Number)).toEqual([865, 62, 408, 408, 475]);
    expect(Array.from(codes.subarray(codes.length - 3), Number)).toEqual([873, 796, 889]);
    expect(codes.reduce((a, b) => a + b, 0n)).toBe(960640n);
    expect(() => jfk.float32('codes')).toThrow(/codes.*not a floating-point type/);

    const voices = await readSafetensors(`${DATA}/candle/candle-examples/examples/csm/voices.safetensors`);
    expect(voices.entry('tokens')).toMatchObject({ dtype: 'I64', shape: [1, 982, 33] });
    expect((voices.tensor('tokens') as BigInt64Array).reduce((a, b) => a + b, 0n)).toBe(25768678n);
    const mask = voices.tensor('mask');
    expect(mask).toBeInstanceOf(Uint8Array);
    expect(sum(mask as Uint8Array)).toBe(24294);
  });

  it('refuses the safetensors-cpp abuse file (header length past the end of the file)', async () => {
    const file = `${DATA}/safetensors-cpp/test/safetensors_abuse_attempt_1.safetensors`;
    const err = await readSafetensors(file).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SafetensorsError);
    expect((err as SafetensorsError).file).toBe(file);
    expect((err as Error).message).toContain('header length 1000 runs past the end of the 88-byte file');
  });

  it('reports a missing file or a folder as a SafetensorsError naming it', async () => {
    await expect(readSafetensors(path.join(tmp, 'nope.safetensors'))).rejects.toThrow(/nope\.safetensors: file not found/);
    await expect(readSafetensors(tmp)).rejects.toThrow(/is not a regular file/);
  });
});

describe('float conversions', () => {
  it('widens F16, BF16 and both float8 formats exactly', () => {
    expect(halfToFloat(0x3c00)).toBe(1);
    expect(halfToFloat(0xc000)).toBe(-2);
    expect(halfToFloat(0x0001)).toBe(2 ** -24);
    expect(halfToFloat(0x7bff)).toBe(65504);
    expect(halfToFloat(0x7c00)).toBe(Infinity);
    expect(halfToFloat(0x7e00)).toBeNaN();
    expect(bfloat16ToFloat(0x3f80)).toBe(1);
    expect(bfloat16ToFloat(0xc0a0)).toBe(-5);
    expect(bfloat16ToFloat(0x3e20)).toBe(0.15625);
    expect(float8e4m3ToFloat(0x38)).toBe(1);
    expect(float8e4m3ToFloat(0x7e)).toBe(448);
    expect(float8e4m3ToFloat(0x01)).toBe(2 ** -9);
    expect(float8e4m3ToFloat(0x7f)).toBeNaN();
    expect(float8e5m2ToFloat(0x3c)).toBe(1);
    expect(float8e5m2ToFloat(0x7b)).toBe(57344);
  });

  it('decodes F16 and BF16 tensors from a file to Float32Array', () => {
    const header = JSON.stringify({ h: { dtype: 'F16', shape: [2], data_offsets: [0, 4] }, b: { dtype: 'BF16', shape: [1], data_offsets: [4, 6] } });
    const st = parseSafetensors(build(header, [0x00, 0x3c, 0x00, 0xc0, 0x20, 0x3e]));
    expect(Array.from(st.float32('h'))).toEqual([1, -2]);
    expect(Array.from(st.float64('b'))).toEqual([0.15625]);
  });
});

/** Builds a file: 8-byte length (or `declared`) + header text + data bytes. */
function build(header: string | Uint8Array, data: number[] | number = [], declared?: bigint): Uint8Array {
  const h = typeof header === 'string' ? Buffer.from(header, 'utf8') : header;
  const d = typeof data === 'number' ? new Uint8Array(data) : Uint8Array.from(data);
  const out = new Uint8Array(8 + h.length + d.length);
  new DataView(out.buffer).setBigUint64(0, declared ?? BigInt(h.length), true);
  out.set(h, 8);
  out.set(d, 8 + h.length);
  return out;
}

const f32 = (shape: number[], begin: number, end: number) => ({ dtype: 'F32', shape, data_offsets: [begin, end] });
const json = (o: object) => JSON.stringify(o);

/** Malformed files and a part of the message each must be refused with. */
const malformed: { name: string; bytes: Uint8Array; message: string }[] = [
  { name: 'shorter than 8 bytes', bytes: new Uint8Array(5), message: 'shorter than the 8-byte header length' },
  { name: 'header length 2^63', bytes: build('{}', 0, 2n ** 63n), message: 'exceeds the 100000000-byte limit' },
  { name: 'header length past the end', bytes: build('{}', 0, 50n), message: 'runs past the end' },
  { name: 'header length 0', bytes: build('', 0), message: 'too small' },
  { name: 'invalid UTF-8', bytes: build(Uint8Array.from([0x7b, 0xff, 0xfe, 0x7d])), message: 'not valid UTF-8' },
  { name: 'header not starting with {', bytes: build(' {}'), message: "does not start with '{'" },
  { name: 'array header', bytes: build('[]'), message: "does not start with '{'" },
  { name: 'trailing comma', bytes: build('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},}', 4), message: 'not strict JSON' },
  { name: 'comment', bytes: build('{/* x */}'), message: 'not strict JSON' },
  { name: 'single quotes', bytes: build("{'a':1}"), message: 'not strict JSON' },
  { name: 'trailing garbage', bytes: build('{} x'), message: 'trailing characters' },
  { name: 'unterminated', bytes: build('{"a":'), message: 'not strict JSON' },
  {
    name: 'duplicate tensor name',
    bytes: build('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', 8),
    message: 'duplicate key "a"',
  },
  { name: 'duplicate field in an entry', bytes: build('{"a":{"dtype":"F32","dtype":"F64","shape":[1],"data_offsets":[0,4]}}', 4), message: 'duplicate key "dtype"' },
  { name: 'duplicate metadata key', bytes: build('{"__metadata__":{"k":"1","k":"2"}}'), message: 'duplicate key "k"' },
  { name: 'unknown dtype', bytes: build(json({ a: { dtype: 'F128', shape: [1], data_offsets: [0, 16] } }), 16), message: "tensor 'a': unknown dtype \"F128\"" },
  { name: 'negative dimension', bytes: build(json({ a: f32([-1], 0, 4) }), 4), message: "tensor 'a': bad header entry" },
  { name: 'fractional dimension', bytes: build(json({ a: f32([1.5], 0, 6) }), 6), message: "tensor 'a': bad header entry" },
  { name: 'string dimension', bytes: build(json({ a: { dtype: 'F32', shape: ['2'], data_offsets: [0, 8] } }), 8), message: 'bad header entry' },
  { name: 'unknown field', bytes: build(json({ a: { ...f32([1], 0, 4), extra: 1 } }), 4), message: 'bad header entry' },
  { name: 'missing data_offsets', bytes: build(json({ a: { dtype: 'F32', shape: [1] } }), 4), message: 'bad header entry' },
  { name: 'three offsets', bytes: build(json({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4, 8] } }), 4), message: 'bad header entry' },
  { name: 'entry not an object', bytes: build(json({ a: 5 })), message: 'bad header entry' },
  { name: 'byte length disagrees with shape', bytes: build(json({ a: f32([2, 2], 0, 12) }), 12), message: 'needs 16 bytes but data_offsets [0, 12] hold 12' },
  { name: 'end before begin', bytes: build(json({ a: f32([0], 4, 0) }), 4), message: 'end before they begin' },
  { name: 'gap before the first tensor', bytes: build(json({ a: f32([1], 4, 8) }), 8), message: 'leave a gap' },
  { name: 'gap between tensors', bytes: build(json({ a: f32([1], 0, 4), b: f32([1], 8, 12) }), 12), message: 'leave a gap' },
  { name: 'overlap', bytes: build(json({ a: f32([2], 0, 8), b: f32([2], 4, 12) }), 12), message: 'overlap' },
  { name: 'trailing bytes', bytes: build(json({ a: f32([1], 0, 4) }), 5), message: 'trailing bytes' },
  { name: 'truncated data', bytes: build(json({ a: f32([4], 0, 16) }), 8), message: 'truncated' },
  { name: 'data without tensors', bytes: build('{}', 4), message: 'trailing bytes' },
  { name: 'metadata value not a string', bytes: build(json({ __metadata__: { k: 1 } })), message: '__metadata__ must map strings to strings' },
  { name: 'metadata not an object', bytes: build(json({ __metadata__: 'x' })), message: '__metadata__ must map strings to strings' },
  { name: 'offset beyond 2^53', bytes: build('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,18446744073709551620]}}', 4), message: 'beyond 2^53' },
  { name: 'shape product far beyond 2^64', bytes: build(json({ a: f32([2 ** 40, 2 ** 40, 2 ** 40], 0, 4) }), 4), message: 'needs 5316911983139663491615228241121378304 bytes' },
  { name: 'nesting 100 deep', bytes: build(`{"__metadata__":${'['.repeat(100)}${']'.repeat(100)}}`), message: 'nesting deeper than 64' },
];

describe('malformed safetensors are refused', () => {
  it.each(malformed)('$name', ({ bytes, message }) => {
    const file = 'corpus.safetensors';
    let caught: unknown;
    try {
      parseSafetensors(bytes, file);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(SafetensorsError);
    expect((caught as SafetensorsError).file).toBe(file);
    expect((caught as Error).message).toContain(message);
  });

  it('the file path reader refuses them the same way', async () => {
    for (const { name, bytes, message } of malformed) {
      const file = path.join(tmp, 'bad.safetensors');
      writeFileSync(file, bytes);
      const err = await readSafetensors(file).catch((e: unknown) => e);
      expect(err, name).toBeInstanceOf(SafetensorsError);
      expect((err as Error).message, name).toContain(message);
    }
  });

  it('names the tensor in the error field', () => {
    const err = (() => {
      try {
        parseSafetensors(build(json({ w: f32([3], 0, 8) }), 8));
      } catch (e) {
        return e as SafetensorsError;
      }
    })();
    expect(err?.tensor).toBe('w');
  });

  it('accepts a header padded with trailing spaces, zero-size tensors, and metadata', () => {
    const header = json({ __metadata__: { format: 'pt' }, e: f32([0, 3], 0, 0), a: f32([1], 0, 4) }) + '    ';
    const st = parseSafetensors(build(header, [0, 0, 0x80, 0x3f]));
    expect(st.metadata).toEqual({ format: 'pt' });
    expect(Array.from(st.float32('a'))).toEqual([1]);
    expect(st.float32('e').length).toBe(0);
  });

  it('strict JSON agrees with JSON.parse on 300 random documents without duplicate keys', () => {
    let seed = 12345;
    const rand = () => {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      return seed / 4294967296;
    };
    const str = () => Array.from({ length: Math.floor(rand() * 6) }, () => String.fromCharCode([34, 92, 10, 0x41, 0xe9, 0x20ac, 0x1f][Math.floor(rand() * 7)])).join('');
    const gen = (depth: number): unknown => {
      const r = rand();
      if (depth > 3 || r < 0.3) return [null, true, false, Math.floor(rand() * 1e6) - 5e5, rand() * 1e-3, -(1 + rand()) * 1e22, str()][Math.floor(rand() * 7)];
      if (r < 0.65) return Array.from({ length: Math.floor(rand() * 4) }, () => gen(depth + 1));
      const o: Record<string, unknown> = {};
      for (let i = 0; i < Math.floor(rand() * 4); i++) o[`${str()}${i}`] = gen(depth + 1);
      return o;
    };
    for (let n = 0; n < 300; n++) {
      const text = JSON.stringify(gen(0), null, n % 2 ? 2 : undefined);
      expect(JSON.parse(JSON.stringify(parseStrictJson(text)))).toEqual(JSON.parse(text));
    }
  });

  it('strict JSON keeps a "__proto__" key as data', () => {
    const v = parseStrictJson('{"__proto__":{"x":1},"y":"\\u00e9\\n"}') as Record<string, unknown>;
    expect(Object.keys(v)).toEqual(['__proto__', 'y']);
    expect(v.y).toBe('é\n');
    expect(parseStrictJson('"\\ud83d\\ude00"')).toBe('\u{1F600}');
    expect(() => parseStrictJson('"\\ude00"')).toThrow(/unpaired surrogate/);
    expect(() => parseStrictJson('[1,]')).toThrow(/unexpected character/);
  });
});

describe('writeSafetensors', () => {
  it('round-trips shaped tensors and metadata through a file', async () => {
    const file = path.join(tmp, 'round.safetensors');
    const a = Float32Array.from([1.5, -2.25, 3e-8, 4, 5, 6]);
    const b = Float32Array.from([Math.PI]);
    await writeSafetensors(file, [{ name: 'layer.weight', shape: [2, 3], data: a }, { name: 'layer.bias', shape: [], data: b }], { epoch: '3' });
    const st = await readSafetensors(file);
    expect(st.metadata).toEqual({ epoch: '3' });
    expect(st.entry('layer.weight')).toMatchObject({ dtype: 'F32', shape: [2, 3] });
    expect(Array.from(st.float32('layer.weight'))).toEqual(Array.from(a));
    expect(st.float32('layer.bias')[0]).toBe(Math.fround(Math.PI));
    const bytes = readFileSync(file);
    expect(Number(bytes.readBigUInt64LE(0)) % 8).toBe(0);
  });

  it('writes a Map as 1-D tensors', async () => {
    const file = path.join(tmp, 'map.safetensors');
    await writeSafetensors(file, new Map([['x', Float32Array.from([1, 2, 3])]]));
    const st = await readSafetensors(file);
    expect(st.entry('x').shape).toEqual([3]);
  });

  it('replaces a file atomically and leaves no temp file behind', async () => {
    const dir = mkdtempSync(path.join(tmp, 'atomic-'));
    const file = path.join(dir, 'w.safetensors');
    await writeSafetensors(file, new Map([['x', Float32Array.from([1])]]));
    await writeSafetensors(file, new Map([['x', Float32Array.from([2, 3])]]));
    expect(readdirSync(dir)).toEqual(['w.safetensors']);
    expect(Array.from((await readSafetensors(file)).float32('x'))).toEqual([2, 3]);
  });

  it('refuses bad input before touching the existing file', async () => {
    const dir = mkdtempSync(path.join(tmp, 'refuse-'));
    const file = path.join(dir, 'w.safetensors');
    await writeSafetensors(file, new Map([['x', Float32Array.from([7])]]));
    const before = readFileSync(file);
    await expect(writeSafetensors(file, [{ name: 'a', shape: [2, 2], data: new Float32Array(3) }])).rejects.toThrow(/tensor 'a': shape \[2, 2\] holds 4 values but data has 3/);
    await expect(writeSafetensors(file, [{ name: 'a', shape: [1], data: new Float32Array(1) }, { name: 'a', shape: [1], data: new Float32Array(1) }])).rejects.toThrow(/duplicate/);
    await expect(writeSafetensors(file, new Map([['__metadata__', new Float32Array(1)]]))).rejects.toThrow(/reserved/);
    expect(readFileSync(file).equals(before)).toBe(true);
    expect(readdirSync(dir)).toEqual(['w.safetensors']);
  });

  it('serializes in the byte layout other readers expect', () => {
    const bytes = serializeSafetensors(new Map([['t', Float32Array.from([1])]]));
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + n)).toString('utf8'));
    expect(header).toEqual({ t: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } });
    expect(Array.from(bytes.subarray(8 + n))).toEqual([0, 0, 0x80, 0x3f]);
  });
});

describe('the shared malformed corpus (test/helpers/safetensors-corpus.ts)', () => {
  const corpus = malformedSafetensorsCorpus();

  it.each(corpus.map((c) => [c.name, c] as const))('refuses %s', (_name, c) => {
    let caught: unknown;
    try {
      parseSafetensors(c.bytes, `${c.name}.safetensors`);
    } catch (err) {
      caught = err;
    }
    expect(caught, c.rule).toBeInstanceOf(SafetensorsError);
    expect((caught as SafetensorsError).file).toBe(`${c.name}.safetensors`);
    if (c.expectedTensor !== undefined && (caught as SafetensorsError).tensor !== undefined) {
      expect((caught as SafetensorsError).tensor).toBe(c.expectedTensor);
    }
  });

  it('reads well-formed files of every decodable dtype built by the shared encoder', () => {
    const le = (n: number, bytesPer: number, write: (v: DataView, i: number) => void) => {
      const b = new Uint8Array(n * bytesPer);
      const v = new DataView(b.buffer);
      for (let i = 0; i < n; i++) write(v, i);
      return b;
    };
    const bytes = encodeSafetensors(
      [
        { name: 'f16', dtype: 'F16', shape: [2], data: le(2, 2, (v, i) => v.setUint16(i * 2, [0x3c00, 0xbc00][i], true)) },
        { name: 'i32', dtype: 'I32', shape: [3], data: le(3, 4, (v, i) => v.setInt32(i * 4, [-7, 0, 2 ** 31 - 1][i], true)) },
        { name: 'u16', dtype: 'U16', shape: [1], data: le(1, 2, (v) => v.setUint16(0, 65535, true)) },
        { name: 'bool', dtype: 'BOOL', shape: [2], data: Uint8Array.from([1, 0]) },
        { name: 'f64', dtype: 'F64', shape: [1, 1], data: le(1, 8, (v) => v.setFloat64(0, 1 / 3, true)) },
      ],
      { note: 'shared encoder' },
    );
    const st = parseSafetensors(bytes);
    expect(Array.from(st.float32('f16'))).toEqual([1, -1]);
    expect(Array.from(st.tensor('i32') as Int32Array)).toEqual([-7, 0, 2 ** 31 - 1]);
    expect(Array.from(st.tensor('u16') as Uint16Array)).toEqual([65535]);
    expect(Array.from(st.tensor('bool') as Uint8Array)).toEqual([1, 0]);
    expect(st.float64('f64')[0]).toBe(1 / 3);
    expect(st.metadata).toEqual({ note: 'shared encoder' });
  });
});
