// The `jepa` sub-commands, in the order `jepa --help` lists them.
import type { Command } from '../command';
import { demoCommand, evalCommand, reportCommand, runCommand } from './episodes';
import { benchCommand, collectCommand } from './data';
import { inspectCommand } from './inspect';
import { recordCommand } from './record';
import { replayCommand } from './replay';
import { surpriseCommand } from './surprise';
import { trainCommand } from './train';

export const commands: Command[] = [demoCommand, runCommand, evalCommand, reportCommand, collectCommand, trainCommand, surpriseCommand, benchCommand, inspectCommand, recordCommand, replayCommand] as unknown as Command[];
