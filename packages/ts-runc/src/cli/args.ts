import { RuntimeError } from '../errors';

/**
 * runc's command line grammar (urfave/cli over Go's flag package): `-flag`, `--flag`,
 * `--flag=value`, `--flag value`, repeated flags for lists. Hand-written on purpose: yargs costs
 * about 35 ms of start-up per call (measured), and ts-runc is started for every container
 * operation an orchestrator makes.
 */
export type FlagKind = 'bool' | 'string' | 'int' | 'list';

export interface FlagSpec {
  name: string;
  alias?: string[];
  kind: FlagKind;
  help?: string;
  /** Accepted for compatibility; the value is parsed and ignored. */
  ignored?: boolean;
}

export type FlagValues = Record<string, string | boolean | number | string[] | undefined>;

export interface Parsed {
  flags: FlagValues;
  positionals: string[];
}

export interface ParseOptions {
  /** Stop flag parsing at the first positional (global flags; exec/ps trailing commands). */
  stopAtPositional?: boolean;
  /** With stopAtPositional: how many positionals to collect before the rest is taken verbatim. */
  positionalsBeforeRest?: number;
}

function lookup(specs: FlagSpec[], name: string): FlagSpec | undefined {
  return specs.find((f) => f.name === name || f.alias?.includes(name));
}

function parseBool(flag: string, v: string): boolean {
  if (/^(1|t|true)$/i.test(v)) return true;
  if (/^(0|f|false)$/i.test(v)) return false;
  throw new RuntimeError(`invalid boolean value "${v}" for -${flag}`);
}

export function parseArgs(argv: string[], specs: FlagSpec[], opts: ParseOptions = {}): Parsed {
  const flags: FlagValues = {};
  const positionals: string[] = [];
  const before = opts.positionalsBeforeRest ?? 0;
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      return { flags, positionals };
    }
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
      if (opts.stopAtPositional && positionals.length > before) {
        positionals.push(...argv.slice(i + 1));
        return { flags, positionals };
      }
      continue;
    }
    const body = arg.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const name = eq >= 0 ? body.slice(0, eq) : body;
    const spec = lookup(specs, name);
    if (!spec) throw new RuntimeError(`flag provided but not defined: -${name}`);
    let value: string | undefined = eq >= 0 ? body.slice(eq + 1) : undefined;
    if (spec.kind === 'bool') {
      flags[spec.name] = value === undefined ? true : parseBool(name, value);
      continue;
    }
    if (value === undefined) {
      if (i + 1 >= argv.length) throw new RuntimeError(`flag needs an argument: -${name}`);
      value = argv[++i];
    }
    if (spec.kind === 'int') {
      if (!/^-?\d+$/.test(value)) throw new RuntimeError(`invalid value "${value}" for flag -${name}: parse error`);
      flags[spec.name] = Number(value);
    } else if (spec.kind === 'list') {
      const prev = (flags[spec.name] as string[] | undefined) ?? [];
      flags[spec.name] = [...prev, value];
    } else {
      flags[spec.name] = value;
    }
  }
  return { flags, positionals };
}
