import * as fs from 'fs';
import * as path from 'path';
import { makedev, S_IFMT, S_IFIFO, MS_BIND, O_PATH, O_NOFOLLOW, O_CLOEXEC, O_CREAT, O_EXCL, O_WRONLY, AT_EMPTY_PATH, AT_SYMLINK_NOFOLLOW, AT_FDCWD, type Sys } from '@tsrt/libc';
import type { PlannedDevice } from '../plan/types';
import { DEV_SYMLINKS } from '../plan/defaults';
import { ensureInRoot, parentInRoot, statFd, errCode, type Root } from '../paths/in-root';

function majorMinor(rdev: bigint): [number, number] {
  return [Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn)), Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn))];
}

/** True when `name` in `dir` is already the device; an existing file that is not it is an error. */
function sameDevice(sys: Sys, dir: number, name: string, d: PlannedDevice): boolean {
  let st;
  try {
    st = sys.fstatat(dir, name, AT_SYMLINK_NOFOLLOW);
  } catch (e) {
    if (errCode(e) === 'ENOENT') return false;
    throw e;
  }
  const type = d.mode & S_IFMT;
  const [major, minor] = majorMinor(st.rdev);
  if ((st.mode & S_IFMT) === type && (type === S_IFIFO || (major === d.major && minor === d.minor))) return true;
  throw new Error(`linux.devices: ${d.path} already exists in the rootfs and is not the requested device`);
}

/**
 * chown and chmod the node `name` in `dir` through an O_PATH|O_NOFOLLOW fd of it, checked to be
 * of the node's type: a symlink put there meanwhile is never followed to some other file.
 */
function setOwnerAndMode(sys: Sys, root: Root, dir: number, name: string, d: PlannedDevice): void {
  const fd = sys.openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  try {
    if ((statFd(sys, fd).mode & S_IFMT) !== (d.mode & S_IFMT)) throw new Error(`${d.path} changed while it was created`);
    sys.fchownat(fd, '', d.uid, d.gid, AT_EMPTY_PATH);
    // No fchmod on an O_PATH fd: chmod its /proc/self/fd name (the kernel follows it to the node).
    root.names.run((n) => sys.fchmodat(AT_FDCWD, n(fd), d.mode & 0o7777, 0));
  } finally {
    sys.close(fd);
  }
}

/** In a user namespace mknod is not allowed: bind the host's node over an empty file, as runc. */
function bindHostDevice(sys: Sys, root: Root, dir: number, name: string, d: PlannedDevice): void {
  try {
    try {
      sys.close(sys.openat(dir, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0o644));
    } catch (e) {
      if (errCode(e) !== 'EEXIST') throw e;
    }
    const target = sys.openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    try {
      // The source is the host's device node of the same path (the config names it).
      root.names.mount(d.path, target, null, MS_BIND, null);
    } finally {
      sys.close(target);
    }
  } catch (e) {
    throw new Error(`bind device ${d.path}: ${errCode(e)}`);
  }
}

/** mknod each device inside the rootfs (replacing what is there), then chown and chmod it. */
export function createDevices(sys: Sys, root: Root, devices: PlannedDevice[], userns?: boolean): void {
  for (const d of devices) {
    let dir: number;
    let name: string;
    try {
      ({ dir, name } = parentInRoot(sys, root.fd, d.path));
    } catch (e) {
      throw new Error(`create device ${d.path}: ${errCode(e)}`);
    }
    try {
      if (d.strict && sameDevice(sys, dir, name, d)) {
        setOwnerAndMode(sys, root, dir, name, d);
        continue;
      }
      if (userns && (d.mode & S_IFMT) !== S_IFIFO) {
        bindHostDevice(sys, root, dir, name, d);
        continue;
      }
      try {
        try {
          sys.unlinkat(dir, name, 0);
        } catch (e) {
          if (errCode(e) !== 'ENOENT') throw e;
        }
        sys.mknodat(dir, name, d.mode, makedev(d.major, d.minor));
        setOwnerAndMode(sys, root, dir, name, d);
      } catch (e) {
        throw new Error(`create device ${d.path}: ${errCode(e)}`);
      }
    } finally {
      sys.close(dir);
    }
  }
}

/** /dev/fd, /dev/std{in,out,err}, /dev/core and /dev/ptmx -> pts/ptmx, as runc sets them up. */
export function createDevSymlinks(sys: Sys, root: Root): void {
  const links: Array<[string, string]> = [...DEV_SYMLINKS];
  if (fs.existsSync('/proc/kcore')) links.push(['/proc/kcore', '/dev/core']); // the host's /proc: before pivot_root
  links.push(['pts/ptmx', '/dev/ptmx']);
  const dev = ensureInRoot(sys, root.fd, '/dev', 'dir');
  try {
    for (const [target, link] of links) {
      // The link itself is replaced (never what an existing symlink there points to).
      const name = path.posix.basename(link);
      try {
        try {
          sys.unlinkat(dev, name, 0);
        } catch (e) {
          if (errCode(e) !== 'ENOENT') throw e;
        }
        sys.symlinkat(target, dev, name);
      } catch (e) {
        throw new Error(`create symlink ${link}: ${errCode(e)}`);
      }
    }
  } finally {
    sys.close(dev);
  }
}
