import * as fs from 'fs';
import type { Spec, Process } from '@tsrt/oci-spec';
import { RuntimeError } from '../errors';
import { checkHooks } from '../hooks/run-hooks';
import type { NamespacePlan } from './namespaces';
import type { PlannedHook } from './types';

// The config fields beyond mounts/devices/caps: sysctl rules, personality, scheduler,
// ioPriority, LSM labels, stage-2 hooks. Pure but for the LSM probes (injectable).

/** IPC-namespaced sysctls (runc's list), besides everything under fs.mqueue. */
const IPC_SYSCTLS = new Set([
  'kernel.msgmax', 'kernel.msgmnb', 'kernel.msgmni', 'kernel.sem', 'kernel.shmall', 'kernel.shmmax', 'kernel.shmmni', 'kernel.shm_rmid_forced',
]);

function hasNs(ns: NamespacePlan, type: string): boolean {
  return ns.create.includes(type) || ns.join.some((j) => j.type === type);
}

/**
 * linux.sysctl as runc accepts it: only keys of a namespace the container does not share
 * with the host (ipc: kernel.{msg,sem,shm}*, fs.mqueue.*; net: net.*; uts: kernel.hostname and
 * kernel.domainname, unless the hostname/domainname field sets them too). Keys may use "/".
 */
export function planSysctl(sysctl: Record<string, string> | undefined, ns: NamespacePlan, spec: Pick<Spec, 'hostname' | 'domainname'>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [rawKey, value] of Object.entries(sysctl ?? {})) {
    const key = rawKey.replace(/\//g, '.');
    const f = `linux.sysctl["${rawKey}"]`;
    if (!/^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)+$/.test(key)) throw new RuntimeError(`${f}: invalid sysctl name`);
    if (typeof value !== 'string') throw new RuntimeError(`${f}: value must be a string`);
    if (IPC_SYSCTLS.has(key) || key.startsWith('fs.mqueue.')) {
      if (!hasNs(ns, 'ipc')) throw new RuntimeError(`${f}: sysctl "${key}" is not allowed in the hosts ipc namespace`);
    } else if (key.startsWith('net.')) {
      if (!hasNs(ns, 'network')) throw new RuntimeError(`${f}: sysctl "${key}" not allowed in host network namespace`);
    } else if (key === 'kernel.hostname' || key === 'kernel.domainname') {
      if (!hasNs(ns, 'uts')) throw new RuntimeError(`${f}: sysctl "${key}" is not allowed in the host's uts namespace`);
      const field = key === 'kernel.hostname' ? 'hostname' : 'domainname';
      const set = spec[field];
      if (set && set !== value) throw new RuntimeError(`${f}: sysctl "${key}" conflicts with the ${field} field ("${set}")`);
    } else {
      throw new RuntimeError(`${f}: sysctl "${key}" is not in a separate kernel namespace`);
    }
    out[key] = value;
  }
  return out;
}

const PER_DOMAINS: Record<string, number> = { LINUX: 0x0000, LINUX32: 0x0008 };
const PER_FLAGS: Record<string, number> = {
  UNAME26: 0x0020000, ADDR_NO_RANDOMIZE: 0x0040000, FDPIC_FUNCPTRS: 0x0080000, MMAP_PAGE_ZERO: 0x0100000,
  ADDR_COMPAT_LAYOUT: 0x0200000, READ_IMPLIES_EXEC: 0x0400000, ADDR_LIMIT_32BIT: 0x0800000, SHORT_INODE: 0x1000000,
  WHOLE_SECONDS: 0x2000000, STICKY_TIMEOUTS: 0x4000000, ADDR_LIMIT_3GB: 0x8000000,
};

export function planPersonality(p: { domain?: string; flags?: string[] } | undefined): number | null {
  if (!p) return null;
  const d = PER_DOMAINS[p.domain ?? ''];
  if (d === undefined) throw new RuntimeError(`linux.personality.domain: unknown domain "${p.domain}" (LINUX or LINUX32)`);
  let v = d;
  (p.flags ?? []).forEach((name, i) => {
    const bit = PER_FLAGS[name];
    if (bit === undefined) throw new RuntimeError(`linux.personality.flags[${i}]: unknown flag "${name}"`);
    v |= bit;
  });
  return v;
}

