/**
 * `jepa` entry: dispatches to the sub-commands in ./commands, prints the
 * command list, and maps errors to exit codes (2 = usage, 1 = failure).
 */
import { type Command, CliUsageError, helpText, parseCommandArgs } from './command';
import { commands } from './commands';

function usage(): string {
  const width = Math.max(...commands.map((c) => c.name.length)) + 4;
  return [
    'jepa — objective-driven robot control with learned world models',
    '',
    'Usage: jepa <command> [flags]     (jepa <command> --help for its flags)',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    '',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  const cmd = commands.find((c) => c.name === name) as Command | undefined;
  if (!cmd) {
    process.stderr.write(`jepa: unknown command '${name}'\n\n${usage()}`);
    return 2;
  }
  try {
    const options = parseCommandArgs(cmd, rest);
    if (options === 'help') {
      process.stdout.write(helpText(cmd));
      return 0;
    }
    const json = typeof options === 'object' && options !== null && (options as { json?: boolean }).json === true;
    return await cmd.run(options, {
      log: (line) => {
        if (!json) process.stderr.write(line + '\n');
      },
      stdout: process.stdout,
      stderr: process.stderr,
      interactive: Boolean(process.stderr.isTTY) && !json,
    });
  } catch (e) {
    if (e instanceof CliUsageError) {
      process.stderr.write(e.message + '\n');
      return 2;
    }
    const err = e as Error;
    process.stderr.write(`jepa ${name}: ${err.name && err.name !== 'Error' ? `${err.name}: ` : ''}${err.message}\n`);
    if (process.env.JEPA_DEBUG) process.stderr.write(`${err.stack}\n`);
    return 1;
  }
}
