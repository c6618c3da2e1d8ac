import { oneLine } from './errors';
import { cliParser } from './yargs-cli';

function fail(message: string): never {
  process.stderr.write(`ts-img: ${oneLine(message)}\n`);
  process.exit(1);
}

/** Entry point of bin/ts-img. Parses argv, runs one command, exits 1 with one line on error. */
export async function main(argv: string[]): Promise<void> {
  try {
    await cliParser(argv, fail).parseAsync();
  } catch (e) {
    fail(oneLine(e));
  }
}
