/**
 * Where the cgroup hierarchies are (v1, v2 or hybrid, read from /proc/self/mountinfo at run
 * time) and where a container's cgroup goes in each (cgroupsPath absolute, relative or unset,
 * resolved as runc does; the systemd slice:prefix:name form is recognised and refused with a
 * clear error when systemd is not running).
 */
import * as fs from 'fs';
import * as path from 'path';
import { CgroupError } from './types';
import { findHierarchies, type Hierarchies } from './hierarchies';

export { parseMountInfo, parseProcCgroup, hierarchyDir } from './hierarchies';
export type { CgroupMount, Hierarchies } from './hierarchies';

/**
 * Detect the layout. v2: /sys/fs/cgroup itself is cgroup2. hybrid: v1 controllers plus a
 * cgroup2 mount at /sys/fs/cgroup/unified. v1: v1 controllers only.
 */
export function detectHierarchies(mountinfo?: string, cgroupRoot = '/sys/fs/cgroup'): Hierarchies {
  const h = findHierarchies(mountinfo ?? fs.readFileSync('/proc/self/mountinfo', 'utf8'), cgroupRoot);
  if (!h) throw new CgroupError(`no cgroup filesystem is mounted at ${cgroupRoot}`);
  return h;
}

/**
 * runc's CleanPath: lexically clean; a relative path stays relative but can never climb
 * above its base ("../../x" -> "x").
 */
export function cleanPath(p: string): string {
  if (p === '') return '';
  const cleaned = path.posix.normalize(p);
  if (path.posix.isAbsolute(cleaned)) return cleaned === '/' ? '/' : cleaned.replace(/\/+$/, '');
  const rooted = path.posix.normalize('/' + cleaned);
  const rel = path.posix.relative('/', rooted);
  return rel === '' ? '' : rel;
}

export interface SystemdUnitPath {
  slice: string;
  prefix: string;
  name: string;
}

export interface PathRequest {
  /** The container id (the default cgroup name). */
  id: string;
  /** linux.cgroupsPath from config.json, if any. */
  cgroupsPath?: string;
  /** --systemd-cgroup was given. */
  systemd?: boolean;
  /** Test hook: is systemd the init system? Default: /run/systemd/system is a directory. */
  systemdRunning?: () => boolean;
}

/** Is systemd managing this machine (sd_booted's test)? */
export function isSystemdRunning(): boolean {
  try {
    return fs.statSync('/run/systemd/system').isDirectory();
  } catch {
    return false;
  }
}

/**
 * The inner cgroup path to use in every hierarchy. Absolute paths are used as is under each
 * mount; a relative path (and the default, which is the container id) is resolved by the
 * manager relative to the runtime's own cgroup, as runc does.
 */
export function resolveInnerPath(req: PathRequest): string {
  if (req.systemd) {
    const cp = req.cgroupsPath ?? '';
    if (cp !== '' && cp.split(':').length !== 3) {
      throw new CgroupError(`expected cgroupsPath to be of format "slice:prefix:name" for systemd cgroups, got ${JSON.stringify(cp)} instead`);
    }
    const running = (req.systemdRunning ?? isSystemdRunning)();
    if (!running) {
      throw new CgroupError('systemd cgroup flag passed, but systemd support for managing cgroups is not available (systemd is not running as PID 1 on this machine)');
    }
    throw new CgroupError('the systemd cgroup driver is not supported by ts-runc yet: run without --systemd-cgroup');
  }
  const cp = cleanPath(req.cgroupsPath ?? '');
  if (cp === '') return req.id; // relative: under our own cgroup
  return cp;
}

export function parseSystemdPath(cp: string): SystemdUnitPath {
  const parts = cp.split(':');
  if (parts.length !== 3) {
    throw new CgroupError(`expected cgroupsPath to be of format "slice:prefix:name" for systemd cgroups, got ${JSON.stringify(cp)} instead`);
  }
  return { slice: parts[0], prefix: parts[1], name: parts[2] };
}
