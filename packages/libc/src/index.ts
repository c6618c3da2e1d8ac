export * from './sys';
export * from './errors';
export * from './constants';
export { libseccomp, Libseccomp, SCMP_FLTATR_CTL_NNP } from './libseccomp';
export type { ScmpArgCmp, ScmpRule, ScmpFilter } from './libseccomp';
export { mkdirAll } from './mkdir-all';
export { exitGroupFits, exitGroupNow } from './exit-group';
export { usernsWithMaps, writeIdMaps } from './userns';
export type { IdMapRange } from './userns';
export { FakeSys } from './fake-sys';
export type { RecordedCall } from './fake-sys';
import type { Sys } from './sys';

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
