import { koffiLoaded, libc } from '@tsrt/libc';

/**
 * End ts-img with `code`. Once koffi is loaded, by exit_group: koffi's exit handler fsyncs stdout
 * and stderr, a journal commit when either is a regular file (a log), as in ts-runc (its
 * lifecycle/process-exit.ts). stdout and stderr are synchronous on Linux; 'exit' listeners run.
 */
export function exitCli(code: number): never {
  if (koffiLoaded()) {
    process.emit('exit', code);
    libc().exitGroup(typeof process.exitCode === 'number' ? process.exitCode : code);
  }
  process.exit(code);
}
