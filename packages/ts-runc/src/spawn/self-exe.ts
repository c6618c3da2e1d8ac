import * as fs from 'fs';
import {
  CLONE_FS,
  CLONE_NEWNS,
  MOUNT_ATTR_RDONLY,
  MS_BIND,
  MS_RDONLY,
  MS_REC,
  MS_REMOUNT,
  MS_SLAVE,
  MFD_ALLOW_SEALING,
  MFD_CLOEXEC,
  MFD_EXEC,
  F_SEAL_GROW,
  F_SEAL_SEAL,
  F_SEAL_SHRINK,
  F_SEAL_WRITE,
  O_CLOEXEC,
  O_DIRECTORY,
  O_PATH,
  O_RDONLY,
  AT_EMPTY_PATH,
  type Sys,
  SysError,
} from '@tsrt/libc';
import { RuntimeError } from '../errors';

/**
 * The node binary stage 2 and the exec helper run, as the container can reach it.
 *
 * CVE-2019-5736 class: a container process that execve()s a `#!/proc/self/exe` script runs
 * its parent's executable (here the host's node) as itself, and any process in the container
 * can then open /proc/PID/exe; once nothing runs that file ("Text file busy" is gone) it can
 * open it for writing and replace the node every later ts-runc (and every node program) runs
 * as host root. So our helpers never run the host file through a path the container could
 * write: they run `/proc/self/fd/N` of one of these, and /proc/PID/exe of them, and of
 * anything re-executing /proc/self/exe inside, is that.
 *
 * - `clone`: the binary in a detached read-only copy of a mount (open_tree(OPEN_TREE_CLONE) +
 *   mount_setattr(MOUNT_ATTR_RDONLY)): the same inode, so no copy, but any write, truncate,
 *   chmod or xattr change through it fails with EROFS. Root, Linux 5.12+. About 0.07 ms.
 *   The mount at "/" (only that one, not its submounts) when it holds the binary: then
 *   /proc/PID/maps names the file by its usual path, and V8 re-maps its builtins from it;
 *   from a clone of the file alone the name is "/" and V8 copies them instead, +6 ms a
 *   start (medians of 81). Else the file's own mount.
 * - `bind`: root on older kernels: a read-only bind mount made in a throw-away mount
 *   namespace of this thread. About 0.12 ms (V8 copies its builtins here too).
 * - `plain`: not root, and the binary is root's and writable by nobody else: no id a
 *   container of ours can have (ours and our subordinate ids, never host root) may write it.
 * - `memfd`: anything else (not root with a binary the container's ids might write): a
 *   sealed memfd copy, as runc 1.1 does. About 37 ms, and the copy's pages (98 MB) stay
 *   until the helper exec()s the container process.
 *
 * Nothing is cached: the CLI lives for one command. Close `fd` once the child has exec()ed.
 */
export interface RuntimeExe {
  /** What to execute: /proc/self/fd/<fd>, or the binary itself for `plain`. */
  path: string;
  /** The fd to execute, or -1 (`plain`). */
  fd: number;
  how: 'clone' | 'bind' | 'memfd' | 'plain';
}

export function runtimeExe(sys: Sys, bin = process.execPath, euid = process.geteuid?.() ?? -1): RuntimeExe {
  let cloneErr: unknown;
  try {
    const fd = readonlyClone(sys, bin);
    return { path: `/proc/self/fd/${fd}`, fd, how: 'clone' };
  } catch (e) {
    if (!(e instanceof SysError)) throw e;
    cloneErr = e; // ENOSYS (old kernel), EPERM (not root), ...
  }
  if (euid === 0) {
    try {
      const fd = readonlyBind(sys, bin);
      return { path: `/proc/self/fd/${fd}`, fd, how: 'bind' };
    } catch (e) {
      if (!(e instanceof SysError)) throw e;
    }
  } else if (nobodyElseMayWrite(sys, bin)) {
    return { path: bin, fd: -1, how: 'plain' };
  }
  try {
    const fd = sealedCopy(sys, bin);
    return { path: `/proc/self/fd/${fd}`, fd, how: 'memfd' };
  } catch (e) {
    throw new RuntimeError(
      `cannot protect the runtime's executable ${bin} from the container (${(cloneErr as Error).message}; memfd copy: ${(e as Error).message})`,
    );
  }
}

