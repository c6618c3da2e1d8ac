import * as fs from 'fs';
import { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_DIRECTORY, O_NOFOLLOW, O_NONBLOCK, O_CLOEXEC, AT_EMPTY_PATH, AT_SYMLINK_NOFOLLOW, S_IFMT, S_IFDIR, S_IFREG, S_IFLNK, type Sys } from '@tsrt/libc';
import type { FdNames } from '../paths/in-root';

/** Owner, mode and times of `to` (an fd) from `st`; chown first, as it may clear set-id bits. */
function copyMeta(sys: Sys, to: number, st: fs.BigIntStats): void {
  sys.fchownat(to, '', Number(st.uid), Number(st.gid), AT_EMPTY_PATH);
  sys.fchmod(to, Number(st.mode) & 0o7777);
  sys.utimensat(to, null, st.atimeNs, st.mtimeNs, 0);
}

function copyFile(src: number, dst: number): void {
  const buf = Buffer.allocUnsafe(65536);
  for (;;) {
    const n = fs.readSync(src, buf, 0, buf.length, null);
    if (n === 0) return;
    for (let off = 0; off < n; ) off += fs.writeSync(dst, buf, off, n - off);
  }
}

/**
 * tmpcopyup: copy what a directory held into the new tmpfs, keeping modes, owners, symlinks and
 * times, as runc does. Both sides are fds (`src` held open before the tmpfs hid it, `dst` the
 * tmpfs's root): every entry is opened relative to its parent with O_NOFOLLOW and checked to be
 * the kind it was listed as, so a directory swapped for a symlink (a shared volume, say) makes
 * the copy fail instead of copying the host's files into the container.
 */
export function copyTree(sys: Sys, names: FdNames, src: number, dst: number): void {
  const opened: number[] = [];
  const open = (fd: number) => (opened.push(fd), fd);
  try {
    const from = open(sys.openat(src, '.', O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    const to = open(sys.openat(dst, '.', O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    copyDir(sys, names, from, to);
  } finally {
    for (const fd of opened) sys.close(fd);
  }
}

function copyDir(sys: Sys, names: FdNames, from: number, to: number): void {
  // The listing of the open directory itself (its /proc/self/fd name), not of a path.
  const entries = names.run((name) => fs.readdirSync(name(from)));
  for (const name of entries) {
    const type = sys.fstatat(from, name, AT_SYMLINK_NOFOLLOW).mode & S_IFMT;
    if (type === S_IFLNK) {
      sys.symlinkat(sys.readlinkat(from, name), to, name);
      const st = sys.fstatat(from, name, AT_SYMLINK_NOFOLLOW);
      sys.fchownat(to, name, st.uid, st.gid, AT_SYMLINK_NOFOLLOW);
      continue;
    }
    if (type !== S_IFDIR && type !== S_IFREG) continue; // devices, fifos and sockets are not copied
    // O_NONBLOCK: a fifo swapped in must not block the open; the type is checked on the fd.
    const s = sys.openat(from, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | (type === S_IFDIR ? O_DIRECTORY : 0));
    let d = -1;
    try {
      const st = fs.fstatSync(s, { bigint: true });
      if ((Number(st.mode) & S_IFMT) !== type) throw new Error(`tmpcopyup: ${name} changed while it was copied`);
      if (type === S_IFDIR) {
        sys.mkdirat(to, name, 0o700);
        d = sys.openat(to, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        copyDir(sys, names, s, d);
      } else {
        d = sys.openat(to, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600);
        copyFile(s, d);
      }
      copyMeta(sys, d, st);
    } finally {
      sys.close(s);
      if (d >= 0) sys.close(d);
    }
  }
  copyMeta(sys, to, fs.fstatSync(from, { bigint: true }));
}
