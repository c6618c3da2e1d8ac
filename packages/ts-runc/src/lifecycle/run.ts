import type { Context } from './context';
import { create, type CreateOptions } from './create';
import { start } from './start';
import { deleteContainer } from './delete';
import { waitForeground } from './foreground';
import { TerminalProxy } from './terminal-proxy';
import { readConfig } from './config';

function wantsTerminal(bundle: string): boolean {
  try {
    return (readConfig(bundle) as { process?: { terminal?: boolean } }).process?.terminal === true;
  } catch {
    return false; // create reports the problem with the config
  }
}

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

  try {
    return await waitForeground(ctx.sys, state.pid, proxy, copying);
  } finally {
    if (!opts.keep) deleteContainer(ctx, opts.id, true);
  }
}
