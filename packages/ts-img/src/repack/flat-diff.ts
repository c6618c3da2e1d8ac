/**
 * The flat diff source: a plain rootfs compared with the base filesystem, computed from the base
 * image's layer headers (no extraction). New or changed entries (type, mode, owner, size, mtime,
 * link target, device numbers, xattrs) are written; entries that are gone become .wh.<name>
 * whiteouts (a removed directory is one whiteout). Costs a read of every base layer and an lstat
 * of every rootfs file.
 */
import fs from 'node:fs';
import { FsNode, FsTree, Header } from '../archive/flatten';
import { showName } from '../layers/byte-names';
import { LayerEntries, fileType, hostXattr, major, minor, readLinkBytes, readXattrs, refuseWhiteoutName, unmapId } from './entries';
import type { DiffSourceOptions } from './source';
import type { TreeVisitor, WalkEntry } from './walk';

function baseXattrs(h: Header): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  for (const [k, v] of Object.entries(h.xattrs)) if (k !== 'security.selinux') out[k] = v;
  return out;
}

function sameXattrs(a: Record<string, Buffer>, b: Record<string, Buffer>): boolean {
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && a[k].equals(b[k]));
}

function sameAsBase(tree: FsTree, node: FsNode, st: fs.Stats, at: string | Buffer, uid: number, gid: number, xattrs: Record<string, Buffer> | undefined): boolean {
  let h = node.header;
  if (!h) return st.isDirectory();
  if (h.type === 'link') {
    const t = tree.lookup(String(h.linkname ?? '').replace(/^\/+/, ''));
    if (!t?.header) return false;
    h = { ...t.header, mode: t.header.mode };
  }
  const type = h.type;
  if (fileType(st) !== type) return false;
  if (type !== 'symlink' && ((h.mode ?? 0) & 0o7777) !== (st.mode & 0o7777)) return false;
  if ((h.uid ?? 0) !== uid || (h.gid ?? 0) !== gid) return false;
  if (xattrs && !sameXattrs(baseXattrs(h), xattrs)) return false;
  const hsec = h.mtime ? Math.floor(h.mtime.getTime() / 1000) : 0;
  const ssec = Math.floor(st.mtimeMs / 1000);
  switch (type) {
    case 'file':
      return (h.size ?? 0) === st.size && hsec === ssec;
    case 'directory':
      return hsec === ssec;
    case 'symlink':
      return readLinkBytes(at) === h.linkname;
    case 'character-device':
    case 'block-device':
      return (h.devmajor ?? 0) === major(st.rdev) && (h.devminor ?? 0) === minor(st.rdev);
    default:
      return true;
  }
}

/** Visitor of the bundle's rootfs writing what differs from `tree` into `out`. */
export function flatDiff(tree: FsTree, out: LayerEntries, opts: DiffSourceOptions): TreeVisitor {
  return {
    async dir(rel: string, names: string[]): Promise<void> {
      const baseDir = tree.lookup(rel);
      if (!baseDir || (baseDir.header && baseDir.header.type !== 'directory')) return;
      const present = new Set(names);
      for (const k of [...baseDir.children.keys()].sort()) {
        if (!present.has(k) && !opts.exclude.has(rel ? `${rel}/${k}` : k)) await out.whiteout(rel, k);
      }
    },
    async entry(e: WalkEntry): Promise<boolean> {
      if (opts.exclude.has(e.rel)) return false;
      refuseWhiteoutName(e.rel, e.name);
      if (!fileType(e.st)) {
        opts.log?.(`skipping socket ${showName(e.rel)}`);
        return false;
      }
      const node = tree.lookup(e.rel);
      const ids = { uid: unmapId(e.st.uid, opts.uidMap, 'uid'), gid: unmapId(e.st.gid, opts.gidMap, 'gid') };
      const xattrs = opts.xattrs ? readXattrs(e.at, hostXattr) : undefined;
      const link = out.linkTarget(e);
      if (node === undefined || !sameAsBase(tree, node, e.st, e.at, ids.uid, ids.gid, xattrs)) await out.write(e, ids, xattrs, link, node ? 'changed' : 'added');
      return e.st.isDirectory();
    },
  };
}
