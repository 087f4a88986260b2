/**
 * Safetensors in TypeScript: a strict reader (the same rules as the native
 * reader in native/src/core) and an atomic float32 writer.
 *
 * File layout: u64 little-endian header length n, n bytes of UTF-8 JSON
 * (may be padded with trailing spaces), then the data buffer. The JSON maps
 * tensor names to {dtype, shape, data_offsets: [begin, end]} (offsets relative
 * to the buffer) plus an optional "__metadata__" object of string → string.
 *
 * A file is refused (SafetensorsError naming the file and, where it applies,
 * the tensor) unless:
 *  - n is read first and is <= MAX_HEADER_BYTES and 8 + n <= file length,
 *    before anything is allocated for the header;
 *  - the header is valid UTF-8, strict JSON (our own parser: no trailing
 *    commas, no comments, duplicate keys refused at every level), an object;
 *  - every entry has a known dtype, a shape of non-negative integers, and
 *    end - begin = product(shape) · dtype size (BigInt arithmetic);
 *  - the entries, sorted by offset, start at 0 and tile the buffer with no gap
 *    and no overlap, and the buffer ends exactly at the end of the file;
 *  - __metadata__, when present, maps strings to strings.
 *
 * Values: F32 → Float32Array, F64 → Float64Array, F16 / BF16 / F8_E4M3 /
 * F8_E5M2 → Float32Array (exact widening), integer dtypes → the matching integer typed array
 * (I64/U64 → BigInt64Array/BigUint64Array, BOOL → Uint8Array). Data is read
 * little-endian through a DataView into fresh (aligned) arrays.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { endianness } from 'node:os';
import { z } from 'zod';

const LITTLE_ENDIAN_HOST = endianness() === 'LE';

/** Largest header we accept (the same cap as the reference Rust implementation). */
export const MAX_HEADER_BYTES = 100_000_000;
const MAX_JSON_DEPTH = 64;

const DTYPE_SIZES = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  I64: 8,
  U64: 8,
  F64: 8,
} as const;

export type SafetensorsDtype = keyof typeof DTYPE_SIZES;

export function dtypeSize(dtype: SafetensorsDtype): number {
  return DTYPE_SIZES[dtype];
}

function isDtype(s: string): s is SafetensorsDtype {
  return Object.prototype.hasOwnProperty.call(DTYPE_SIZES, s);
}

/** A safetensors file (or buffer) that cannot be read or written. */
export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
  constructor(
    readonly file: string,
    readonly problem: string,
    readonly tensor?: string,
  ) {
    super(`${file}: ${tensor !== undefined ? `tensor '${tensor}': ` : ''}${problem}`);
  }
}

export interface SafetensorsEntry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** Byte offsets in the data buffer. */
  begin: number;
  end: number;
}

export type TensorValues =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

/** A parsed, validated safetensors file held in memory. */
export class SafetensorsFile {
  private readonly byName: Map<string, SafetensorsEntry>;

  constructor(
    readonly file: string,
    readonly metadata: Record<string, string>,
    /** In header order. */
    readonly entries: SafetensorsEntry[],
    /** The data buffer (everything after the header). */
    private readonly data: Uint8Array,
  ) {
    this.byName = new Map(entries.map((e) => [e.name, e]));
  }

