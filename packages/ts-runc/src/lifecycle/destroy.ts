import { POLLIN } from '@tsrt/libc';
import type { ContainerState } from '../state/container-state';
import { isAlive, lifeOf } from '../state/liveness';
import { RuntimeError } from '../errors';
import type { Context } from './context';
import { killContainerProcesses, removeContainerCgroups } from '../cgroups/container';
import { checkHooks, runHooks, hookState } from '../hooks/run-hooks';
import { detachHostRootfs } from './host-rootfs';

/** Wait (bounded) until the init is gone; it is usually not our child, so a pidfd is polled. */
export function waitForExit(ctx: Context, state: ContainerState, timeoutMs = 10000, exitingIsEnough = false): void {
  const { sys } = ctx;
  if (!isAlive(state.pid, state.pidStartTime)) return;
  let pidfd = -1;
  try {
    pidfd = sys.pidfdOpen(state.pid);
  } catch {
    return; // ESRCH: already gone
  }
  try {
    const deadline = Date.now() + timeoutMs;
    // For destroy, exiting is enough: everything in the container is killed, cgroups and state
    // can go (its status would still read "running" until the init is a zombie).
    const waiting = () => {
      const life = lifeOf(state.pid, state.pidStartTime);
      return life === 'running' || (life === 'exiting' && !exitingIsEnough);
    };
    while (waiting()) {
      if (Date.now() > deadline) throw new RuntimeError(`container init ${state.pid} did not exit within ${timeoutMs} ms`);
      sys.poll([{ fd: pidfd, events: POLLIN }], 50);
    }
  } finally {
    sys.close(pidfd);
  }
}

/** Signal every process of the container. The init goes last so none is orphaned in between. */
export function killAll(ctx: Context, state: ContainerState, sig: number): void {
  if (state.cgroup) {
    // Every process of the container's cgroup (freeze, signal each, thaw; v2 SIGKILL: cgroup.kill).
    killContainerProcesses(state.cgroup as never, sig);
    return;
  }
  // Without cgroup tracking, signalling init is all we can do; with a pid namespace, SIGKILL
  // of its init takes every process of the namespace with it.
  try {
    ctx.sys.kill(state.pid, sig);
  } catch {
    /* gone */
  }
}

/** Tear down what create made: processes, then the state directory. */
export function destroy(ctx: Context, state: ContainerState): void {
  if (isAlive(state.pid, state.pidStartTime)) {
    killAll(ctx, state, 9);
    waitForExit(ctx, state, 10000, true);
  }
  removeContainerCgroups(state.cgroup as never);
  // Its init is gone: nothing holds its mounts in our namespace any more.
  const left = detachHostRootfs(ctx.sys, state.hostRootfsMount);
  if (left) ctx.log.warn(left);
  ctx.store.remove(state.id);
  // poststop: after the container is deleted, before delete returns; failures only warn.
  // A create that never finished has no config and runs none.
  if (state.creating || !state.config?.hooks?.poststop) return;
  try {
    runHooks('poststop', checkHooks(state.config.hooks).poststop, hookState(state, 'stopped'), false, (m) => ctx.log.warn(m));
  } catch (e) {
    ctx.log.warn((e as Error).message);
  }
}
