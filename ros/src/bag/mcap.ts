/**
 * rosbag2 MCAP files: reading (indexed, zstd/lz4-free chunks or zstd
 * chunks, single files or a rosbag2 folder of split files) and writing
 * (ros2msg schemas, CDR messages, chunked and indexed, written to a temporary
 * name and renamed on close so an interrupted recording never leaves a
 * truncated bag under the final name). Messages come back as raw CDR with a
 * lazy decoder built from the schema text stored in the file itself, so a bag
 * recorded on another ROS 2 release decodes with its own definitions.
 */
import { closeSync, fsyncSync, openSync, readdirSync, readSync, renameSync, statSync, writeSync, fstatSync, unlinkSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { McapIndexedReader, McapWriter, type McapTypes } from '@mcap/core';
import { decompress as zstdDecompress } from 'fzstd';
import type { MessageDefinition } from '@foxglove/message-definition';
import { type MessageCodec, codecFromDefinitions, parseSchema } from '../msgs/registry';

const SEPARATOR_LINE = /^={80}\s*$/m;

/** service_msgs/msg/ServiceEventInfo (ROS 2 Iron and later). */
const SERVICE_EVENT_INFO = [
  'uint8 REQUEST_SENT = 0',
  'uint8 REQUEST_RECEIVED = 1',
  'uint8 RESPONSE_SENT = 2',
  'uint8 RESPONSE_RECEIVED = 3',
  'uint8 event_type',
  'builtin_interfaces/Time stamp',
  'char[16] client_gid',
  'int64 sequence_number',
].join('\n');

/**
 * Definitions for a schema stored in a bag. rosbag2 stores a service event
 * topic's schema (`pkg/srv/Name_Event`) as the .srv text itself — request,
 * `---`, response — not as the event message that is on the wire; this
 * rebuilds the event layout (info, request[<=1], response[<=1]) from it.
 */
export function bagSchemaDefinitions(name: string, text: string): MessageDefinition[] {
  const sep = SEPARATOR_LINE.exec(text);
  const head = sep ? text.slice(0, sep.index) : text;
  const deps = sep ? text.slice(sep.index) : '';
  const parts = head.split(/^---[ \t]*$/m);
  if (parts.length === 1) return parseSchema(text, name);
  const m = /^(\w+)\/srv\/(\w+)_Event$/.exec(name);
  if (!m || parts.length !== 2) {
    throw new BagError(`schema ${name} has ${parts.length - 1} '---' separators; only a service event schema (pkg/srv/Name_Event) may have one`);
  }
  const [, pkg, srv] = m;
  const bar = '='.repeat(80);
  const full = [
    `service_msgs/ServiceEventInfo info\n${pkg}/${srv}_Request[<=1] request\n${pkg}/${srv}_Response[<=1] response`,
    `${bar}\nMSG: service_msgs/ServiceEventInfo\n${SERVICE_EVENT_INFO}`,
    `${bar}\nMSG: ${pkg}/${srv}_Request\n${parts[0]!.trim()}`,
    `${bar}\nMSG: ${pkg}/${srv}_Response\n${parts[1]!.trim()}`,
  ].join('\n');
  return parseSchema(`${full}\n${deps}`, name);
}

export class BagError extends Error {
  override name = 'BagError';
}

export interface BagTopic {
  topic: string;
  type: string;
  messageCount: number;
  schemaEncoding: string;
  messageEncoding: string;
}

export interface BagMessage {
  topic: string;
  type: string;
  /** Receive time in nanoseconds since the epoch. */
  logTime_ns: bigint;
  cdr: Uint8Array;
  decode<T = Record<string, unknown>>(): T;
}

class FileReadable implements McapTypes.IReadable {
  constructor(
    private readonly fd: number,
    private readonly bytes: bigint,
  ) {}
  async size(): Promise<bigint> {
    return this.bytes;
  }
  async read(offset: bigint, size: bigint): Promise<Uint8Array> {
    if (offset + size > this.bytes) throw new BagError(`read past the end of the file (${offset}+${size} > ${this.bytes})`);
    const buf = new Uint8Array(Number(size));
    let done = 0;
    while (done < buf.length) {
      const n = readSync(this.fd, buf, done, buf.length - done, Number(offset) + done);
      if (n === 0) throw new BagError('unexpected end of file');
      done += n;
    }
    return buf;
  }
}

const decompressHandlers = {
  zstd: (data: Uint8Array, size: bigint) => {
    const out = zstdDecompress(data, new Uint8Array(Number(size)));
    if (out.length !== Number(size)) throw new BagError(`zstd chunk decompressed to ${out.length} bytes, expected ${size}`);
    return out;
  },
};

/** The .mcap files of a bag: the file itself, or a rosbag2 folder's files in split order. */
export function bagFiles(path: string): string[] {
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new BagError(`${path}: no such bag file or folder`);
  }
  if (st.isFile()) return [path];
  const files = readdirSync(path)
    .filter((f) => f.endsWith('.mcap'))
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  if (files.length === 0) throw new BagError(`${path}: the folder holds no .mcap file`);
  return files.map((f) => join(path, f));
}

interface OpenFile {
  path: string;
  fd: number;
  reader: McapIndexedReader;
}

export class BagReader {
  private constructor(
    private readonly files: OpenFile[],
    readonly topics: BagTopic[],
  ) {}

