import * as fs from 'fs';
import { O_RDONLY, O_NONBLOCK, O_CLOEXEC, POLLIN, POLLHUP } from '@tsrt/libc';
import { RuntimeError } from '../errors';
import { isAlive } from '../state/liveness';
import type { Context } from './context';
import { statusOf } from './status';

const START_MESSAGES: Record<string, string> = {
  running: 'cannot start an already running container',
  stopped: 'cannot start a container that has stopped',
  paused: 'cannot start an already running container',
  creating: 'cannot start a container that is still being created',
};

/** Release a created container: read the exec fifo so its init goes on to execve. */
export function start(ctx: Context, id: string): void {
  const { sys, store } = ctx;
  const lock = store.lock(id);
  try {
    const state = store.load(id);
    const status = statusOf(store, state);
    if (status !== 'created') throw new RuntimeError(START_MESSAGES[status] ?? `cannot start a container in state ${status}`);
    const fifoPath = store.fifoPath(id);
    const fd = sys.open(fifoPath, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    try {
      const buf = Buffer.alloc(1);
      // Poll in slices so an init that dies meanwhile is noticed instead of waited on forever.
      for (;;) {
        const r = sys.poll([{ fd, events: POLLIN }], 100);
        if (r && r[0] & POLLIN) {
          let n = 0;
          try {
            n = fs.readSync(fd, buf, 0, 1, null);
          } catch (e) {
            if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
          }
          if (n === 1) break;
        }
        if (r && r[0] & POLLHUP && !isAlive(state.pid, state.pidStartTime)) break;
        if (!isAlive(state.pid, state.pidStartTime)) throw new RuntimeError('cannot start a container that has stopped');
      }
    } finally {
      sys.close(fd);
    }
    fs.rmSync(fifoPath, { force: true });
  } finally {
    lock.release();
  }
}
