import * as fs from 'fs';
import { MS_BIND, MS_REC, MS_MOVE, MS_SLAVE, MS_PRIVATE, MS_RDONLY, MS_REMOUNT, MNT_DETACH, O_PATH, O_DIRECTORY, O_WRONLY, O_CLOEXEC, S_IFMT, S_IFDIR, S_IFCHR, RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS, RESOLVE_NO_SYMLINKS, RESOLVE_NO_XDEV, RESOLVE_BENEATH, PROC_SUPER_MAGIC, type Sys } from '@tsrt/libc';
import type { InitPlan } from '../plan/types';
import { mountOne, remountReadonly, keepLocked, closeIdmapFds } from './mounts';
import { createDevices, createDevSymlinks } from './devices';
import { FdNames, ensureInRoot, openIfExists, openInRoot, errCode, cwdProblem, type Root } from '../paths/in-root';

/**
 * Everything before the root switch: propagation, the rootfs bind, mounts, devices, cwd. Returns
 * the open root (used until finishRootfs closes it): every path below it is resolved through it.
 * `inContainerCgroups` runs the cgroup mounts: a fresh v1 hierarchy mount is rooted where the
 * mounting process is, so stage 2 must be in the container's cgroups (not parked) for them.
 */
export function prepareRootfs(sys: Sys, plan: InitPlan, inContainerCgroups: (mount: () => void) => void = (mount) => mount(), hostMount: (mountId: bigint) => void = () => undefined): Root {
  // In the runtime's own mount namespace nothing outside the rootfs is touched.
  if (!plan.hostMountNs) {
    sys.mount(null, '/', null, plan.rootPropagation, null);
    // pivot_root refuses a new root that is, or sits on, a shared mount (rootfsPropagation
    // "shared", or a host mount left shared by a non-recursive one), and an unbindable one cannot
    // be bound: make the mount that holds the rootfs private first, as runc does. The bind below
    // is then private too.
    const parent = parentMount(plan.rootfs);
    if (parent?.refuses) sys.mount(null, parent.mountpoint, null, MS_PRIVATE, null);
  }
  // pivot_root needs the new root to be a mount point; in the host's namespace it is the one
  // mount that holds all the others, so delete can detach them all at once.
  sys.mount(plan.rootfs, plan.rootfs, null, MS_BIND | MS_REC, null);
  const root: Root = { fd: sys.open(plan.rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC), names: new FdNames(sys) };
  try {
    if (plan.hostMountNs) {
      hostMount(sys.statxFd(root.fd).mountId);
      // Nothing mounted below it propagates to the host's peers, nor back.
      root.names.mount(null, root.fd, null, MS_PRIVATE | MS_REC, null);
    }
    for (const m of plan.mounts) mountOne(sys, root, m, plan.userns, inContainerCgroups);
    closeIdmapFds(sys);
    createDevices(sys, root, plan.devices, plan.userns);
    if (plan.defaultDevices) createDevSymlinks(sys, root);
    try {
      sys.close(ensureInRoot(sys, root.fd, plan.process.cwd, 'dir'));
    } catch (e) {
      throw new Error(`mkdir cwd ("${plan.process.cwd}") set in config.json failed: ${cwdProblem(e)}`);
    }
  } catch (e) {
    closeRoot(sys, root);
    throw e;
  }
  return root;
}

/** The mount that holds `p` (the longest mount point above it); `refuses`: shared or unbindable. */
function parentMount(p: string): { mountpoint: string; refuses: boolean } | null {
  let real: string;
  try {
    real = fs.realpathSync(p);
  } catch {
    return null; // create checked the rootfs already: the bind below reports what is wrong
  }
  let best: { mountpoint: string; refuses: boolean } | null = null;
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [pre] = line.split(' - ');
    const f = pre.split(' ');
    if (f.length < 6) continue;
    const mp = f[4].replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    const inside = mp === '/' || real === mp || real.startsWith(mp + '/');
    // Later lines are mounted over earlier ones at the same point: the last one is on top.
    if (inside && (!best || mp.length >= best.mountpoint.length)) best = { mountpoint: mp, refuses: f.slice(6).some((o) => o.startsWith('shared:') || o === 'unbindable') };
  }
  return best;
}

export function closeRoot(sys: Sys, root: Root): void {
  root.names.close();
  if (root.fd >= 0) sys.close(root.fd);
  root.fd = -1;
}

