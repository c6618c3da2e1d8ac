/**
 * The layer store's part of `ts-img gc` (run under the store's exclusive gc lock): a stored layer
 * stays while an image in the store lists its diff_id or a registered bundle that still exists
 * still names it in its ts-img-overlay.json, or an overlay mount uses it. A fold (fold-store.ts)
 * stays only while such a bundle names it or a mount uses it: no image does. Registrations of
 * bundles that are gone are dropped, unless the bundle is still mounted (moved away).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Layout } from '../store/layout';
import { readOverlayMeta } from '../bundle/overlay-meta';
import { LayerStore, chainIds } from './layer-store';
import { foldDiff, foldKeyOf, listFolds, removeFold } from './fold-store';

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

interface Used {
  layers: Set<string>;
  folds: Set<string>;
}

/**
 * The option strings of this mount namespace's overlay mounts; undefined when they cannot be
 * read (then every layer in doubt is kept).
 */
function overlayMounts(mountinfo = '/proc/self/mountinfo'): string[] | undefined {
  try {
    return fs.readFileSync(mountinfo, 'utf8').split('\n').filter((l) => / - overlay /.test(l)).map((l) => l.slice(l.indexOf(' - overlay ')));
  } catch {
    return undefined;
  }
}

/**
 * Is the bundle registered at `bundle`, gone from there, still mounted? Its mount shows the
 * upper dir as it was named when mounted, the moves since then aside; an idmapped layer shows
 * as no path at all, so this is what keeps a moved bundle's layers when it has some.
 */
function mountedFrom(bundle: string, mounts: string[] | undefined): boolean {
  const upper = `upperdir=${path.join(bundle, 'overlay/upper')}`;
  return !mounts || mounts.some((o) => o.includes(`${upper},`) || o.endsWith(upper));
}

/** Keys of the layers and folds the store's bundles use; stale registrations removed unless dryRun. */
function bundleLayers(store: LayerStore, storeDir: string, mounts: string[] | undefined, dryRun: boolean): Used {
  const out: Used = { layers: new Set(), folds: new Set() };
  for (const r of store.refs()) {
    const exists = r.bundle !== '' && fs.existsSync(r.bundle);
    let names: { layers: string[]; folds: string[] } | undefined;
    if (!exists && r.bundle !== '' && mountedFrom(r.bundle, mounts)) names = { layers: r.layers, folds: r.folds ?? [] };
    if (exists) {
      try {
        const m = readOverlayMeta(r.bundle);
        const fold = m?.fold ? foldKeyOf(store, m.fold.dir) : undefined;
        if (m && path.resolve(m.store) === storeDir) names = { layers: m.lowerdirs.map((d) => store.keyOf(d)).filter((k): k is string => k !== undefined), folds: fold ? [fold] : [] };
      } catch {
        names = { layers: r.layers, folds: r.folds ?? [] }; // unreadable: in doubt, keep what it was registered with
      }
    }
    if (names) {
      for (const l of names.layers) out.layers.add(l);
      for (const f of names.folds) out.folds.add(f);
    } else if (!dryRun) fs.rmSync(r.file, { force: true });
  }
  return out;
}

/**
 * The dirs among `dirs` (key -> dir) an overlay mount of this mount namespace uses, whatever the
 * registrations say (a bundle moved away from its registered path is still mounted): the dir, or
 * its short link name given relative to ovl/l, appears in the mount's options.
 */
function mountedDirs(store: LayerStore, dirs: Map<string, string>, opts: string[] | undefined): Set<string> {
  if (!opts) return new Set(dirs.keys()); // cannot tell: keep them all
  if (opts.length === 0) return new Set();
  const used = new Set<string>();
  for (const [key, dir] of dirs) {
    const short = store.shortName(key);
    const named = (o: string): boolean => o.includes(dir) || new RegExp(`[=:]${short}[:,\\s]`).test(o);
    if (opts.some(named)) used.add(key);
  }
  return used;
}

export interface GcLayersResult {
  /** Layers (keys) removed, or that would be with dryRun. */
  layers: string[];
  /** Folds (keys: chain ids) removed, or that would be. */
  folds: string[];
}

export function gcLayers(layout: Layout, reachableBlobs: Set<string>, dryRun = false): GcLayersResult {
  const store = new LayerStore(layout.dir);
  const live = imageLayerKeys(layout, reachableBlobs);
  const mounts = overlayMounts();
  const used = bundleLayers(store, layout.dir, mounts, dryRun);
  for (const l of used.layers) live.add(l);
  const unnamed = (keys: string[], named: Set<string>, dir: (k: string) => string): Map<string, string> => new Map(keys.filter((k) => !named.has(k)).map((k) => [k, dir(k)]));
  const layers = store.list();
  const folds = listFolds(store);
  for (const l of mountedDirs(store, unnamed(layers, live, (k) => path.join(store.layerDir(k), 'diff')), mounts)) live.add(l);
  for (const f of mountedDirs(store, unnamed(folds, used.folds, (k) => foldDiff(store, k)), mounts)) used.folds.add(f);
  const gone = { layers: layers.filter((l) => !live.has(l)), folds: folds.filter((f) => !used.folds.has(f)) };
  if (!dryRun) {
    for (const l of gone.layers) store.remove(l);
    for (const f of gone.folds) removeFold(store, f);
    store.clearScratch(); // no extraction runs while gc holds the lock
  }
  return gone;
}
