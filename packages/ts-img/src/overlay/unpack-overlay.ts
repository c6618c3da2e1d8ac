/**
 * `unpack --overlay`: each layer is extracted once into the store (keyed by diff_id, or by chain
 * id when it needs the layers below: see layer-store.ts, base-view.ts) and the bundle's rootfs/
 * is an overlay mount of those layers with an upper and a work dir of the bundle's own
 * (BUNDLE/overlay/). config.json is built as by the flat unpack,
 * from the mounted rootfs. Failures and signals leave nothing: no mount, no bundle, no half layer
 * (layers already complete stay in the store for the next unpack, until gc).
 */
import * as fs from 'fs';
import * as path from 'path';
import { libc, O_PATH, O_DIRECTORY, O_NOFOLLOW, O_CLOEXEC, O_WRONLY, O_CREAT, O_EXCL } from '@tsrt/libc';
import type { Sys } from '@tsrt/libc';
import type { Descriptor } from '@tsrt/oci-spec';
import type { ImageSource } from '../sources/types';
import { openSource } from '../sources/open';
import { Progress } from '../progress';
import { removeTree } from '../fs/remove-tree';
import { formatBytes, freeBytes } from '../layers/space';
import { UserError } from '../cli/errors';
import { Layout } from '../store/layout';
import type { Lock } from '../store/lock';
import { makeBundleTemp, prepareBundlePath, renameIntoPlace } from '../unpack-steps/bundle-dir';
import { assertBlobsPresent, checkedImage } from '../unpack-steps/image';
import type { AnyLayerReader, LayerStreamer } from '../unpack-steps/apply-layers';
import { configText, runtimeConfig } from '../unpack-steps/runtime-config';
import { cleanupOnSignal } from '../unpack-steps/interrupt';
import type { UnpackOptions, UnpackResult } from '../unpack';
import { writeOverlayMeta } from '../bundle/overlay-meta';
import { LayerStore, StoredLayer, chainIds } from './layer-store';
import { ensureFold, foldCount, getFold } from './fold-store';
import type { Extraction } from './extract';
import { BaseView } from './base-view';
import { assertOverlayPossible, fdPath, isMountPoint, unmountAll } from './mount';
import { idMap, mountLayers, visibleLayers } from './mount-layers';
import { assertOwnersMapped } from './id-owners';
import { setUpperRoot } from './upper-root';
import { NewBundleDirs, closeNewBundleDirs, makeBundleDirs } from './bundle-dirs';

export interface OverlayUnpackOptions extends UnpackOptions {
  /** The image store the layers live in. */
  store: string;
  /** Tests of older kernels' mount paths: mount(2), or the new API with path strings (mount.ts). */
  forceMount?: 'mount2' | 'strings';
}

export interface OverlayUnpackResult extends UnpackResult {
  /** The bundle's layers (bottom-first) as stored. */
  layers: StoredLayer[];
  /** How many layers this unpack extracted (the others were in the store already). */
  extracted: number;
}

/**
 * Rootless cannot work: an unprivileged user can neither set the trusted.overlay.* xattrs the
 * shared layers carry (opaque dirs, escaped image xattrs) nor, outside a user namespace of its
 * own, mount overlayfs or make the idmapped mounts a mapping is shown through (EPERM, all three);
 * an overlay mounted inside such a namespace is seen by no runtime outside it.
 */
function refuseRootless(o: UnpackOptions): void {
  if (o.rootless) {
    throw new UserError('--overlay cannot be combined with --rootless (unprivileged users can neither write the layers\' trusted.overlay.* xattrs nor mount overlayfs or idmapped mounts outside a user namespace of their own): drop one of them');
  }
}

/** A new file of the bundle, written through the bundle's fd. */
function writeBundleFile(sys: Sys, bundleFd: number, name: string, text: string): void {
  const fd = sys.openat(bundleFd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644);
  try {
    fs.writeSync(fd, text);
  } finally {
    sys.close(fd);
  }
}

