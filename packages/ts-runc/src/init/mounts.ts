import * as fs from 'fs';
import * as path from 'path';
import { MS_BIND, MS_REC, MS_REMOUNT, MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, O_PATH, O_RDONLY, O_DIRECTORY, O_NOFOLLOW, O_CLOEXEC, AT_SYMLINK_NOFOLLOW, S_IFMT, S_IFDIR, S_IFLNK, type Sys } from '@tsrt/libc';
import { copyTree } from './tmpcopyup';
import type { PlannedMount } from '../plan/types';
import { ensureInRoot, parentInRoot, reopenMounted, sameFile, errCode, type Root } from '../paths/in-root';

function mountError(m: PlannedMount, e: unknown): Error {
  return new Error(`mount ${m.source || m.fstype} to ${m.destination}: ${errCode(e)}`);
}

/** statfs(2) f_flags (ST_*) -> the mount(2) flag (MS_*) that sets it: they differ for relatime. */
const ST_TO_MS: Array<[number, number]> = [
  [0x2, MS_NOSUID],
  [0x4, MS_NODEV],
  [0x8, MS_NOEXEC],
  [0x400, 0x400 /* MS_NOATIME */],
  [0x800, 0x800 /* MS_NODIRATIME */],
  [0x1000 /* ST_RELATIME */, 0x200000 /* MS_RELATIME */],
];

/** The per-mount flags the mount `fd` has now, as mount(2) flags, limited to `wanted`. */
export function mountFlagsOf(sys: Sys, fd: number, wanted: number): number {
  const st = sys.fstatfs(fd).flags;
  return ST_TO_MS.reduce((f, [s, m]) => (st & s && wanted & m ? f | m : f), 0);
}

const LOCKABLE = MS_NOSUID | MS_NODEV | MS_NOEXEC | 0x400 /* NOATIME */ | 0x800 /* NODIRATIME */ | 0x200000 /* RELATIME */;

/**
 * In a user namespace the flags a mount had when it came from the host are locked: a remount
 * must repeat them or fail with EPERM. Outside one nothing is added. `fd` names the mount.
 */
export function keepLocked(sys: Sys, fd: number, userns: boolean | undefined): number {
  return userns ? mountFlagsOf(sys, fd, LOCKABLE) : 0;
}

/** User namespace fds for idmapped mounts, received from the parent (InitPlan.idmaps order). */
let idmapFds: number[] = [];
export function setIdmapFds(fds: number[]): void {
  idmapFds = fds;
}

/** The idmap user namespaces are needed for the mounts only: nothing later may hold them. */
export function closeIdmapFds(sys: Sys): void {
  for (const fd of idmapFds) {
    try {
      sys.close(fd);
    } catch {
      /* already closed */
    }
  }
  idmapFds = [];
}

/** An idmapped bind: a detached copy of the source tree, idmapped, moved onto the target fd. */
function mountIdmapped(sys: Sys, m: PlannedMount, target: number): void {
  const idmap = m.idmap!;
  const userns = idmapFds[idmap.index];
  if (userns === undefined) throw new Error('no user namespace received for the idmapped mount');
  const tree = sys.openTree(m.source, idmap.recursive);
  try {
    sys.idmapTree(tree, userns, idmap.recursive);
    sys.moveMountToFd(tree, target);
  } finally {
    sys.close(tree);
  }
}

/**
 * proc and sysfs go on an ordinary directory only (as runc): a symlink there is refused, not
 * followed, and the directory is opened without following whatever replaced it since.
 */
