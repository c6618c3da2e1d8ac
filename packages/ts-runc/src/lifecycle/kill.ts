import { RuntimeError, ERR_NOT_RUNNING } from '../errors';
import type { Context } from './context';
import { statusOf } from './status';
import { parseSignal } from './signals';
import { killAll } from './destroy';
import { openCgroupManager } from '../cgroups/manager';
import type { CgroupDescription } from '../cgroups/types';

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
    // A frozen process cannot act on SIGKILL (cgroup v1 leaves it in D state until thawed): as
    // runc, thaw after SIGKILL only; any other signal leaves the container paused.
    if (status === 'paused' && sig === 9 && state.cgroup) {
      try {
        openCgroupManager(state.cgroup as CgroupDescription).thaw();
      } catch {
        /* runc ignores a failed thaw too: the signal was sent */
      }
    }
  } finally {
    lock.release();
  }
}
