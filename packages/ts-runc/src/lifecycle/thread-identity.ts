import { recordSyscalls, type Sys } from '@tsrt/libc';
import type { PlannedProcess, PlannedSeccomp } from '../plan/types';
import type { SyscallCall } from '../plan/seccomp-spawn';
import { applyCredentials, applyNoNewPrivileges } from '../init/credentials';
import { installSeccomp, seccompBeforeCredentials } from '../init/seccomp';

/**
 * The container process's identity, taken by the container thread before its posix_spawn, in
 * stage 2's order (init/main.ts, exec-main.ts): credentials, umask, no_new_privs, and the
 * seccomp filter where stage 2 loads it (first when the credentials drop CAP_SYS_ADMIN without
 * no_new_privs, which loading needs; else last).
 */
export function takeIdentity(s: Sys, p: PlannedProcess, seccomp: PlannedSeccomp | null | undefined): void {
  const early = !!seccomp && seccompBeforeCredentials(p.noNewPrivileges, p.caps ? p.caps.effective : null, p.uid);
  if (early) installSeccomp(s, seccomp!, -1, undefined);
  applyCredentials(s, p);
  s.umask(p.umask);
  applyNoNewPrivileges(s, p);
  if (seccomp && !early) installSeccomp(s, seccomp, -1, undefined);
}

/** What takeIdentity would make the container thread call, for plan/seccomp-spawn.ts. */
export function identityCalls(p: PlannedProcess, seccomp: PlannedSeccomp): SyscallCall[] {
  // A listener's fd is sent from the thread: never in process (seccomp-spawn.ts refuses it).
  if (seccomp.listener) return [];
  return recordSyscalls((s) => takeIdentity(s, p, seccomp));
}
