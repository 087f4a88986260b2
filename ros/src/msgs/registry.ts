/**
 * ROS 2 interface definitions (.msg, .srv, .action) as the runtime sees them:
 * loaded from real package trees (`<pkg>/msg/*.msg`, `<pkg>/srv/*.srv`,
 * `<pkg>/action/*.action`), expanded into the ros2msg schema text that
 * rosbag2 writes into MCAP files, and turned into CDR codecs
 * (@foxglove/rosmsg2-serialization). Services and actions expand into the
 * message types rosidl generates for them (`_Request`/`_Response`,
 * `_Goal`/`_Result`/`_Feedback`, `_SendGoal_Request`, `_FeedbackMessage`…).
 *
 * Type names are accepted as `pkg/msg/Name` or `pkg/Name`; keys are always
 * `pkg/<kind>/Name`.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { MessageDefinition } from '@foxglove/message-definition';
import { parse } from '@foxglove/rosmsg';
import { MessageReader, MessageWriter } from '@foxglove/rosmsg2-serialization';

const PRIMITIVES = new Set([
  'bool', 'byte', 'char', 'float32', 'float64', 'int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32',
  'int64', 'uint64', 'string', 'wstring', 'time', 'duration',
]);
const SEPARATOR = '='.repeat(80);

export class MessageDefinitionError extends Error {
  override name = 'MessageDefinitionError';
}

export interface MessageCodec<T = Record<string, unknown>> {
  readonly type: string;
  encode(message: T): Uint8Array;
  decode(bytes: ArrayBufferView): T;
}

/** `pkg/Name` or `pkg/msg/Name` → `pkg/msg/Name` (kind kept when given). */
export function normalizeTypeName(type: string): string {
  const parts = type.split('/');
  if (parts.length === 2) return `${parts[0]}/msg/${parts[1]}`;
  if (parts.length === 3 && parts.every((p) => p.length > 0)) return type;
  throw new MessageDefinitionError(`'${type}' is not a ROS 2 type name (expected pkg/Name or pkg/msg/Name)`);
}

function shortName(fullName: string): string {
  const [pkg, , name] = fullName.split('/');
  return `${pkg}/${name}`;
}

/** Splits a .srv/.action body on its `---` separator lines. */
function splitSections(text: string): string[] {
  return text.split(/^---[ \t]*$/m);
}

export class MessageRegistry {
  readonly #texts = new Map<string, { text: string; source: string }>();
  readonly #codecs = new Map<string, MessageCodec>();

  /** Scans package trees for msg/srv/action folders; the folder above each is the package name. */
  static fromDirectories(roots: string[]): MessageRegistry {
    const reg = new MessageRegistry();
    for (const root of roots) reg.addTree(root);
    return reg;
  }

  addTree(root: string): void {
    let entries: string[];
    try {
      entries = readdirSync(root);
    } catch (e) {
      throw new MessageDefinitionError(`cannot read interface folder ${root}: ${(e as Error).message}`);
    }
    for (const entry of entries) {
      const path = join(root, entry);
      if (!statSync(path).isDirectory()) continue;
      if (entry === 'msg' || entry === 'srv' || entry === 'action') {
        const pkg = basename(root);
        for (const file of readdirSync(path)) {
          const m = /^(\w+)\.(msg|srv|action)$/.exec(file);
          if (m && m[2] === entry) this.addFile(join(path, file), `${pkg}/${entry}/${m[1]}`);
        }
      } else {
        this.addTree(path);
      }
    }
  }

  /** Adds one interface file under an explicit full name (e.g. a release-specific action file). */
  addFile(path: string, fullName: string): void {
    this.addText(fullName, readFileSync(path, 'utf8'), path);
  }

  addText(fullName: string, text: string, source = fullName): void {
    const [pkg, kind, name] = normalizeTypeName(fullName).split('/') as [string, string, string];
    this.#codecs.clear();
    if (kind === 'msg') {
      this.#texts.set(`${pkg}/msg/${name}`, { text, source });
      return;
    }
    const sections = splitSections(text);
    const base = `${pkg}/${kind}/${name}`;
    if (kind === 'srv') {
      if (sections.length !== 2) throw new MessageDefinitionError(`${source}: a .srv needs exactly one '---' separator, found ${sections.length - 1}`);
      this.#texts.set(`${base}_Request`, { text: sections[0]!, source });
      this.#texts.set(`${base}_Response`, { text: sections[1]!, source });
      return;
    }
    if (kind !== 'action') throw new MessageDefinitionError(`${source}: unknown interface kind '${kind}'`);
    if (sections.length !== 3) throw new MessageDefinitionError(`${source}: an .action needs exactly two '---' separators, found ${sections.length - 1}`);
    const [goal, result, feedback] = sections as [string, string, string];
    const q = (suffix: string) => `${pkg}/${name}_${suffix}`;
    this.#texts.set(`${base}_Goal`, { text: goal, source });
    this.#texts.set(`${base}_Result`, { text: result, source });
    this.#texts.set(`${base}_Feedback`, { text: feedback, source });
    this.#texts.set(`${base}_SendGoal_Request`, { text: `unique_identifier_msgs/UUID goal_id\n${q('Goal')} goal\n`, source });
    this.#texts.set(`${base}_SendGoal_Response`, { text: 'bool accepted\nbuiltin_interfaces/Time stamp\n', source });
    this.#texts.set(`${base}_GetResult_Request`, { text: 'unique_identifier_msgs/UUID goal_id\n', source });
    this.#texts.set(`${base}_GetResult_Response`, { text: `int8 status\n${q('Result')} result\n`, source });
    this.#texts.set(`${base}_FeedbackMessage`, { text: `unique_identifier_msgs/UUID goal_id\n${q('Feedback')} feedback\n`, source });
  }

