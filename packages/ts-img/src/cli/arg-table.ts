import type { Argv } from 'yargs';

/**
 * A command's positionals and options written once, as data: yargs is given them by
 * `yargsArgs` (help, errors, every command) and lean-args.ts parses the hot commands from the same
 * table without loading yargs, so the two cannot disagree on a name, an alias or a default.
 */
export interface OptionSpec {
  /** As written on the command line, kebab-case; the parsed value is under its camelCase form. */
  name: string;
  alias?: string;
  /** Left out where yargs is given none today (--pull: its error texts depend on it). */
  type?: 'string' | 'boolean' | 'number';
  choices?: string[];
  default?: string | boolean | number;
  requiresArg?: boolean;
  describe: string;
}

export interface PositionalSpec {
  name: string;
  /** `<name>` (and yargs' demandOption) rather than `[name]`. */
  required?: boolean;
  describe: string;
}

export interface ArgTable {
  positionals: PositionalSpec[];
  options: OptionSpec[];
}

/** The yargs command string: `unpack [source] [bundle]`, `mount <bundle>`. */
export function usage(name: string, t: ArgTable): string {
  return [name, ...t.positionals.map((p) => (p.required ? `<${p.name}>` : `[${p.name}]`))].join(' ');
}

export function camelCase(name: string): string {
  return name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** The fields of a spec yargs takes, the unset ones left out (as the literal objects had them). */
function defined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export function yargsOptions<T>(y: Argv<T>, options: OptionSpec[]): Argv<T> {
  for (const { name, alias, type, choices, default: dflt, requiresArg, describe } of options) {
    y = y.option(name, defined({ alias, type, choices, default: dflt, requiresArg, describe })) as Argv<T>;
  }
  return y;
}

/** The yargs builder of a table: options first, then positionals (the order the help lists). */
export function yargsArgs<T>(y: Argv<T>, t: ArgTable): Argv<T> {
  y = yargsOptions(y, t.options);
  for (const p of t.positionals) {
    y = y.positional(p.name, defined({ type: 'string' as const, demandOption: p.required || undefined, describe: p.describe })) as Argv<T>;
  }
  return y;
}
