/**
 * The native safetensors reader against real files (checked with a small
 * independent header parser and values decoded here from the raw bytes),
 * one malformed file per format rule, exact float conversions, loadWeights'
 * checks and arena, and a fuzz run that must only ever load or throw
 * SafetensorsError (this suite runs in a forked worker, so a crash fails it).
 */
import { closeSync, ftruncateSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isNativeSafetensorsError, loadNativeAddon, type NativeAddon } from '../../src/addon/native';
import { encodeSafetensors, encodeSafetensorsRaw, malformedSafetensorsCorpus } from '../helpers/safetensors-corpus';

const DATA = '../shared/data/safetensors';
const ABUSE_FILE = `${DATA}/safetensors-cpp/test/safetensors_abuse_attempt_1.safetensors`;
// Every .safetensors file under the shared data except the known-malformed one.
const ALL_VALID = (readdirSync(DATA, { recursive: true }) as string[])
  .filter((f) => f.endsWith('.safetensors'))
  .map((f) => `${DATA}/${f.split(path.sep).join('/')}`)
  .filter((f) => f !== ABUSE_FILE)
  .sort();
// The ones specific tests below decode by hand.
const VALID_FILES = [
  `${DATA}/safetensors-cpp/gen/model.safetensors`,
  `${DATA}/candle/mel_filters.safetensors`,
  `${DATA}/candle/candle-examples/examples/csm/voices.safetensors`,
  `${DATA}/candle/candle-examples/examples/encodec/jfk-codes.safetensors`,
];

let addon: NativeAddon;
let dir: string;

