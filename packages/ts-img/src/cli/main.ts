import yargs from 'yargs';
import { commands } from './commands';
import { oneLine } from './errors';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const pkg = require('../../../package.json') as { version: string };

function fail(message: string): never {
  process.stderr.write(`ts-img: ${oneLine(message)}\n`);
  process.exit(1);
}

/** Entry point of bin/ts-img. Parses argv, runs one command, exits 1 with one line on error. */
export async function main(argv: string[]): Promise<void> {
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
    y = y.command(c.command, c.describe, c.builder ?? ((b) => b), async (args) => {
      await c.run(args as any);
    });
  }
  try {
    await y.parseAsync();
  } catch (e) {
    fail(oneLine(e));
  }
}