  get names(): string[] {
    return this.entries.map((e) => e.name);
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  entry(name: string): SafetensorsEntry {
    const e = this.byName.get(name);
    if (!e) throw new SafetensorsError(this.file, `no such tensor (the file holds ${this.entries.length} tensors)`, name);
    return e;
  }

  private view(e: SafetensorsEntry): DataView {
    return new DataView(this.data.buffer, this.data.byteOffset + e.begin, e.end - e.begin);
  }

  /** Values in the tensor's own type (floats widened to Float32Array for F16 / BF16). */
  tensor(name: string): TensorValues {
    const e = this.entry(name);
    const v = this.view(e);
    const count = (e.end - e.begin) / DTYPE_SIZES[e.dtype];
    const fill = <T extends { [i: number]: number | bigint }>(out: T, get: (i: number) => number | bigint): T => {
      for (let i = 0; i < count; i++) out[i] = get(i) as T[number];
      return out;
    };
    if (LITTLE_ENDIAN_HOST && (e.dtype === 'F32' || e.dtype === 'F64')) {
      // Fast path: copy the bytes into a fresh, aligned buffer and view it directly.
      const start = this.data.byteOffset + e.begin;
      const copy = this.data.buffer.slice(start, start + (e.end - e.begin));
      return e.dtype === 'F32' ? new Float32Array(copy) : new Float64Array(copy);
    }
    switch (e.dtype) {
      case 'F32':
        return fill(new Float32Array(count), (i) => v.getFloat32(i * 4, true));
      case 'F64':
        return fill(new Float64Array(count), (i) => v.getFloat64(i * 8, true));
      case 'F16':
        return fill(new Float32Array(count), (i) => halfToFloat(v.getUint16(i * 2, true)));
      case 'BF16':
        return fill(new Float32Array(count), (i) => bfloat16ToFloat(v.getUint16(i * 2, true)));
      case 'I8':
        return fill(new Int8Array(count), (i) => v.getInt8(i));
      case 'U8':
      case 'BOOL':
        return fill(new Uint8Array(count), (i) => v.getUint8(i));
      case 'I16':
        return fill(new Int16Array(count), (i) => v.getInt16(i * 2, true));
      case 'U16':
        return fill(new Uint16Array(count), (i) => v.getUint16(i * 2, true));
      case 'I32':
        return fill(new Int32Array(count), (i) => v.getInt32(i * 4, true));
      case 'U32':
        return fill(new Uint32Array(count), (i) => v.getUint32(i * 4, true));
      case 'I64':
        return fill(new BigInt64Array(count), (i) => v.getBigInt64(i * 8, true));
      case 'U64':
        return fill(new BigUint64Array(count), (i) => v.getBigUint64(i * 8, true));
      case 'F8_E4M3':
        return fill(new Float32Array(count), (i) => float8e4m3ToFloat(v.getUint8(i)));
      case 'F8_E5M2':
        return fill(new Float32Array(count), (i) => float8e5m2ToFloat(v.getUint8(i)));
    }
  }

  /** A floating-point tensor as Float32Array (F64 rounded to nearest float32). */
  float32(name: string): Float32Array {
    const values = this.floatValues(name);
    return values instanceof Float32Array ? values : Float32Array.from(values);
  }

  /** A floating-point tensor as Float64Array (exact for every float dtype). */
  float64(name: string): Float64Array {
    const values = this.floatValues(name);
    return values instanceof Float64Array ? values : Float64Array.from(values);
  }

  private floatValues(name: string): Float32Array | Float64Array {
    const e = this.entry(name);
    if (!FLOAT_DTYPES.has(e.dtype)) {
      throw new SafetensorsError(this.file, `dtype ${e.dtype} is not a floating-point type (expected one of ${[...FLOAT_DTYPES].join(', ')})`, name);
    }
    return this.tensor(name) as Float32Array | Float64Array;
  }
}

/** Dtypes that float32() / float64() convert. */
export const FLOAT_DTYPES: ReadonlySet<SafetensorsDtype> = new Set(['F64', 'F32', 'F16', 'BF16', 'F8_E4M3', 'F8_E5M2']);

/** float8 e4m3fn bits (bias 7, no infinities, S.1111.111 = NaN) → number (exact). */
export function float8e4m3ToFloat(bits: number): number {
  const sign = bits & 0x80 ? -1 : 1;
  const exponent = (bits >> 3) & 0xf;
  const mantissa = bits & 0x7;
  if (exponent === 0xf && mantissa === 0x7) return NaN;
  if (exponent === 0) return sign * mantissa * 2 ** -9;
  return sign * (1 + mantissa / 8) * 2 ** (exponent - 7);
}

/** float8 e5m2 bits (bias 15, IEEE-style infinities and NaN) → number (exact). */
export function float8e5m2ToFloat(bits: number): number {
  return halfToFloat(bits << 8);
}

/** IEEE binary16 bits → number (exact). */
export function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa ? NaN : sign * Infinity;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

const bfScratch = new DataView(new ArrayBuffer(4));
/** bfloat16 bits → number (exact: the top half of a float32). */
export function bfloat16ToFloat(bits: number): number {
  bfScratch.setUint32(0, bits << 16 >>> 0, true);
  return bfScratch.getFloat32(0, true);
}

// ── strict JSON ─────────────────────────────────────────────────────────────

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

class JsonSyntaxError extends Error {}

/**
 * RFC 8259 JSON, refusing duplicate object keys (JSON.parse silently keeps
 * the last one), unpaired surrogates in \u escapes, integers beyond 2^53,
 * and nesting deeper than 64. Objects
 * come back with a null prototype so a "__proto__" key is plain data.
 */
export function parseStrictJson(text: string): Json {
  let i = 0;
  const fail = (what: string): never => {
    throw new JsonSyntaxError(`${what} at character ${i}`);
  };
  const ws = () => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++;
  };
  const value = (depth: number): Json => {
    if (depth > MAX_JSON_DEPTH) fail(`nesting deeper than ${MAX_JSON_DEPTH}`);
    ws();
    const c = text[i];
    if (c === '{') return object(depth);
    if (c === '[') return array(depth);
    if (c === '"') return string();
    if (c === '-' || (c >= '0' && c <= '9')) return number();
    for (const [word, v] of [['true', true], ['false', false], ['null', null]] as const) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return v;
      }
    }
    return fail(c === undefined ? 'unexpected end of JSON' : `unexpected character ${JSON.stringify(c)}`);
  };
  const object = (depth: number): Json => {
    i++;
    const out = Object.create(null) as { [key: string]: Json };
    const seen = new Set<string>();
    ws();
    if (text[i] === '}') {
      i++;
      return out;
    }
    for (;;) {
      ws();
      if (text[i] !== '"') fail('expected a string key');
      const keyStart = i;
      const key = string();
      if (seen.has(key)) {
        i = keyStart;
        fail(`duplicate key ${JSON.stringify(key)}`);
      }
      seen.add(key);
      ws();
      if (text[i] !== ':') fail("expected ':'");
      i++;
      out[key] = value(depth + 1);
      ws();
      if (text[i] === ',') {
        i++;
        continue;
      }
      if (text[i] === '}') {
        i++;
        return out;
      }
      fail("expected ',' or '}'");
    }
  };
  const array = (depth: number): Json => {
    i++;
    const out: Json[] = [];
    ws();
    if (text[i] === ']') {
      i++;
      return out;
    }
    for (;;) {
      out.push(value(depth + 1));
      ws();
      if (text[i] === ',') {
        i++;
        continue;
      }
      if (text[i] === ']') {
        i++;
        return out;
      }
      fail("expected ',' or ']'");
    }
  };
  const string = (): string => {
    i++;
    let out = '';
    for (;;) {
      if (i >= text.length) fail('unterminated string');
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return out;
      }
      if (c < 0x20) fail('control character in string');
      if (c !== 0x5c) {
        out += text[i++];
        continue;
      }
      const e = text[i + 1];
      i += 2;
      const simple: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
      if (e !== undefined && e in simple) {
        out += simple[e];
      } else if (e === 'u') {
        const hex = text.slice(i, i + 4);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail('bad \\u escape');
        const unit = parseInt(hex, 16);
        i += 4;
        if (unit >= 0xd800 && unit <= 0xdbff) {
          // a high surrogate must be followed by an escaped low surrogate
          const low = /^\\u([dD][c-fC-F][0-9a-fA-F]{2})/.exec(text.slice(i, i + 6));
          if (!low) fail('unpaired surrogate in \\u escape');
          out += String.fromCharCode(unit, parseInt(low![1], 16));
          i += 6;
        } else if (unit >= 0xdc00 && unit <= 0xdfff) {
          fail('unpaired surrogate in \\u escape');
        } else {
          out += String.fromCharCode(unit);
        }
      } else {
        i -= 2;
        fail('bad escape');
      }
    }
  };
  const number = (): number => {
    const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(text.slice(i, i + 400));
    if (!m) return fail('bad number');
    i += m[0].length;
    const v = Number(m[0]);
    if (!m[2] && !m[3] && !Number.isSafeInteger(v)) fail(`integer ${m[0]} is beyond 2^53`);
    if (!Number.isFinite(v)) fail(`number ${m[0]} overflows`);
    return v;
  };
  const result = value(0);
  ws();
  if (i !== text.length) fail('trailing characters after the JSON value');
  return result;
}

