import { libc, koffiLoaded } from '@tsrt/libc';

/**
 * True while libuv's pool thread is blocked in the posix_spawn of an init held on its exec fifo
 * (create-in-process.ts): process.exit would join that thread and wait for `start`.
 */
let held = false;

export function holdPoolThread(on: boolean): void {
  held = on;
}

/** Set by the terminal proxy: our tty is in raw mode, and Node's own exit restores stdio. */
let nodeExit = false;

export function exitThroughNode(): void {
  nodeExit = true;
}

/**
 * End the CLI. With the pool thread held, or once koffi is loaded, by exit_group: the blocked
 * thread dies, the held init keeps our memory until its execve, and koffi's exit handler, which
 * fsyncs stdout and stderr (a journal commit when either is a file, at every start, delete or
 * exec), does not run. Nothing is lost: stdout and stderr are synchronous on Linux for files,
 * pipes and terminals, the log is written with writeSync, and Node's restoring of stdio's modes
 * concerns only the terminal proxy (exitThroughNode).
 */
export function exitProcess(code: number): never {
  if (held || (koffiLoaded() && !nodeExit)) {
    // exit_group skips 'exit' listeners: run them (the code cache writer, libc/cached-bundle.ts).
    process.emit('exit', code);
    libc().exitGroup(code);
  }
  process.exit(code);
}
