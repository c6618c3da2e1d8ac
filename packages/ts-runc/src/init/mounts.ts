import * as fs from 'fs';
import * as path from 'path';
import { MS_BIND, MS_REC, MS_REMOUNT, MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, O_PATH, O_DIRECTORY, O_CLOEXEC, mkdirAll, type Sys } from '@tsrt/libc';
import { copyTree } from './tmpcopyup';
import type { PlannedMount } from '../plan/types';
import { mkdirInRoot, touchInRoot } from './resolve';

function mountError(m: PlannedMount, e: unknown): Error {
  const code = (e as { code?: string }).code ?? String(e);
  return new Error(`mount ${m.source || m.fstype} to ${m.destination}: ${code}`);
}

const LOCKABLE = MS_NOSUID | MS_NODEV | MS_NOEXEC | 0x400 /* NOATIME */ | 0x800 /* NODIRATIME */ | 0x200000 /* RELATIME */;

/**
 * In a user namespace the flags a mount had when it came from the host are locked: a remount
 * must repeat them or fail with EPERM. Outside one nothing is added.
 */
export function keepLocked(sys: Sys, target: string, userns: boolean | undefined): number {
  return userns ? sys.statfsFlags(target) & LOCKABLE : 0;
}

/** User namespace fds for idmapped mounts, received from the parent (InitPlan.idmaps order). */
let idmapFds: number[] = [];
export function setIdmapFds(fds: number[]): void {
  idmapFds = fds;
}

/** An idmapped bind: a detached copy of the source tree, idmapped, moved onto the target. */
function mountIdmapped(sys: Sys, m: PlannedMount, target: string): void {
  const idmap = m.idmap!;
  const userns = idmapFds[idmap.index];
  if (userns === undefined) throw new Error('no user namespace received for the idmapped mount');
  const tree = sys.openTree(m.source, idmap.recursive);
  try {
    sys.idmapTree(tree, userns, idmap.recursive);
    sys.moveMount(tree, target);
  } finally {
    sys.close(tree);
  }
}

/** Mount one planned mount under the (not yet pivoted) rootfs. */
export function mountOne(sys: Sys, rootfs: string, m: PlannedMount, userns?: boolean): void {
  if (m.fstype === 'cgroup' || m.fstype === 'cgroup2') return mountCgroup(sys, rootfs, m, userns);
  const target = m.isFile ? touchInRoot(rootfs, m.destination) : mkdirInRoot(rootfs, m.destination);
  try {
    if (m.fstype === 'bind') {
      if (m.idmap) mountIdmapped(sys, m, target);
      else sys.mount(m.source, target, null, m.flags, null);
      if (m.remountFlags !== null) sys.mount(null, target, null, MS_BIND | MS_REMOUNT | m.remountFlags | keepLocked(sys, target, userns), null);
    } else if (m.tmpcopyup) {
      // Hold the directory by fd before the tmpfs hides it, then copy it in.
      const held = sys.open(target, O_PATH | O_DIRECTORY | O_CLOEXEC);
      try {
        sys.mount(m.source || m.fstype, target, m.fstype, m.flags, m.data || null);
        copyTree(`/proc/self/fd/${held}`, target);
      } finally {
        sys.close(held);
      }
    } else {
      sys.mount(m.source || m.fstype, target, m.fstype, m.flags, m.data || null);
    }
    for (const p of m.propagation) sys.mount(null, target, null, p, null);
    if (m.recursive) sys.mountSetattr(target, m.recursive.set, m.recursive.clr, true);
  } catch (e) {
    throw mountError(m, e);
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
 * container's own cgroup directory, like runc.
 */
function mountCgroup(sys: Sys, rootfs: string, m: PlannedMount, userns?: boolean): void {
  const target = mkdirInRoot(rootfs, m.destination);
  const ro = m.flags & MS_RDONLY;
  const base = (m.flags & (MS_NOSUID | MS_NODEV | MS_NOEXEC)) | ro;
  try {
    const mounts = hostCgroupMounts();
    const v1 = mounts.filter((c) => c.fstype === 'cgroup');
    if (v1.length === 0) {
      sys.mount('cgroup2', target, 'cgroup2', base, null);
      return;
    }
    sys.mount('tmpfs', target, 'tmpfs', base & ~MS_RDONLY, 'mode=755');
    const lines = fs.readFileSync('/proc/self/cgroup', 'utf8').trim().split('\n');
    for (const c of mounts) {
      // Only the host's hierarchies (not cgroup filesystems mounted elsewhere, e.g. by tests).
      if (path.dirname(c.mountpoint) !== path.dirname(v1[0].mountpoint)) continue;
      const name = path.basename(c.mountpoint);
      const rel = path.relative(c.root, ownCgroupPath(c, lines) ?? c.root);
      const dst = path.join(target, name);
      mkdirAll(dst);
      if (rel === '' || rel.startsWith('..')) {
        // Our cgroup looks like the hierarchy's root: in a new cgroup namespace the real path is
        // hidden. A fresh mount of the same hierarchy is rooted at the namespace's cgroup (the
        // container's own), and equals the root when there is no cgroup namespace.
        const opts = c.superOptions.split(',').filter((o) => o !== 'rw' && o !== 'ro').join(',');
        try {
          sys.mount(c.fstype, dst, c.fstype, base, c.fstype === 'cgroup2' ? null : opts);
          continue;
        } catch (e) {
          // A user namespace may not mount v1 hierarchies (rootless): bind what we can see instead.
          if ((e as { code?: string }).code !== 'EPERM' || !userns) throw e;
        }
      }
      const src = rel.startsWith('..') ? c.mountpoint : path.join(c.mountpoint, rel);
      sys.mount(src, dst, null, MS_BIND | MS_REC, null);
      sys.mount(null, dst, null, MS_BIND | MS_REMOUNT | base | keepLocked(sys, dst, userns), null);
    }
    if (ro) sys.mount(null, target, null, MS_REMOUNT | base, 'mode=755');
  } catch (e) {
    throw mountError(m, e);
  }
}

export function remountReadonly(sys: Sys, target: string, userns?: boolean): void {
  sys.mount(target, target, null, MS_BIND | MS_REC, null);
  sys.mount(null, target, null, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC | keepLocked(sys, target, userns), null);
}
