/**
 * The cgroup hierarchies as /proc shows them: mountinfo's cgroup mounts and /proc/PID/cgroup,
 * and where a cgroup of ours is in a mount. No imports beyond path: cli/launch.ts loads this
 * (through migration-warmup.ts) outside the bundle, at every create, run and exec.
 */
import path from 'path';
import type { CgroupMode } from './types';

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

/** The layout that `mountinfo` shows (paths.ts detectHierarchies), or undefined without any cgroup mount. */
export function findHierarchies(mountinfo: string, cgroupRoot = '/sys/fs/cgroup'): Hierarchies | undefined {
  const mounts = parseMountInfo(mountinfo);
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
  return undefined;
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

/** Does `mount` show the cgroup at `cgroupPath`? A mount of a sub-tree shows only what is under its root. */
export function mountShows(mount: CgroupMount, cgroupPath: string): boolean {
  return mount.root === '/' || cgroupPath === mount.root || cgroupPath.startsWith(mount.root + '/');
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
  if (mount.root !== '/' && mountShows(mount, own)) own = own.slice(mount.root.length) || '/';
  if (v2Parent) own = path.posix.dirname(own);
  return path.posix.join(mount.mountPoint, own, inner);
}
