import { koffiLoaded, libc, stdioWritesSynchronous } from '@tsrt/libc';

/**
 * Whether ending by exit_group is both worth it and safe: koffi is loaded (its exit handler
 * fsyncs stdout and stderr, a journal commit when either is a file, a log) and neither is a pipe
 * (whose writes may still wait for the event loop). As in ts-runc's lifecycle/process-exit.ts.
 */
export function exitGroupFits(): boolean {
  return koffiLoaded() && stdioWritesSynchronous();
}

/** End ts-img with `code`: by exit_group when it fits ('exit' listeners still run), else process.exit. */
export function exitCli(code: number): never {
  if (exitGroupFits()) {
    process.emit('exit', code);
    libc().exitGroup(typeof process.exitCode === 'number' ? process.exitCode : code);
  }
  process.exit(code);
}
