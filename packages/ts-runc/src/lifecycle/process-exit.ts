import { libc } from '@tsrt/libc';

/**
 * True while libuv's pool thread is blocked in the posix_spawn of an init held on its exec fifo
 * (create-in-process.ts): process.exit would join that thread and wait for `start`.
 */
let held = false;

export function holdPoolThread(on: boolean): void {
  held = on;
}

/**
 * End the CLI. With the pool thread held, by exit_group: the blocked thread dies, the held init
 * keeps our memory until its execve. Nothing is lost: stdout and stderr are synchronous on Linux
 * for files, pipes and terminals, and the log is written with writeSync.
 */
export function exitProcess(code: number): never {
  if (held) {
    // exit_group skips 'exit' listeners: run them (the code cache writer, libc/cached-bundle.ts).
    process.emit('exit', code);
    libc().exitGroup(code);
  }
  process.exit(code);
}
