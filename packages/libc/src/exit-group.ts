/**
 * Ending a CLI by exit_group(2) rather than exit(3). Once koffi is loaded, exit(3) runs its exit
 * handler, which fsyncs stdout and stderr (seen with strace -k): a journal commit when either is
 * a regular file (a log, an engine's capture file), ~5 ms on an idle disk, tens under load.
 */
import * as fs from 'fs';
import type { Sys } from './sys';
import { koffiLoad } from './koffi-loaded';

/**
 * True when neither stdout nor stderr is a pipe or a socket. Node writes to files and terminals
 * synchronously, but to a pipe only as far as it has room, queueing the rest for the event loop:
 * a process ended by exit_group (before that loop drains) could cut such output short.
 */
function stdioWritesSynchronous(): boolean {
  for (const fd of [1, 2]) {
    try {
      const st = fs.fstatSync(fd);
      if (st.isFIFO() || st.isSocket()) return false;
    } catch {
      /* closed: nothing to lose */
    }
  }
  return true;
}

/** Whether exit_group is both worth it (koffi is loaded) and safe (no pipe's output is pending). */
export function exitGroupFits(): boolean {
  return koffiLoad.done && stdioWritesSynchronous();
}

/**
 * End now by exit_group, after the 'exit' listeners it would skip (a code cache writer, an
 * output's completeness check), with the exit code they leave.
 */
export function exitGroupNow(sys: Sys, code: number): never {
  process.emit('exit', code);
  return sys.exitGroup(typeof process.exitCode === 'number' ? process.exitCode : code);
}
