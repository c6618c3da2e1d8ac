/**
 * Paths a config or an image controls, resolved inside a root through fds.
 *
 * A path checked as a string and then handed to the kernel is resolved twice: whoever can
 * change a component in between (a shared volume, a process already in the container) decides
 * where the second resolution ends (CVE-2021-30465). And /proc magic links (/proc/self/fd/N,
 * /proc/PID/root, /proc/PID/cwd) lead out of any root (CVE-2024-21626). So every such path is
 * opened once with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) from an fd of the root
 * (symlinks are followed but stay inside, magic links are refused), missing parts are created
 * relative to fds, and the syscalls that only take paths (mount, chmod, readdir) are given the
 * fd itself through FdNames.
 */
import {
  O_PATH,
  O_DIRECTORY,
  O_CLOEXEC,
  O_NOFOLLOW,
  O_CREAT,
  O_EXCL,
  O_WRONLY,
  AT_EMPTY_PATH,
  AT_SYMLINK_NOFOLLOW,
  RESOLVE_IN_ROOT,
  RESOLVE_NO_MAGICLINKS,
  S_IFMT,
  S_IFLNK,
  PROC_SUPER_MAGIC,
  type Sys,
  type StatResult,
} from '@tsrt/libc';

/** The resolve flags for anything a config or an image names. */
export const RESOLVE_CONTAINED = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;

/** Symlinks followed while creating one path (the kernel's own limit is 40). */
const MAX_LINKS = 40;
/** Rounds of "find what exists, create the next part" before giving up on a path that keeps changing. */
const MAX_ROUNDS = 256;

/** The errno name of a failed call (SysError, Node's fs errors), else the message. */
export function errCode(e: unknown): string {
  const code = (e as { code?: unknown })?.code;
  return typeof code === 'string' ? code : String((e as Error)?.message ?? e);
}

function fail(what: string, code: string): never {
  throw Object.assign(new Error(`${what}: ${code}`), { code });
}

/** The components of a path, without empty ones and ".". */
export function components(p: string): string[] {
  return p.split('/').filter((c) => c !== '' && c !== '.');
}

/** `p` relative to the root ("." for the root itself). */
export function relative(p: string): string {
  return components(p).join('/') || '.';
}

/** Open `p` inside the root `rootFd` (O_PATH unless other flags are given), close-on-exec. */
export function openInRoot(sys: Sys, rootFd: number, p: string, flags = O_PATH): number {
  return sys.openat2(rootFd, relative(p), flags | O_CLOEXEC, 0, RESOLVE_CONTAINED);
}

/** openInRoot, or -1 when the path does not exist (ENOENT, or ENOTDIR for a file in the middle). */
export function openIfExists(sys: Sys, rootFd: number, p: string, flags = O_PATH): number {
  try {
    return openInRoot(sys, rootFd, p, flags);
  } catch (e) {
    if (errCode(e) === 'ENOENT' || errCode(e) === 'ENOTDIR') return -1;
    throw e;
  }
}

/** fstat of what an fd (O_PATH is enough) refers to. */
export function statFd(sys: Sys, fd: number): StatResult {
  return sys.fstatat(fd, '', AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);
}

function lstatAt(sys: Sys, dirFd: number, name: string): StatResult | null {
  try {
    return sys.fstatat(dirFd, name, AT_SYMLINK_NOFOLLOW);
  } catch (e) {
    if (errCode(e) === 'ENOENT') return null;
    throw e;
  }
}

/**
 * The longest prefix of `parts` that exists inside the root: its O_PATH fd and its length.
 * Errors other than "does not exist" (a magic link: ELOOP; a file in the middle: ENOTDIR) are thrown.
 */
function existingPrefix(sys: Sys, rootFd: number, parts: string[]): { fd: number; n: number } {
  for (let n = parts.length; n >= 0; n--) {
    try {
      return { fd: sys.openat2(rootFd, parts.slice(0, n).join('/') || '.', O_PATH | O_CLOEXEC, 0, RESOLVE_CONTAINED), n };
    } catch (e) {
      if (errCode(e) !== 'ENOENT') throw e;
    }
  }
  /* c8 ignore next */
  throw new Error('the root itself is gone');
}

/**
 * `p` inside the root, with what is missing created: directories, and the last component an
 * empty file when `kind` is "file". Returns an O_PATH fd of it (the caller closes it).
 * Each missing component is made with mkdirat/openat(O_EXCL|O_NOFOLLOW) relative to the fd of
 * its parent; a dangling symlink on the way is followed the way the kernel would (inside the
 * root); whatever is renamed meanwhile can only redirect the walk inside the root.
 */
export function ensureInRoot(sys: Sys, rootFd: number, p: string, kind: 'dir' | 'file', mode = kind === 'dir' ? 0o755 : 0o644): number {
  let parts = components(p);
  let links = 0;
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const { fd, n } = existingPrefix(sys, rootFd, parts);
    if (n === parts.length) return fd;
    try {
      // parts[n] is missing under fd (".." always exists once its parent does).
      const name = parts[n];
      const st = lstatAt(sys, fd, name);
      if (st && (st.mode & S_IFMT) === S_IFLNK) {
        // A dangling symlink: go on from its target, as path resolution would.
        if (++links > MAX_LINKS) fail(p, 'ELOOP');
        const target = sys.readlinkat(fd, name);
        parts = [...(target.startsWith('/') ? [] : parts.slice(0, n)), ...components(target), ...parts.slice(n + 1)];
        continue;
      }
      if (st) continue; // made by someone else meanwhile: look again
      try {
        if (kind === 'file' && n === parts.length - 1) sys.close(sys.openat(fd, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, mode));
        else sys.mkdirat(fd, name, mode);
      } catch (e) {
        if (errCode(e) !== 'EEXIST') throw e;
      }
    } finally {
      sys.close(fd);
    }
  }
  fail(p, 'the path keeps changing');
}

