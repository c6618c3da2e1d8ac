import type { Argv, ArgumentsCamelCase } from 'yargs';

/**
 * One subcommand. Each lives in its own file under commands/ and is listed once in
 * commands/index.ts. `run` may return a promise; its rejection becomes "ts-img: <message>".
 */
export interface Command<A = any> {
  command: string | string[];
  describe: string;
  builder?: (y: Argv) => Argv<A>;
  run: (args: ArgumentsCamelCase<A>) => void | Promise<void>;
}
