import { ArgTable, camelCase } from './arg-table';

/** What yargs would hand a command's `run` for the same line, less its kebab-case and alias copies. */
export type LeanArgs = Record<string, string | boolean | number>;

/**
 * A command line read from the command's table (arg-table.ts) without yargs, whose loading and
 * 18 command builders cost ~30 ms of every start (measured). Only the plain forms are read:
 * `--name value`, `--name=value`, `-a`, bare booleans, positionals. Anything else (--help,
 * --version, unknown or repeated flags, `--`, `--no-x`, `--flag=false`, a value that looks like
 * a flag, a number yargs would read otherwise, a choice not listed, missing or extra positionals)
 * gives undefined: yargs then parses the line, with its own texts for help and errors.
 */
export function leanArgs(argv: string[], t: ArgTable): LeanArgs | undefined {
  const out: LeanArgs = {};
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('-')) {
      if (arg === '') return undefined;
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const flag = eq < 0 ? arg : arg.slice(0, eq);
    const spec = t.options.find((o) => flag === `--${o.name}` || (o.alias !== undefined && flag === `-${o.alias}`));
    if (!spec || camelCase(spec.name) in out) return undefined;
    if (spec.type === 'boolean') {
      // yargs takes a following true/false as the flag's value
      if (eq >= 0 || argv[i + 1] === 'true' || argv[i + 1] === 'false') return undefined;
      out[camelCase(spec.name)] = true;
      continue;
    }
    if (eq >= 0 && !flag.startsWith('--')) return undefined;
    const text = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
    if (text === undefined || text === '' || text.startsWith('-')) return undefined;
    if (spec.choices && !spec.choices.includes(text)) return undefined;
    if (spec.type === 'number' && !/^[0-9]{1,15}$/.test(text)) return undefined;
    out[camelCase(spec.name)] = spec.type === 'number' ? Number(text) : text;
  }
  if (positionals.length > t.positionals.length) return undefined;
  for (const [k, p] of t.positionals.entries()) {
    if (k < positionals.length) out[camelCase(p.name)] = positionals[k];
    else if (p.required) return undefined;
  }
  for (const o of t.options) if (o.default !== undefined && !(camelCase(o.name) in out)) out[camelCase(o.name)] = o.default;
  return out;
}
