import type { Argv, ArgumentsCamelCase } from 'yargs';
import type { ArgTable } from './arg-table';

/**
 * One subcommand. Each lives in its own file under commands/ and is listed once in
 * commands/index.ts. `run` may return a promise; its rejection becomes "ts-img: <message>".
 * Its arguments come either as a table (`args`: what the lean parser of main.ts can read too) or
 * as a yargs `builder`.
 */
export interface Command<A = any> {
  command: string | string[];
  describe: string;
  args?: ArgTable;
  builder?: (y: Argv) => Argv<A>;
  run: (args: ArgumentsCamelCase<A>) => void | Promise<void>;
}