export function switchRoot(sys: Sys, plan: InitPlan, root: Root): void {
  sys.fchdir(root.fd);
  if (plan.hostMountNs) {
    // The host's namespace: pivot_root or a move onto "/" would change every host process's root.
    sys.chroot('.');
  } else if (plan.noPivot) {
    sys.mount(plan.rootfs, '/', null, MS_MOVE, null);
    sys.chroot('.');
  } else {
    sys.pivotRoot('.', '.');
    // The old root sits under the new one: detach it without telling the host's mounts.
    sys.mount(null, '.', null, MS_SLAVE | MS_REC, null);
    sys.umount2('.', MNT_DETACH);
  }
  sys.chdir('/');
}

/** The container's /dev/null, checked to be the null device (the image may have put anything there). */
function devNull(sys: Sys, root: Root): number {
  const fd = openInRoot(sys, root.fd, '/dev/null');
  const st = sys.statxFd(fd);
  if ((st.mode & S_IFMT) !== S_IFCHR || st.rdev !== ((1n << 32n) | 3n)) {
    sys.close(fd);
    throw new Error('maskedPaths: /dev/null in the container is not the null device');
  }
  return fd;
}

/**
 * After the switch: masked and read-only paths, then the read-only root. The paths are opened
 * inside the new root (RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) and mounted on by fd. Closes the root.
 */
export function finishRootfs(sys: Sys, plan: InitPlan, root: Root): void {
  let nul = -1;
  try {
    for (const p of plan.maskedPaths) {
      const fd = openIfExists(sys, root.fd, p);
      if (fd < 0) continue; // nothing to hide
      try {
        if ((sys.statxFd(fd).mode & S_IFMT) === S_IFDIR) root.names.mount('tmpfs', fd, 'tmpfs', MS_RDONLY, null);
        else root.names.mount(nul >= 0 ? nul : (nul = devNull(sys, root)), fd, null, MS_BIND, null);
      } catch (e) {
        throw new Error(`maskedPaths: ${p}: ${errCode(e)}`);
      } finally {
        sys.close(fd);
      }
    }
    for (const p of plan.readonlyPaths) {
      const fd = openIfExists(sys, root.fd, p);
      if (fd < 0) continue;
      try {
        remountReadonly(sys, root, fd, p, plan.userns);
      } catch (e) {
        throw new Error(`readonlyPaths: ${p}: ${errCode(e)}`);
      } finally {
        sys.close(fd);
      }
    }
    if (plan.readonlyRoot) root.names.mount(null, root.fd, null, MS_BIND | MS_REMOUNT | MS_RDONLY | keepLocked(sys, root.fd, plan.userns), null);
    // rootfsPropagation for the container's own root, now that it is "/" and its masks are in
    // place (runbindable would refuse their binds). The default, rslave, came with the copy
    // of the host's mounts already.
    if (plan.rootPropagation !== (MS_SLAVE | MS_REC) && !plan.hostMountNs) sys.mount(null, '/', null, plan.rootPropagation, null);
  } finally {
    if (nul >= 0) sys.close(nul);
    closeRoot(sys, root);
  }
}

/**
 * The container's /proc for writing to it: the root of a procfs mount, reached inside the root
 * without any symlink (an image's own /proc directory is never written to).
 */
function procRoot(sys: Sys): number {
  const root = sys.open('/', O_PATH | O_DIRECTORY | O_CLOEXEC);
  try {
    const proc = sys.openat2(root, 'proc', O_PATH | O_DIRECTORY | O_CLOEXEC, 0, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS);
    if (sys.fstatfs(proc).type !== PROC_SUPER_MAGIC || !sys.statxFd(proc).mountRoot) {
      sys.close(proc);
      throw new Error('/proc is not a procfs mount');
    }
    return proc;
  } finally {
    sys.close(root);
  }
}

/**
 * linux.sysctl after the switch: each key is a file of that procfs, opened beneath it without
 * following symlinks or crossing into another mount (a file bound over /proc/sys/... by a
 * racing mount would redirect the write, even to another procfs file).
 */
export function applySysctl(sys: Sys, sysctl: Record<string, string>): void {
  if (Object.keys(sysctl).length === 0) return;
  let root: number;
  try {
    root = procRoot(sys);
  } catch (e) {
    throw new Error(`linux.sysctl: ${errCode(e)}`);
  }
  try {
    for (const [key, value] of Object.entries(sysctl)) {
      if (!/^[A-Za-z0-9_.\-/]+$/.test(key) || key.includes('..')) throw new Error(`linux.sysctl: invalid key "${key}"`);
      let fd = -1;
      try {
        fd = sys.openat2(root, 'sys/' + key.replace(/\./g, '/'), O_WRONLY | O_CLOEXEC, 0, RESOLVE_BENEATH | RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS);
        fs.writeSync(fd, value);
      } catch (e) {
        throw new Error(`linux.sysctl: cannot set ${key}: ${errCode(e)}`);
      } finally {
        if (fd >= 0) sys.close(fd);
      }
    }
  } finally {
    sys.close(root);
  }
}
