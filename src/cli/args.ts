import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ReconError } from '../errors.js';
import { parseBusinessDate } from './business-date.js';

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

export interface Period {
  from?: string;
  to?: string;
}

/** --date D, or --from D1 --to D2, as a period of business days; neither: the command's default. */
export function datePeriod(values: { date?: string; from?: string; to?: string }, usage: string): Period {
  if (values.date !== undefined && (values.from !== undefined || values.to !== undefined)) {
    throw new ReconError('USAGE', `--date cannot be combined with --from/--to\n${usage}`);
  }
  if ((values.from === undefined) !== (values.to === undefined)) throw new ReconError('USAGE', `--from and --to go together\n${usage}`);
  if (values.date !== undefined) {
    const d = parseBusinessDate(values.date, '--date');
    return { from: d, to: d };
  }
  if (values.from !== undefined && values.to !== undefined) {
    const from = parseBusinessDate(values.from, '--from');
    const to = parseBusinessDate(values.to, '--to');
    if (from > to) throw new ReconError('USAGE', `--from ${from} is after --to ${to}`);
    return { from, to };
  }
  return {};
}
