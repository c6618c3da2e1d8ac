/**
 * Walk a directory tree by directory fds: each directory is opened with openat(O_NOFOLLOW) on its
 * parent's fd and every entry is reached as /proc/self/fd/<parent>/<name>, a path whose only
 * followed link is the pinned parent. So a symlink the container planted (or swaps in while the
 * walk runs) is read as a symlink, never resolved, and depth never makes a path too long.
 */
import fs from 'node:fs';
import { libc, isSysError, O_RDONLY, O_DIRECTORY, O_NOFOLLOW, O_CLOEXEC } from '@tsrt/libc';
import { UserError } from '../cli/errors';
import { cPath, fsPath } from '../layers/byte-names';
import { listDirFd } from '../layers/list-dir';

const DIR_OPEN = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;

export interface WalkEntry {
  /** Path below the root (byte string, see byte-names.ts). */
  rel: string;
  /** Last component (byte string). */
  name: string;
  /** The entry as a Node fs path through its parent's fd (lstat, readlink, open O_NOFOLLOW). */
  at: string | Buffer;
  st: fs.Stats;
}

export interface TreeVisitor {
  /** A directory's names (sorted), before its entries are visited. */
  dir?(rel: string, names: string[]): Promise<void>;
  /** One entry; resolves true to walk into it (it must be a directory). */
  entry(e: WalkEntry): Promise<boolean>;
}

/** The root of a walk: a directory, not a symlink to one; `what` names it in the error. */
export function openRoot(root: string, what: string): number {
  try {
    return libc().open(root, DIR_OPEN);
  } catch (e) {
    if (isSysError(e, 'ENOENT')) throw new UserError(`${what} ${root}: no such directory`);
    if (isSysError(e, 'ENOTDIR') || isSysError(e, 'ELOOP')) throw new UserError(`${what} ${root}: not a directory`);
    throw e;
  }
}

/** Entry `name` of the directory open as `fd`, as a Node fs path (see the header). */
export function atPath(fd: number, name: string): string | Buffer {
  return fsPath(`/proc/self/fd/${fd}`, name);
}

async function walkFd(fd: number, rel: string, v: TreeVisitor): Promise<void> {
  const names = listDirFd(fd).map((d) => d.name).sort();
  await v.dir?.(rel, names);
  for (const name of names) {
    const at = atPath(fd, name);
    const p = rel ? `${rel}/${name}` : name;
    let st: fs.Stats;
    try {
      st = fs.lstatSync(at);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue; // removed since readdir
      throw e;
    }
    if (!(await v.entry({ rel: p, name, at, st })) || !st.isDirectory()) continue;
    const sub = libc().openat(fd, cPath(name), DIR_OPEN);
    try {
      await walkFd(sub, p, v);
    } finally {
      libc().close(sub);
    }
  }
}

/** Visit every entry below `rootFd` (depth first, sorted names); the caller keeps the fd. */
export async function walkTree(rootFd: number, v: TreeVisitor): Promise<void> {
  await walkFd(rootFd, '', v);
}