/**
 * The parent directory of `p` inside the root (created when missing), as an O_PATH fd, and
 * the last component (never "", "." or ".."), for calls that must not follow it (mknodat,
 * symlinkat, an lstat).
 */
export function parentInRoot(sys: Sys, rootFd: number, p: string): { dir: number; name: string } {
  const parts = components(p);
  const name = parts.pop();
  if (!name || name === '..') fail(p, 'not a name of a file');
  return { dir: ensureInRoot(sys, rootFd, parts.join('/'), 'dir'), name };
}

/** True when both fds refer to the same file on the same mount. */
export function sameFile(sys: Sys, a: number, b: number): boolean {
  const x = sys.statxFd(a), y = sys.statxFd(b);
  return x.ino === y.ino && x.dev === y.dev && x.mountId === y.mountId;
}

/**
 * Reopen a mount destination inside the root after something was mounted on `before` (its fd
 * from before the mount): mount(2) mounted on that very dentry, but a remount, a propagation
 * change or a copy must go to the new mount, and the name must still lead to it. Returns an
 * O_PATH fd of the new mount's root.
 */
export function reopenMounted(sys: Sys, rootFd: number, p: string, before: number): number {
  const was = sys.statxFd(before);
  const fd = openInRoot(sys, rootFd, p);
  const now = sys.statxFd(fd);
  if (!now.mountRoot || now.mountId === was.mountId) {
    sys.close(fd);
    throw new Error(`${p} changed while it was being mounted on (it no longer leads to the new mount)`);
  }
  return fd;
}

/**
 * Names fds for the syscalls that take only paths (mount(2), chmod, readdir): the name "N" of
 * fd N, looked up with our cwd set to our own /proc/self/fd for the duration of the call. The
 * kernel follows that magic link straight to the open file: nothing is resolved by name again.
 * The directory is opened while /proc is the host's (before pivot_root) and checked to be
 * procfs, so it does not depend on what the container's /proc is (an image may not mount one,
 * or put a symlink there).
 */
export class FdNames {
  private dir: number;
  constructor(private readonly sys: Sys) {
    this.dir = sys.open('/proc/self/fd', O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (sys.fstatfs(this.dir).type !== PROC_SUPER_MAGIC) {
      sys.close(this.dir);
      throw new Error('/proc is not a procfs: cannot name fds');
    }
  }

  /** Run `fn` with `name(fd)` giving a path for an fd, valid only inside `fn`. */
  run<T>(fn: (name: (fd: number) => string) => T): T {
    if (this.dir < 0) throw new Error('FdNames used after close');
    const back = this.sys.open('.', O_PATH | O_DIRECTORY | O_CLOEXEC);
    this.sys.fchdir(this.dir);
    try {
      return fn((fd) => String(fd));
    } finally {
      this.sys.fchdir(back);
      this.sys.close(back);
    }
  }

  /** mount(2) with `target` (and `source`, when a number) given as fds. */
  mount(source: string | number | null, target: number, fstype: string | null, flags: number, data: string | null): void {
    this.run((name) => this.sys.mount(typeof source === 'number' ? name(source) : source, name(target), fstype, flags, data));
  }

  close(): void {
    if (this.dir >= 0) this.sys.close(this.dir);
    this.dir = -1;
  }
}

/** An open root: its fd and the FdNames that go with it (both closed together). */
export interface Root {
  fd: number;
  names: FdNames;
}

/**
 * Enter `cwd` inside the current root ("/" of this process: the container's after pivot_root or
 * setns): opened with RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS, entered with fchdir. Throws the
 * errno (ELOOP for a magic link such as /proc/self/fd/N).
 */
export function enterCwd(sys: Sys, cwd: string): void {
  const root = sys.open('/', O_PATH | O_DIRECTORY | O_CLOEXEC);
  try {
    let fd: number;
    try {
      fd = openInRoot(sys, root, cwd, O_PATH | O_DIRECTORY);
    } catch (e) {
      // openat2 refused outright (a seccomp profile without it, loaded early; a kernel before
      // 5.6): what runc does since CVE-2024-21626, a plain chdir, then getcwd must show a path
      // inside our root (the kernel says "(unreachable)" for one outside it, glibc ENOENT).
      if (!['EPERM', 'ENOSYS'].includes(errCode(e))) throw e;
      process.chdir(cwd);
      let now: string;
      try {
        now = process.cwd();
      } catch {
        now = '';
      }
      if (!now.startsWith('/')) throw Object.assign(new Error('ELOOP'), { code: 'ELOOP' });
      return;
    }
    try {
      sys.fchdir(fd);
    } finally {
      sys.close(fd);
    }
  } finally {
    sys.close(root);
  }
}

/** The errno of a failed cwd, with what ELOOP means here. */
export function cwdProblem(e: unknown): string {
  const code = errCode(e);
  return code === 'ELOOP' || code === 'EXDEV' ? `${code} (a magic link or symlink loop: not a directory inside the container)` : code;
}
