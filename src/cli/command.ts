/**
 * The CLI's command frame: every `jepa` sub-command declares its flags once
 * (name, type, description, default) plus a zod schema for the parsed values;
 * this module parses argv with node's util.parseArgs, validates with zod,
 * prints `--help` from the declarations, and turns bad flags into a
 * CliUsageError that names the flag and what was expected.
 */
import { parseArgs } from 'node:util';
import type { z } from 'zod';

export interface FlagSpec {
  type: 'string' | 'boolean';
  description: string;
  short?: string;
  /** Shown in --help; the zod schema applies the real default. */
  defaultText?: string;
  multiple?: boolean;
}

export interface CommandContext {
  /** Writes human-readable progress (stderr) unless --json asked for machine output only. */
  log: (line: string) => void;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** Is stderr a terminal (live progress bars) or a pipe/CI log (one line per update)? */
  interactive: boolean;
}

export interface Command<S extends z.ZodType = z.ZodType> {
  name: string;
  summary: string;
  /** Positional arguments, in order, for --help. */
  positionals?: { name: string; description: string }[];
  flags: Record<string, FlagSpec>;
  /** Receives { ...flags, positionals: string[] } with strings as typed on the command line. */
  schema: S;
  run(options: z.infer<S>, ctx: CommandContext): Promise<number>;
}

export class CliUsageError extends Error {
  override name = 'CliUsageError';
  constructor(
    readonly command: string,
    message: string,
  ) {
    super(`jepa ${command}: ${message}\nRun 'jepa ${command} --help' for usage.`);
  }
}

export function helpText(cmd: Command): string {
  const pos = (cmd.positionals ?? []).map((p) => ` <${p.name}>`).join('');
  const lines = [`jepa ${cmd.name}${pos} [flags]`, '', cmd.summary, ''];
  if (cmd.positionals?.length) {
    lines.push('Arguments:');
    for (const p of cmd.positionals) lines.push(`  <${p.name}>`.padEnd(26) + p.description);
    lines.push('');
  }
  lines.push('Flags:');
  const flags: [string, FlagSpec][] = [...Object.entries(cmd.flags), ['help', { type: 'boolean', description: 'Show this help.' }]];
  for (const [name, f] of flags) {
    const head = `  ${f.short ? `-${f.short}, ` : ''}--${name}${f.type === 'string' ? ' <value>' : ''}`;
    lines.push(head.padEnd(26) + f.description + (f.defaultText !== undefined ? ` (default: ${f.defaultText})` : ''));
  }
  return lines.join('\n') + '\n';
}

/** Parses and validates argv for one command. Throws CliUsageError on bad input. */
export function parseCommandArgs<S extends z.ZodType>(cmd: Command<S>, argv: string[]): z.infer<S> | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        ...Object.fromEntries(
          Object.entries(cmd.flags).map(([k, f]) => [
            k,
            { type: f.type, ...(f.short ? { short: f.short } : {}), ...(f.multiple ? { multiple: true } : {}) },
          ]),
        ),
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    throw new CliUsageError(cmd.name, (e as Error).message);
  }
  if (parsed.values.help) return 'help';
  const { help: _help, ...values } = parsed.values as Record<string, unknown>;
  const expected = cmd.positionals?.length ?? 0;
  if (parsed.positionals.length > expected) {
    throw new CliUsageError(cmd.name, `unexpected argument '${parsed.positionals[expected]}'`);
  }
  const result = cmd.schema.safeParse({ ...values, positionals: parsed.positionals });
  if (!result.success) {
    const problems = result.error.issues.map((i) => {
      const key = i.path[0] === 'positionals' ? `<${cmd.positionals?.[Number(i.path[1] ?? 0)]?.name ?? 'argument'}>` : `--${String(i.path[0])}`;
      return `${key}: ${i.message}`;
    });
    throw new CliUsageError(cmd.name, problems.join('; '));
  }
  return result.data;
}
