import { constants } from 'os';
import type { Context } from './context';
import { create, type CreateOptions } from './create';
import { start } from './start';
import { deleteContainer } from './delete';
import { TerminalProxy } from './terminal-proxy';
import { readConfig } from './config';

function wantsTerminal(bundle: string): boolean {
  try {
    return (readConfig(bundle) as { process?: { terminal?: boolean } }).process?.terminal === true;
  } catch {
    return false; // create reports the problem with the config
  }
}

/** Signals a foreground `run` passes on to the container's init (all a process can catch). */
const FORWARDED: NodeJS.Signals[] = ['SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGTERM', 'SIGUSR2', 'SIGWINCH', 'SIGCONT', 'SIGALRM', 'SIGTSTP', 'SIGTTIN', 'SIGTTOU'];

export interface RunOptions extends CreateOptions {
  detach: boolean;
  keep?: boolean;
}

/** create + start; in the foreground also wait, forward signals, delete, and return the exit code. */
export async function run(ctx: Context, opts: RunOptions): Promise<number> {
  // A terminal in the foreground with nobody else to hold the pty: we proxy it, like runc.
  const proxy = !opts.detach && !opts.consoleSocket && wantsTerminal(opts.bundle) ? new TerminalProxy(ctx.sys) : null;
  let copying: Promise<void> = Promise.resolve();
  let state;
  try {
    state = create(ctx, proxy ? { ...opts, consoleSocketFd: proxy.childEnd } : opts).state;
    if (proxy) copying = proxy.start();
    start(ctx, opts.id);
  } catch (e) {
    proxy?.stop();
    deleteContainer(ctx, opts.id, true);
    throw e;
  }
  if (opts.detach) return 0;

  const forward = (sig: NodeJS.Signals) => {
    try {
      ctx.sys.kill(state.pid, constants.signals[sig]);
    } catch {
      /* already exited */
    }
  };
  for (const sig of FORWARDED) process.on(sig, forward);
  try {
    // The init is our own child (posix_spawn from this process): wait for it off the main thread.
    const r = await ctx.sys.waitpidAsync(state.pid);
    if (proxy) {
      // Drain what the process wrote before it exited (the read ends with EIO), then restore.
      await Promise.race([copying, new Promise((res) => setTimeout(res, 500))]);
      proxy.stop();
    }
    return r.exitCode ?? 128 + (r.signal ?? 0);
  } finally {
    for (const sig of FORWARDED) process.off(sig, forward);
    if (!opts.keep) deleteContainer(ctx, opts.id, true);
  }
}
