import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ReconError } from '../errors.js';

export interface CommandSpec<O extends ParseArgsConfig['options']> {
  name: string;
  usage: string;
  options: O;
}

/** Parses a command's flags; an unknown or malformed flag is a usage error (exit 2). */
export function parseCommandArgs<O extends NonNullable<ParseArgsConfig['options']>>(spec: CommandSpec<O>, argv: string[]) {
  try {
    return parseArgs({ args: argv, options: { ...spec.options, help: { type: 'boolean', short: 'h' } }, allowPositionals: false, strict: true });
  } catch (err) {
    throw new ReconError('USAGE', `${spec.name}: ${(err as Error).message.split('\n')[0]}\n${spec.usage}`);
  }
}
