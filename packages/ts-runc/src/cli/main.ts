import { parseArgs, type FlagSpec } from './args';
import { COMMANDS } from './commands/index';
import type { Command } from './command';
import { Logger, type LogFormat } from '../log/logger';
import { RuntimeError, messageOf, withErrnoTexts } from '../errors';
import { isSysError } from '@tsrt/libc';
import { VERSION, SPEC } from './version';
import { writeOut } from './output';

const GLOBAL_FLAGS: FlagSpec[] = [
  { name: 'root', kind: 'string', help: 'root directory for container state (default: /run/ts-runc)' },
  { name: 'log', kind: 'string', help: 'log file (default: stderr)' },
  { name: 'log-format', kind: 'string', help: 'text or json' },
  { name: 'debug', kind: 'bool', help: 'debug logging' },
  { name: 'systemd-cgroup', kind: 'bool', help: 'manage cgroups through systemd' },
  { name: 'rootless', kind: 'string', ignored: true, help: 'accepted for runc compatibility' },
  { name: 'criu', kind: 'string', ignored: true, help: 'accepted for runc compatibility' },
  { name: 'version', alias: ['v'], kind: 'bool', help: 'print the version' },
  { name: 'help', alias: ['h'], kind: 'bool', help: 'show help' },
];

/** /run/ts-runc for root; rootless, like runc: $XDG_RUNTIME_DIR/ts-runc (else /tmp/ts-runc-UID). */
function defaultRoot(): string {
  const uid = process.geteuid?.() ?? 0;
  if (uid === 0) return '/run/ts-runc';
  return process.env.XDG_RUNTIME_DIR ? `${process.env.XDG_RUNTIME_DIR}/ts-runc` : `/tmp/ts-runc-${uid}`;
}

function usage(cmd?: Command): string {
  const flagLines = (flags: FlagSpec[]) =>
    flags.map((f) => `   ${['--' + f.name, ...(f.alias ?? []).map((a) => (a.length === 1 ? '-' : '--') + a)].join(', ')}${f.kind === 'bool' ? '' : ' value'}\t${f.help ?? ''}`).join('\n');
  if (cmd) return `Usage: ts-runc ${cmd.usage}\n\n${cmd.description}\n${cmd.flags.length ? '\nOptions:\n' + flagLines(cmd.flags) + '\n' : ''}`;
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length)) + 2;
  const names = Object.keys(COMMANDS)
    .map((n) => `   ${n.padEnd(width)}${COMMANDS[n]().description}`)
    .join('\n');
  return `Usage: ts-runc [global options] command [command options] [arguments...]\n\nCommands:\n${names}\n\nGlobal options:\n${flagLines(GLOBAL_FLAGS)}\n`;
}

function checkArgs(cmd: Command, n: number): void {
  const { exact, min, max } = cmd.args;
  if (exact !== undefined && n !== exact) throw new RuntimeError(`ts-runc: "${cmd.name}" requires exactly ${exact} argument(s)`);
  if (min !== undefined && n < min) throw new RuntimeError(`ts-runc: "${cmd.name}" requires a minimum of ${min} argument(s)`);
  if (max !== undefined && n > max) throw new RuntimeError(`ts-runc: "${cmd.name}" requires a maximum of ${max} argument(s)`);
}

/** runc's exit status for an exec that failed (not the command's own). */
export const EXEC_FAILED = 255;

export async function main(argv: string[]): Promise<number> {
  let log = new Logger({ format: 'text', debug: false });
  let cmdName = '';
  let running = false;
  try {
    const g = parseArgs(argv, GLOBAL_FLAGS, { stopAtPositional: true });
    const format = (g.flags['log-format'] as string | undefined) ?? 'text';
    if (format !== 'text' && format !== 'json') throw new RuntimeError(`invalid log format "${format}"`);
    log = new Logger({ file: g.flags.log as string | undefined, format: format as LogFormat, debug: !!g.flags.debug });
    if (g.flags.version) {
      writeOut(`ts-runc version ${VERSION}\nspec: ${SPEC}\n`);
      return 0;
    }
    const [name, ...rest] = g.positionals;
    if (!name || g.flags.help) {
      writeOut(usage(name ? COMMANDS[name]?.() : undefined));
      return 0;
    }
    const load = COMMANDS[name];
    if (!load) throw new RuntimeError(`No help topic for '${name}'`);
    const cmd = load();
    cmdName = name;
    const p = parseArgs(rest, [...cmd.flags, { name: 'help', alias: ['h'], kind: 'bool' }], {
      stopAtPositional: cmd.restAfter !== undefined,
      positionalsBeforeRest: cmd.restAfter,
    });
    if (p.flags.help) {
      writeOut(usage(cmd));
      return 0;
    }
    checkArgs(cmd, p.positionals.length);
    if (g.flags['systemd-cgroup']) {
      const { assertSystemd } = require('../lifecycle/systemd') as typeof import('../lifecycle/systemd');
      assertSystemd();
    }
    const { libc } = require('@tsrt/libc') as typeof import('@tsrt/libc');
    const { StateStore } = require('../state/store') as typeof import('../state/store');
    const ctx = {
      // koffi is loaded on first use: state and list never need it.
      get sys() {
        return libc();
      },
      log,
      store: new StateStore((g.flags.root as string | undefined) ?? defaultRoot()),
      systemdCgroup: !!g.flags['systemd-cgroup'],
    };
    // One libuv pool thread: the in-process create and exec run the container's setup on it
    // (plan/in-process.ts); nothing else of run and exec may wait on it for long (the terminal
    // proxy and the foreground wait use the event loop). launch.ts's migration warm-up is the one
    // exception: a write of a few ms, begun long before the container thread is first needed.
    if (['create', 'run', 'exec'].includes(cmdName) && process.env.UV_THREADPOOL_SIZE === undefined) process.env.UV_THREADPOOL_SIZE = '1';
    running = true;
    const code = await cmd.run(ctx, p);
    return typeof code === 'number' ? code : 0;
  } catch (e) {
    const msg = withErrnoTexts(messageOf(e));
    // create/run/exec failures carry runc's prefixes; orchestrators match the text after them.
    // Argument and flag errors, found before the command runs, carry none (as runc's).
    const prefix = !running ? '' : cmdName === 'create' || cmdName === 'run' ? `ts-runc ${cmdName} failed: ` : cmdName === 'exec' ? 'exec failed: ' : '';
    log.fatal(prefix + msg);
    // Only a genuine bug earns its stack, and only under --debug: a failed system call's
    // message already names the call, the path and the errno.
    if (!(e instanceof RuntimeError) && !isSysError(e) && e instanceof Error && e.stack) log.debug(e.stack);
    // As runc: an exec that fails once under way exits 255, which no command's own exit status
    // can be mistaken for (its argument errors exit 1, as every command's).
    if (running && cmdName === 'exec') return EXEC_FAILED;
    return e instanceof RuntimeError ? e.exitCode : 1;
  }
}
