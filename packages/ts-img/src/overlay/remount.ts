/**
 * `ts-img mount BUNDLE`: mount an overlay bundle's rootfs again (a reboot or an umount drops the
 * mount, and a runtime would then run an empty rootfs), as `unpack --overlay` mounted it: the
 * same visible layers from the store, the bundle's own upper and work dirs, whose changes
 * therefore show again. Nothing to do when rootfs is a mount point already. A refusal is one
 * line and mounts nothing.
 */
import fs from 'node:fs';
import path from 'node:path';
import { libc, O_PATH, O_DIRECTORY, O_CLOEXEC } from '@tsrt/libc';
import type { Sys } from '@tsrt/libc';
import { UserError } from '../cli/errors';
import { OVERLAY_FILE, OverlayMeta, readOverlayMeta } from '../bundle/overlay-meta';
import { Layout } from '../store/layout';
import { LayerStore, StoredLayer } from './layer-store';
import { assertOverlayPossible, isMountPoint, OverlayUnavailable } from './mount';
import { mountLayers } from './mount-layers';
import { checkBundleDirs, lowerBeneath, lowerKeys } from './meta-paths';

export interface MountBundleOptions {
  sys?: Sys;
  /** mount(2) with short layer names even where the new mount API would do (tests). */
  legacyMount?: boolean;
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

/** The bundle's layers as the store has them (root opaque, short link), as unpack found them. */
function storedLayers(sys: Sys, bundle: string, meta: OverlayMeta, store: LayerStore, keys: string[], file: string): StoredLayer[] {
  const storefd = sys.open(meta.store, O_PATH | O_DIRECTORY | O_CLOEXEC);
  try {
    return keys.map((key, i) => {
      const l = lowerBeneath(sys, storefd, meta, i, file) === 'ok' ? store.get(key) : undefined;
      if (!l) {
        throw new UserError(`bundle ${bundle}: layer ${i + 1} of ${keys.length} (${meta.layers[i]}) is missing from the store ${meta.store} `
          + '(ts-img gc may have collected it, or the store moved): unpack the image again');
      }
      return l;
    });
  } finally {
    sys.close(storefd);
  }
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
  checkBundleDirs(sys, bundle, abs, meta, file);
  if (!fs.existsSync(meta.store)) throw new UserError(`bundle ${bundle}: the store ${meta.store} is gone (moved?): unpack the image again`);
  if (!Layout.isLayout(meta.store)) throw new UserError(`${file}: store ${meta.store} is not an image store (no oci-layout file)`);
  try {
    assertOverlayPossible(sys, [abs, meta.store]);
    // gc takes this lock exclusively: no layer goes between the check and the mount
    const lock = await (await Layout.open(meta.store)).writerLock();
    try {
      const layers = storedLayers(sys, bundle, meta, store, keys, file);
      // registered again (the same content as unpack's): gc keeps the layers of a bundle moved back
      store.addRef(abs, keys);
      mountLayers(sys, store, layers, { upper: meta.upper, work: meta.work, target: rootfs, legacy: opts.legacyMount });
    } finally {
      lock.release();
    }
  } catch (e) {
    // unpack's advice (drop --overlay) does not apply here
    if (e instanceof OverlayUnavailable) throw new UserError(`bundle ${bundle}: overlayfs cannot be mounted (${e.why})`);
    throw e;
  }
  return true;
}
