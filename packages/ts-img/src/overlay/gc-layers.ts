/**
 * The layer store's part of `ts-img gc` (run under the store's exclusive gc lock): a stored layer
 * stays while an image in the store lists its diff_id or a registered bundle that still exists
 * still names it in its ts-img-overlay.json, or an overlay mount uses it. Registrations of
 * bundles that are gone are dropped.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Layout } from '../store/layout';
import { readOverlayMeta } from '../bundle/overlay-meta';
import { LayerStore, chainIds } from './layer-store';

/** Layer keys (diff_ids and chain ids) of every image config among `blobs` (reachable from the index). */
function imageLayerKeys(layout: Layout, blobs: Set<string>): Set<string> {
  const out = new Set<string>();
  for (const d of blobs) {
    let j: any;
    try {
      if (fs.statSync(layout.blobPath(d)).size > 4 << 20) continue; // a layer, not a config
      j = JSON.parse(fs.readFileSync(layout.blobPath(d), 'utf8'));
    } catch {
      continue;
    }
    const ids = j?.rootfs?.diff_ids;
    if (!Array.isArray(ids) || !ids.every((id) => typeof id === 'string')) continue;
    for (const id of [...ids, ...chainIds(ids)]) out.add(id);
  }
  return out;
}

/** Keys of the layers the store's bundles use (their lowerdirs); stale registrations removed unless dryRun. */
function bundleLayers(store: LayerStore, storeDir: string, dryRun: boolean): Set<string> {
  const out = new Set<string>();
  for (const r of store.refs()) {
    const exists = r.bundle !== '' && fs.existsSync(r.bundle);
    let names: string[] | undefined;
    if (exists) {
      try {
        const m = readOverlayMeta(r.bundle);
        if (m && path.resolve(m.store) === storeDir) names = m.lowerdirs.map((d) => store.keyOf(d)).filter((k): k is string => k !== undefined);
      } catch {
        names = r.layers; // unreadable: in doubt, keep what it was registered with
      }
    }
    if (names) for (const l of names) out.add(l);
    else if (!dryRun) fs.rmSync(r.file, { force: true });
  }
  return out;
}

/**
 * Layers an overlay mount of this mount namespace uses, whatever the registrations say (a bundle
 * moved away from its registered path is still mounted): its dir, or its short link name given
 * relative to ovl/l, appears in the mount's options.
 */
function mountedLayers(store: LayerStore, layers: string[], mountinfo = '/proc/self/mountinfo'): Set<string> {
  let text = '';
  try {
    text = fs.readFileSync(mountinfo, 'utf8');
  } catch {
    return new Set(layers); // cannot tell: keep them all
  }
  const opts = text.split('\n').filter((l) => / - overlay /.test(l)).map((l) => l.slice(l.indexOf(' - overlay ')));
  if (opts.length === 0) return new Set();
  const used = new Set<string>();
  for (const l of layers) {
    const dir = path.join(store.layerDir(l), 'diff');
    const short = store.shortName(l);
    const named = (o: string): boolean => o.includes(dir) || new RegExp(`[=:]${short}[:,\\s]`).test(o);
    if (opts.some(named)) used.add(l);
  }
  return used;
}

export function gcLayers(layout: Layout, reachableBlobs: Set<string>, dryRun = false): string[] {
  const store = new LayerStore(layout.dir);
  const live = imageLayerKeys(layout, reachableBlobs);
  for (const l of bundleLayers(store, layout.dir, dryRun)) live.add(l);
  for (const l of mountedLayers(store, store.list().filter((x) => !live.has(x)))) live.add(l);
  const gone = store.list().filter((l) => !live.has(l));
  if (!dryRun) {
    for (const l of gone) store.remove(l);
    store.clearScratch(); // no extraction runs while gc holds the lock
  }
  return gone;
}
