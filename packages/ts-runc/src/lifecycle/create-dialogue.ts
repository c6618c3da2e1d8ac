import type { Spec } from '@tsrt/oci-spec';
import type { InitPlan } from '../plan/types';
import type { ContainerState } from '../state/container-state';
import type { SyncChannel } from '../protocol/sync';
import { RuntimeError, INIT_FAILED } from '../errors';
import { checkHooks, runHooks, hookState } from '../hooks/run-hooks';
import type { Context } from './context';
import type { InitCgroups } from './init-cgroups';

/** How long stage 2 may take for each step before create gives up and cleans up. */
const STEP_TIMEOUT_MS = Number(process.env.TS_RUNC_INIT_TIMEOUT_MS ?? 30000);

export interface Dialogue {
  ctx: Context;
  ch: SyncChannel;
  state: ContainerState;
  spec: Spec;
  plan: InitPlan;
  cgroups: InitCgroups;
  /** Why stage 2 went away (an OOM kill, or not). */
  exited: () => string;
  /** The idmapped mounts' user namespaces, sent with SCM_RIGHTS. */
  sendIdmapFds: () => void;
}

/**
 * create's side of the conversation with stage 2 (protocol/sync.ts): send the plan, answer what
 * stage 2 asks for while it sets up, and return when it is ready (blocked on the exec fifo).
 * Throws on its error, its death or a step timeout.
 */
export function converse(d: Dialogue): void {
  const { ctx, ch, state, cgroups } = d;
  ch.send({ type: 'plan', plan: d.plan });
  for (;;) {
    const msg = ch.recv(STEP_TIMEOUT_MS, 'the container init');
    if (!msg) throw new RuntimeError(d.exited());
    switch (msg.type) {
      case 'error':
        throw new RuntimeError(INIT_FAILED + msg.message);
      case 'idmap':
        d.sendIdmapFds();
        continue;
      case 'cgroup':
        // Joined only now: Node's start-up memory stays charged outside the container's limit.
        cgroups.join();
        ch.send({ type: 'cgroup-done' });
        continue;
      case 'host-mount':
        // Saved before anything is mounted below it: delete detaches it, even after a crash.
        state.hostRootfsMount = { path: state.rootfs, mountId: String(msg.mountId) };
        ctx.store.save(state);
        ch.send({ type: 'host-mount-done' });
        continue;
      case 'park-memory':
        if (!cgroups.park()) ctx.log.debug('stage 2 stays charged to the container memory cgroup while it sets up');
        ch.send({ type: 'park-memory-done' });
        continue;
      case 'charge-memory':
        cgroups.chargeContainer();
        ch.send({ type: 'charge-memory-done' });
        continue;
      case 'hooks': {
        // prestart (deprecated) then createRuntime, in the runtime namespace: stage 2 has its
        // namespaces and mounts and waits for us before createContainer and pivot_root.
        const hooks = checkHooks(d.spec.hooks);
        const st = hookState(state, 'creating');
        runHooks('prestart', hooks.prestart, st, true);
        runHooks('createRuntime', hooks.createRuntime, st, true);
        ch.send({ type: 'hooks-done' });
        continue;
      }
      case 'ready':
        // Stage 2 is done with Node work: from here on it only waits for start, then execs.
        cgroups.chargeContainer();
        return;
    }
  }
}
