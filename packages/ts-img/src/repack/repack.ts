/**
 * repack: the changes made to an unpacked bundle's rootfs become a new layer on top of the image
 * it came from (the `docker commit` flow). Where the changes come from is the diff source:
 * - a flat bundle: its rootfs compared with the base image's layer headers (flat-diff.ts);
 * - an overlay bundle (BUNDLE/ts-img-overlay.json): its upper dir alone (upper-diff.ts), on top
 *   of the bundle's lower layers (lower-image.ts).
 * Both are walked by dir fds (walk.ts) and written by the same entry writer (entries.ts); the
 * new config gets the diff_id and a history entry, and the bundle's origin becomes the new image.
 *
 * The base is, in order: --base, the bundle's ts-img-origin.json (written by `ts-img unpack REF`
 * and by repack itself), or the image currently at --image LAYOUT:TAG.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Descriptor, ImageConfig, ImageManifest, MediaType } from '@tsrt/oci-spec';
import { libc } from '@tsrt/libc';
import { Layout } from '../store/layout';
import { LoadedImage, loadImage, reachable } from '../store/image';
import { buildTree } from '../archive/flatten';
import { LayerBlob, writeGzipLayer } from '../archive/blobs';
import { TarWriter } from '../archive/tarwriter';
import { byteString } from '../layers/byte-names';
import { OVERLAY_FILE, OverlayMeta, readOverlayMeta } from '../bundle/overlay-meta';
import { IdRange, LayerEntries } from './entries';
import { flatDiff } from './flat-diff';
import { upperDiff } from './upper-diff';
import { lowerImage } from './lower-image';
import { openRoot, walkTree } from './walk';
import type { DiffSourceOptions } from './source';
import { writeOrigin } from './origin';

export { IdRange, unmapId } from './entries';
export { ORIGIN_FILE, Origin, readOrigin, writeOrigin } from './origin';

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
  /** where the changes were read: the rootfs (flat) or the overlay upper dir */
  source: 'flat' | 'overlay';
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

/** The bundle's rootfs directory (config.json's root.path, default rootfs). */
function rootfsOf(bundle: string): string {
  const cfgPath = path.join(bundle, 'config.json');
  let rootRel = 'rootfs';
  if (fs.existsSync(cfgPath)) {
    const spec = JSON.parse(fs.readFileSync(cfgPath, 'utf8'));
    if (typeof spec?.root?.path === 'string') rootRel = spec.root.path;
  }
  return path.resolve(bundle, rootRel);
}

/** Write the new config and manifest over `layer` and tag the result. */
async function commitImage(target: Layout, tag: string, img: LoadedImage, manifest: ImageManifest, config: ImageConfig, layer: LayerBlob, opts: RepackOptions): Promise<{ manifest: Descriptor; layer: Descriptor }> {
  const mt = img.manifest.mediaType === MediaType.DockerManifest ? MediaType.DockerLayerGzip : MediaType.LayerGzip;
  const layerDesc: Descriptor = { mediaType: mt, digest: layer.digest, size: layer.size };
  const created = new Date().toISOString();
  const newConfig: ImageConfig = {
    ...config,
    created,
    rootfs: { type: 'layers', diff_ids: [...config.rootfs.diff_ids, layer.diffId] },
    history: [...(config.history ?? []), { created, created_by: opts.createdBy ?? 'ts-img repack', ...(opts.comment ? { comment: opts.comment } : {}) }],
  };
  const cb = Buffer.from(JSON.stringify(newConfig));
  const cw = target.writeBlob(cb);
  const newManifest: ImageManifest = { ...manifest, config: { ...manifest.config, digest: cw.digest, size: cb.length }, layers: [...manifest.layers, layerDesc] };
  const mb = Buffer.from(JSON.stringify(newManifest));
  const mw = target.writeBlob(mb);
  const mdesc: Descriptor = { mediaType: newManifest.mediaType ?? img.manifestDescriptor.mediaType ?? MediaType.ImageManifest, digest: mw.digest, size: mb.length };
  if (img.manifestDescriptor.platform) mdesc.platform = img.manifestDescriptor.platform;
  await target.tag(tag, mdesc);
  return { manifest: mdesc, layer: layerDesc };
}

export async function repack(bundle: string, target: Layout, tag: string, base: { layout: Layout; descriptor: Descriptor }, opts: RepackOptions = {}): Promise<RepackResult> {
  const overlay: OverlayMeta | undefined = readOverlayMeta(bundle);
  const metaFile = path.join(bundle, OVERLAY_FILE);
  const root = overlay ? overlay.upper : rootfsOf(bundle);
  const rootFd = openRoot(root, overlay ? `${metaFile}: upper` : 'rootfs');
  try {
    const img: LoadedImage = loadImage(base.layout, base.descriptor);
    let manifest: ImageManifest = JSON.parse(img.manifestBytes.toString('utf8'));
    let config: ImageConfig = JSON.parse(img.configBytes.toString('utf8'));
    // checked before anything is written into the target
    if (overlay) ({ manifest, config } = lowerImage(manifest, config, overlay.layers, metaFile));
    const lock = await target.writerLock();
    try {
      copyImageBlobs(base.layout, target, base.descriptor);
      const srcOpts: DiffSourceOptions = {
        // names are bytes (byte strings, see byte-names.ts): so are the --exclude paths compared with them
        exclude: new Set((opts.exclude ?? []).map((e) => byteString(Buffer.from(e.replace(/^\/+|\/+$/g, ''))))),
        uidMap: opts.uidMap,
        gidMap: opts.gidMap,
        xattrs: opts.xattrs !== false,
        log: opts.log,
      };
      const tw = new TarWriter();
      const out = new LayerEntries(tw);
      const layerP = writeGzipLayer(target, tw.stream);
      const walking = (async () => {
        const visitor = overlay ? await upperDiff(rootFd, root, out, srcOpts) : flatDiff(await buildTree(target, manifest.layers), out, srcOpts);
        await walkTree(rootFd, visitor);
      })().then(
        () => tw.finish(),
        (e) => {
          tw.stream.destroy(e);
          throw e;
        },
      );
      const [layer] = await Promise.all([layerP, walking]);
      const made = await commitImage(target, tag, img, manifest, config, layer, opts);
      writeOrigin(bundle, { layout: target.dir, manifestDigest: made.manifest.digest, name: tag });
      return { ...made, ...out.counts, source: overlay ? 'overlay' : 'flat' };
    } finally {
      lock.release();
    }
  } finally {
    libc().close(rootFd);
  }
}