function ordinaryDir(sys: Sys, root: Root, m: PlannedMount): number {
  const { dir, name } = parentInRoot(sys, root.fd, m.destination);
  try {
    let st;
    try {
      st = sys.fstatat(dir, name, AT_SYMLINK_NOFOLLOW);
    } catch (e) {
      if (errCode(e) !== 'ENOENT') throw e;
      try {
        sys.mkdirat(dir, name, 0o755);
      } catch (e2) {
        if (errCode(e2) !== 'EEXIST') throw e2;
      }
    }
    if (st && (st.mode & S_IFMT) !== S_IFDIR) {
      const what = (st.mode & S_IFMT) === S_IFLNK ? 'a symlink' : 'not a directory';
      throw new Error(`${m.fstype} must be mounted on an ordinary directory: ${m.destination} is ${what}`);
    }
    return sys.openat(dir, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  } finally {
    sys.close(dir);
  }
}

/**
 * The destination of a mount, opened (created when missing) inside the root. It can never be
 * outside; it may not be the root itself either (only a symlink swapped in gets it there).
 */
function destination(sys: Sys, root: Root, m: PlannedMount): number {
  const fd = m.fstype === 'proc' || m.fstype === 'sysfs' ? ordinaryDir(sys, root, m) : ensureInRoot(sys, root.fd, m.destination, m.isFile ? 'file' : 'dir');
  if (sameFile(sys, fd, root.fd)) {
    sys.close(fd);
    throw new Error(`${m.destination} resolves to the container's root`);
  }
  return fd;
}

/** Runs the mounts that must be made from inside the container's cgroups (see prepareRootfs). */
export type InContainerCgroups = (mounts: () => void) => void;

/** Mount one planned mount under the (not yet pivoted) rootfs. */
export function mountOne(sys: Sys, root: Root, m: PlannedMount, userns?: boolean, inCgroups: InContainerCgroups = (f) => f()): void {
  const opened: number[] = [];
  try {
    if (m.fstype === 'cgroup' || m.fstype === 'cgroup2') return mountCgroup(sys, root, m, userns, opened, inCgroups);
    const target = destination(sys, root, m);
    opened.push(target);
    let held = -1;
    if (m.fstype === 'bind') {
      if (m.idmap) mountIdmapped(sys, m, target);
      else root.names.mount(m.source, target, null, m.flags, null);
    } else {
      // tmpcopyup: hold the directory (readable) before the tmpfs hides it, then copy it in.
      if (m.tmpcopyup) opened.push((held = sys.openat(target, '.', O_RDONLY | O_DIRECTORY | O_CLOEXEC)));
      root.names.mount(m.source || m.fstype, target, m.fstype, m.flags, m.data || null);
    }
    // What follows acts on the new mount: reached by its name again, and checked to be it.
    const mounted = reopenMounted(sys, root.fd, m.destination, target);
    opened.push(mounted);
    if (held >= 0) copyTree(sys, root.names, held, mounted);
    if (m.fstype === 'bind' && m.remountFlags !== null) root.names.mount(null, mounted, null, MS_BIND | MS_REMOUNT | m.remountFlags | keepLocked(sys, mounted, userns), null);
    for (const p of m.propagation) root.names.mount(null, mounted, null, p, null);
    if (m.recursive) sys.mountSetattrFd(mounted, m.recursive.set, m.recursive.clr, true);
  } catch (e) {
    throw mountError(m, e);
  } finally {
    for (const fd of opened) sys.close(fd);
  }
}

interface CgroupMountInfo {
  mountpoint: string;
  root: string;
  fstype: string;
  superOptions: string;
}

function hostCgroupMounts(): CgroupMountInfo[] {
  const out: CgroupMountInfo[] = [];
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [pre, post] = line.split(' - ');
    if (!post) continue;
    const f = pre.split(' ');
    const [fstype, , superOptions] = post.split(' ');
    if (fstype === 'cgroup' || fstype === 'cgroup2') out.push({ mountpoint: f[4], root: f[3], fstype, superOptions });
  }
  return out;
}

/** The container's cgroup path in a hierarchy, when the mount names its dirs (PlannedMount.containerCgroupDirs). */
function containerCgroupPath(c: CgroupMountInfo, m: PlannedMount): string | undefined {
  if (!m.containerCgroupDirs || c.fstype !== 'cgroup') return undefined;
  for (const ctrl of c.superOptions.split(',')) {
    const dir = m.containerCgroupDirs[ctrl];
    if (dir && (dir === c.mountpoint || dir.startsWith(c.mountpoint + '/'))) return path.posix.join(c.root, path.posix.relative(c.mountpoint, dir));
  }
  return undefined;
}

/** This process's cgroup path for a mounted hierarchy, from /proc/self/cgroup. */
function ownCgroupPath(c: CgroupMountInfo, lines: string[]): string | undefined {
  for (const line of lines) {
    const [id, ctrls, p] = line.split(':');
    if (c.fstype === 'cgroup2' ? id === '0' : id !== '0' && ctrls.split(',').every((x) => c.superOptions.split(',').includes(x))) return p;
  }
  return undefined;
}

/**
 * A cgroup mount shows the container its own cgroups: on cgroup2 a fresh cgroup2 mount
 * (rooted at the cgroup namespace); on v1/hybrid a tmpfs with each hierarchy bound from the
 * container's own cgroup directory, like runc. Every directory is reached through the fd of
 * the tmpfs made here, never by a host path string.
 */
