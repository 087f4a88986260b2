// The `jepa` sub-commands, in the order `jepa --help` lists them.
import type { Command } from '../command';
import { inspectCommand } from './inspect';

export const commands: Command[] = [inspectCommand as unknown as Command];
