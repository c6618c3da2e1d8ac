import * as path from 'path';
import type { ImageConfig, Spec, Mount, LinuxIDMapping } from '@tsrt/oci-spec';
import { resolveUser } from './passwd';
import { dedupeEnv, hasVar } from './env';

export interface ConfigOptions {
  rootless?: boolean;
  uidMap?: LinuxIDMapping[];
  gidMap?: LinuxIDMapping[];
  /** Contents of the rootfs's /etc/passwd and /etc/group (null when absent). */
  passwd: string | null;
  group: string | null;
  hostname?: string;
}

const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const DEFAULT_CAPS = ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'];
const MASKED = [
  '/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
  '/proc/timer_stats', '/proc/sched_debug', '/sys/firmware', '/proc/scsi',
];
const READONLY = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

/** Default mounts as `runc spec` (and `runc spec --rootless`) write them. */
function defaultMounts(rootless: boolean): Mount[] {
  const m: Mount[] = [
    { destination: '/proc', type: 'proc', source: 'proc' },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    {
      destination: '/dev/pts', type: 'devpts', source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', ...(rootless ? [] : ['gid=5'])],
    },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
  ];
  if (rootless) {
    m.push({ destination: '/sys', type: 'none', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'] });
  } else {
    m.push({ destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] });
  }
  m.push({ destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] });
  return m;
}

/** A Volumes key as a mount destination: absolute, clean, no "..": anything else is an error. */
export function volumeDestination(v: string): string {
  if (!v.startsWith('/')) throw new Error(`Config.Volumes ${JSON.stringify(v)}: not an absolute path`);
  if (v.split('/').includes('..')) throw new Error(`Config.Volumes ${JSON.stringify(v)}: ".." in path`);
  if (v.includes('\0')) throw new Error(`Config.Volumes: NUL in path`);
  const c = path.posix.normalize(v).replace(/\/+$/, '');
  if (c === '' || c === '/') throw new Error(`Config.Volumes ${JSON.stringify(v)}: cannot mount over /`);
  return c;
}

/**
 * Image config -> runtime config.json: conversion.md (verbatim, annotation and parsed fields,
 * ExposedPorts annotation, Volumes as tmpfs mounts) on top of `runc spec` defaults.
 */
export function buildRuntimeConfig(img: ImageConfig, opts: ConfigOptions): Spec {
  const c = img.config ?? {};
  const env = dedupeEnv(Array.isArray(c.Env) ? c.Env : []);
  if (!hasVar(env, 'PATH')) env.unshift(DEFAULT_PATH);
  const ep = Array.isArray(c.Entrypoint) ? c.Entrypoint : [];
  const cmd = Array.isArray(c.Cmd) ? c.Cmd : [];
  let args = [...ep, ...cmd];
  if (args.length === 0) args = ['sh'];
  const user = resolveUser(c.User, opts.passwd, opts.group);
  // conversion.md allows added entries whose names the image does not set; TERM is not one (no terminal)
  if (user.home && !hasVar(env, 'HOME')) env.push(`HOME=${user.home}`);

  const annotations: Record<string, string> = {};
  const put = (k: string, v: unknown): void => {
    if (v === undefined || v === null) return;
    annotations[k] = Array.isArray(v) ? v.join(',') : String(v);
  };
  put('org.opencontainers.image.os', img.os);
  put('org.opencontainers.image.architecture', img.architecture);
  put('org.opencontainers.image.variant', img.variant);
  put('org.opencontainers.image.os.version', img['os.version']);
  put('org.opencontainers.image.os.features', img['os.features']);
  put('org.opencontainers.image.author', img.author);
  put('org.opencontainers.image.created', img.created);
  put('org.opencontainers.image.stopSignal', c.StopSignal);
  if (c.ExposedPorts && typeof c.ExposedPorts === 'object') {
    const ports = Object.keys(c.ExposedPorts).sort();
    if (ports.length > 0) put('org.opencontainers.image.exposedPorts', ports.join(','));
  }
  if (c.Labels && typeof c.Labels === 'object') {
    for (const [k, v] of Object.entries(c.Labels)) annotations[k] = String(v);
  }

  const rootless = !!opts.rootless;
  const mounts = defaultMounts(rootless);
  if (c.Volumes && typeof c.Volumes === 'object') {
    for (const v of Object.keys(c.Volumes).sort()) {
      mounts.push({ destination: volumeDestination(v), type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=755'] });
    }
  }

  const namespaces: { type: 'pid' | 'network' | 'ipc' | 'uts' | 'mount' | 'user' }[] = [
    { type: 'pid' }, ...(rootless ? [] : [{ type: 'network' as const }]), { type: 'ipc' }, { type: 'uts' }, { type: 'mount' },
  ];
  const userns = rootless || (opts.uidMap?.length ?? 0) > 0 || (opts.gidMap?.length ?? 0) > 0;
  const linux: NonNullable<Spec['linux']> = {};
  if (userns) {
    namespaces.push({ type: 'user' });
    const uid = process.geteuid?.() ?? 0;
    const gid = process.getegid?.() ?? 0;
    linux.uidMappings = opts.uidMap?.length ? opts.uidMap : [{ containerID: 0, hostID: uid, size: 1 }];
    linux.gidMappings = opts.gidMap?.length ? opts.gidMap : [{ containerID: 0, hostID: gid, size: 1 }];
  }
  if (!rootless) linux.resources = { devices: [{ allow: false, access: 'rwm' }] };
  linux.namespaces = namespaces;
  linux.maskedPaths = [...MASKED];
  linux.readonlyPaths = [...READONLY];

  const process_: Spec['process'] = {
    terminal: false,
    user: { uid: user.uid, gid: user.gid, ...(user.additionalGids ? { additionalGids: user.additionalGids } : {}) },
    args,
    env,
    cwd: c.WorkingDir && c.WorkingDir !== '' ? c.WorkingDir : '/',
    capabilities: {
      bounding: [...DEFAULT_CAPS],
      effective: [...DEFAULT_CAPS],
      permitted: [...DEFAULT_CAPS],
      ambient: [...DEFAULT_CAPS],
    },
    rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
    noNewPrivileges: true,
  };
  const spec: Spec = {
    ociVersion: '1.0.2',
    process: process_,
    root: { path: 'rootfs', readonly: false },
    hostname: opts.hostname ?? 'ts-img',
    mounts,
    annotations,
    linux,
  };
  return spec;
}