const SCHED_POLICIES: Record<string, number> = {
  SCHED_OTHER: 0, SCHED_FIFO: 1, SCHED_RR: 2, SCHED_BATCH: 3, SCHED_ISO: 4, SCHED_IDLE: 5, SCHED_DEADLINE: 6,
};
const SCHED_FLAGS: Record<string, number> = {
  SCHED_FLAG_RESET_ON_FORK: 0x01, SCHED_FLAG_RECLAIM: 0x02, SCHED_FLAG_DL_OVERRUN: 0x04, SCHED_FLAG_KEEP_POLICY: 0x08,
  SCHED_FLAG_KEEP_PARAMS: 0x10, SCHED_FLAG_UTIL_CLAMP_MIN: 0x20, SCHED_FLAG_UTIL_CLAMP_MAX: 0x40,
};

/** process.scheduler -> struct sched_attr (48 bytes, SCHED_ATTR_SIZE_VER0), base64. */
export function planScheduler(s: Process['scheduler']): string | null {
  if (!s) return null;
  const f = 'process.scheduler';
  const policy = SCHED_POLICIES[s.policy];
  if (policy === undefined) throw new RuntimeError(`${f}.policy: unknown policy "${s.policy}"`);
  let flags = 0;
  (s.flags ?? []).forEach((name, i) => {
    const bit = SCHED_FLAGS[name];
    if (bit === undefined) throw new RuntimeError(`${f}.flags[${i}]: unknown flag "${name}"`);
    if (bit >= 0x20) throw new RuntimeError(`${f}.flags[${i}]: ${name} is not supported (no utilization clamp values in the spec)`);
    flags |= bit;
  });
  const nice = s.nice ?? 0;
  if (!Number.isInteger(nice) || nice < -20 || nice > 19) throw new RuntimeError(`${f}.nice: must be -20 to 19, not ${nice}`);
  const prio = s.priority ?? 0;
  const realtime = policy === 1 || policy === 2;
  if (realtime && (!Number.isInteger(prio) || prio < 1 || prio > 99)) throw new RuntimeError(`${f}.priority: must be 1 to 99 for ${s.policy}, not ${prio}`);
  if (!realtime && prio !== 0) throw new RuntimeError(`${f}.priority: must be 0 for ${s.policy}`);
  const dl = [s.runtime, s.deadline, s.period];
  if (policy !== 6 && dl.some((v) => v)) throw new RuntimeError(`${f}: runtime, deadline and period are only for SCHED_DEADLINE`);
  const b = Buffer.alloc(48);
  b.writeUInt32LE(48, 0);
  b.writeUInt32LE(policy, 4);
  b.writeBigUInt64LE(BigInt(flags), 8);
  b.writeInt32LE(nice, 16);
  b.writeUInt32LE(prio, 20);
  b.writeBigUInt64LE(BigInt(s.runtime ?? 0), 24);
  b.writeBigUInt64LE(BigInt(s.deadline ?? 0), 32);
  b.writeBigUInt64LE(BigInt(s.period ?? 0), 40);
  return b.toString('base64');
}

const IOPRIO_CLASSES: Record<string, number> = { IOPRIO_CLASS_RT: 1, IOPRIO_CLASS_BE: 2, IOPRIO_CLASS_IDLE: 3 };

/** process.ioPriority -> the ioprio value (class << 13 | level). */
export function planIoPriority(p: Process['ioPriority']): number | null {
  if (!p) return null;
  const c = IOPRIO_CLASSES[p.class];
  if (c === undefined) throw new RuntimeError(`process.ioPriority.class: unknown class "${p.class}"`);
  const prio = p.priority ?? 0;
  if (!Number.isInteger(prio) || prio < 0 || prio > 7) throw new RuntimeError(`process.ioPriority.priority: must be 0 to 7, not ${prio}`);
  return (c << 13) | prio;
}

export interface LsmProbe {
  apparmor(): boolean;
  selinux(): boolean;
}

export const hostLsm: LsmProbe = {
  apparmor() {
    try {
      return fs.readFileSync('/sys/module/apparmor/parameters/enabled', 'utf8').trim() === 'Y';
    } catch {
      return false;
    }
  },
  selinux() {
    return fs.existsSync('/sys/fs/selinux/enforce');
  },
};

