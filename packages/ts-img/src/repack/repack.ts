/**
 * repack: the changes made to an unpacked bundle's rootfs become a new layer on top of the image
 * it came from (the `docker commit` flow). The base filesystem is computed from the base image's
 * layer headers (no extraction) and compared with the rootfs by lstat: new or changed entries
 * (type, mode, owner, size, mtime, link target, device numbers) are written, and entries that
 * are gone become .wh.<name> whiteouts (a removed directory is one whiteout). Hardlinked files
 * in the rootfs become tar hardlinks. The new config gets the diff_id and a history entry.
 *
 * The base is, in order: --base, the bundle's ts-img-origin.json (written by `ts-img unpack REF`
 * and by repack itself), or the image currently at --image LAYOUT:TAG.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Descriptor, ImageConfig, ImageManifest, MediaType } from '@tsrt/oci-spec';
import { UserError } from '../cli/errors';
import { Layout } from '../store/layout';
import { LoadedImage, loadImage, reachable } from '../store/image';
import { FsNode, FsTree, Header, buildTree } from '../archive/flatten';
import { writeGzipLayer } from '../archive/blobs';
import { TarEntryHeader, TarWriter } from '../archive/tarwriter';
import { libc } from '@tsrt/libc';
import { byteString, fsPath, showName } from '../layers/byte-names';

/** A byte-string rootfs path as a NUL-terminated path for libc. */
const cFsPath = (abs: string | Buffer): string | Buffer => (typeof abs === 'string' ? abs : Buffer.concat([abs, Buffer.alloc(1)]));
/** readlink keeping the target's bytes (byte string). */
const readLinkBytes = (abs: string | Buffer): string => byteString(fs.readlinkSync(abs, { encoding: 'buffer' }) as Buffer);

export const ORIGIN_FILE = 'ts-img-origin.json';

export interface Origin {
  /** Layout (or store) directory holding the image. */
  layout: string;
  manifestDigest: string;
  name?: string;
}

export function readOrigin(bundle: string): Origin | undefined {
  try {
    const o = JSON.parse(fs.readFileSync(path.join(bundle, ORIGIN_FILE), 'utf8')) as Origin;
    if (typeof o.layout === 'string' && typeof o.manifestDigest === 'string') return o;
  } catch {
    /* none */
  }
  return undefined;
}

export function writeOrigin(bundle: string, o: Origin): void {
  fs.writeFileSync(path.join(bundle, ORIGIN_FILE), `${JSON.stringify(o, null, 2)}\n`, { mode: 0o644 });
}

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

/** xattrs worth keeping in a layer (not security.selinux, which belongs to the host). */
function readXattrs(absPath: string | Buffer): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  const abs = cFsPath(absPath);
  let names: string[];
  try {
    names = libc().llistxattr(abs);
  } catch {
    return out;
  }
  for (const n of names.sort()) {
    if (n === 'security.selinux' || n.startsWith('system.')) continue;
    try {
      out[n] = libc().lgetxattr(abs, n);
    } catch {
      /* vanished or unreadable */
    }
  }
  return out;
}

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

export interface RepackOptions {
  /** The bundle's uid/gid mappings (containerID:hostID:size), to turn owners back into image IDs. */
  uidMap?: IdRange[];
  gidMap?: IdRange[];
  /** Record xattrs (default true). */
  xattrs?: boolean;
  /** History line (created_by). */
  createdBy?: string;
  comment?: string;
  /** Remove the bundle's files from the comparison (e.g. /proc contents) */
  exclude?: string[];
  log?: (m: string) => void;
}

export interface RepackResult {
  manifest: Descriptor;
  layer: Descriptor;
  added: number;
  changed: number;
  deleted: number;
}

/** Copy every blob an image needs from one layout to another (hardlink when possible). */
export function copyImageBlobs(from: Layout, to: Layout, desc: Descriptor): void {
  if (from.dir === to.dir) return;
  for (const d of reachable(from, desc, new Set(), false)) {
    if (to.hasBlob(d)) continue;
    const tmp = to.tmpPath();
    try {
      fs.linkSync(from.blobPath(d), tmp);
    } catch {
      fs.copyFileSync(from.blobPath(d), tmp);
    }
    to.commitFile(tmp, d);
  }
}

function fileType(st: fs.Stats): TarEntryHeader['type'] | undefined {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'directory';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'character-device';
  if (st.isBlockDevice()) return 'block-device';
  if (st.isFIFO()) return 'fifo';
  return undefined; // sockets are not archived
}

// glibc's dev_t encoding (JS shifts are 32-bit: the high word is taken by division)
const major = (dev: number) => ((dev >>> 8) & 0xfff) | (Math.floor(dev / 2 ** 32) & 0xfffff000);
const minor = (dev: number) => (dev & 0xff) | ((dev >>> 12) & 0xfff00);

function sameAsBase(tree: FsTree, p: string, node: FsNode, st: fs.Stats, abs: string | Buffer, uid: number, gid: number, xattrs: Record<string, Buffer> | undefined): boolean {
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
      return readLinkBytes(abs) === h.linkname;
    case 'character-device':
    case 'block-device':
      return (h.devmajor ?? 0) === major(st.rdev) && (h.devminor ?? 0) === minor(st.rdev);
    default:
      return true;
  }
}