// ── reader ──────────────────────────────────────────────────────────────────

const entrySchema = z.strictObject({
  dtype: z.string(),
  shape: z.array(z.number().int().nonnegative()),
  data_offsets: z.tuple([z.number().int().nonnegative(), z.number().int().nonnegative()]),
});
const metadataSchema = z.record(z.string(), z.string());

function zodProblem(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(entry)'}: ${i.message}`).join('; ');
}

/** Validates header length n against the file size before anything is allocated for it. */
function checkHeaderLength(file: string, n: bigint, fileLength: number): number {
  if (n > BigInt(MAX_HEADER_BYTES)) {
    throw new SafetensorsError(file, `header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit; the file is corrupt or not safetensors`);
  }
  if (8n + n > BigInt(fileLength)) {
    throw new SafetensorsError(file, `header length ${n} runs past the end of the ${fileLength}-byte file; the file is truncated or corrupt`);
  }
  if (n < 2n) throw new SafetensorsError(file, `header length ${n} is too small to hold a JSON object`);
  return Number(n);
}

/** Parses and validates the header; `dataLength` is the number of bytes after it. */
function parseHeader(file: string, headerBytes: Uint8Array, dataLength: number): { metadata: Record<string, string>; entries: SafetensorsEntry[] } {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(headerBytes);
  } catch {
    throw new SafetensorsError(file, 'header is not valid UTF-8');
  }
  if (text[0] !== '{') throw new SafetensorsError(file, "header does not start with '{'; not a safetensors file");
  let json: Json;
  try {
    json = parseStrictJson(text);
  } catch (err) {
    if (err instanceof JsonSyntaxError) throw new SafetensorsError(file, `header is not strict JSON: ${err.message}`);
    throw err;
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new SafetensorsError(file, 'header must be a JSON object');
  }
  let metadata: Record<string, string> = {};
  const entries: SafetensorsEntry[] = [];
  for (const name of Object.keys(json)) {
    const raw = json[name];
    if (name === '__metadata__') {
      const parsed = metadataSchema.safeParse(raw === null || typeof raw !== 'object' || Array.isArray(raw) ? raw : { ...raw });
      if (!parsed.success) throw new SafetensorsError(file, `__metadata__ must map strings to strings (${zodProblem(parsed.error)})`);
      metadata = parsed.data;
      continue;
    }
    const parsed = entrySchema.safeParse(raw === null || typeof raw !== 'object' || Array.isArray(raw) ? raw : { ...raw });
    if (!parsed.success) {
      throw new SafetensorsError(file, `bad header entry, expected {dtype, shape, data_offsets}: ${zodProblem(parsed.error)}`, name);
    }
    const { dtype, shape, data_offsets: [begin, end] } = parsed.data;
    if (!isDtype(dtype)) {
      throw new SafetensorsError(file, `unknown dtype ${JSON.stringify(dtype)} (known: ${Object.keys(DTYPE_SIZES).join(', ')})`, name);
    }
    if (end < begin) throw new SafetensorsError(file, `data_offsets [${begin}, ${end}] end before they begin`, name);
    let bytes = BigInt(DTYPE_SIZES[dtype]);
    for (const d of shape) bytes *= BigInt(d);
    if (bytes !== BigInt(end - begin)) {
      throw new SafetensorsError(
        file,
        `shape [${shape.join(', ')}] of ${dtype} needs ${bytes} bytes but data_offsets [${begin}, ${end}] hold ${end - begin}`,
        name,
      );
    }
    entries.push({ name, dtype, shape, begin, end });
  }
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  for (const e of sorted) {
    if (e.begin > cursor) {
      throw new SafetensorsError(file, `data_offsets [${e.begin}, ${e.end}] leave a gap: bytes ${cursor}..${e.begin} belong to no tensor`, e.name);
    }
    if (e.begin < cursor) {
      throw new SafetensorsError(file, `data_offsets [${e.begin}, ${e.end}] overlap another tensor's bytes (which end at ${cursor})`, e.name);
    }
    cursor = e.end;
  }
  if (cursor !== dataLength) {
    throw new SafetensorsError(
      file,
      cursor < dataLength
        ? `the data buffer is ${dataLength} bytes but the tensors cover ${cursor}; the file has ${dataLength - cursor} trailing bytes`
        : `the tensors need ${cursor} data bytes but the file holds ${dataLength}; the file is truncated`,
    );
  }
  return { metadata, entries };
}

