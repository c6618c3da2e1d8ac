export * from './sys';
export * from './errors';
export * from './constants';
export { libseccomp, Libseccomp, SCMP_FLTATR_CTL_NNP } from './libseccomp';
export type { ScmpArgCmp, ScmpRule, ScmpFilter } from './libseccomp';
export { mkdirAll } from './mkdir-all';
export { usernsWithMaps, writeIdMaps } from './userns';
export type { IdMapRange } from './userns';
export { FakeSys } from './fake-sys';
export type { RecordedCall } from './fake-sys';
import type { Sys } from './sys';

/**
 * True once koffi is loaded: exit(3) then runs koffi's handler, which fsyncs stdout and stderr
 * (measured with strace -k: 5 ms for a new stderr file on ext4, tens of ms under load).
 */
export function koffiLoaded(): boolean {
  return (require('./koffi-loaded') as typeof import('./koffi-loaded')).koffiLoad.done;
}

/**
 * True when neither stdout nor stderr is a pipe or a socket. Node writes to files and terminals
 * synchronously, but to a pipe only as far as it has room, queueing the rest for the event loop:
 * a process ended by exit_group (before that loop drains) could cut such output short.
 */
export function stdioWritesSynchronous(): boolean {
  const fs = require('fs') as typeof import('fs');
  for (const fd of [1, 2]) {
    try {
      const st = fs.fstatSync(fd);
      if (st.isFIFO() || st.isSocket()) return false;
    } catch {
      /* closed: nothing to lose */
    }
  }
  return true;
}

let real: Sys | undefined;
/** The process-wide real syscall layer, loaded on first use (koffi costs a few ms to load). */
export function libc(): Sys {
  if (!real) {
    const { KoffiSys } = require('./koffi-sys') as typeof import('./koffi-sys');
    real = new KoffiSys();
  }
  return real;
}

export type { ContainerThread, RecordedSyscall } from './container-thread';
/** The container thread (container-thread.ts), started on first use of libuv's pool. */
export function startContainerThread(): Promise<import('./container-thread').ContainerThread> {
  const { ContainerThread } = require('./container-thread') as typeof import('./container-thread');
  return ContainerThread.start();
}

/** The syscalls `steps` would make on the container thread (container-thread.ts). */
export function recordSyscalls(steps: (sys: Sys) => void): import('./container-thread').RecordedSyscall[] {
  return (require('./container-thread') as typeof import('./container-thread')).recordSyscalls(steps);
}
