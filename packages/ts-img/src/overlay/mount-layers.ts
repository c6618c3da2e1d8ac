/**
 * The overlay mount of a bundle's stored layers, one function for `unpack --overlay` and `mount`
 * (the remount after a reboot must give the same tree, and the mount options gc reads from
 * mountinfo must name the layers the same way).
 */
import path from 'node:path';
import { O_PATH, O_DIRECTORY, O_CLOEXEC } from '@tsrt/libc';
import type { Sys } from '@tsrt/libc';
import type { LayerStore, StoredLayer } from './layer-store';
import { mountOverlay, OverlayDir } from './mount';
import { BundleDirs, DIR_READ, NotBeneath, openBeneath } from './meta-paths';

/** The layers that show: overlayfs ignores an opaque marker on a layer's root, so the ones below it are left out. */
export function visibleLayers(layers: StoredLayer[]): StoredLayer[] {
  let from = 0;
  layers.forEach((l, i) => {
    if (l.rootOpaque) from = i;
  });
  return layers.slice(from);
}

/** Why the dir of layers[i] could not be opened; throws the caller's own words. */
export type LayerDirRefused = (i: number, why: NotBeneath) => never;

const storeBroken: LayerDirRefused = (i, why) => {
  throw new Error(`layer store: lower dir ${i + 1}: ${why}`);
};

/**
 * Dirs of the store (`rels` relative to its ovl/ dir), each opened beneath the store's own dir
 * with no symlink on the way (so `.ts-img/ovl` is checked too): the fds overlayfs is given.
 */
export function openStoreDirs(sys: Sys, store: LayerStore, rels: string[], refused: LayerDirRefused = storeBroken): number[] {
  const storefd = sys.open(store.storeDir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  const fds: number[] = [];
  try {
    const under = path.relative(store.storeDir, store.root);
    rels.forEach((rel, i) => {
      const fd = openBeneath(sys, storefd, path.join(under, rel), DIR_READ);
      if (typeof fd !== 'number') refused(i, fd);
      fds.push(fd);
    });
    return fds;
  } catch (e) {
    for (const fd of fds) sys.close(fd);
    throw e;
  } finally {
    sys.close(storefd);
  }
}

/** The layers' dirs, opened (bottom-first): close them with closeDirs once mounted. */
export function openLayerDirs(sys: Sys, store: LayerStore, layers: StoredLayer[], refused?: LayerDirRefused): OverlayDir[] {
  const fds = openStoreDirs(sys, store, layers.map((l) => path.relative(store.root, l.diff)), refused);
  return layers.map((l, i) => ({ fd: fds[i], path: l.diff, short: l.short }));
}

export function closeDirs(sys: Sys, dirs: OverlayDir[]): void {
  for (const d of dirs) sys.close(d.fd);
}

export interface LayersMount extends BundleDirs {
  /** Tests of older kernels' mount paths (mount.ts). */
  force?: 'mount2' | 'strings';
  /** How a layer dir that cannot be opened is reported. */
  refused?: LayerDirRefused;
}

/** Mount `layers` (bottom-first, as stored in `store`) on m.rootfs, or throw OverlayUnavailable. */
export function mountLayers(sys: Sys, store: LayerStore, layers: StoredLayer[], m: LayersMount): void {
  const shown = visibleLayers(layers);
  const hidden = layers.length - shown.length;
  const lowers = openLayerDirs(sys, store, shown, m.refused && ((i, why) => m.refused!(i + hidden, why)));
  try {
    mountOverlay(sys, { lowers, upper: m.upper, work: m.work, target: m.rootfs, shortBase: store.linkDir, force: m.force });
  } finally {
    closeDirs(sys, lowers);
  }
}