/** process.apparmorProfile / process.selinuxLabel / linux.mountLabel against what the host has. */
export function checkLsm(spec: { process?: Pick<Process, 'apparmorProfile' | 'selinuxLabel'>; linux?: { mountLabel?: string } }, warn: (m: string) => void, lsm: LsmProbe = hostLsm): void {
  const profile = spec.process?.apparmorProfile;
  if (profile) {
    if (!lsm.apparmor()) throw new RuntimeError(`process.apparmorProfile: profile "${profile}" is set but AppArmor is not enabled on this host`);
    throw new RuntimeError(`process.apparmorProfile: profile "${profile}": AppArmor profiles are not supported by ts-runc yet`);
  }
  if (spec.process?.selinuxLabel) {
    if (lsm.selinux()) throw new RuntimeError('process.selinuxLabel: SELinux labels are not supported by ts-runc yet');
    warn(`process.selinuxLabel: SELinux is not enabled on this host, label "${spec.process.selinuxLabel}" ignored`);
  }
  if (spec.linux?.mountLabel) {
    if (lsm.selinux()) throw new RuntimeError('linux.mountLabel: SELinux labels are not supported by ts-runc yet');
    warn(`linux.mountLabel: SELinux is not enabled on this host, label "${spec.linux.mountLabel}" ignored`);
  }
}

/** The hooks stage 2 runs (createContainer, startContainer), and whether it must ask for the runtime ones. */
export function planStageHooks(hooks: Spec['hooks']): { createContainer: PlannedHook[]; startContainer: PlannedHook[]; runtimeHooks: boolean } {
  let h;
  try {
    h = checkHooks(hooks);
  } catch (e) {
    throw new RuntimeError((e as Error).message);
  }
  const conv = (l: typeof h.prestart): PlannedHook[] =>
    (l ?? []).map((x) => ({ path: x.path, args: x.args ?? [], env: x.env ?? [], timeout: x.timeout ?? null }));
  return {
    createContainer: conv(h.createContainer),
    startContainer: conv(h.startContainer),
    runtimeHooks: (h.prestart?.length ?? 0) + (h.createRuntime?.length ?? 0) > 0,
  };
}

/**
 * linux.timeOffsets and a new time namespace: stage 2 unshares CLONE_NEWTIME for its children
 * and writes the offsets before anything enters it; the container process enters on execve.
 * One joined by path is entered by stage 2's clone child (setns into a time namespace needs a
 * single-threaded caller), so stage 2 has nothing to do for it.
 */
type TimeOffsets = Record<string, { secs?: number; nanosecs?: number } | undefined>;

export function planTimeNs(offsets: TimeOffsets | undefined, ns: NamespacePlan): { offsets: string } | null {
  const create = ns.create.includes('time');
  if (!offsets || Object.keys(offsets).length === 0) return create ? { offsets: '' } : null;
  if (!create) throw new RuntimeError('linux.timeOffsets: time offsets need a new time namespace in linux.namespaces');
  const lines: string[] = [];
  for (const [clock, o] of Object.entries(offsets)) {
    if (clock !== 'monotonic' && clock !== 'boottime') throw new RuntimeError(`linux.timeOffsets.${clock}: unknown clock (monotonic or boottime)`);
    const secs = o?.secs ?? 0, nanos = o?.nanosecs ?? 0;
    if (!Number.isInteger(secs)) throw new RuntimeError(`linux.timeOffsets.${clock}.secs: must be an integer`);
    if (!Number.isInteger(nanos) || nanos < 0 || nanos > 999999999) throw new RuntimeError(`linux.timeOffsets.${clock}.nanosecs: must be 0 to 999999999`);
    lines.push(`${clock} ${secs} ${nanos}`);
  }
  return { offsets: lines.join('\n') };
}

/** A Linux list ("0-3,7") as a bitmap of `bytes` bytes; null when the text is not one. */
export function parseBitList(text: string, bytes: number): Buffer | null {
  const b = Buffer.alloc(bytes);
  const t = text.trim();
  if (t === '') return b;
  for (const part of t.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) return null;
    const lo = Number(m[1]), hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo || hi >= bytes * 8) return null;
    for (let i = lo; i <= hi; i++) b[i >> 3] |= 1 << (i & 7);
  }
  return b;
}