export async function repack(bundle: string, target: Layout, tag: string, base: { layout: Layout; descriptor: Descriptor }, opts: RepackOptions = {}): Promise<RepackResult> {
  const cfgPath = path.join(bundle, 'config.json');
  let rootRel = 'rootfs';
  if (fs.existsSync(cfgPath)) {
    const spec = JSON.parse(fs.readFileSync(cfgPath, 'utf8'));
    if (typeof spec?.root?.path === 'string') rootRel = spec.root.path;
  }
  const rootfs = path.resolve(bundle, rootRel);
  const rst = fs.lstatSync(rootfs);
  if (!rst.isDirectory()) throw new UserError(`${rootfs}: not a directory`);
  const lock = await target.writerLock();
  try {
    copyImageBlobs(base.layout, target, base.descriptor);
    const img: LoadedImage = loadImage(target, base.descriptor);
    const tree = await buildTree(target, img.manifest.layers);
    // names are bytes (byte strings, see byte-names.ts): so are the --exclude paths compared with them
    const exclude = new Set((opts.exclude ?? []).map((e) => byteString(Buffer.from(e.replace(/^\/+|\/+$/g, '')))));
    const stats = { added: 0, changed: 0, deleted: 0 };

    const tw = new TarWriter();
    const layerP = writeGzipLayer(target, tw.stream);
    const inodes = new Map<string, string>(); // dev:ino -> first path

    const walk = async (rel: string) => {
      const names = (fs.readdirSync(fsPath(rootfs, rel), { encoding: 'buffer' }) as Buffer[]).map(byteString).sort();
      const baseDir = tree.lookup(rel);
      // deletions
      if (baseDir && (!baseDir.header || baseDir.header.type === 'directory')) {
        const present = new Set(names);
        for (const k of [...baseDir.children.keys()].sort()) {
          const p = rel ? `${rel}/${k}` : k;
          if (!present.has(k) && !exclude.has(p)) {
            await tw.add({ name: rel ? `${rel}/.wh.${k}` : `.wh.${k}`, type: 'file', mode: 0o644, mtime: new Date(0) });
            stats.deleted++;
          }
        }
      }
      for (const k of names) {
        const p = rel ? `${rel}/${k}` : k;
        if (exclude.has(p)) continue;
        if (k.startsWith('.wh.')) throw new UserError(`${showName(p)}: a file named like a whiteout cannot be archived`);
        const abs = fsPath(rootfs, p);
        const st = fs.lstatSync(abs);
        const type = fileType(st);
        if (!type) {
          opts.log?.(`skipping socket ${showName(p)}`);
          continue;
        }
        const node = tree.lookup(p);
        const uid = unmapId(st.uid, opts.uidMap, 'uid');
        const gid = unmapId(st.gid, opts.gidMap, 'gid');
        const xattrs = opts.xattrs === false ? undefined : readXattrs(abs);
        const unchanged = node !== undefined && sameAsBase(tree, p, node, st, abs, uid, gid, xattrs);
        const key = `${st.dev}:${st.ino}`;
        const firstLink = type === 'file' && st.nlink > 1 ? inodes.get(key) : undefined;
        if (type === 'file' && st.nlink > 1 && !firstLink) inodes.set(key, p);
        if (!unchanged) {
          node ? stats.changed++ : stats.added++;
          const h: TarEntryHeader = { name: type === 'directory' ? `${p}/` : p, type, mode: st.mode & 0o7777, uid, gid, mtime: new Date(Math.floor(st.mtimeMs / 1000) * 1000) };
          if (xattrs && Object.keys(xattrs).length) h.xattrs = xattrs;
          if (firstLink) await tw.add({ ...h, type: 'link', linkname: firstLink });
          else if (type === 'file') await tw.addFile(h, abs);
          else if (type === 'symlink') await tw.add({ ...h, linkname: readLinkBytes(abs) });
          else if (type === 'character-device' || type === 'block-device') await tw.add({ ...h, devmajor: major(st.rdev), devminor: minor(st.rdev) });
          else await tw.add(h);
        }
        if (type === 'directory') await walk(p);
      }
    };
    const walking = walk('').then(
      () => tw.finish(),
      (e) => {
        tw.stream.destroy(e);
        throw e;
      },
    );
    const [layer] = await Promise.all([layerP, walking]);

    const mt = img.manifest.mediaType === MediaType.DockerManifest ? MediaType.DockerLayerGzip : MediaType.LayerGzip;
    const layerDesc: Descriptor = { mediaType: mt, digest: layer.digest, size: layer.size };
    const created = new Date().toISOString();
    const config: ImageConfig = JSON.parse(img.configBytes.toString('utf8'));
    config.created = created;
    config.rootfs = { type: 'layers', diff_ids: [...config.rootfs.diff_ids, layer.diffId] };
    config.history = [...(config.history ?? []), { created, created_by: opts.createdBy ?? 'ts-img repack', ...(opts.comment ? { comment: opts.comment } : {}) }];
    const cb = Buffer.from(JSON.stringify(config));
    const cw = target.writeBlob(cb);
    const manifest: ImageManifest = JSON.parse(img.manifestBytes.toString('utf8'));
    manifest.config = { ...manifest.config, digest: cw.digest, size: cb.length };
    manifest.layers = [...manifest.layers, layerDesc];
    const mb = Buffer.from(JSON.stringify(manifest));
    const mw = target.writeBlob(mb);
    const mdesc: Descriptor = { mediaType: manifest.mediaType ?? img.manifestDescriptor.mediaType ?? MediaType.ImageManifest, digest: mw.digest, size: mb.length };
    if (img.manifestDescriptor.platform) mdesc.platform = img.manifestDescriptor.platform;
    await target.tag(tag, mdesc);
    writeOrigin(bundle, { layout: target.dir, manifestDigest: mw.digest, name: tag });
    return { manifest: mdesc, layer: layerDesc, ...stats };
  } finally {
    lock.release();
  }
}
