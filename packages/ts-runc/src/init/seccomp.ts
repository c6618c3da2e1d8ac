import type { Sys } from '@tsrt/libc';
import type { PlannedSeccomp } from '../plan/types';

const SECCOMP_SET_MODE_FILTER = 1;
const SECCOMP_FILTER_FLAG_TSYNC = 1;
const SECCOMP_FILTER_FLAG_NEW_LISTENER = 8;
const SECCOMP_FILTER_FLAG_TSYNC_ESRCH = 16;
const CAP_SYS_ADMIN = 21n;

/**
 * Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: when the container process will
 * not keep it, the filter goes in before the credentials change (as runc), else last.
 */
export function seccompBeforeCredentials(noNewPrivileges: boolean, effectiveCaps: string | null | undefined, uid: number): boolean {
  if (noNewPrivileges) return false;
  if (effectiveCaps === null || effectiveCaps === undefined) return uid !== 0;
  return (BigInt(effectiveCaps) & (1n << CAP_SYS_ADMIN)) === 0n;
}

/**
 * The seccomp listener socket is a host path: connect while the host filesystem is still
 * visible (before pivot_root); the fd is sent once the filter is loaded.
 */
export function connectSeccompListener(sys: Sys, s: PlannedSeccomp | null | undefined): number {
  if (!s?.listener) return -1;
  try {
    return sys.connectUnix(s.listener.path);
  } catch (e) {
    throw new Error(`linux.seccomp.listenerPath: cannot connect to ${s.listener.path}: ${(e as { code?: string }).code ?? e}`);
  }
}

/** Load the filter with seccomp(2); with a listener, send its fd and the container process state. */
export function installSeccomp(sys: Sys, s: PlannedSeccomp, listenerSock: number, state: Record<string, unknown> | undefined): void {
  let flags = s.flags;
  if (s.listener) {
    flags |= SECCOMP_FILTER_FLAG_NEW_LISTENER;
    // TSYNC and NEW_LISTENER both return an fd/tid unless TSYNC_ESRCH says otherwise.
    if (flags & SECCOMP_FILTER_FLAG_TSYNC) flags |= SECCOMP_FILTER_FLAG_TSYNC_ESRCH;
  }
  let fd: number;
  try {
    fd = sys.seccomp(SECCOMP_SET_MODE_FILTER, flags, Buffer.from(s.bpf, 'base64'));
  } catch (e) {
    throw new Error(`linux.seccomp: loading the filter failed: ${(e as Error).message}`);
  }
  if (!s.listener) return;
  // ContainerProcessState (config-linux.md, seccomp listener).
  const msg = {
    ociVersion: state?.ociVersion ?? '1.2.0',
    fds: ['seccompFd'],
    pid: state?.pid ?? 0,
    metadata: s.listener.metadata,
    state: state ?? {},
  };
  try {
    sys.sendFds(listenerSock, Buffer.from(JSON.stringify(msg)), [fd]);
  } catch (e) {
    throw new Error(`linux.seccomp.listenerPath: sending the listener fd to ${s.listener.path} failed: ${(e as Error).message}`);
  } finally {
    sys.close(fd);
    sys.close(listenerSock);
  }
}
