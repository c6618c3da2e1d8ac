/**
 * Writing a repack layer's entries, whatever the diff source (flat rootfs or overlay upper):
 * headers from lstat (mode, owner mapped back to image IDs, whole-second mtime, xattrs), file
 * data, symlink targets, device numbers, hardlinks as tar links to the first path seen, and
 * .wh. whiteouts and opaque markers. Names are byte strings (byte-names.ts).
 */
import fs from 'node:fs';
import { libc } from '@tsrt/libc';
import { UserError } from '../cli/errors';
import { TarEntryHeader, TarWriter } from '../archive/tarwriter';
import { byteString, showName } from '../layers/byte-names';
import type { WalkEntry } from './walk';

export interface IdRange {
  containerID: number;
  hostID: number;
  size: number;
}

/** Host ID back to the container ID (bundles unpacked with --uid-map/--gid-map or --rootless). */
export function unmapId(id: number, map: IdRange[] | undefined, what: string): number {
  if (!map || map.length === 0) return id;
  for (const r of map) if (id >= r.hostID && id < r.hostID + r.size) return r.containerID + (id - r.hostID);
  throw new UserError(`${what} ${id} of a file in the bundle is outside the ${what} mapping`);
}

export function fileType(st: fs.Stats): TarEntryHeader['type'] | undefined {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'directory';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'character-device';
  if (st.isBlockDevice()) return 'block-device';
  if (st.isFIFO()) return 'fifo';
  return undefined; // sockets are not archived
}

// glibc's dev_t encoding (JS shifts are 32-bit: the high word is taken by division)
export const major = (dev: number) => ((dev >>> 8) & 0xfff) | (Math.floor(dev / 2 ** 32) & 0xfffff000);
export const minor = (dev: number) => (dev & 0xff) | ((dev >>> 12) & 0xfff00);

/** An entry's path as a NUL-terminated libc path when it is bytes. */
const cFsPath = (at: string | Buffer): string | Buffer => (typeof at === 'string' ? at : Buffer.concat([at, Buffer.alloc(1)]));

/** readlink keeping the target's bytes (byte string). */
export const readLinkBytes = (at: string | Buffer): string => byteString(fs.readlinkSync(at, { encoding: 'buffer' }) as Buffer);

/** Not part of an image: the host's SELinux label, POSIX ACLs' system.* names. */
export const hostXattr = (name: string): boolean => name === 'security.selinux' || name.startsWith('system.');

/** An entry's xattrs (sorted), without those `drop` names. */
export function readXattrs(at: string | Buffer, drop: (name: string) => boolean): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  const abs = cFsPath(at);
  let names: string[];
  try {
    names = libc().llistxattr(abs);
  } catch {
    return out;
  }
  for (const n of names.sort()) {
    if (drop(n)) continue;
    try {
      out[n] = libc().lgetxattr(abs, n);
    } catch {
      /* vanished or unreadable */
    }
  }
  return out;
}

export interface LayerCounts {
  added: number;
  changed: number;
  deleted: number;
}

export class LayerEntries {
  readonly counts: LayerCounts = { added: 0, changed: 0, deleted: 0 };
  /** dev:ino -> first path, for hardlinks */
  private inodes = new Map<string, string>();

  constructor(private readonly tw: TarWriter) {}

  /** The entry's first-seen hardlink path (files only); records this one when it is the first. */
  linkTarget(e: WalkEntry): string | undefined {
    if (!e.st.isFile() || e.st.nlink < 2) return undefined;
    const key = `${e.st.dev}:${e.st.ino}`;
    const first = this.inodes.get(key);
    if (first === undefined) this.inodes.set(key, e.rel);
    return first;
  }

  /** Write one entry as the bundle has it; `link` from linkTarget(); `count` null for the root. */
  async write(e: WalkEntry, ids: { uid: number; gid: number }, xattrs: Record<string, Buffer> | undefined, link: string | undefined, count: keyof LayerCounts | null): Promise<void> {
    const type = fileType(e.st);
    if (!type) throw new Error(`${showName(e.rel)}: cannot archive this file type`);
    if (count) this.counts[count]++;
    const { st, at } = e;
    const h: TarEntryHeader = { name: type === 'directory' ? `${e.rel || '.'}/` : e.rel, type, mode: st.mode & 0o7777, uid: ids.uid, gid: ids.gid, mtime: new Date(Math.floor(st.mtimeMs / 1000) * 1000) };
    if (xattrs && Object.keys(xattrs).length) h.xattrs = xattrs;
    if (link !== undefined) await this.tw.add({ ...h, type: 'link', linkname: link });
    else if (type === 'file') await this.tw.addFile(h, at);
    else if (type === 'symlink') await this.tw.add({ ...h, linkname: readLinkBytes(at) });
    else if (type === 'character-device' || type === 'block-device') await this.tw.add({ ...h, devmajor: major(st.rdev), devminor: minor(st.rdev) });
    else await this.tw.add(h);
  }

  /** `name` in `dir` (byte strings) is gone. */
  async whiteout(dir: string, name: string): Promise<void> {
    this.counts.deleted++;
    await this.tw.add({ name: dir ? `${dir}/.wh.${name}` : `.wh.${name}`, type: 'file', mode: 0o644, mtime: new Date(0) });
  }

  /** Nothing of the lower layers' `dir` shows through (written right after the dir's own entry). */
  async opaque(dir: string): Promise<void> {
    await this.tw.add({ name: dir ? `${dir}/.wh..wh..opq` : '.wh..wh..opq', type: 'file', mode: 0o644, mtime: new Date(0) });
  }
}

/** The same refusal for both diff sources: such a name would read back as a whiteout. */
export function refuseWhiteoutName(rel: string, name: string): void {
  if (name.startsWith('.wh.')) throw new UserError(`${showName(rel)}: a file named like a whiteout cannot be archived`);
}
