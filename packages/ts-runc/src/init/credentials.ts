import * as fs from 'fs';
import { PR_CAPBSET_DROP, PR_SET_KEEPCAPS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, PR_CAP_AMBIENT_CLEAR_ALL, PR_SET_NO_NEW_PRIVS, type Sys } from '@tsrt/libc';
import type { PlannedProcess } from '../plan/types';

function setgroupsDenied(): boolean {
  try {
    return fs.readFileSync('/proc/self/setgroups', 'utf8').trim() === 'deny';
  } catch {
    return false;
  }
}

let cachedLastCap: number | undefined;
/** Read once: the in-process create records applyCredentials after /proc is out of its view. */
export function lastCap(): number {
  cachedLastCap ??= Number(fs.readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8').trim());
  return cachedLastCap;
}

/**
 * Bounding set, then ids (capabilities kept across the uid change), then the other four sets.
 * Only this thread changes (raw syscalls); execve() makes it the whole process.
 */
export function applyCredentials(sys: Sys, p: PlannedProcess): void {
  const caps = p.caps;
  if (caps) {
    const bounding = BigInt(caps.bounding);
    const last = lastCap();
    for (let c = 0; c <= last; c++) {
      if (!(bounding & (1n << BigInt(c)))) sys.prctl(PR_CAPBSET_DROP, c);
    }
  }
  sys.prctl(PR_SET_KEEPCAPS, 1);
  try {
    sys.setgroups(p.additionalGids);
  } catch (e) {
    // A rootless user namespace has setgroups denied; with no extra groups there is nothing to do.
    if (p.additionalGids.length || !setgroupsDenied()) throw e;
  }
  sys.setresgid(p.gid, p.gid, p.gid);
  sys.setresuid(p.uid, p.uid, p.uid);
  sys.prctl(PR_SET_KEEPCAPS, 0);
  if (caps) {
    sys.capset({ effective: BigInt(caps.effective), permitted: BigInt(caps.permitted), inheritable: BigInt(caps.inheritable) });
    sys.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL);
    // The kernel only raises ambient caps that are permitted and inheritable; `runc spec`
    // configs list ambient caps without inheritable ones, and runc skips those silently too.
    const ambient = BigInt(caps.ambient) & BigInt(caps.permitted) & BigInt(caps.inheritable);
    for (let c = 0; c < 64; c++) {
      if (ambient & (1n << BigInt(c))) sys.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c);
    }
  }
}

export function applyNoNewPrivileges(sys: Sys, p: PlannedProcess): void {
  if (p.noNewPrivileges) sys.prctl(PR_SET_NO_NEW_PRIVS, 1);
}

export function applyRlimits(sys: Sys, p: PlannedProcess): void {
  for (const r of p.rlimits) {
    try {
      sys.prlimit(r.resource, { soft: BigInt(r.soft), hard: BigInt(r.hard) });
    } catch (e) {
      const code = (e as { code?: string }).code;
      const hint = code === 'EPERM' ? ' (raising a hard limit above the runtime\'s own needs CAP_SYS_RESOURCE)' : '';
      throw new Error(`process.rlimits: setrlimit ${r.name} (soft ${r.soft}, hard ${r.hard}): ${code ?? e}${hint}`);
    }
  }
}

const IOPRIO_WHO_PROCESS = 1;

/** process.scheduler (sched_setattr) and process.ioPriority (ioprio_set) for this thread. */
export function applySchedIo(sys: Sys, p: PlannedProcess): void {
  if (p.scheduler) {
    try {
      sys.schedSetattr(0, Buffer.from(p.scheduler, 'base64'), 0);
    } catch (e) {
      throw new Error(`process.scheduler: sched_setattr: ${(e as { code?: string }).code ?? e}`);
    }
  }
  if (p.ioPriority !== null && p.ioPriority !== undefined) {
    try {
      sys.ioprioSet(IOPRIO_WHO_PROCESS, 0, p.ioPriority);
    } catch (e) {
      throw new Error(`process.ioPriority: ioprio_set: ${(e as { code?: string }).code ?? e}`);
    }
  }
}

/** process.execCPUAffinity: `which` mask for this thread (inherited by execve). */
export function applyCpuAffinity(sys: Sys, p: PlannedProcess, which: 'initial' | 'final'): void {
  const mask = p.cpuAffinity?.[which];
  if (!mask) return;
  try {
    sys.schedSetaffinity(0, Buffer.from(mask, 'base64'));
  } catch (e) {
    throw new Error(`process.execCPUAffinity.${which}: sched_setaffinity: ${(e as { code?: string }).code ?? e}`);
  }
}

/** linux.memoryPolicy for this thread (kept across execve). */
export function applyMemoryPolicy(sys: Sys, mp: { mode: number; nodes: string | null; maxnode: number } | null | undefined): void {
  if (!mp) return;
  try {
    sys.setMempolicy(mp.mode, mp.nodes ? Buffer.from(mp.nodes, 'base64') : null, mp.maxnode);
  } catch (e) {
    throw new Error(`linux.memoryPolicy: set_mempolicy: ${(e as { code?: string }).code ?? e}`);
  }
}

/**
 * The container process's per-thread settings short of its identity (scheduler, I/O priority,
 * final CPU affinity, memory policy, personality): made by stage 2 on itself, and recorded for
 * the container thread by the in-process create, the same code on both paths.
 */
export function threadSettings(sys: Sys, plan: { process: PlannedProcess; memoryPolicy?: { mode: number; nodes: string | null; maxnode: number } | null; personality?: number | null }): void {
  applySchedIo(sys, plan.process);
  applyCpuAffinity(sys, plan.process, 'final');
  applyMemoryPolicy(sys, plan.memoryPolicy);
  if (plan.personality !== null && plan.personality !== undefined) {
    try {
      sys.personality(plan.personality);
    } catch (e) {
      throw new Error(`linux.personality: ${(e as Error).message}`);
    }
  }
}

export function applyOomScoreAdj(p: PlannedProcess): void {
  if (p.oomScoreAdj === null) return;
  try {
    fs.writeFileSync('/proc/self/oom_score_adj', String(p.oomScoreAdj));
  } catch (e) {
    throw new Error(`process.oomScoreAdj: cannot set ${p.oomScoreAdj}: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
}

/** The session keyring; tolerated refusals (as runc): no keyring support, or none allowed here. */
export function joinKeyring(sys: Sys, name: string | null | undefined): void {
  if (!name) return;
  try {
    sys.joinSessionKeyring(name);
  } catch (e) {
    // No keyring support (ENOSYS) or none allowed here (a user namespace's quota): go on, as runc.
    if (!keyringRefusalTolerated(e)) throw e;
  }
}

export function keyringRefusalTolerated(e: unknown): boolean {
  return ['ENOSYS', 'EACCES', 'EDQUOT', 'EPERM'].includes((e as { code?: string }).code ?? '');
}
