import * as fs from 'fs';
import type { ContainerState, Status } from '../state/container-state';
import { isAlive } from '../state/liveness';
import type { StateStore } from '../state/store';

/** Paused-ness comes from the cgroup layer when it is wired in; until then nothing is paused. */
export type PausedProbe = (state: ContainerState) => boolean;
let pausedProbe: PausedProbe = (s) => (require('../cgroups/container') as typeof import('../cgroups/container')).containerPaused(s.cgroup as never);
export function setPausedProbe(p: PausedProbe): void {
  pausedProbe = p;
}

/** Status as runc derives it: a live init with the exec fifo still present is "created". */
export function statusOf(store: StateStore, state: ContainerState): Status {
  if (state.creating) return isAlive(state.pid, state.pidStartTime) ? 'creating' : 'stopped';
  if (!isAlive(state.pid, state.pidStartTime)) return 'stopped';
  // runc checks the freezer first: a paused created container reports "paused".
  if (pausedProbe(state)) return 'paused';
  if (fs.existsSync(store.fifoPath(state.id)) && !releasedInProcess(state)) return 'created';
  return 'running';
}

/**
 * An init held by an in-process create (create-in-process.ts) cannot remove the fifo itself once
 * released, as stage 2 does: a `start` killed right after its read would leave the container
 * "created" for good. Until its execve the held init keeps the name its spawning thread had
 * (comm "ts-runc init"); any other name means it has exec'd.
 */
function releasedInProcess(state: ContainerState): boolean {
  if (!state.inProcess) return false;
  try {
    return fs.readFileSync(`/proc/${state.pid}/comm`, 'utf8').trim() !== 'ts-runc init';
  } catch {
    return false; // gone: isAlive said otherwise a moment ago; the next look says stopped
  }
}