  static async open(path: string): Promise<BagReader> {
    const files: OpenFile[] = [];
    try {
      for (const file of bagFiles(path)) {
        const fd = openSync(file, 'r');
        files.push({ path: file, fd, reader: undefined as unknown as McapIndexedReader });
        try {
          files[files.length - 1]!.reader = await McapIndexedReader.Initialize({
            readable: new FileReadable(fd, BigInt(fstatSync(fd).size)),
            decompressHandlers,
          });
        } catch (e) {
          throw new BagError(`${file}: not a readable indexed MCAP file: ${(e as Error).message}`);
        }
      }
    } catch (e) {
      for (const f of files) closeSync(f.fd);
      throw e;
    }
    const byTopic = new Map<string, BagTopic>();
    for (const { reader } of files) {
      for (const ch of reader.channelsById.values()) {
        const schema = reader.schemasById.get(ch.schemaId);
        const count = Number(reader.statistics?.channelMessageCounts.get(ch.id) ?? 0n);
        const prev = byTopic.get(ch.topic);
        if (prev) prev.messageCount += count;
        else
          byTopic.set(ch.topic, {
            topic: ch.topic,
            type: schema?.name ?? '',
            messageCount: count,
            schemaEncoding: schema?.encoding ?? '',
            messageEncoding: ch.messageEncoding,
          });
      }
    }
    return new BagReader(files, [...byTopic.values()].sort((a, b) => a.topic.localeCompare(b.topic)));
  }

  /** Messages in log-time order within each file (files in split order). */
  async *messages(options: { topics?: string[] } = {}): AsyncGenerator<BagMessage> {
    for (const { path, reader } of this.files) {
      const codecs = new Map<number, MessageCodec>();
      const codecFor = (channelId: number): MessageCodec => {
        let c = codecs.get(channelId);
        if (!c) {
          const ch = reader.channelsById.get(channelId)!;
          const schema = reader.schemasById.get(ch.schemaId);
          if (!schema || schema.encoding !== 'ros2msg' || ch.messageEncoding !== 'cdr') {
            throw new BagError(`${path}: topic ${ch.topic} is ${schema?.encoding ?? 'schemaless'}/${ch.messageEncoding}, only ros2msg/cdr decodes`);
          }
          c = codecFromDefinitions(schema.name, bagSchemaDefinitions(schema.name, new TextDecoder().decode(schema.data)));
          codecs.set(channelId, c);
        }
        return c;
      };
      for await (const m of reader.readMessages({ topics: options.topics, validateCrcs: true })) {
        const ch = reader.channelsById.get(m.channelId)!;
        const type = reader.schemasById.get(ch.schemaId)?.name ?? '';
        yield {
          topic: ch.topic,
          type,
          logTime_ns: m.logTime,
          cdr: m.data,
          decode: <T>() => codecFor(m.channelId).decode(m.data) as T,
        };
      }
    }
  }

  close(): void {
    for (const f of this.files) closeSync(f.fd);
    this.files.length = 0;
  }
}

class FileWritable {
  #pos = 0n;
  constructor(private readonly fd: number) {}
  async write(buffer: Uint8Array): Promise<void> {
    let done = 0;
    while (done < buffer.length) done += writeSync(this.fd, buffer, done, buffer.length - done);
    this.#pos += BigInt(buffer.length);
  }
  position(): bigint {
    return this.#pos;
  }
}

/** Records CDR messages into one MCAP file in the rosbag2 layout (profile ros2, ros2msg schemas). */
export class BagWriter {
  readonly #channels = new Map<string, { id: number; type: string }>();
  readonly #seq = new Map<number, number>();
  #closed = false;

  private constructor(
    readonly path: string,
    private readonly tmpPath: string,
    private readonly fd: number,
    private readonly writer: McapWriter,
  ) {}

  static async create(path: string): Promise<BagWriter> {
    if (!path.endsWith('.mcap')) throw new BagError(`${path}: a bag file name must end in .mcap`);
    const tmp = join(dirname(path), `.${basename(path)}.partial`);
    const fd = openSync(tmp, 'w');
    const writer = new McapWriter({ writable: new FileWritable(fd), useStatistics: true, useChunks: true, useChunkIndex: true, useMessageIndex: true, useSummaryOffsets: true });
    await writer.start({ profile: 'ros2', library: 'jepa-runtime' });
    return new BagWriter(path, tmp, fd, writer);
  }

  async addTopic(topic: string, type: string, schemaText: string): Promise<void> {
    if (this.#channels.has(topic)) {
      if (this.#channels.get(topic)!.type !== type) throw new BagError(`topic ${topic} already recorded as ${this.#channels.get(topic)!.type}`);
      return;
    }
    parseSchema(schemaText, type); // refuse a schema a reader could not parse
    const schemaId = await this.writer.registerSchema({ name: type, encoding: 'ros2msg', data: new TextEncoder().encode(schemaText) });
    const id = await this.writer.registerChannel({ topic, schemaId, messageEncoding: 'cdr', metadata: new Map([['offered_qos_profiles', '']]) });
    this.#channels.set(topic, { id, type });
  }

  async write(topic: string, cdr: Uint8Array, logTime_ns: bigint): Promise<void> {
    if (this.#closed) throw new BagError(`${this.path}: the bag was closed`);
    const ch = this.#channels.get(topic);
    if (!ch) throw new BagError(`${this.path}: topic ${topic} was not added before writing`);
    const sequence = (this.#seq.get(ch.id) ?? 0) + 1;
    this.#seq.set(ch.id, sequence);
    await this.writer.addMessage({ channelId: ch.id, sequence, logTime: logTime_ns, publishTime: logTime_ns, data: cdr });
  }

  /** Finishes the summary, syncs, and renames the file to its final name. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.writer.end();
    fsyncSync(this.fd);
    closeSync(this.fd);
    renameSync(this.tmpPath, this.path);
  }

  /** Drops an unfinished recording (nothing is left under the final name). */
  abort(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeSync(this.fd);
    unlinkSync(this.tmpPath);
  }
}