export async function unpackOverlay(source: string | ImageSource, bundle: string, opts: OverlayUnpackOptions): Promise<OverlayUnpackResult> {
  refuseRootless(opts);
  const map = idMap(opts.uidMap, opts.gidMap);
  const sys = opts.sys ?? libc();
  const { abs, parent } = prepareBundlePath(bundle);
  const layout = await Layout.open(opts.store, { create: true });
  const store = new LayerStore(layout.dir);
  assertOverlayPossible(sys, [parent, layout.dir]);
  const src = typeof source === 'string' ? openSource(source) : source;
  const own = typeof source === 'string';
  const progress = Progress.auto(opts.quiet);
  const readers = new Set<AnyLayerReader>();
  const bases = new Set<BaseView>();
  const rootfs = path.join(abs, 'rootfs');
  let lock: Lock | undefined;
  let tmp: string | undefined;
  let placed = false;
  let rootfd = -1;
  let dirs: NewBundleDirs | undefined;
  const closeFds = (): void => {
    if (rootfd >= 0) { try { sys.close(rootfd); } catch { /* ignore */ } rootfd = -1; }
    if (dirs) { try { closeNewBundleDirs(sys, dirs); } catch { /* ignore */ } dirs = undefined; }
  };
  const cleanup = (): void => {
    for (const r of readers) r.destroy();
    for (const b of bases) b.close();
    store.abandon();
    closeFds();
    if (placed) {
      try { unmountAll(sys, rootfs, true); } catch { /* checked below */ }
      // never remove through a mount: that would delete from the layers' merged view
      if (!isMountPoint(sys, rootfs)) removeTree(abs);
      store.removeRef(abs);
    }
    if (tmp) removeTree(tmp);
  };
  const uninstall = cleanupOnSignal(cleanup);
  try {
    // gc takes this lock exclusively: no layer of ours goes while we extract and register
    lock = await layout.writerLock();
    const img = await checkedImage(src, opts);
    const { manifest, diffIds } = img;
    const chains = chainIds(diffIds);
    // overlayfs stacks at most 500 lowers: the bottom layers of a taller image go into one fold
    const folded = foldCount(diffIds.length);
    const foldKey = folded ? chains[folded - 1] : undefined;
    const foldMissing = foldKey && !getFold(store, foldKey) ? [...Array(folded).keys()] : [];
    // a layer twice in one image is looked for (and extracted) once, the second time found
    const missing = [...foldMissing, ...diffIds.map((_, i) => i).filter((i) => i >= folded && !store.find(diffIds[i], chains[i]) && diffIds.indexOf(diffIds[i], folded) === i)];
    await assertBlobsPresent(src, manifest, missing);
    const free = freeBytes(layout.dir);
    const total = missing.reduce((a, i) => a + ((manifest.layers[i] as Descriptor).size || 0), 0);
    if (total > free) throw new Error(`store ${layout.dir}: the layers need at least ${formatBytes(total)} but it has ${formatBytes(free)} free`);

    let doneBytes = 0;
    const onRawBytes = (b: number): void => {
      doneBytes += b;
      progress.update(`extracting ${missing.length} layers`, doneBytes, total);
    };
    // the extraction code is loaded only when a layer is not in the store yet
    let streamer: LayerStreamer | undefined;
    const streamerFor = async (): Promise<LayerStreamer> => {
      const { ExpansionBudget, LayerStreamer: Streamer } = await import('../unpack-steps/apply-layers');
      return (streamer ??= new Streamer(new ExpansionBudget(free, layout.dir)));
    };
    let extracted = 0;
    let entries = 0;
    const layers: StoredLayer[] = [];
    const x = async (): Promise<Extraction> => ({ img, src, readers, streamer: await streamerFor(), opts, onRawBytes });
    if (foldKey) {
      layers.push(await ensureFold(store, foldKey, folded, async (diffDir) => {
        extracted += folded;
        const info = await (await import('./extract')).extractFold(await x(), folded, diffDir);
        entries += info.entries;
        return info;
      }));
    }
    for (let i = folded; i < diffIds.length; i++) {
      layers.push(await store.ensure(diffIds[i], chains[i], async (diffDir) => {
        extracted++;
        const base = new BaseView(sys, store, visibleLayers(layers));
        bases.add(base);
        const info = await (await import('./extract')).extractLayer(await x(), i, diffDir, base).finally(() => bases.delete(base));
        entries += info.entries;
        return info;
      }));
    }
    progress.done();
    // the layers stay as the image has them; the bundle shows them shifted (idmapped mounts)
    if (map) await assertOwnersMapped(layers, diffIds, folded, map.uidMap, map.gidMap);

    tmp = makeBundleTemp(abs);
    dirs = makeBundleDirs(sys, tmp, abs);
    setUpperRoot(sys, layers, dirs.upper.fd, map);
    const fold = foldKey ? { layers: folded, dir: layers[0].diff } : undefined;
    writeOverlayMeta(fdPath(dirs.bundle), {
      version: 1, store: layout.dir, layers: diffIds, ...(fold ? { fold } : {}), lowerdirs: layers.filter((l) => !l.fold).map((l) => l.diff), upper: dirs.upper.path, work: dirs.work.path, ...map,
    });
    renameIntoPlace(tmp, abs, bundle);
    tmp = undefined;
    placed = true;
    // registered only once the path is ours (a ref is named after the path); gc waits for our lock
    store.addRef(abs, layers, map);
    mountLayers(sys, store, layers, { ...dirs, force: opts.forceMount, idmap: map });

    // the mount's root (the fd of rootfs/ still names the dir under it)
    rootfd = sys.openat(dirs.bundle, 'rootfs', O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    const spec = runtimeConfig(sys, rootfd, img.config, opts);
    writeBundleFile(sys, dirs.bundle, 'config.json', configText(spec));
    closeFds();
    placed = false;
    return { bundle: abs, manifest, manifestDigest: img.manifestDigest, config: img.config, spec, entries, layers, extracted };
  } catch (e) {
    progress.done();
    cleanup();
    throw e;
  } finally {
    lock?.release();
    uninstall();
    if (own) await src.close();
  }
}
