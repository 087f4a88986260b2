// The `jepa` sub-commands, in the order `jepa --help` lists them.
import type { Command } from '../command';
import { demoCommand, evalCommand, runCommand } from './episodes';
import { inspectCommand } from './inspect';

export const commands: Command[] = [demoCommand, runCommand, evalCommand, inspectCommand] as unknown as Command[];
