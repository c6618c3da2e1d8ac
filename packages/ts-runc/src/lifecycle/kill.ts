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
    if (status === 'stopped') throw new RuntimeError(ERR_NOT_RUNNING);
    if (all) {
      killAll(ctx, state, sig);
      return;
    }
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
