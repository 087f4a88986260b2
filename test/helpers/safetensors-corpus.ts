/**
 * Test fixtures for safetensors readers: an encoder for well-formed files and
 * a corpus of malformed files, one per format rule, each with the part of the
 * error message a reader must give. Shared by the native reader's tests and
 * any TypeScript reader (use `rule` to map to your own wording when it differs).
 */

export interface MalformedSafetensors {
  /** Short file-name-safe id. */
  name: string;
  /** The format rule the file breaks. */
  rule: string;
  bytes: Uint8Array;
  /** A substring the native reader's error message contains. */
  expectedMessagePart: string;
  /** The tensor the error names, when the problem is about one tensor. */
  expectedTensor?: string;
}

/** 8-byte little-endian length, the header bytes, then the data. */
export function encodeSafetensorsRaw(header: string | Uint8Array, data: Uint8Array = new Uint8Array(0), headerLength?: bigint): Uint8Array {
  const h = typeof header === 'string' ? new TextEncoder().encode(header) : header;
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, headerLength ?? BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

export interface TensorToEncode {
  name: string;
  dtype: string;
  shape: number[];
  /** Raw little-endian bytes of the tensor. */
  data: Uint8Array;
}

/** A well-formed file: tensors laid out in the given order, header padded with spaces to 8 bytes. */
export function encodeSafetensors(tensors: TensorToEncode[], metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.length] };
    offset += t.data.length;
  }
  let json = JSON.stringify(header);
  while ((8 + json.length) % 8 !== 0) json += ' ';
  const data = new Uint8Array(offset);
  let at = 0;
  for (const t of tensors) {
    data.set(t.data, at);
    at += t.data.length;
  }
  return encodeSafetensorsRaw(json, data);
}

function entry(dtype: string, shape: unknown[], offsets: unknown[]): string {
  return `{"dtype":${JSON.stringify(dtype)},"shape":${JSON.stringify(shape)},"data_offsets":${JSON.stringify(offsets)}}`;
}