const CPU_SET_BYTES = 128; // 1024 CPUs, glibc's cpu_set_t

/** process.execCPUAffinity -> cpu_set_t masks (base64): initial before the cgroup join, final before execve. */
export function planCpuAffinity(a: Process['execCPUAffinity']): { initial: string | null; final: string | null } | null {
  if (!a) return null;
  const one = (k: 'initial' | 'final'): string | null => {
    const v = a[k];
    if (v === undefined) return null;
    const b = typeof v === 'string' ? parseBitList(v, CPU_SET_BYTES) : null;
    if (!b || b.every((x) => x === 0)) throw new RuntimeError(`process.execCPUAffinity.${k}: invalid cpu list ${JSON.stringify(v)}`);
    return b.toString('base64');
  };
  return { initial: one('initial'), final: one('final') };
}

const MPOL_MODES: Record<string, number> = {
  MPOL_DEFAULT: 0, MPOL_PREFERRED: 1, MPOL_BIND: 2, MPOL_INTERLEAVE: 3, MPOL_LOCAL: 4, MPOL_PREFERRED_MANY: 5, MPOL_WEIGHTED_INTERLEAVE: 6,
};
const MPOL_FLAGS: Record<string, number> = { MPOL_F_NUMA_BALANCING: 1 << 13, MPOL_F_RELATIVE_NODES: 1 << 14, MPOL_F_STATIC_NODES: 1 << 15 };
export const MEMORY_POLICY_MODES = Object.keys(MPOL_MODES);
export const MEMORY_POLICY_FLAGS = Object.keys(MPOL_FLAGS);
const NODEMASK_BYTES = 128; // 1024 nodes

/** linux.memoryPolicy -> set_mempolicy(2) arguments. */
export function planMemoryPolicy(p: { mode: string; nodes?: string; flags?: string[] } | undefined): { mode: number; nodes: string | null; maxnode: number } | null {
  if (!p) return null;
  const f = 'linux.memoryPolicy';
  const mode = MPOL_MODES[p.mode];
  if (mode === undefined) throw new RuntimeError(`${f}.mode: unknown mode "${p.mode}"`);
  let flags = 0;
  (p.flags ?? []).forEach((name, i) => {
    const bit = MPOL_FLAGS[name];
    if (bit === undefined) throw new RuntimeError(`${f}.flags[${i}]: unknown flag "${name}"`);
    flags |= bit;
  });
  const nodes = p.nodes ?? '';
  const mask = parseBitList(nodes, NODEMASK_BYTES);
  if (!mask) throw new RuntimeError(`${f}.nodes: invalid node list ${JSON.stringify(nodes)}`);
  const empty = mask.every((x) => x === 0);
  if ((p.mode === 'MPOL_DEFAULT' || p.mode === 'MPOL_LOCAL') && !empty) throw new RuntimeError(`${f}.nodes: must be empty for ${p.mode}`);
  if ((p.mode === 'MPOL_DEFAULT' || p.mode === 'MPOL_LOCAL') && flags) throw new RuntimeError(`${f}.flags: not allowed with ${p.mode}`);
  if (!['MPOL_DEFAULT', 'MPOL_LOCAL', 'MPOL_PREFERRED'].includes(p.mode) && empty) throw new RuntimeError(`${f}.nodes: ${p.mode} needs at least one node`);
  return { mode: mode | flags, nodes: empty ? null : mask.toString('base64'), maxnode: empty ? 0 : NODEMASK_BYTES * 8 + 1 };
}

/** Fields ts-runc cannot honour on this host: an error naming them rather than silence. */
export function checkUnsupported(linux: { netDevices?: unknown; intelRdt?: unknown } | undefined): void {
  if (linux?.netDevices && Object.keys(linux.netDevices as object).length) {
    throw new RuntimeError('linux.netDevices: moving network devices into the container is not supported by ts-runc');
  }
  if (linux?.intelRdt) {
    const resctrl = (() => {
      try {
        return fs.readFileSync('/proc/filesystems', 'utf8').includes('resctrl');
      } catch {
        return false;
      }
    })();
    throw new RuntimeError(resctrl ? 'linux.intelRdt: Intel RDT is not supported by ts-runc' : 'linux.intelRdt: Intel RDT is not supported or not enabled on this host (no resctrl)');
  }
}
