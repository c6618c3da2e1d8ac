import { libc, exitGroupFits, exitGroupNow } from '@tsrt/libc';

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
 * End the CLI. With the pool thread held, by exit_group: the blocked thread dies, the held init
 * keeps our memory until its execve. Also once koffi is loaded, when stdout and stderr are files
 * or terminals: koffi's exit handler fsyncs them (a journal commit for a file, at every start,
 * delete or exec whose output goes to a log), and exit_group skips it. Nothing is lost: Node
 * writes files and terminals synchronously, the log is written with writeSync, and Node's
 * restoring of stdio's modes concerns only the terminal proxy (exitThroughNode). To a pipe, whose
 * writes may wait for the event loop, and for which fsync costs nothing, Node's exit.
 */
export function exitProcess(code: number): never {
  if (held || (!nodeExit && exitGroupFits())) exitGroupNow(libc(), code);
  process.exit(code);
}
