/**
 * rm -rf through directory fds: works at any depth (a tree deeper than PATH_MAX cannot be removed
 * by path, which is what left `.bundle.ts-img-*` behind), never follows a symlink, copes with
 * non-UTF-8 names and with read-only directories of a rootless unpack. Never throws: a failure
 * is reported as a warning.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as L from '@tsrt/libc';
import type { Sys } from '@tsrt/libc';
import { listDirFd } from '../layers/list-dir';
import { cPath } from '../layers/byte-names';

const { O_PATH, O_RDONLY, O_DIRECTORY, O_NOFOLLOW, O_CLOEXEC, AT_REMOVEDIR, isSysError } = L;

function rmAt(sys: Sys, pfd: number, name: string, asRoot: boolean): void {
  const cname = cPath(name);
  if (!asRoot) {
    // a 0555 (or 0) directory of a rootless unpack: make it ours to list and empty
    const p = sys.openat(pfd, cname, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    try {
      fs.chmodSync(`/proc/self/fd/${p}`, 0o700);
    } catch {
      // not ours: the unlinks below report it
    } finally {
      sys.close(p);
    }
  }
  const fd = sys.openat(pfd, cname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  try {
    for (const c of listDirFd(fd)) {
      if (c.dir) rmAt(sys, fd, c.name, asRoot);
      else sys.unlinkat(fd, cPath(c.name), 0);
    }
  } finally {
    sys.close(fd);
  }
  sys.unlinkat(pfd, cname, AT_REMOVEDIR);
}

export function removeTree(p: string, sys: Sys = L.libc()): void {
  let parent = -1;
  try {
    const st = fs.lstatSync(p, { throwIfNoEntry: false });
    if (!st) return;
    if (!st.isDirectory()) {
      fs.rmSync(p, { force: true });
      return;
    }
    parent = sys.open(path.dirname(p), O_PATH | O_DIRECTORY | O_CLOEXEC);
    rmAt(sys, parent, path.basename(p), (process.geteuid?.() ?? 0) === 0);
  } catch (e) {
    if (!isSysError(e, 'ENOENT')) process.stderr.write(`ts-img: warning: could not remove ${p}: ${(e as Error).message}\n`);
  } finally {
    if (parent >= 0) sys.close(parent);
  }
}
