import { constants } from 'os';
import { WNOHANG, type Sys, type WaitResult } from '@tsrt/libc';
import type { TerminalProxy } from './terminal-proxy';

/** Signals a foreground `run`/`exec` passes on to its process (all a process can catch). */
const FORWARDED: NodeJS.Signals[] = ['SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGTERM', 'SIGUSR2', 'SIGWINCH', 'SIGCONT', 'SIGALRM', 'SIGTSTP', 'SIGTTIN', 'SIGTTOU'];

/** A look now and then besides SIGCHLD; it also keeps the event loop alive (a signal listener does not). */
const RECHECK_MS = 1000;

/**
 * Our child `pid`'s end, looked for on each SIGCHLD with waitpid(WNOHANG) on the main thread.
 * No libuv pool thread waits for it: the in-process create and exec leave the pool one thread,
 * which a terminal proxy's stdin (a file) may still need.
 */
function childEnd(sys: Sys, pid: number): Promise<WaitResult> {
  return new Promise((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const done = () => {
      process.off('SIGCHLD', check);
      clearInterval(timer);
    };
    function check(): void {
      try {
        const r = sys.waitpid(pid, WNOHANG);
        if (!r) return;
        done();
        resolve(r);
      } catch (e) {
        done();
        reject(e);
      }
    }
    process.on('SIGCHLD', check);
    timer = setInterval(check, RECHECK_MS);
    check();
  });
}

/**
 * Wait for our child `pid` while forwarding signals to it; drain and stop the terminal proxy;
 * return the exit code as a shell reports it (128+signal when killed).
 */
export async function waitForeground(sys: Sys, pid: number, proxy: TerminalProxy | null, copying: Promise<void>): Promise<number> {
  const forward = (sig: NodeJS.Signals) => {
    try {
      sys.kill(pid, constants.signals[sig]);
    } catch {
      /* already exited */
    }
  };
  for (const sig of FORWARDED) process.on(sig, forward);
  try {
    const r = await childEnd(sys, pid);
    if (proxy) {
      // Drain what the process wrote before it exited (the read ends with EIO), then restore.
      await Promise.race([copying, new Promise((res) => setTimeout(res, 500))]);
      proxy.stop();
    }
    return r.exitCode ?? 128 + (r.signal ?? 0);
  } finally {
    for (const sig of FORWARDED) process.off(sig, forward);
  }
}