/** One malformed file per validation rule. */
export function malformedSafetensorsCorpus(): MalformedSafetensors[] {
  const enc = (s: string) => new TextEncoder().encode(s);
  const okEntry = entry('F32', [2], [0, 8]);
  const eight = new Uint8Array(8);
  const c: MalformedSafetensors[] = [];
  const add = (m: MalformedSafetensors) => c.push(m);

  add({ name: 'too-short', rule: 'file holds the 8-byte header length', bytes: new Uint8Array(5), expectedMessagePart: 'starts with an 8-byte header length' });
  add({
    name: 'header-over-limit',
    rule: 'header length is capped before allocation',
    bytes: encodeSafetensorsRaw('{}', new Uint8Array(0), 100_000_001n),
    expectedMessagePart: 'exceeds the limit of 100000000 bytes',
  });
  add({
    name: 'header-length-huge',
    rule: 'header length is capped before allocation',
    bytes: encodeSafetensorsRaw('{}', new Uint8Array(0), 0xffff_ffff_ffff_fff0n),
    expectedMessagePart: 'exceeds the limit',
  });
  add({
    name: 'header-past-eof',
    rule: 'header length fits in the file',
    bytes: encodeSafetensorsRaw('{}', new Uint8Array(0), 1000n),
    expectedMessagePart: 'runs past the end of the file',
  });
  {
    const h = enc(`{"__metadata__":{"k":"a?b"}}`);
    h[h.indexOf(0x3f)] = 0xff;
    add({ name: 'invalid-utf8', rule: 'header is valid UTF-8', bytes: encodeSafetensorsRaw(h), expectedMessagePart: 'not valid UTF-8' });
  }
  {
    const h = enc(`{"__metadata__":{"k":"a??"}}`);
    const q = h.indexOf(0x3f);
    h[q] = 0xc0; // overlong encoding of '/'
    h[q + 1] = 0xaf;
    add({ name: 'overlong-utf8', rule: 'header is valid UTF-8', bytes: encodeSafetensorsRaw(h), expectedMessagePart: 'not valid UTF-8' });
  }
  {
    const h = enc(`{"__metadata__":{"k":"???"}}`);
    const q = h.indexOf(0x3f);
    h.set([0xed, 0xa0, 0x80], q); // UTF-8 encoded surrogate U+D800
    add({ name: 'surrogate-utf8', rule: 'header is valid UTF-8', bytes: encodeSafetensorsRaw(h), expectedMessagePart: 'not valid UTF-8' });
  }
  add({ name: 'json-truncated', rule: 'header is JSON', bytes: encodeSafetensorsRaw(`{"a":`), expectedMessagePart: 'not valid JSON' });
  add({ name: 'json-trailing-garbage', rule: 'nothing but whitespace after the JSON', bytes: encodeSafetensorsRaw(`{}  x`), expectedMessagePart: 'unexpected data after' });
  add({ name: 'json-trailing-comma', rule: 'header is strict JSON', bytes: encodeSafetensorsRaw(`{"__metadata__":{"a":"b",}}`), expectedMessagePart: 'expected a string key' });
  add({ name: 'json-single-quotes', rule: 'header is strict JSON', bytes: encodeSafetensorsRaw(`{'a':'b'}`), expectedMessagePart: 'not valid JSON' });
  add({ name: 'json-control-char', rule: 'strings escape control characters', bytes: encodeSafetensorsRaw(`{"__metadata__":{"a":"x\ty"}}`), expectedMessagePart: 'unescaped control character' });
  add({ name: 'json-bad-escape', rule: 'strings use valid escapes', bytes: encodeSafetensorsRaw(`{"__metadata__":{"a":"\\q"}}`), expectedMessagePart: "invalid escape '\\q'" });
  add({ name: 'json-lone-surrogate', rule: '\\u escapes pair surrogates', bytes: encodeSafetensorsRaw(`{"__metadata__":{"a":"\\ud800x"}}`), expectedMessagePart: 'unpaired surrogate' });
  add({ name: 'json-leading-zero', rule: 'numbers are strict JSON', bytes: encodeSafetensorsRaw(`{"t":${entry('F32', [2], [0, 8]).replace('[2]', '[02]')}}`, eight), expectedMessagePart: 'leading zeros' });
  add({
    name: 'json-too-deep',
    rule: 'nesting is bounded',
    bytes: encodeSafetensorsRaw(`{"__metadata__":${'['.repeat(200)}${']'.repeat(200)}}`),
    expectedMessagePart: 'nesting deeper than 64 levels',
  });
  add({ name: 'not-an-object', rule: 'header is a JSON object', bytes: encodeSafetensorsRaw(`[]`), expectedMessagePart: 'header must be a JSON object' });
  add({
    name: 'duplicate-key-in-entry',
    rule: 'duplicate JSON keys are refused',
    bytes: encodeSafetensorsRaw(`{"t":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, eight),
    expectedMessagePart: 'duplicate key "dtype"',
  });
  add({
    name: 'duplicate-tensor',
    rule: 'tensor names are unique',
    bytes: encodeSafetensorsRaw(`{"t":${okEntry},"t":${okEntry}}`, eight),
    expectedMessagePart: 'listed twice in the header',
    expectedTensor: 't',
  });
  add({
    name: 'metadata-not-object',
    rule: '__metadata__ is an object',
    bytes: encodeSafetensorsRaw(`{"__metadata__":"x"}`),
    expectedMessagePart: '__metadata__ must be an object',
  });
  add({
    name: 'metadata-non-string',
    rule: '__metadata__ values are strings',
    bytes: encodeSafetensorsRaw(`{"__metadata__":{"epoch":3}}`),
    expectedMessagePart: '__metadata__ value for key "epoch" must be a string',
  });
  add({ name: 'entry-not-object', rule: 'an entry is an object', bytes: encodeSafetensorsRaw(`{"t":[1,2]}`), expectedMessagePart: 'entry must be an object', expectedTensor: 't' });
  add({
    name: 'entry-extra-field',
    rule: 'an entry has exactly dtype, shape, data_offsets',
    bytes: encodeSafetensorsRaw(`{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"stride":[1]}}`, eight),
    expectedMessagePart: 'unknown field "stride"',
    expectedTensor: 't',
  });
  add({
    name: 'entry-missing-offsets',
    rule: 'an entry has exactly dtype, shape, data_offsets',
    bytes: encodeSafetensorsRaw(`{"t":{"dtype":"F32","shape":[2]}}`, eight),
    expectedMessagePart: 'missing field "data_offsets"',
    expectedTensor: 't',
  });
  add({ name: 'dtype-not-string', rule: 'dtype is a string', bytes: encodeSafetensorsRaw(`{"t":{"dtype":4,"shape":[2],"data_offsets":[0,8]}}`, eight), expectedMessagePart: 'dtype must be a string', expectedTensor: 't' });
  add({ name: 'dtype-unknown', rule: 'dtype is a known name', bytes: encodeSafetensorsRaw(`{"t":${entry('F128', [2], [0, 8])}}`, eight), expectedMessagePart: 'unknown dtype "F128"', expectedTensor: 't' });
  add({ name: 'shape-not-array', rule: 'shape is an array', bytes: encodeSafetensorsRaw(`{"t":{"dtype":"F32","shape":2,"data_offsets":[0,8]}}`, eight), expectedMessagePart: 'shape must be an array', expectedTensor: 't' });
  add({ name: 'shape-negative', rule: 'shape holds non-negative integers', bytes: encodeSafetensorsRaw(`{"t":${entry('F32', [-2], [0, 8])}}`, eight), expectedMessagePart: '-2 is negative', expectedTensor: 't' });
  add({ name: 'shape-fraction', rule: 'shape holds integers', bytes: encodeSafetensorsRaw(`{"t":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}}`, eight), expectedMessagePart: '2.5 is not an integer', expectedTensor: 't' });
  add({ name: 'shape-string', rule: 'shape holds numbers', bytes: encodeSafetensorsRaw(`{"t":{"dtype":"F32","shape":["2"],"data_offsets":[0,8]}}`, eight), expectedMessagePart: 'dimension 0 is not a number', expectedTensor: 't' });
  add({
    name: 'shape-overflow',
    rule: 'element count x dtype size is checked for overflow',
    bytes: encodeSafetensorsRaw(`{"t":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}`, eight),
    expectedMessagePart: 'overflows 64 bits',
    expectedTensor: 't',
  });
  add({
    name: 'size-overflow',
    rule: 'element count x dtype size is checked for overflow',
    bytes: encodeSafetensorsRaw(`{"t":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,8]}}`, eight),
    expectedMessagePart: 'overflows 64 bits',
    expectedTensor: 't',
  });
  add({
    name: 'offset-too-large',
    rule: 'offsets fit in 64 bits',
    bytes: encodeSafetensorsRaw(`{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,18446744073709551616]}}`, eight),
    expectedMessagePart: 'does not fit in 64 bits',
    expectedTensor: 't',
  });
  add({ name: 'offsets-one-number', rule: 'data_offsets is [begin, end]', bytes: encodeSafetensorsRaw(`{"t":${entry('F32', [2], [8])}}`, eight), expectedMessagePart: 'data_offsets must be an array [begin, end]', expectedTensor: 't' });
  add({ name: 'offsets-reversed', rule: 'begin <= end', bytes: encodeSafetensorsRaw(`{"t":${entry('F32', [2], [8, 0])}}`, eight), expectedMessagePart: 'end before begin', expectedTensor: 't' });
  add({
    name: 'offsets-length-mismatch',
    rule: 'end - begin equals the tensor byte length',
    bytes: encodeSafetensorsRaw(`{"t":${entry('F32', [2], [0, 12])}}`, new Uint8Array(12)),
    expectedMessagePart: 'span 12 bytes but F32 [2] needs 8 bytes',
    expectedTensor: 't',
  });
  add({
    name: 'gap-at-start',
    rule: 'data starts at offset 0',
    bytes: encodeSafetensorsRaw(`{"t":${entry('F32', [2], [4, 12])}}`, new Uint8Array(12)),
    expectedMessagePart: 'gap of 4 unused bytes at the start of the data buffer',
    expectedTensor: 't',
  });
  add({
    name: 'gap-between',
    rule: 'no gaps between tensors',
    bytes: encodeSafetensorsRaw(`{"a":${entry('F32', [2], [0, 8])},"b":${entry('F32', [2], [12, 20])}}`, new Uint8Array(20)),
    expectedMessagePart: "gap of 4 unused bytes after tensor 'a'",
    expectedTensor: 'b',
  });
  add({
    name: 'overlap',
    rule: 'tensors do not overlap',
    bytes: encodeSafetensorsRaw(`{"a":${entry('F32', [2], [0, 8])},"b":${entry('F32', [2], [4, 12])}}`, new Uint8Array(12)),
    expectedMessagePart: "overlap tensor 'a'",
    expectedTensor: 'b',
  });
  add({
    name: 'trailing-bytes',
    rule: 'the data buffer is fully covered and the file ends with it',
    bytes: encodeSafetensorsRaw(`{"t":${okEntry}}`, new Uint8Array(12)),
    expectedMessagePart: 'not fully covered by tensors',
  });
  add({
    name: 'truncated-data',
    rule: 'the file holds all tensor data',
    bytes: encodeSafetensorsRaw(`{"t":${okEntry}}`, new Uint8Array(6)),
    expectedMessagePart: 'file truncated',
  });
  return c;
}
