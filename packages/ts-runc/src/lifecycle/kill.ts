import { RuntimeError, ERR_NOT_RUNNING } from '../errors';
import type { Context } from './context';
import { statusOf } from './status';
import { parseSignal } from './signals';
import { killAll } from './destroy';

export function kill(ctx: Context, id: string, signal: string | undefined, all: boolean): void {
  const sig = parseSignal(signal);
  const { store, sys } = ctx;
  const lock = store.lock(id);
  try {
    const state = store.load(id);
    const status = statusOf(store, state);
    if (all) {
      // As runc: --all on a stopped container still reaches what is left in its cgroup (never
      // the recorded init pid, which may have been reused).
      if (status !== 'stopped' || state.cgroup) killAll(ctx, state, sig);
      return;
    }
    if (status === 'stopped') throw new RuntimeError(ERR_NOT_RUNNING);
    try {
      sys.kill(state.pid, sig);
    } catch (e) {
      if ((e as { code?: string }).code === 'ESRCH') throw new RuntimeError(ERR_NOT_RUNNING);
      throw e;
    }
  } finally {
    lock.release();
  }
}
