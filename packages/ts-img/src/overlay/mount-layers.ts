/**
 * The overlay mount of a bundle's stored layers, one function for `unpack --overlay` and `mount`
 * (the remount after a reboot must give the same tree, and the mount options gc reads from
 * mountinfo must name the layers the same way).
 */
import type { Sys } from '@tsrt/libc';
import type { LayerStore, StoredLayer } from './layer-store';
import { mountOverlay } from './mount';

/** The layers that show: overlayfs ignores an opaque marker on a layer's root, so the ones below it are left out. */
export function visibleLayers(layers: StoredLayer[]): StoredLayer[] {
  let from = 0;
  layers.forEach((l, i) => {
    if (l.rootOpaque) from = i;
  });
  return layers.slice(from);
}

export interface LayersMount {
  upper: string;
  work: string;
  target: string;
  /** mount(2) and short layer names even where the new mount API would do (tests). */
  legacy?: boolean;
}

/** Mount `layers` (bottom-first, as stored in `store`) on m.target, or throw OverlayUnavailable. */
export function mountLayers(sys: Sys, store: LayerStore, layers: StoredLayer[], m: LayersMount): void {
  mountOverlay(sys, {
    lowers: visibleLayers(layers).map((l) => ({ dir: l.diff, short: l.short })),
    upper: m.upper, work: m.work, target: m.target, shortBase: store.linkDir, legacy: m.legacy,
  });
}