  has(type: string): boolean {
    return this.#resolve(type) !== undefined;
  }

  types(): string[] {
    return [...this.#texts.keys()].sort();
  }

  /** Finds a key for a type; generated action/srv types are written `pkg/Name_Suffix` inside texts. */
  #resolve(type: string): string | undefined {
    const parts = type.split('/');
    if (parts.length === 3) return this.#texts.has(type) ? type : undefined;
    if (parts.length !== 2) return undefined;
    for (const kind of ['msg', 'action', 'srv']) {
      const key = `${parts[0]}/${kind}/${parts[1]}`;
      if (this.#texts.has(key)) return key;
    }
    return undefined;
  }

  /** Rewrites unqualified same-package complex field types as `pkg/Type`, as ros2msg schemas need. */
  #qualified(key: string): { text: string; deps: string[] } {
    const entry = this.#texts.get(key)!;
    const pkg = key.split('/')[0]!;
    const deps: string[] = [];
    const lines = entry.text.split('\n').map((raw) => {
      const line = raw.replace(/#.*$/, '').trim();
      const m = /^([A-Za-z_][\w/]*)(\[[^\]]*\])?\s+(\w+)(.*)$/.exec(line);
      if (!m) return raw;
      let base = m[1]!;
      if (PRIMITIVES.has(base) || base === 'builtin_interfaces/Time' || base === 'builtin_interfaces/Duration') return raw;
      if (base === 'Header') base = 'std_msgs/Header';
      if (!base.includes('/')) base = `${pkg}/${base}`;
      const parts = base.split('/');
      const depName = parts.length === 3 ? `${parts[0]}/${parts[2]}` : base;
      const depKey = this.#resolve(depName);
      if (!depKey) {
        throw new MessageDefinitionError(
          `${entry.source}: field '${m[3]}' of ${key} has type '${m[1]}', which is not among the loaded definitions (add its package folder)`,
        );
      }
      deps.push(depKey);
      return `${depName}${m[2] ?? ''} ${m[3]}${m[4] ?? ''}`;
    });
    return { text: lines.join('\n'), deps };
  }

  /** The ros2msg schema text (root definition, then every dependency after a separator line). */
  schemaText(type: string): string {
    const root = this.#resolve(type.split('/').length === 3 ? type : type);
    if (!root) throw new MessageDefinitionError(`unknown ROS 2 type '${type}' (loaded: ${this.#texts.size} types)`);
    const seen = new Set<string>([root]);
    const order: string[] = [];
    const rootQ = this.#qualified(root);
    const queue = [...rootQ.deps];
    while (queue.length) {
      const dep = queue.shift()!;
      if (seen.has(dep)) continue;
      seen.add(dep);
      order.push(dep);
      queue.push(...this.#qualified(dep).deps);
    }
    const parts = [rootQ.text.trimEnd()];
    for (const dep of order) parts.push(`${SEPARATOR}\nMSG: ${shortName(dep)}\n${this.#qualified(dep).text.trimEnd()}`);
    return parts.join('\n') + '\n';
  }

  definitions(type: string): MessageDefinition[] {
    return parseSchema(this.schemaText(type), type);
  }

  codec<T = Record<string, unknown>>(type: string): MessageCodec<T> {
    const key = this.#resolve(type);
    if (!key) throw new MessageDefinitionError(`unknown ROS 2 type '${type}'`);
    let codec = this.#codecs.get(key);
    if (!codec) {
      codec = codecFromDefinitions(key, this.definitions(key));
      this.#codecs.set(key, codec);
    }
    return codec as MessageCodec<T>;
  }
}

export function parseSchema(schemaText: string, type: string): MessageDefinition[] {
  try {
    return parse(schemaText, { ros2: true });
  } catch (e) {
    throw new MessageDefinitionError(`cannot parse the definition of ${type}: ${(e as Error).message}`);
  }
}

export function codecFromDefinitions<T = Record<string, unknown>>(type: string, defs: MessageDefinition[]): MessageCodec<T> {
  const reader = new MessageReader(defs);
  const writer = new MessageWriter(defs);
  return {
    type,
    encode: (message) => {
      try {
        return writer.writeMessage(message);
      } catch (e) {
        throw new MessageDefinitionError(`cannot encode a ${type}: ${(e as Error).message}`);
      }
    },
    decode: (bytes) => {
      try {
        return reader.readMessage<T>(bytes);
      } catch (e) {
        throw new MessageDefinitionError(`cannot decode a ${type} (${bytes.byteLength} bytes): ${(e as Error).message}`);
      }
    },
  };
}
