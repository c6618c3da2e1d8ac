import { RuntimeError, ERR_NOT_EXIST } from '../errors';
import { validateId } from '../state/store';
import type { Context } from './context';
import { statusOf } from './status';
import { destroy } from './destroy';

export function deleteContainer(ctx: Context, id: string, force: boolean): void {
  const { store } = ctx;
  validateId(id);
  let lock;
  try {
    lock = store.lock(id);
  } catch (e) {
    if (force && e instanceof RuntimeError && e.message === ERR_NOT_EXIST) return;
    throw e;
  }
  try {
    const state = store.loadIfSaved(id);
    if (!state) {
      // A create that was killed before it wrote any state: nothing runs, only the directory is left.
      if (!force) throw new RuntimeError(ERR_NOT_EXIST);
      store.remove(id);
      return;
    }
    const status = statusOf(store, state);
    if ((status === 'running' || status === 'paused') && !force) {
      throw new RuntimeError(`cannot delete container ${id} that is not stopped: ${status}`);
    }
    destroy(ctx, state);
  } finally {
    lock.release();
  }
}
