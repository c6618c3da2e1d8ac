import * as fs from 'fs';
import { O_RDONLY, O_NONBLOCK, O_CLOEXEC, O_PATH, O_DIRECTORY, RESOLVE_BENEATH, RESOLVE_NO_MAGICLINKS, RESOLVE_NO_XDEV, POLLIN, POLLHUP } from '@tsrt/libc';
import { RuntimeError } from '../errors';
import { isAlive } from '../state/liveness';
import type { Context } from './context';
import { statusOf } from './status';
import { checkHooks, runHooks, hookState } from '../hooks/run-hooks';

/** After a non-"0" first byte the init wrote why it fails (a startContainer hook): read it to EOF. */
function readFailure(ctx: Context, fd: number): string {
  const chunk = Buffer.alloc(4096);
  let text = '';
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    ctx.sys.poll([{ fd, events: POLLIN }], 100);
    let n = 0;
    try {
      n = fs.readSync(fd, chunk, 0, chunk.length, null);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') continue;
      break;
    }
    if (n === 0) break;
    text += chunk.toString('utf8', 0, n);
  }
  return text.split('\n')[0] || 'the container init failed before exec';
}

/**
 * Open the exec fifo for reading: exec.fifo is a symlink into fifo.d, which the init holds
 * (a process in the container that can ptrace it can reach it too). Resolved beneath the state
 * directory only, and checked to be a fifo before anything is read from it: nothing planted
 * there makes us open a host file.
 */
function openExecFifo(ctx: Context, id: string): number {
  const dir = ctx.sys.open(ctx.store.dir(id), O_PATH | O_DIRECTORY | O_CLOEXEC);
  try {
    const fd = ctx.sys.openat2(dir, 'exec.fifo', O_RDONLY | O_NONBLOCK | O_CLOEXEC, 0, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV);
    if (!fs.fstatSync(fd).isFIFO()) {
      ctx.sys.close(fd);
      throw new RuntimeError(`${ctx.store.fifoPath(id)} is not a fifo`);
    }
    return fd;
  } finally {
    ctx.sys.close(dir);
  }
}

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
    const fd = openExecFifo(ctx, id);
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
          if (n === 1) {
            if (buf[0] !== 0x30) throw new RuntimeError(readFailure(ctx, fd));
            break;
          }
        }
        // Opened and closed again by an init held in its spawn: released, on its way to execve.
        if (r && r[0] & POLLHUP && state.inProcess) break;
        if (r && r[0] & POLLHUP && !isAlive(state.pid, state.pidStartTime)) break;
        if (!isAlive(state.pid, state.pidStartTime)) throw new RuntimeError('cannot start a container that has stopped');
      }
    } finally {
      sys.close(fd);
    }
    // unlink, not rmSync: that loads Node's rimraf (~1 ms) for one name.
    try {
      fs.unlinkSync(fifoPath);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    // poststart: after the user process started, before start returns; failures only warn.
    let hooks;
    try {
      hooks = checkHooks(state.config?.hooks);
    } catch (e) {
      ctx.log.warn((e as Error).message);
    }
    if (hooks?.poststart?.length) runHooks('poststart', hooks.poststart, hookState(state, 'running'), false, (m) => ctx.log.warn(m));
  } finally {
    lock.release();
  }
}