/** Parses a whole safetensors file held in memory. `file` names it in errors. */
export function parseSafetensors(bytes: Uint8Array, file = '(buffer)'): SafetensorsFile {
  if (bytes.length < 8) throw new SafetensorsError(file, `file is ${bytes.length} bytes, shorter than the 8-byte header length`);
  const n = checkHeaderLength(file, new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true), bytes.length);
  const { metadata, entries } = parseHeader(file, bytes.subarray(8, 8 + n), bytes.length - 8 - n);
  return new SafetensorsFile(file, metadata, entries, bytes.subarray(8 + n));
}

/**
 * Reads and validates a safetensors file. The header length is read and
 * checked against the file size before the header or data are allocated.
 */
export async function readSafetensors(filePath: string): Promise<SafetensorsFile> {
  let handle: fsp.FileHandle;
  try {
    handle = await fsp.open(filePath, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new SafetensorsError(filePath, code === 'ENOENT' ? 'file not found' : `cannot open: ${(err as Error).message}`);
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new SafetensorsError(filePath, 'is not a regular file');
    const size = stat.size;
    if (size < 8) throw new SafetensorsError(filePath, `file is ${size} bytes, shorter than the 8-byte header length`);
    const prefix = Buffer.alloc(8);
    await readExactly(handle, prefix, 0, filePath);
    const n = checkHeaderLength(filePath, prefix.readBigUInt64LE(0), size);
    const rest = new Uint8Array(size - 8);
    await readExactly(handle, rest, 8, filePath);
    const { metadata, entries } = parseHeader(filePath, rest.subarray(0, n), size - 8 - n);
    return new SafetensorsFile(filePath, metadata, entries, rest.subarray(n));
  } finally {
    await handle.close();
  }
}

async function readExactly(handle: fsp.FileHandle, into: Uint8Array, position: number, file: string): Promise<void> {
  let done = 0;
  while (done < into.length) {
    const { bytesRead } = await handle.read(into, done, into.length - done, position + done);
    if (bytesRead === 0) throw new SafetensorsError(file, `file ended after ${position + done} bytes while reading; it changed or is truncated`);
    done += bytesRead;
  }
}

// ── writer ──────────────────────────────────────────────────────────────────

export interface TensorToWrite {
  name: string;
  shape: number[];
  data: Float32Array;
}

function normaliseTensors(tensors: ReadonlyMap<string, Float32Array> | readonly TensorToWrite[], file: string): TensorToWrite[] {
  const list: TensorToWrite[] =
    tensors instanceof Map
      ? [...tensors].map(([name, data]) => ({ name, shape: [data.length], data }))
      : [...(tensors as readonly TensorToWrite[])];
  const seen = new Set<string>();
  for (const t of list) {
    if (t.name === '__metadata__') throw new SafetensorsError(file, "'__metadata__' is reserved and cannot name a tensor", t.name);
    if (seen.has(t.name)) throw new SafetensorsError(file, 'duplicate tensor name', t.name);
    seen.add(t.name);
    if (!(t.data instanceof Float32Array)) throw new SafetensorsError(file, 'data must be a Float32Array', t.name);
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new SafetensorsError(file, `shape [${t.shape.join(', ')}] must hold non-negative integers`, t.name);
    }
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) {
      throw new SafetensorsError(file, `shape [${t.shape.join(', ')}] holds ${count} values but data has ${t.data.length}`, t.name);
    }
  }
  return list;
}

