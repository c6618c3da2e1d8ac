import type { Context } from './context';
import { create, type CreateOptions } from './create';
import { readConfig } from './config';
import type { TerminalProxy } from './terminal-proxy';
import type { ContainerState } from '../state/container-state';
import { RuntimeError } from '../errors';

// Loaded when needed: what create does first (spawn stage 2) should not wait for them.
const startOf = () => (require('./start') as typeof import('./start')).start;
const deleteOf = () => (require('./delete') as typeof import('./delete')).deleteContainer;
const waitOf = () => (require('./foreground') as typeof import('./foreground')).waitForeground;
const proxyOf = () => (require('./terminal-proxy') as typeof import('./terminal-proxy')).TerminalProxy;

/** config.json, read once for both the terminal question and create; undefined when unreadable. */
function configOf(bundle: string): unknown {
  try {
    return readConfig(bundle);
  } catch {
    return undefined; // create reads it again and reports the problem
  }
}

export interface RunOptions extends CreateOptions {
  detach: boolean;
  keep?: boolean;
}

/** Why an in-process init whose execve the kernel refused went, in runc's words. */
function spawnFailure(state: ContainerState, failed: Error): RuntimeError {
  const { initExitedMessage, INIT_OOM_KILLED } = require('./create') as typeof import('./create');
  // Under a memory limit, an execve that cannot charge the new image fails with ENOMEM, or
  // E2BIG when it is the pages for argv and envp it could not get.
  const limited = (state.config?.linux?.resources?.memory?.limit ?? 0) > 0;
  const oom = limited && ['ENOMEM', 'E2BIG'].includes((failed as { code?: string }).code ?? '');
  return new RuntimeError(oom ? INIT_OOM_KILLED : initExitedMessage(state.cgroup as never));
}

/** create + start; in the foreground also wait, forward signals, delete, and return the exit code. */
export async function run(ctx: Context, opts: RunOptions): Promise<number> {
  // A terminal in the foreground with nobody else to hold the pty: we proxy it, like runc.
  const config = configOf(opts.bundle);
  const proxied = !opts.detach && !opts.consoleSocket && (config as { process?: { terminal?: boolean } } | undefined)?.process?.terminal === true;
  const proxy: TerminalProxy | null = proxied ? new (proxyOf())(ctx.sys) : null;
  let copying: Promise<void> = Promise.resolve();
  let state;
  try {
    state = (await create(ctx, { ...opts, config, ...(proxy ? { consoleSocketFd: proxy.childEnd } : {}) })).state;
  } catch (e) {
    // A failed create has removed what it made. Whatever has this ID now is not ours (the
    // container of an earlier create or run, or one that won a race for the ID): it stays.
    proxy?.stop();
    throw e;
  }
  try {
    if (proxy) copying = proxy.start();
    startOf()(ctx, opts.id);
  } catch (e) {
    proxy?.stop();
    deleteOf()(ctx, opts.id, true);
    throw e;
  }
  if (opts.detach) return 0;

  try {
    // An in-process init whose execve fails is reaped by its own spawn (glibc waits for it on
    // the pool thread): the spawn's outcome comes first, as our waitpid on SIGCHLD would race
    // that reap and could take the failed child's 127 for the process's exit code.
    const failed = await (require('./create') as typeof import('./create')).inProcessSpawnOutcome();
    if (failed) {
      proxy?.stop();
      throw spawnFailure(state, failed);
    }
    return await waitOf()(ctx.sys, state.pid, proxy, copying);
  } finally {
    if (!opts.keep) deleteOf()(ctx, opts.id, true);
  }
}
