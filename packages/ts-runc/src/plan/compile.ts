import * as fs from 'fs';
import * as path from 'path';
import type { Spec, Process } from '@tsrt/oci-spec';
import { MS_BIND, MS_REC, MS_REMOUNT, MS_SLAVE, S_IFBLK, S_IFCHR, S_IFIFO } from '@tsrt/libc';
import { RuntimeError } from '../errors';
import { parseMountOptions, recursiveAttrs, PROPAGATION } from './mount-options';
import { capMask } from './capabilities';
import { planRlimits } from './rlimits';
import { DEFAULT_DEVICES } from './defaults';
import { planNamespaces, checkUserNamespace, type NamespacePlan } from './namespaces';
import type { InitPlan, PlannedDevice, PlannedMount, PlannedCaps, PlannedProcess } from './types';
import { planSeccomp, defaultBpfCache } from './seccomp';
import { planSysctl, planPersonality, planScheduler, planIoPriority, checkLsm, planStageHooks, planTimeNs, planCpuAffinity, planMemoryPolicy, checkUnsupported } from './fields';

export interface CompileContext {
  bundle: string;
  noPivot: boolean;
  /** /proc/sys/kernel/cap_last_cap of the host. */
  lastCap: number;
  /** The caller's umask: kept when process.user.umask is unset (config.md "should"). */
  callerUmask?: number;
  warn: (msg: string) => void;
  /** Debug-level notes (unknown seccomp syscalls, as runc). */
  debug?: (msg: string) => void;
  /** Whether a host path is a directory (injected so unit tests need no filesystem). */
  isDir?: (p: string) => boolean;
}

export interface Compiled {
  plan: InitPlan;
  namespaces: NamespacePlan;
  rootfs: string;
}

function defaultIsDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return true; // a missing source fails at mount time with the errno named
  }
}

function cleanDestination(d: string): string {
  // runc accepts relative destinations and treats them as relative to "/".
  return path.posix.normalize('/' + d);
}

function planMount(m: NonNullable<Spec['mounts']>[number], i: number, ctx: CompileContext, idmaps: NonNullable<InitPlan['idmaps']>): PlannedMount {
  if (!m.destination) throw new RuntimeError(`mounts[${i}].destination: must be set`);
  const opts = parseMountOptions(m.options);
  const isBind = (opts.flags & MS_BIND) !== 0 || m.type === 'bind';
  let flags = opts.flags;
  let source = m.source ?? '';
  if (isBind) {
    flags |= MS_BIND;
    if (!source) throw new RuntimeError(`mounts[${i}].source: a bind mount needs a source`);
    if (!path.isAbsolute(source)) source = path.join(ctx.bundle, source);
  }
  // A bind mount ignores every flag but MS_BIND|MS_REC on the first call: the rest needs a remount.
  const extra = flags & ~(MS_BIND | MS_REC | MS_REMOUNT);
  return {
    source,
    destination: cleanDestination(m.destination),
    fstype: isBind ? 'bind' : m.type ?? '',
    flags: isBind ? flags & (MS_BIND | MS_REC) : flags,
    data: opts.data.join(','),
    propagation: opts.propagation,
    remountFlags: isBind && extra ? extra : null,
    isFile: isBind ? !(ctx.isDir ?? defaultIsDir)(source) : false,
    recursive: recursiveAttrs(opts.extensions),
    tmpcopyup: opts.extensions.includes('tmpcopyup') && m.type === 'tmpfs',
    idmap: planIdmap(m, i, isBind, (flags & MS_REC) !== 0 || opts.extensions.includes('ridmap'), idmaps),
  };
}

/** mounts[i].uidMappings/gidMappings: an idmapped bind mount (runtime-spec 1.2). */
function planIdmap(m: NonNullable<Spec['mounts']>[number], i: number, isBind: boolean, recursive: boolean, idmaps: NonNullable<InitPlan['idmaps']>): PlannedMount['idmap'] {
  if (!m.uidMappings?.length && !m.gidMappings?.length) return null;
  if (!m.uidMappings?.length || !m.gidMappings?.length) throw new RuntimeError(`mounts[${i}]: an idmapped mount needs both uidMappings and gidMappings`);
  if (!isBind) throw new RuntimeError(`mounts[${i}]: idmapped mounts are supported for bind mounts only`);
  idmaps.push({ uidMappings: m.uidMappings, gidMappings: m.gidMappings });
  return { index: idmaps.length - 1, recursive };
}

const DEVICE_TYPES: Record<string, number> = { c: S_IFCHR, u: S_IFCHR, b: S_IFBLK, p: S_IFIFO };

function planDevice(d: NonNullable<NonNullable<Spec['linux']>['devices']>[number], i: number): PlannedDevice {
  const type = DEVICE_TYPES[d.type];
  if (type === undefined) throw new RuntimeError(`linux.devices[${i}].type: unknown device type "${d.type}"`);
  if (!d.path || !d.path.startsWith('/')) throw new RuntimeError(`linux.devices[${i}].path: must be an absolute path`);
  if (d.type !== 'p' && (d.major === undefined || d.minor === undefined)) {
    throw new RuntimeError(`linux.devices[${i}]: major and minor are required for type "${d.type}"`);
  }
  return {
    path: cleanDestination(d.path),
    strict: true,
    mode: type | ((d.fileMode ?? 0o666) & 0o7777),
    major: d.major ?? 0,
    minor: d.minor ?? 0,
    uid: d.uid ?? 0,
    gid: d.gid ?? 0,
  };
}

