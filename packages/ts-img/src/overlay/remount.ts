/**
 * `ts-img mount BUNDLE`: mount an overlay bundle's rootfs again (a reboot or an umount drops the
 * mount, and a runtime would then run an empty rootfs), as `unpack --overlay` mounted it: the
 * same visible layers from the store, the bundle's own upper and work dirs, whose changes
 * therefore show again. Nothing to do when rootfs is a mount point already. A refusal is one
 * line and mounts nothing.
 */
import fs from 'node:fs';
import path from 'node:path';
import { libc } from '@tsrt/libc';
import type { Sys } from '@tsrt/libc';
import { UserError } from '../cli/errors';
import { OVERLAY_FILE, OverlayMeta, readOverlayMeta } from '../bundle/overlay-meta';
import { Layout } from '../store/layout';
import { LayerStore, StoredLayer } from './layer-store';
import { getFold, layerOfLower } from './fold-store';
import { assertOverlayPossible, isMountPoint, OverlayUnavailable } from './mount';
import { IdMap, idMap, mountLayers } from './mount-layers';
import type { IdMapping } from '../layers/idmap';
import { NotBeneath, closeBundleDirs, lowerKeys, openBundleDirs } from './meta-paths';

export interface MountBundleOptions {
  sys?: Sys;
  /** Tests of older kernels' mount paths: mount(2), or the new API with path strings (mount.ts). */
  forceMount?: 'mount2' | 'strings';
}

/** The bundle's overlay description; a one-line refusal for anything that is not an overlay bundle. */
function overlayBundle(bundle: string, abs: string): OverlayMeta {
  const st = fs.lstatSync(abs, { throwIfNoEntry: false });
  if (!st) throw new UserError(`bundle ${bundle}: no such directory`);
  if (!st.isDirectory()) throw new UserError(`bundle ${bundle}: not a directory`);
  const meta = readOverlayMeta(abs);
  if (meta) return meta;
  if (fs.existsSync(path.join(abs, 'config.json'))) {
    throw new UserError(`bundle ${bundle}: not an overlay bundle (no ${OVERLAY_FILE}): its rootfs is a plain directory, nothing to mount`);
  }
  throw new UserError(`${bundle}: not a bundle (neither config.json nor ${OVERLAY_FILE})`);
}

/**
 * The one-line refusal of a bundle whose lower i is not in the store (gc, a moved store); i
 * counts the fold as one lower, the bottom one, when there is one.
 */
function missingLayer(bundle: string, meta: OverlayMeta, i: number): UserError {
  const folded = meta.fold?.layers ?? 0;
  const j = layerOfLower(i, folded);
  const what = j === undefined ? `the fold of its bottom ${folded} layers (${meta.fold!.dir})` : `layer ${j + 1} of ${meta.layers.length} (${meta.layers[j]})`;
  return new UserError(`bundle ${bundle}: ${what} is missing from the store ${meta.store} (ts-img gc may have collected it, or the store moved): unpack the image again`);
}

/** The bundle's lowers as the store has them (root opaque, short link), as unpack found them: its fold first. */
function storedLayers(bundle: string, meta: OverlayMeta, store: LayerStore, keys: { keys: string[]; fold?: string }): StoredLayer[] {
  const found = [...(keys.fold ? [getFold(store, keys.fold)] : []), ...keys.keys.map((k) => store.get(k))];
  return found.map((l, i) => {
    if (!l) throw missingLayer(bundle, meta, i);
    return l;
  });
}

const sameMap = (a: IdMapping[] | undefined, b: IdMapping[] | undefined): boolean => JSON.stringify(a ?? []) === JSON.stringify(b ?? []);

/**
 * The mapping to show the layers with. ts-img-overlay.json says it, but its owner may have
 * edited it (a mapping of their choice would show the image's files as theirs): it must be the
 * one the store's registration of this bundle (root's) was made with.
 */
function trustedMap(bundle: string, meta: OverlayMeta, store: LayerStore, file: string): IdMap | undefined {
  const ref = store.refOf(path.resolve(bundle));
  const mapped = !!(meta.uidMap || meta.gidMap);
  if (!ref ? mapped : !sameMap(meta.uidMap, ref.uidMap) || !sameMap(meta.gidMap, ref.gidMap)) {
    throw new UserError(`${file}: uidMap/gidMap ${ref ? 'differ from the mapping the bundle was unpacked with' : 'cannot be checked (the bundle is not registered in the store)'} (refused): unpack the image again`);
  }
  return idMap(meta.uidMap, meta.gidMap);
}

/** Mount BUNDLE/rootfs; false when it was mounted already. */
export async function mountBundle(bundle: string, opts: MountBundleOptions = {}): Promise<boolean> {
  const sys = opts.sys ?? libc();
  const abs = path.resolve(bundle);
  const meta = overlayBundle(bundle, abs);
  const rootfs = path.join(abs, 'rootfs');
  if (isMountPoint(sys, rootfs)) return false;
  const file = path.join(abs, OVERLAY_FILE);
  const store = new LayerStore(meta.store);
  const keys = lowerKeys(meta, store, file);
  // opened here, once: what the mount gets whatever happens to these paths from now on
  const dirs = openBundleDirs(sys, bundle, abs, meta, file);
  try {
    if (!fs.existsSync(meta.store)) throw new UserError(`bundle ${bundle}: the store ${meta.store} is gone (moved?): unpack the image again`);
    if (!Layout.isLayout(meta.store)) throw new UserError(`${file}: store ${meta.store} is not an image store (no oci-layout file)`);
    assertOverlayPossible(sys, [abs, meta.store]);
    // gc takes this lock exclusively: no layer goes between the check and the mount
    const lock = await (await Layout.open(meta.store)).writerLock();
    try {
      const layers = storedLayers(bundle, meta, store, keys);
      const map = trustedMap(bundle, meta, store, file);
      // registered again (the same content as unpack's): gc keeps the layers of a bundle moved back
      store.addRef(abs, layers, map);
      const refused = (i: number, why: NotBeneath): never => {
        if (why === 'missing') throw missingLayer(bundle, meta, i);
        const d = keys.fold ? i - 1 : i;
        throw new UserError(`${file}: ${d < 0 ? `fold.dir ${meta.fold!.dir}` : `lowerdirs[${d}] ${meta.lowerdirs[d]}`}: ${why} (refused)`);
      };
      mountLayers(sys, store, layers, { ...dirs, force: opts.forceMount, refused, idmap: map });
    } finally {
      lock.release();
    }
  } catch (e) {
    // unpack's advice (drop --overlay) does not apply here
    if (e instanceof OverlayUnavailable) throw new UserError(`bundle ${bundle}: overlayfs cannot be mounted (${e.why})`);
    throw e;
  } finally {
    closeBundleDirs(sys, dirs);
  }
  return true;
}