/** Serialises float32 tensors (header padded with spaces to a multiple of 8 bytes). */
export function serializeSafetensors(
  tensors: ReadonlyMap<string, Float32Array> | readonly TensorToWrite[],
  metadata?: Record<string, string>,
  file = '(buffer)',
): Uint8Array {
  const list = normaliseTensors(tensors, file);
  const header: Record<string, unknown> = {};
  if (metadata) {
    const parsed = metadataSchema.safeParse(metadata);
    if (!parsed.success) throw new SafetensorsError(file, `metadata must map strings to strings (${zodProblem(parsed.error)})`);
    header.__metadata__ = parsed.data;
  }
  let offset = 0;
  for (const t of list) {
    const bytes = t.data.length * 4;
    Object.defineProperty(header, t.name, {
      value: { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + bytes] },
      enumerable: true,
      writable: true,
      configurable: true,
    });
    offset += bytes;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) json = Buffer.concat([json, Buffer.alloc(padded - json.length, 0x20)]);
  const out = new Uint8Array(8 + json.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const t of list) {
    for (let i = 0; i < t.data.length; i++) view.setFloat32(at + i * 4, t.data[i], true);
    at += t.data.length * 4;
  }
  return out;
}

/**
 * Writes `bytes` to `target` atomically: a temp file in the same folder,
 * fsync, rename over the target, then fsync the folder. A crash leaves either
 * the old file or the new one, never a half-written file.
 */
export async function writeFileAtomic(target: string, bytes: Uint8Array | string): Promise<void> {
  const dir = path.dirname(target);
  const temp = path.join(dir, `.${path.basename(target)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await fsp.open(temp, 'wx', 0o644);
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } catch (err) {
    await handle.close().catch(() => undefined);
    await fsp.rm(temp, { force: true });
    throw err;
  }
  await handle.close();
  try {
    await fsp.rename(temp, target);
  } catch (err) {
    await fsp.rm(temp, { force: true });
    throw err;
  }
  try {
    const dirHandle = await fsp.open(dir, 'r');
    try {
      await dirHandle.sync();
    } finally {
      await dirHandle.close();
    }
  } catch {
    // Some filesystems refuse fsync on a directory; the rename itself is still atomic.
  }
}

/**
 * Writes float32 tensors as a safetensors file, atomically. A Map gives 1-D
 * tensors (shape [length]); the list form carries explicit shapes.
 */
export async function writeSafetensors(
  filePath: string,
  tensors: ReadonlyMap<string, Float32Array> | readonly TensorToWrite[],
  metadata?: Record<string, string>,
): Promise<void> {
  const bytes = serializeSafetensors(tensors, metadata, filePath);
  await writeFileAtomic(filePath, bytes);
}
