import yargs, { Argv } from 'yargs';
import type { Command } from './command';
import { commands } from './commands';
import { yargsArgs } from './arg-table';
import { oneLine } from './errors';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const pkg = require('../../../package.json') as { version: string };

/**
 * The full command line of ts-img: every command, --help, --version, yargs' error texts.
 * `fail` gets the one-line message of a usage error; `run` runs the chosen command (tests
 * replace both to see what yargs parsed).
 */
export function cliParser(argv: string[], fail: (message: string) => never, run = (c: Command, args: any) => c.run(args)): Argv {
  let y = yargs(argv)
    .scriptName('ts-img')
    .usage('$0 <command> [options]')
    .version(pkg.version)
    .strict()
    .demandCommand(1, 'no command given (try --help)')
    .recommendCommands()
    .help()
    .wrap(Math.min(100, process.stdout.columns || 100))
    .fail((msg, err) => {
      if (err) fail(oneLine(err));
      fail(msg || 'invalid arguments');
    });
  // yargs renders the whole help text before running a command, to print it should the command
  // fail; our .fail() never prints it, and that rendering cost ~15 ms of every start (measured).
  const usage = (y as unknown as { getInternalMethods?(): { getUsageInstance?(): { cacheHelpMessage?: () => void } } })
    .getInternalMethods?.()
    .getUsageInstance?.();
  if (usage?.cacheHelpMessage) usage.cacheHelpMessage = () => undefined;
  for (const c of commands) {
    const { args } = c;
    const builder = args ? (b: Argv) => yargsArgs(b, args) : (c.builder ?? ((b: Argv) => b));
    y = y.command(c.command, c.describe, builder, async (a) => {
      await run(c, a);
    });
  }
  return y;
}
