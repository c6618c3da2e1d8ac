import type { Command } from './command';
import { oneLine } from './errors';
import { exitCli } from './exit';
import { LeanArgs, leanArgs } from './lean-args';
import { unpackCommand } from './commands/unpack';
import { mountCommand } from './commands/mount';
import { removeCommand } from './commands/remove';

/** Run often, by people and scripts: parsed without yargs when the lean parser reads the whole line. */
const LEAN_COMMANDS: Command[] = [unpackCommand, mountCommand, removeCommand];

function fail(message: string): never {
  process.stderr.write(`ts-img: ${oneLine(message)}\n`);
  exitCli(1);
}

/** The command and its arguments when argv is a hot command the lean parser fully understands. */
export function leanCommand(argv: string[]): { command: Command; args: LeanArgs } | undefined {
  const command = LEAN_COMMANDS.find((c) => String(c.command).split(' ')[0] === argv[0]);
  const args = command?.args && leanArgs(argv.slice(1), command.args);
  return command && args ? { command, args } : undefined;
}

/** Entry point of bin/ts-img. Parses argv, runs one command, exits 1 with one line on error. */
export async function main(argv: string[]): Promise<void> {
  try {
    const lean = leanCommand(argv);
    if (lean) await lean.command.run(lean.args as any);
    else await (await import('./yargs-cli')).cliParser(argv, fail).parseAsync();
  } catch (e) {
    fail(oneLine(e));
  }
}
