import { exitGroupFits, exitGroupNow, libc } from '@tsrt/libc';

/**
 * End ts-img with `code`: by exit_group where it fits (libc exit-group.ts: koffi's exit handler
 * fsyncs stdout and stderr, and no pipe's output is pending), else by process.exit.
 */
export function exitCli(code: number): never {
  if (exitGroupFits()) exitGroupNow(libc(), code);
  process.exit(code);
}
