import * as fs from 'fs';
import * as path from 'path';

/**
 * tmpcopyup: copy what a directory held (reached through an fd opened before the tmpfs hid it)
 * into the new tmpfs, keeping modes, owners, symlinks and times, as runc does.
 */
export function copyTree(src: string, dst: string): void {
  const st = fs.statSync(src); // src may be a /proc/self/fd magic link: follow it
  fs.chmodSync(dst, st.mode & 0o7777);
  fs.lchownSync(dst, st.uid, st.gid);
  for (const e of fs.readdirSync(src, { withFileTypes: true })) {
    const from = path.join(src, e.name);
    const to = path.join(dst, e.name);
    const s = fs.lstatSync(from);
    if (e.isDirectory()) {
      fs.mkdirSync(to);
      copyTree(from, to);
    } else if (e.isSymbolicLink()) {
      fs.symlinkSync(fs.readlinkSync(from), to);
    } else if (e.isFile()) {
      fs.copyFileSync(from, to);
      fs.chmodSync(to, s.mode & 0o7777);
    } else {
      continue; // devices, fifos and sockets are not copied
    }
    fs.lchownSync(to, s.uid, s.gid);
    if (!e.isSymbolicLink()) fs.utimesSync(to, s.atime, s.mtime);
  }
  fs.utimesSync(dst, st.atime, st.mtime);
}