function mountCgroup(sys: Sys, root: Root, m: PlannedMount, userns: boolean | undefined, opened: number[], inCgroups: InContainerCgroups): void {
  const target = destination(sys, root, m);
  opened.push(target);
  const ro = m.flags & MS_RDONLY;
  const base = (m.flags & (MS_NOSUID | MS_NODEV | MS_NOEXEC)) | ro;
  const mounts = hostCgroupMounts();
  const v1 = mounts.filter((c) => c.fstype === 'cgroup');
  if (v1.length === 0) {
    inCgroups(() => root.names.mount('cgroup2', target, 'cgroup2', base, null));
    return;
  }
  root.names.mount('tmpfs', target, 'tmpfs', base & ~MS_RDONLY, 'mode=755');
  const tmpfs = reopenMounted(sys, root.fd, m.destination, target);
  opened.push(tmpfs);
  const lines = fs.readFileSync('/proc/self/cgroup', 'utf8').trim().split('\n');
  const fresh: Array<{ c: CgroupMountInfo; dst: number; bind: () => void }> = [];
  for (const c of mounts) {
    // Only the host's hierarchies (not cgroup filesystems mounted elsewhere, e.g. by tests).
    if (path.dirname(c.mountpoint) !== path.dirname(v1[0].mountpoint)) continue;
    // Hybrid host: the v1 hierarchies only, as runc shows (no cgroup2 at .../unified inside).
    if (c.fstype === 'cgroup2') continue;
    const name = path.basename(c.mountpoint);
    const own = containerCgroupPath(c, m) ?? ownCgroupPath(c, lines) ?? c.root;
    const rel = path.relative(c.root, own);
    try {
      sys.mkdirat(tmpfs, name, 0o755);
    } catch (e) {
      if (errCode(e) !== 'EEXIST') throw e;
    }
    const dst = sys.openat(tmpfs, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    opened.push(dst);
    const bind = () => {
      // The source is the host's own cgroup tree (from its mountinfo), not a container path.
      const src = rel.startsWith('..') ? c.mountpoint : path.join(c.mountpoint, rel);
      root.names.mount(src, dst, null, MS_BIND | MS_REC, null);
      const bound = sys.openat(tmpfs, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      opened.push(bound);
      if (sys.statxFd(bound).mountId === sys.statxFd(dst).mountId) throw new Error(`${name}: the bind did not take`);
      root.names.mount(null, bound, null, MS_BIND | MS_REMOUNT | base | keepLocked(sys, bound, userns), null);
    };
    // Our cgroup looks like the hierarchy's root: in a new cgroup namespace the real path is
    // hidden. A fresh mount of the same hierarchy shows the container's own cgroup (and equals
    // the root when there is no cgroup namespace). "/.." first: we are outside the namespace's
    // root (parked in the runtime's memory cgroup), which path.relative would normalise away.
    if (rel === '' || rel.startsWith('..') || own.startsWith('/..')) fresh.push({ c, dst, bind });
    else bind();
  }
  // The fresh mounts, all at once: one is rooted where the mounting process is in that
  // hierarchy, so a stage 2 parked outside the container's memory cgroup goes back in for them
  // (and only for them: what Node allocates meanwhile is charged to the container).
  const refused: Array<() => void> = [];
  inCgroups(() => {
    for (const { c, dst, bind } of fresh) {
      const opts = c.superOptions.split(',').filter((o) => o !== 'rw' && o !== 'ro').join(',');
      try {
        root.names.mount(c.fstype, dst, c.fstype, base, opts);
      } catch (e) {
        // A user namespace may not mount v1 hierarchies (rootless): bind what we can see instead.
        if (errCode(e) !== 'EPERM' || !userns) throw e;
        refused.push(bind);
      }
    }
  });
  for (const bind of refused) bind();
  // The tmpfs itself stays writable, as runc leaves it: only the hierarchies are read-only.
}

/**
 * Bind `fd` onto itself and make the new mount read-only (readonlyPaths). `p` is its name in
 * the root, opened again to reach the new mount.
 */
export function remountReadonly(sys: Sys, root: Root, fd: number, p: string, userns?: boolean): void {
  root.names.mount(fd, fd, null, MS_BIND | MS_REC, null);
  const mounted = reopenMounted(sys, root.fd, p, fd);
  try {
    // nosuid, nodev and noexec stay (runc keeps them: /proc/sys of a /proc mounted with them
    // must not lose them by becoming read-only).
    const kept = mountFlagsOf(sys, mounted, MS_NOSUID | MS_NODEV | MS_NOEXEC);
    root.names.mount(null, mounted, null, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC | kept | keepLocked(sys, mounted, userns), null);
  } finally {
    sys.close(mounted);
  }
}
