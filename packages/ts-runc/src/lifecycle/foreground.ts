import { constants } from 'os';
import type { Sys } from '@tsrt/libc';
import type { TerminalProxy } from './terminal-proxy';

/** Signals a foreground `run`/`exec` passes on to its process (all a process can catch). */
const FORWARDED: NodeJS.Signals[] = ['SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGTERM', 'SIGUSR2', 'SIGWINCH', 'SIGCONT', 'SIGALRM', 'SIGTSTP', 'SIGTTIN', 'SIGTTOU'];

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
    // waitpid off the main thread, so the event loop keeps forwarding signals.
    const r = await sys.waitpidAsync(pid);
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
