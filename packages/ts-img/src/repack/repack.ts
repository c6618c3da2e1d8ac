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
import tar from 'tar-stream';
import { Descriptor, ImageConfig, ImageManifest, MediaType } from '@tsrt/oci-spec';
import { UserError } from '../cli/errors';
import { Layout } from '../store/layout';
import { LoadedImage, loadImage, reachable } from '../store/image';
import { FsNode, FsTree, Header, buildTree } from '../archive/flatten';
import { writeGzipLayer } from '../archive/blobs';

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

export interface RepackOptions {
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

function fileType(st: fs.Stats): Header['type'] | undefined {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'directory';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'character-device';
  if (st.isBlockDevice()) return 'block-device';
  if (st.isFIFO()) return 'fifo';
  return undefined; // sockets are not archived
}

const major = (dev: number) => ((dev >> 8) & 0xfff) | ((dev >>> 32) & ~0xfff);
const minor = (dev: number) => (dev & 0xff) | ((dev >> 12) & 0xfff00);

function sameAsBase(tree: FsTree, p: string, node: FsNode, st: fs.Stats, abs: string): boolean {
  let h = node.header;
  if (!h) return st.isDirectory();
  if (h.type === 'link') {
    const t = tree.lookup(String(h.linkname ?? '').replace(/^\/+/, ''));
    if (!t?.header) return false;
    h = { ...t.header, mode: t.header.mode };
  }
  const type = h.type === 'contiguous-file' ? 'file' : h.type;
  if (fileType(st) !== type) return false;
  if (type !== 'symlink' && ((h.mode ?? 0) & 0o7777) !== (st.mode & 0o7777)) return false;
  if ((h.uid ?? 0) !== st.uid || (h.gid ?? 0) !== st.gid) return false;
  const hsec = h.mtime ? Math.floor(h.mtime.getTime() / 1000) : 0;
  const ssec = Math.floor(st.mtimeMs / 1000);
  switch (type) {
    case 'file':
      return (h.size ?? 0) === st.size && hsec === ssec;
    case 'directory':
      return hsec === ssec;
    case 'symlink':
      return fs.readlinkSync(abs) === h.linkname;
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
    const exclude = new Set((opts.exclude ?? []).map((e) => e.replace(/^\/+|\/+$/g, '')));
    const stats = { added: 0, changed: 0, deleted: 0 };

    const pack = tar.pack();
    const layerP = writeGzipLayer(target, pack as unknown as NodeJS.ReadableStream as any);
    const put = (h: Header, body?: Buffer) =>
      new Promise<void>((res, rej) => {
        pack.entry(h, body ?? Buffer.alloc(0), (e) => (e ? rej(e) : res()));
      });
    const putFile = (h: Header, abs: string) =>
      new Promise<void>((res, rej) => {
        const w = pack.entry(h, (e) => (e ? rej(e) : res()));
        const fd = fs.openSync(abs, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
        const r = fs.createReadStream('', { fd, highWaterMark: 1 << 20 });
        r.on('error', rej);
        r.pipe(w as any);
      });
    const inodes = new Map<string, string>(); // dev:ino -> first path

    const walk = async (rel: string) => {
      const absDir = rel ? path.join(rootfs, rel) : rootfs;
      const names = fs.readdirSync(absDir).sort();
      const baseDir = tree.lookup(rel);
      // deletions
      if (baseDir && (!baseDir.header || baseDir.header.type === 'directory')) {
        const present = new Set(names);
        for (const k of [...baseDir.children.keys()].sort()) {
          const p = rel ? `${rel}/${k}` : k;
          if (!present.has(k) && !exclude.has(p)) {
            await put({ name: rel ? `${rel}/.wh.${k}` : `.wh.${k}`, type: 'file', mode: 0o644, size: 0, mtime: new Date(0) });
            stats.deleted++;
          }
        }
      }
      for (const k of names) {
        const p = rel ? `${rel}/${k}` : k;
        if (exclude.has(p)) continue;
        if (k.startsWith('.wh.')) throw new UserError(`${p}: a file named like a whiteout cannot be archived`);
        const abs = path.join(rootfs, p);
        const st = fs.lstatSync(abs);
        const type = fileType(st);
        if (!type) {
          opts.log?.(`skipping socket ${p}`);
          continue;
        }
        const node = tree.lookup(p);
        const unchanged = node !== undefined && sameAsBase(tree, p, node, st, abs);
        const key = `${st.dev}:${st.ino}`;
        const firstLink = type === 'file' && st.nlink > 1 ? inodes.get(key) : undefined;
        if (type === 'file' && st.nlink > 1 && !firstLink) inodes.set(key, p);
        if (!unchanged) {
          node ? stats.changed++ : stats.added++;
          const h: Header = { name: type === 'directory' ? `${p}/` : p, type, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: new Date(Math.floor(st.mtimeMs / 1000) * 1000) };
          if (firstLink) await put({ ...h, type: 'link', linkname: firstLink, size: 0 });
          else if (type === 'file') await putFile({ ...h, size: st.size }, abs);
          else if (type === 'symlink') await put({ ...h, linkname: fs.readlinkSync(abs) });
          else if (type === 'character-device' || type === 'block-device') await put({ ...h, devmajor: major(st.rdev), devminor: minor(st.rdev) });
          else await put(h);
        }
        if (type === 'directory') await walk(p);
      }
    };
    const walking = walk('').then(
      () => pack.finalize(),
      (e) => {
        pack.destroy(e);
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
