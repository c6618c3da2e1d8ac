/**
 * Where the cgroup hierarchies are (v1, v2 or hybrid, read from /proc/self/mountinfo at run
 * time) and where a container's cgroup goes in each (cgroupsPath absolute, relative or unset,
 * resolved as runc does; the systemd slice:prefix:name form is recognised and refused with a
 * clear error when systemd is not running).
 */
import * as fs from 'fs';
import * as path from 'path';
import { CgroupError, type CgroupMode } from './types';

export interface CgroupMount {
  mountPoint: string;
  /** The mount's root within the hierarchy ("/" unless a sub-tree is mounted). */
  root: string;
}

export interface Hierarchies {
  mode: CgroupMode;
  /** The cgroup2 mount (v2 root, or the hybrid /sys/fs/cgroup/unified). */
  unified?: CgroupMount;
  /** v1 controller name -> mount (co-mounted controllers share one). Named hierarchies as "name=systemd". */
  v1: Record<string, CgroupMount>;
}

/** Super-options of a v1 cgroup mount that are not controllers. */
const NOT_CONTROLLERS = new Set(['rw', 'ro', 'xattr', 'noprefix', 'clone_children', 'cpuset_v2_mode', 'favordynmods', 'nsdelegate', 'memory_recursiveprot']);

/** Undo mountinfo's octal escapes (\040 for a space). */
function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export function parseMountInfo(text: string): Array<{ mountPoint: string; root: string; fstype: string; superOptions: string[] }> {
  const out = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const [left, right] = line.split(' - ');
    if (!right) continue;
    const f = left.split(' ');
    const r = right.split(' ');
    out.push({ root: unescape(f[3]), mountPoint: unescape(f[4]), fstype: r[0], superOptions: (r[2] ?? '').split(',') });
  }
  return out;
}

/**
 * Detect the layout. v2: /sys/fs/cgroup itself is cgroup2. hybrid: v1 controllers plus a
 * cgroup2 mount at /sys/fs/cgroup/unified. v1: v1 controllers only.
 */
export function detectHierarchies(mountinfo?: string, cgroupRoot = '/sys/fs/cgroup'): Hierarchies {
  const mounts = parseMountInfo(mountinfo ?? fs.readFileSync('/proc/self/mountinfo', 'utf8'));
  const v1: Record<string, CgroupMount> = {};
  let unified: CgroupMount | undefined;
  let rootIsV2 = false;
  for (const m of mounts) {
    if (m.fstype === 'cgroup2') {
      if (m.mountPoint === cgroupRoot) {
        rootIsV2 = true;
        unified = { mountPoint: m.mountPoint, root: m.root };
      } else if (m.mountPoint === path.join(cgroupRoot, 'unified') && !rootIsV2) {
        unified = { mountPoint: m.mountPoint, root: m.root };
      }
    } else if (m.fstype === 'cgroup') {
      for (const opt of m.superOptions) {
        if (NOT_CONTROLLERS.has(opt) || opt.startsWith('release_agent=')) continue;
        // The first mount of a controller wins (later ones are usually bind mounts elsewhere).
        if (!v1[opt]) v1[opt] = { mountPoint: m.mountPoint, root: m.root };
      }
    }
  }
  if (rootIsV2) return { mode: 'v2', unified, v1: {} };
  if (Object.keys(v1).length) return { mode: unified ? 'hybrid' : 'v1', unified, v1 };
  if (unified) return { mode: 'v2', unified, v1: {} };
  throw new CgroupError(`no cgroup filesystem is mounted at ${cgroupRoot}`);
}

/** /proc/<pid>/cgroup: controller -> path; the v2 entry ("0::/x") is under "". */
export function parseProcCgroup(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    if (m[1] === '0' && m[2] === '') out[''] = m[3];
    else for (const c of m[2].split(',')) out[c] = m[3];
  }
  return out;
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

/**
 * The directory of `inner` in one hierarchy. Absolute: mount + inner. Relative: below our own
 * cgroup in that hierarchy (v2 proper: below its parent, since our own cgroup has processes
 * and could not enable controllers for a child).
 */
export function hierarchyDir(mount: CgroupMount, inner: string, ownPath: string | undefined, v2Parent = false): string {
  if (path.posix.isAbsolute(inner)) return path.posix.join(mount.mountPoint, inner);
  let own = ownPath ?? '/';
  // Our cgroup as seen from this mount (a mount of a sub-tree hides the part above its root).
  if (mount.root !== '/' && (own === mount.root || own.startsWith(mount.root + '/'))) own = own.slice(mount.root.length) || '/';
  if (v2Parent) own = path.posix.dirname(own);
  return path.posix.join(mount.mountPoint, own, inner);
}