beforeAll(() => {
  addon = loadNativeAddon();
  dir = mkdtempSync(path.join(tmpdir(), 'jepa-st-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function writeTmp(name: string, bytes: Uint8Array): string {
  const p = path.join(dir, name);
  writeFileSync(p, bytes);
  return p;
}

/** Independent reading of a header: what the native reader must agree with. */
function independentHeader(file: string) {
  const buf = readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, unknown>;
  const tensors = Object.entries(header)
    .filter(([k]) => k !== '__metadata__')
    .map(([name, v]) => {
      const e = v as { dtype: string; shape: number[]; data_offsets: [number, number] };
      return {
        name,
        dtype: e.dtype,
        shape: e.shape,
        byteOffset: 8 + n + e.data_offsets[0],
        byteLength: e.data_offsets[1] - e.data_offsets[0],
      };
    })
    .sort((a, b) => a.byteOffset - b.byteOffset);
  return { buf, n, tensors, metadata: (header.__metadata__ ?? {}) as Record<string, string> };
}

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected the call to throw');
}

describe('real files from ../shared/data', () => {
  it('finds the four valid files of the shared data', () => {
    expect(ALL_VALID).toEqual([...VALID_FILES].sort());
  });

  it.each(ALL_VALID)('inspects %s with the names, dtypes, shapes and offsets of an independent parse', (file) => {
    const ours = independentHeader(file);
    const info = addon.inspectSafetensors(file);
    expect(info.tensors).toEqual(ours.tensors);
    expect(info.metadata).toEqual(ours.metadata);
    expect(info.headerLength).toBe(ours.n);
    expect(info.fileSize).toBe(ours.buf.length);
  });

  it('reads F64 weights of safetensors-cpp model.safetensors narrowed exactly like Math.fround', () => {
    const file = VALID_FILES[0]!;
    const { buf, tensors } = independentHeader(file);
    for (const t of tensors) {
      expect(t.dtype).toBe('F64');
      const values = addon.readSafetensorsTensor(file, t.name);
      expect(values.length).toBe(t.byteLength / 8);
      for (const i of [0, 1, values.length - 1, Math.floor(values.length / 2)]) {
        expect(values[i]).toBe(Math.fround(buf.readDoubleLE(t.byteOffset + 8 * i)));
      }
    }
  });

  it('reads the F32 mel_filters [80, 201] bit-exactly', () => {
    const file = VALID_FILES[1]!;
    const { buf, tensors } = independentHeader(file);
    const values = addon.readSafetensorsTensor(file, 'mel_80');
    expect(values.length).toBe(80 * 201);
    const expected = new Float32Array(buf.buffer.slice(buf.byteOffset + tensors[0]!.byteOffset, buf.byteOffset + tensors[0]!.byteOffset + tensors[0]!.byteLength));
    expect(Buffer.from(values.buffer).equals(Buffer.from(expected.buffer))).toBe(true);
    expect(values.some((v) => v !== 0)).toBe(true);
  });

  it('refuses to convert the I64 and U8 tensors of the candle examples, naming dtype and tensor', () => {
    for (const [file, tensor, dtype] of [
      [VALID_FILES[3]!, 'codes', 'I64'],
      [VALID_FILES[2]!, 'mask', 'U8'],
    ] as const) {
      const e = catchError(() => addon.readSafetensorsTensor(file, tensor));
      expect(isNativeSafetensorsError(e)).toBe(true);
      if (!isNativeSafetensorsError(e)) return;
      expect(e.tensor).toBe(tensor);
      expect(e.file).toBe(file);
      expect(e.message).toContain(`has dtype ${dtype}; only floating-point tensors`);
    }
  });

  it('refuses safetensors_abuse_attempt_1 (header length 1000 in an 88-byte file) naming file and problem', () => {
    const e = catchError(() => addon.inspectSafetensors(ABUSE_FILE));
    expect(isNativeSafetensorsError(e)).toBe(true);
    if (!isNativeSafetensorsError(e)) return;
    expect(e.file).toBe(ABUSE_FILE);
    expect(e.tensor).toBeNull();
    expect(e.message).toBe(`${ABUSE_FILE}: header length 1000 runs past the end of the file (file is 88 bytes, so at most 80 header bytes fit)`);
  });

  it('names a missing file and a missing tensor', () => {
    const missing = path.join(dir, 'nope.safetensors');
    const e1 = catchError(() => addon.inspectSafetensors(missing));
    expect((e1 as Error).message).toBe(`${missing}: cannot open file: No such file or directory`);
    const e2 = catchError(() => addon.readSafetensorsTensor(VALID_FILES[0]!, 'weight3'));
    expect((e2 as Error).message).toBe(`${VALID_FILES[0]}: tensor 'weight3': is not in the file (it has 2 tensors)`);
  });
});

describe('malformed corpus: one file per rule', () => {
  const corpus = malformedSafetensorsCorpus();
  it('has a distinct name for every case', () => {
    expect(new Set(corpus.map((c) => c.name)).size).toBe(corpus.length);
    expect(corpus.length).toBeGreaterThanOrEqual(40);
  });
  it.each(corpus.map((c) => [c.name, c] as const))('refuses %s', (_name, c) => {
    const file = writeTmp(`${c.name}.safetensors`, c.bytes);
    const e = catchError(() => addon.inspectSafetensors(file));
    expect(isNativeSafetensorsError(e)).toBe(true);
    if (!isNativeSafetensorsError(e)) return;
    expect(e.message).toContain(c.expectedMessagePart);
    expect(e.message.startsWith(`${file}: `)).toBe(true);
    expect(e.file).toBe(file);
    expect(e.tensor).toBe(c.expectedTensor ?? null);
  });
});

// --- exact conversions --------------------------------------------------------

function f16ToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const man = h & 0x3ff;
  if (exp === 0x1f) return man === 0 ? sign * Infinity : NaN;
  if (exp === 0) return sign * man * 2 ** -24;
  return sign * (1 + man / 1024) * 2 ** (exp - 15);
}

function bf16ToNumber(b: number): number {
  const sign = b & 0x8000 ? -1 : 1;
  const exp = (b >> 7) & 0xff;
  const man = b & 0x7f;
  if (exp === 0xff) return man === 0 ? sign * Infinity : NaN;
  if (exp === 0) return sign * man * 2 ** -133;
  return sign * (1 + man / 128) * 2 ** (exp - 127);
}

function expectSameFloats(actual: Float32Array, expected: (i: number) => number): void {
  let mismatches = 0;
  let first = '';
  for (let i = 0; i < actual.length; i++) {
    const want = expected(i);
    const ok = Number.isNaN(want) ? Number.isNaN(actual[i]) : Object.is(actual[i], want);
    if (!ok) {
      if (mismatches === 0) first = `index ${i}: got ${actual[i]}, want ${want}`;
      mismatches++;
    }
  }
  expect(first).toBe('');
  expect(mismatches).toBe(0);
}

describe('float32 conversion', () => {
  it('converts all 65536 F16 bit patterns exactly (subnormals, ±0, ±inf, NaN)', () => {
    const raw = new Uint8Array(65536 * 2);
    const dv = new DataView(raw.buffer);
    for (let i = 0; i < 65536; i++) dv.setUint16(2 * i, i, true);
    const file = writeTmp('f16.safetensors', encodeSafetensors([{ name: 'h', dtype: 'F16', shape: [256, 256], data: raw }]));
    const values = addon.readSafetensorsTensor(file, 'h');
    expect(values.length).toBe(65536);
    expectSameFloats(values, f16ToNumber);
    expect(values[0x3c00]).toBe(1);
    expect(values[0x0001]).toBe(2 ** -24);
    expect(Object.is(values[0x8000], -0)).toBe(true);
  });

  it('converts all 65536 BF16 bit patterns exactly', () => {
    const raw = new Uint8Array(65536 * 2);
    const dv = new DataView(raw.buffer);
    for (let i = 0; i < 65536; i++) dv.setUint16(2 * i, i, true);
    const file = writeTmp('bf16.safetensors', encodeSafetensors([{ name: 'b', dtype: 'BF16', shape: [65536], data: raw }]));
    const values = addon.readSafetensorsTensor(file, 'b');
    expectSameFloats(values, bf16ToNumber);
    expect(values[0x3f80]).toBe(1);
    expect(values[0xc040]).toBe(-3);
  });

  it('narrows F64 to the nearest float32 (overflow to inf, underflow to 0, subnormals)', () => {
    const specials = [0, -0, 1, -1, 0.1, 1 / 3, Math.PI, 1e300, -1e300, 1e-50, 1e-40, 3.4028235677973366e38, 1.401298464324817e-45, Infinity, -Infinity, NaN];
    let seed = 12345;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    const vals = [...specials, ...Array.from({ length: 1000 }, () => (rand() - 0.5) * 10 ** Math.floor(rand() * 80 - 40))];
    const raw = new Uint8Array(vals.length * 8);
    const dv = new DataView(raw.buffer);
    vals.forEach((v, i) => dv.setFloat64(8 * i, v, true));
    const file = writeTmp('f64.safetensors', encodeSafetensors([{ name: 'd', dtype: 'F64', shape: [vals.length], data: raw }]));
    const values = addon.readSafetensorsTensor(file, 'd');
    expectSameFloats(values, (i) => Math.fround(vals[i]!));
    expect(values[7]).toBe(Infinity);
    expect(values[9]).toBe(0);
  });

  it('reads empty and scalar tensors', () => {
    const one = new Uint8Array(new Float32Array([2.5]).buffer);
    const file = writeTmp(
      'shapes.safetensors',
      encodeSafetensors([
        { name: 'empty', dtype: 'F32', shape: [0, 4], data: new Uint8Array(0) },
        { name: 'scalar', dtype: 'F32', shape: [], data: one },
      ], { format: 'pt', note: 'ünïcode ✓' }),
    );
    expect(addon.readSafetensorsTensor(file, 'empty').length).toBe(0);
    expect(Array.from(addon.readSafetensorsTensor(file, 'scalar'))).toEqual([2.5]);
    expect(addon.inspectSafetensors(file).metadata).toEqual({ format: 'pt', note: 'ünïcode ✓' });
  });
});

// --- loadWeights --------------------------------------------------------------

describe('loadWeights', () => {
  const f32 = (xs: number[]) => new Uint8Array(new Float32Array(xs).buffer);
  const f16 = (bits: number[]) => new Uint8Array(new Uint16Array(bits).buffer);
  let file: string;
  beforeAll(() => {
    file = writeTmp(
      'weights.safetensors',
      encodeSafetensors([
        { name: 'enc.weight', dtype: 'F32', shape: [2, 3], data: f32([1, 2, 3, 4, 5, 6]) },
        { name: 'enc.bias', dtype: 'F16', shape: [3], data: f16([0x3c00, 0xc000, 0x3800]) },
        { name: 'extra', dtype: 'BF16', shape: [1], data: f16([0x3f80]) },
        { name: 'steps', dtype: 'I32', shape: [1], data: new Uint8Array(4) },
      ]),
    );
  });

  it('returns exactly the expected tensors as views into one 64-byte-aligned arena', async () => {
    const w = await addon.loadWeights(file, [
      { name: 'enc.bias', shape: [3] },
      { name: 'enc.weight', shape: [2, 3] },
    ]);
    expect(Object.keys(w)).toEqual(['enc.bias', 'enc.weight']);
    expect(Array.from(w['enc.weight']!)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(Array.from(w['enc.bias']!)).toEqual([1, -2, 0.5]);
    expect(w['enc.weight']!.buffer).toBe(w['enc.bias']!.buffer);
    expect(w['enc.bias']!.byteOffset).toBe(0);
    expect(w['enc.weight']!.byteOffset).toBe(64);
  });

  it('names the file, the tensor, and expected vs found shape on a mismatch', async () => {
    await expect(addon.loadWeights(file, [{ name: 'enc.weight', shape: [3, 2] }])).rejects.toMatchObject({
      name: 'SafetensorsError',
      file,
      tensor: 'enc.weight',
      message: `${file}: tensor 'enc.weight': expected shape [3, 2], found [2, 3]`,
    });
  });

  it('lists every missing tensor along with shape problems in one error', async () => {
    const err = await addon
      .loadWeights(file, [
        { name: 'enc.weight', shape: [2, 3] },
        { name: 'dec.weight', shape: [4] },
        { name: 'enc.bias', shape: [4] },
        { name: 'dec.bias', shape: [4] },
      ])
      .then(
        () => null,
        (e: unknown) => e,
      );
    expect(isNativeSafetensorsError(err)).toBe(true);
    expect((err as Error).message).toBe(
      `${file}: tensor 'enc.bias': does not hold the expected tensors: tensor 'enc.bias' expected shape [4], found [3]; missing 2 of 4 expected tensors: dec.weight, dec.bias`,
    );
  });

  it('refuses an integer tensor and a malformed spec list', async () => {
    await expect(addon.loadWeights(file, [{ name: 'steps', shape: [1] }])).rejects.toThrow(/tensor 'steps': has dtype I32/);
    // A malformed spec list is a programming error: a synchronous TypeError.
    expect(() => addon.loadWeights(file, [{ name: 'x', shape: [-1] }])).toThrow(TypeError);
    expect(() => addon.loadWeights(file, [{ name: 'x', shape: [1.5] }])).toThrow('loadWeights: expected[0].shape[0] must be a non-negative integer');
  });

  it('rejects (never throws synchronously) for a broken file', async () => {
    const bad = writeTmp('bad.safetensors', encodeSafetensorsRaw('{}', new Uint8Array(0), 99n));
    const p = addon.loadWeights(bad, []);
    expect(p).toBeInstanceOf(Promise);
    await expect(p).rejects.toMatchObject({ name: 'SafetensorsError', file: bad, tensor: null });
  });
});

// --- fuzz ---------------------------------------------------------------------

describe('fuzz', () => {
  it('loads or throws SafetensorsError for 6000 random and mutated files, and accepted files are self-consistent', () => {
    let seed = 0x9e3779b9;
    const rnd = () => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) / 2 ** 32;
    };
    const int = (n: number) => Math.floor(rnd() * n);
    const seeds: Uint8Array[] = [
      new Uint8Array(readFileSync(VALID_FILES[0]!)),
      encodeSafetensors(
        [
          { name: 'a', dtype: 'F16', shape: [2, 2], data: new Uint8Array(8).fill(0x3c) },
          { name: 'b', dtype: 'BF16', shape: [3], data: new Uint8Array(6).fill(0x3f) },
          { name: 'c', dtype: 'F64', shape: [1], data: new Uint8Array(8).fill(0x40) },
        ],
        { k: 'v' },
      ),
      ...malformedSafetensorsCorpus().map((c) => c.bytes),
    ];
    const tokens = ['{', '}', '[', ']', ',', ':', '"', '\\', '"dtype"', '"shape"', '"data_offsets"', '"F32"', '"__metadata__"', '0', '-1', '1e3', '18446744073709551615', ' ', '\u00e9', 'null', 'true'];
    const file = path.join(dir, 'fuzz.safetensors');
    // Rewritten in place (truncate + positioned write): far cheaper than a new file per case.
    const fd = openSync(file, 'w+');
    const counts = { loaded: 0, refused: 0 };
    const outcomes: string[] = [];
    for (let iter = 0; iter < 6000; iter++) {
      // Valid seeds two times in three, so mutations of well-formed files dominate.
      const base = rnd() < 0.67 ? seeds[int(2)]! : seeds[2 + int(seeds.length - 2)]!;
      let bytes: Uint8Array;
      const kind = iter % 6;
      if (kind === 0) {
        // bit flips: in the header (mostly refused) or anywhere (data flips must still load)
        bytes = base.slice();
        const span = rnd() < 0.5 ? Math.min(bytes.length, 400) : bytes.length;
        for (let k = 1 + int(4); k > 0; k--) {
          const at = int(span);
          bytes[at]! ^= 1 << int(8);
        }
      } else if (kind === 1) {
        bytes = base.slice(0, int(base.length + 1));
      } else if (kind === 2) {
        bytes = base.slice();
        if (bytes.length >= 8) {
          const choices = [BigInt(int(300)), BigInt(bytes.length - 8 + int(5) - 2), 0xffffffffffffffffn, BigInt(int(2 ** 31)) * BigInt(int(2 ** 31))];
          const v = choices[int(choices.length)]!;
          new DataView(bytes.buffer).setBigUint64(0, v < 0n ? 0n : v & 0xffffffffffffffffn, true);
        }
      } else if (kind === 3) {
        let s = '{';
        for (let k = int(30); k > 0; k--) s += tokens[int(tokens.length)];
        bytes = encodeSafetensorsRaw(s, new Uint8Array(int(16)));
      } else if (kind === 4) {
        bytes = new Uint8Array(int(64));
        for (let k = 0; k < bytes.length; k++) bytes[k] = int(256);
      } else {
        // splice a token into the header of a valid file
        const text = new TextDecoder().decode(base);
        const at = 8 + int(Math.max(1, Math.min(text.length - 8, 200)));
        const spliced = new TextEncoder().encode(text.slice(8, at) + tokens[int(tokens.length)] + text.slice(at + int(3)));
        bytes = spliced.length > 0 ? encodeSafetensorsRaw(spliced.subarray(0, Math.max(0, spliced.length - int(4)))) : spliced;
      }
      ftruncateSync(fd, bytes.length);
      writeSync(fd, bytes, 0, bytes.length, 0);
      try {
        const info = addon.inspectSafetensors(file);
        counts.loaded++;
        const dataBytes = info.tensors.reduce((s, t) => s + t.byteLength, 0);
        if (8 + info.headerLength + dataBytes !== bytes.length) outcomes.push(`iteration ${iter}: accepted a file whose tensors do not tile it`);
        for (const t of info.tensors.slice(0, 2)) {
          try {
            const v = addon.readSafetensorsTensor(file, t.name);
            if (v.length * 4 > 4 * t.byteLength) outcomes.push(`iteration ${iter}: ${t.name} returned too many values`);
          } catch (e) {
            if (!isNativeSafetensorsError(e)) outcomes.push(`iteration ${iter}: read threw ${String(e)}`);
          }
        }
      } catch (e) {
        if (!isNativeSafetensorsError(e)) outcomes.push(`iteration ${iter}: threw a non-SafetensorsError ${String(e)}`);
        counts.refused++;
      }
    }
    closeSync(fd);
    console.log(`fuzz: ${counts.loaded} loaded, ${counts.refused} refused`);
    expect(outcomes).toEqual([]);
    expect(counts.loaded + counts.refused).toBe(6000);
    expect(counts.loaded).toBeGreaterThan(100);
    expect(counts.refused).toBeGreaterThan(3000);
  });
});
