import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { createHash } from 'crypto';
import { libc, O_PATH, O_DIRECTORY, O_CLOEXEC } from '@tsrt/libc';
import { Applier, ApplierOptions } from '../src/layers/applier';
import { TarParser } from '../src/layers/tar';
import { tarBuffer, WEntry } from '../src/testing/tarwriter';

export function tmpdir(prefix = 'ts-img-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function rmrf(p: string): void {
  fs.rmSync(p, { recursive: true, force: true });
}

/** Apply layers (lists of tar entries) onto `root` with the real applier (returned, closed). */
export function applyLayers(root: string, layers: WEntry[][], opts: ApplierOptions = {}): Applier {
  const sys = libc();
  const fd = sys.open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  const a = new Applier(sys, fd, root, { warn: () => {}, ...opts });
  try {
    layers.forEach((l, i) => {
      a.beginLayer(`layer ${i + 1}`);
      const p = new TarParser(a);
      p.push(tarBuffer(l));
      p.finish();
      a.endLayer();
    });
    a.finish();
  } finally {
    a.close();
    sys.close(fd);
  }
  return a;
}

export interface Node {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtimeMs: number;
  nlink: number;
  ino: number;
  sha?: string;
  link?: string;
  rdev?: number;
  xattrs: Record<string, string>;
}

/** lstat-based tree dump (never follows symlinks). */
export function dumpTree(root: string): Record<string, Node> {
  const out: Record<string, Node> = {};
  const sys = libc();
  const walk = (dir: string, rel: string): void => {
    for (const name of fs.readdirSync(dir).sort()) {
      const p = path.join(dir, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = fs.lstatSync(p);
      const type = st.isDirectory() ? 'dir' : st.isFile() ? 'file' : st.isSymbolicLink() ? 'symlink' : st.isCharacterDevice() ? 'char' : st.isBlockDevice() ? 'block' : st.isFIFO() ? 'fifo' : 'other';
      const xattrs: Record<string, string> = {};
      try {
        for (const k of sys.llistxattr(p)) xattrs[k] = sys.lgetxattr(p, k).toString('hex');
      } catch { /* none */ }
      const n: Node = { type, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, size: type === 'file' ? st.size : 0, mtimeMs: st.mtimeMs, nlink: st.nlink, ino: st.ino, xattrs };
      if (type === 'file') n.sha = createHash('sha256').update(fs.readFileSync(p)).digest('hex').slice(0, 16);
      if (type === 'symlink') n.link = fs.readlinkSync(p);
      if (type === 'char' || type === 'block') n.rdev = st.rdev;
      out[r] = n;
      if (type === 'dir') walk(p, r);
    }
  };
  walk(root, '');
  return out;
}
