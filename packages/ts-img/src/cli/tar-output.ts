import fs from 'node:fs';
import type { Writable } from 'node:stream';
import { UserError } from './errors';

/**
 * Write a tar to `output` (atomically: a temporary sibling renamed over it) or to stdout (never
 * to a terminal). `what` names it in messages ("tar", "archive"); `cmd` is the command's name.
 */
export async function writeTarOutput(cmd: string, what: string, output: string | undefined, write: (out: Writable) => Promise<unknown>): Promise<void> {
  if (!output && process.stdout.isTTY) throw new UserError(`${cmd}: refusing to write ${what === 'archive' ? 'an' : 'a'} ${what} to a terminal (use -o FILE)`);
  const tmp = output ? `${output}.tmp-${process.pid}` : undefined;
  const out = tmp ? fs.createWriteStream(tmp) : process.stdout;
  // If stdout goes away (EPIPE), Node may just let the event loop run dry: exit 1, not 0.
  let finished = false;
  const onExit = () => {
    if (!finished) {
      process.stderr.write(`ts-img: output closed before the ${what} was complete\n`);
      process.exitCode = 1;
    }
  };
  process.once('exit', onExit);
  try {
    await write(out);
    if (tmp && output) fs.renameSync(tmp, output);
    finished = true;
  } catch (e) {
    finished = true;
    if (tmp) fs.rmSync(tmp, { force: true });
    throw e;
  }
}