/** An O_PATH fd of the binary in a read-only detached clone of the mount at "/", else of its own mount. */
function readonlyClone(sys: Sys, bin: string): number {
  const real = fs.realpathSync(bin);
  const want = fs.statSync(real, { bigint: true });
  try {
    const root = sys.openTree('/', false);
    try {
      sys.mountSetattrFd(root, MOUNT_ATTR_RDONLY, 0, false);
      const file = sys.open(`/proc/self/fd/${root}${real}`, O_PATH | O_CLOEXEC);
      const st = sys.fstatat(file, '', AT_EMPTY_PATH);
      if (st.dev === want.dev && st.ino === want.ino) return file;
      sys.close(file); // on another mount: "/" has only the directory it is mounted on
    } finally {
      sys.close(root); // the clone lives on while `file` (then the process's exe) holds it
    }
  } catch (e) {
    if (!(e instanceof SysError)) throw e;
    // ENOENT: the binary is on another mount; EINVAL: "/" has locked submounts (we are in a user namespace)
  }
  const tree = sys.openTree(real, false);
  try {
    sys.mountSetattrFd(tree, MOUNT_ATTR_RDONLY, 0, false);
  } catch (e) {
    sys.close(tree);
    throw e;
  }
  return tree;
}

/** Root's, and no group, other or ACL write bit: only host root may write it. */
function nobodyElseMayWrite(sys: Sys, bin: string): boolean {
  let st: fs.Stats;
  try {
    st = fs.statSync(bin);
  } catch {
    return false;
  }
  if (st.uid !== 0 || st.mode & 0o022) return false;
  try {
    sys.lgetxattr(fs.realpathSync(bin), 'system.posix_acl_access');
    return false; // an ACL may grant someone write: do not guess
  } catch (e) {
    return e instanceof SysError && (e.code === 'ENODATA' || e.code === 'EOPNOTSUPP');
  }
}

let fsUnshared = false;

/**
 * A read-only bind mount of `bin` made in a new mount namespace of this thread, which then
 * goes back to its own. Its mounts are slaves first, so nothing reaches the host's. The
 * returned O_PATH fd keeps the mount alive after that namespace is gone.
 */
function readonlyBind(sys: Sys, bin: string): number {
  if (!fsUnshared) {
    sys.unshare(CLONE_FS); // setns(mnt) wants a thread with its own fs_struct
    fsUnshared = true;
  }
  const ns = sys.open('/proc/thread-self/ns/mnt', O_RDONLY | O_CLOEXEC);
  const cwd = sys.open('.', O_PATH | O_DIRECTORY | O_CLOEXEC);
  try {
    sys.unshare(CLONE_NEWNS);
    try {
      sys.mount(null, '/', null, MS_REC | MS_SLAVE, null);
      sys.mount(bin, bin, null, MS_BIND, null);
      sys.mount(null, bin, null, MS_REMOUNT | MS_BIND | MS_RDONLY, null);
      return sys.open(bin, O_PATH | O_CLOEXEC);
    } finally {
      sys.setns(ns, CLONE_NEWNS);
      sys.fchdir(cwd); // setns(mnt) moved us to "/"
    }
  } finally {
    sys.close(ns);
    sys.close(cwd);
  }
}

/** A sealed memfd copy of `bin`, reopened read-only: exec refuses a file open for writing. */
function sealedCopy(sys: Sys, bin: string): number {
  let rw: number;
  try {
    rw = sys.memfdCreate('ts-runc', MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
  } catch (e) {
    if (!(e instanceof SysError) || e.code !== 'EINVAL') throw e;
    rw = sys.memfdCreate('ts-runc', MFD_CLOEXEC | MFD_ALLOW_SEALING); // before Linux 6.3: no MFD_EXEC
  }
  try {
    fs.copyFileSync(bin, `/proc/self/fd/${rw}`);
    sys.addSeals(rw, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE);
    return sys.open(`/proc/self/fd/${rw}`, O_RDONLY | O_CLOEXEC);
  } finally {
    sys.close(rw);
  }
}


/**
 * CVE-2019-5736 class: until its execve the held init is a copy of this process, and a
 * `#!/proc/self/exe` entry point would run our executable inside the container, where anything
 * could then open it for writing. So this path is taken only when our node is on a read-only
 * mount (scripts/setup binds one; bin/ts-runc prefers it); else stage 2 runs from a read-only clone
 * (runtimeExe below).
 */
export function ownExeReadOnly(sys: Sys): boolean {
  let fd = -1;
  try {
    fd = sys.open('/proc/self/exe', O_PATH | O_CLOEXEC);
    return (sys.fstatfs(fd).flags & 1) /* ST_RDONLY */ !== 0;
  } catch {
    return false;
  } finally {
    if (fd >= 0) sys.close(fd);
  }
}

