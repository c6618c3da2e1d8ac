/**
 * Directory fds for the applier, every one resolved inside the rootfs. A path is opened with one
 * openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) when it can be; a path the kernel cannot take
 * in one call (longer than PATH_MAX) or one with missing directories to create is walked one
 * component at a time from the nearest cached ancestor: openat(O_NOFOLLOW) on the parent fd, a
 * symlink expanded by reading it (an absolute target restarts at the root fd, ".." never climbs
 * above it). So deep trees work, and a dangling in-root symlink such as var/lock -> /run/lock
 * gets its target directories created inside the root, as umoci does, never outside.
 */
import * as L from '@tsrt/libc';
import type { Sys } from '@tsrt/libc';
import { cPath } from './byte-names';

const { isSysError } = L;
const { O_PATH, O_DIRECTORY, O_CLOEXEC, O_NOFOLLOW, AT_SYMLINK_NOFOLLOW, RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS, S_IFMT, S_IFLNK } = L;
const DIR_OPEN = O_PATH | O_DIRECTORY | O_CLOEXEC;
const STEP_OPEN = DIR_OPEN | O_NOFOLLOW;
const DIR_RESOLVE = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
const AT_EMPTY_PATH = 0x1000;
/** Paths at least this long (bytes) are walked: the kernel refuses paths of PATH_MAX (4096). */
const ONE_CALL_MAX = 3072;
const CACHE_MAX = 1024;
const MAX_LINKS = 40;

export interface CachedDir {
  fd: number;
  mode: number;
}

export interface DirHooks {
  /** A directory was created at this logical path, as `name` in `parentFd` (only when no symlink was followed to it). */
  created(path: string, parentFd: number, name: string): void;
  /** Throw the applier's error for `path`. */
  fail(path: string, msg: string): never;
}

export class DirCache {
  private dirs = new Map<string, CachedDir>();
  private stale: number[] = [];
  private readonly root: CachedDir;
  private readonly rootId: { dev: bigint; ino: bigint };

  constructor(private readonly sys: Sys, private readonly rootfd: number, private readonly hooks: DirHooks) {
    const st = sys.fstatat(rootfd, '', AT_EMPTY_PATH);
    this.root = { fd: rootfd, mode: st.mode };
    this.rootId = { dev: st.dev, ino: st.ino };
  }

  get rootMode(): number {
    return this.root.mode;
  }

  peek(path: string): CachedDir | undefined {
    return this.dirs.get(path);
  }

  /** Forget every cached fd (after a dir or symlink was removed); closed by closeStale(). */
  drop(): void {
    for (const d of this.dirs.values()) this.stale.push(d.fd);
    this.dirs.clear();
  }

  /** Close fds dropped earlier (not while one of them may still be in use by the caller). */
  closeStale(): void {
    for (const fd of this.stale) this.sys.close(fd);
    this.stale = [];
  }

  get hasStale(): boolean {
    return this.stale.length > 0;
  }

  /** A directory fd for `path` (clean, relative byte string); missing dirs are created when `create`, else null. */
  get(path: string, create: boolean): CachedDir | null {
    if (path === '') return this.root;
    const hit = this.dirs.get(path);
    if (hit) return hit;
    if (path.length < ONE_CALL_MAX) {
      try {
        return this.put(path, this.sys.openat2(this.rootfd, cPath(path), DIR_OPEN, 0, DIR_RESOLVE));
      } catch (err) {
        if (isSysError(err, 'ENOTDIR')) this.hooks.fail(path, 'a parent is not a directory');
        if (isSysError(err, 'ELOOP')) this.hooks.fail(path, 'too many levels of symbolic links');
        if (!isSysError(err, 'ENOENT')) throw err;
        if (!create) return null;
      }
    }
    return this.walk(path, create);
  }

  private put(path: string, fd: number): CachedDir {
    const d = { fd, mode: this.sys.fstatat(fd, '', AT_EMPTY_PATH).mode };
    if (this.dirs.size >= CACHE_MAX) this.drop(); // the caller may hold some: closed after this entry
    this.dirs.set(path, d);
    return d;
  }

  /** Walk from the nearest cached ancestor, caching each prefix. */
  private walk(path: string, create: boolean): CachedDir | null {
    let cur = this.root;
    let prefix = '';
    for (let i = path.lastIndexOf('/'); i > 0; i = path.lastIndexOf('/', i - 1)) {
      const c = this.dirs.get(path.slice(0, i));
      if (c) {
        cur = c;
        prefix = path.slice(0, i);
        break;
      }
    }
    const rest = prefix === '' ? path : path.slice(prefix.length + 1);
    for (const comp of rest.split('/')) {
      prefix = prefix === '' ? comp : `${prefix}/${comp}`;
      const fd = this.step(cur.fd, comp, create, prefix);
      if (fd < 0) return null;
      cur = this.put(prefix, fd);
    }
    return cur;
  }

  private isRoot(fd: number): boolean {
    if (fd === this.rootfd) return true;
    const st = this.sys.fstatat(fd, '', AT_EMPTY_PATH);
    return st.ino === this.rootId.ino && st.dev === this.rootId.dev;
  }

  /** Resolve one name below `from` (following symlinks inside the root); a new fd, or -1 when missing. */
  private step(from: number, name: string, create: boolean, logical: string): number {
    const queue = [name];
    let fd = from;
    let own = false;
    let links = 0;
    let direct = true;
    const move = (next: number): void => {
      if (own) this.sys.close(fd);
      fd = next;
      own = next !== this.rootfd;
    };
    try {
      while (queue.length > 0) {
        const c = queue.shift()!;
        if (c === '' || c === '.') continue;
        if (c === '..') {
          if (!this.isRoot(fd)) move(this.sys.openat(fd, '..', STEP_OPEN));
          continue;
        }
        let next: number;
        try {
          next = this.sys.openat(fd, cPath(c), STEP_OPEN);
        } catch (err) {
          if (isSysError(err, 'ENOENT')) {
            if (!create) return -1;
            try {
              this.sys.mkdirat(fd, cPath(c), 0o755);
              if (direct) this.hooks.created(logical, fd, c);
            } catch (e2) {
              if (!isSysError(e2, 'EEXIST')) throw e2;
            }
            queue.unshift(c); // open what is there now (a racing symlink is handled as any other)
            continue;
          }
          if (!isSysError(err, 'ENOTDIR') && !isSysError(err, 'ELOOP')) throw err;
          const st = this.sys.fstatat(fd, cPath(c), AT_SYMLINK_NOFOLLOW);
          if ((st.mode & S_IFMT) !== S_IFLNK) this.hooks.fail(logical, 'a parent is not a directory');
          if (++links > MAX_LINKS) this.hooks.fail(logical, 'too many levels of symbolic links');
          const target = this.sys.readlinkat(fd, cPath(c), 'latin1');
          direct = false;
          if (target.startsWith('/')) move(this.rootfd);
          queue.unshift(...target.split('/'));
          continue;
        }
        move(next);
      }
      // resolved to where it started or to the root ("x -> ." or "x -> /"): a fd of its own
      if (!own) {
        const dup = this.sys.openat(fd, '.', DIR_OPEN);
        fd = dup;
        own = true;
      }
      const out = fd;
      own = false;
      return out;
    } finally {
      if (own) this.sys.close(fd);
    }
  }
}