function planCaps(proc: Process, ctx: Pick<CompileContext, 'lastCap' | 'warn'>): PlannedCaps | null {
  const c = proc.capabilities;
  if (!c) return null;
  const f = (k: keyof typeof c) => capMask(`process.capabilities.${k}`, c[k], ctx.lastCap, ctx.warn).toString();
  return { bounding: f('bounding'), effective: f('effective'), permitted: f('permitted'), inheritable: f('inheritable'), ambient: f('ambient') };
}

/** The process part of a plan: shared by create (config.json) and exec (process.json). */
export function planProcess(proc: Process, ctx: Pick<CompileContext, 'lastCap' | 'warn' | 'callerUmask'>): PlannedProcess {
  const user = proc.user ?? { uid: 0, gid: 0 };
  return {
    args: proc.args ?? [],
    env: proc.env ?? [],
    cwd: proc.cwd,
    uid: user.uid,
    gid: user.gid,
    // Each group once, as runc (its group lookup collects them in a set): setgroups keeps repeats.
    additionalGids: [...new Set(user.additionalGids ?? [])],
    umask: user.umask ?? ctx.callerUmask ?? 0o022,
    noNewPrivileges: proc.noNewPrivileges === true,
    caps: planCaps(proc, ctx),
    rlimits: planRlimits(proc.rlimits),
    oomScoreAdj: proc.oomScoreAdj ?? null,
    terminal: proc.terminal === true,
    consoleSize: proc.consoleSize ?? null,
    scheduler: planScheduler(proc.scheduler),
    ioPriority: planIoPriority(proc.ioPriority),
    cpuAffinity: planCpuAffinity(proc.execCPUAffinity),
  };
}

/** Compile a validated config.json into the plan stage 2 executes. Pure but for isDir. */
export function compile(spec: Spec, ctx: CompileContext): Compiled {
  const proc = spec.process;
  if (!proc) throw new RuntimeError('process: must be set to create a container');
  if (!proc.args || proc.args.length === 0) throw new RuntimeError('process.args: must not be empty');
  if (!proc.cwd || !proc.cwd.startsWith('/')) throw new RuntimeError('process.cwd: must be an absolute path');
  if (!spec.root?.path) throw new RuntimeError('root.path: must be set');
  const rootfs = path.resolve(ctx.bundle, spec.root.path);

  const linux = spec.linux ?? {};
  const namespaces = planNamespaces(linux.namespaces);
  // Absent means the runtime's namespace (config-linux.md): runc and crun then mount there.
  const hostMountNs = !namespaces.create.includes('mount') && !namespaces.join.some((n) => n.type === 'mount');
  // A uts namespace joined by path is the container's own too: runc and crun set the name there.
  const uts = namespaces.create.includes('uts') || namespaces.join.some((n) => n.type === 'uts');
  if (spec.hostname && !uts) throw new RuntimeError('hostname: unable to set hostname without a private UTS namespace');
  if (spec.domainname && !uts) throw new RuntimeError('domainname: unable to set domainname without a private UTS namespace');
  checkUserNamespace(namespaces, linux);

  const idmaps: NonNullable<InitPlan['idmaps']> = [];
  const mounts = (spec.mounts ?? []).map((m, i) => planMount(m, i, ctx, idmaps));
  const devBound = mounts.some((m) => m.destination === '/dev' && m.fstype === 'bind');

  let rootPropagation = MS_SLAVE | MS_REC;
  if (linux.rootfsPropagation) {
    const p = PROPAGATION[linux.rootfsPropagation];
    if (p === undefined) throw new RuntimeError(`linux.rootfsPropagation: unknown value "${linux.rootfsPropagation}"`);
    rootPropagation = p;
  }

  const plan: InitPlan = {
    rootfs,
    rootPropagation,
    mounts,
    defaultDevices: !devBound,
    devices: [...(devBound ? [] : DEFAULT_DEVICES), ...(linux.devices ?? []).map(planDevice)],
    noPivot: ctx.noPivot,
    hostMountNs,
    readonlyRoot: spec.root.readonly === true,
    maskedPaths: linux.maskedPaths ?? [],
    readonlyPaths: linux.readonlyPaths ?? [],
    hostname: spec.hostname ?? null,
    domainname: spec.domainname ?? null,
    sysctl: planSysctl(linux.sysctl, namespaces, spec),
    newCgroupNs: namespaces.create.includes('cgroup'),
    newNetNs: namespaces.create.includes('network'),
    idmaps,
    userns: namespaces.create.includes('user') || namespaces.join.some((n) => n.type === 'user'),
    process: planProcess(proc, ctx),
    seccomp: planSeccomp(linux.seccomp, { debug: ctx.debug, cache: linux.seccomp ? defaultBpfCache() : undefined }),
    hooks: planStageHooks(spec.hooks),
    personality: planPersonality(linux.personality),
    memoryPolicy: planMemoryPolicy(linux.memoryPolicy),
    timeNs: planTimeNs(linux.timeOffsets as Record<string, { secs?: number; nanosecs?: number }> | undefined, namespaces),
  };
  checkLsm(spec, ctx.warn);
  checkUnsupported(linux);
  return { plan, namespaces, rootfs };
}
