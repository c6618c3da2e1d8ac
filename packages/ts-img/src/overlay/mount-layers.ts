/**
 * The overlay mount of a bundle's stored layers, one function for `unpack --overlay` and `mount`
 * (the remount after a reboot must give the same tree, and the mount options gc reads from
 * mountinfo must name the layers the same way).
 */
import path from 'node:path';
import { O_PATH, O_DIRECTORY, O_CLOEXEC, usernsWithMaps } from '@tsrt/libc';
import type { Sys } from '@tsrt/libc';
import type { LayerStore, StoredLayer } from './layer-store';
import type { IdMapping } from '../layers/idmap';
import { fdPath, mountOverlay, OverlayDir, OverlayUnavailable } from './mount';
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
  for (const d of dirs) {
    sys.close(d.fd);
    if (d.hold !== undefined) sys.close(d.hold);
  }
}

/** An id mapping (--uid-map/--gid-map): container id -> host id. */
export interface IdMap {
  uidMap?: IdMapping[];
  gidMap?: IdMapping[];
}

/** The mapping of these uid and gid ranges, each only when given; none when neither is. */
export function idMap(uidMap: IdMapping[] | undefined, gidMap: IdMapping[] | undefined): IdMap | undefined {
  if (!uidMap?.length && !gidMap?.length) return undefined;
  return { ...(uidMap?.length ? { uidMap } : {}), ...(gidMap?.length ? { gidMap } : {}) };
}

/** No mapping given for uids (or gids): they are the same inside, as the flat unpack leaves them. */
const orAll = (m: IdMapping[] | undefined): IdMapping[] => (m?.length ? m : [{ containerID: 0, hostID: 0, size: 2 ** 32 - 1 }]);

/**
 * The layers shown shifted by `map`, the store's dirs left as they are: each an idmapped clone
 * of its dir (open_tree, mount_setattr MOUNT_ATTR_IDMAP with a user namespace holding the map),
 * detached, so nothing but the overlay ever holds it once its fds are closed. `dirs` are
 * closed; the result replaces them.
 */
function idmapped(sys: Sys, dirs: OverlayDir[], map: IdMap): OverlayDir[] {
  const out: OverlayDir[] = [];
  try {
    const userns = usernsWithMaps(sys, orAll(map.uidMap), orAll(map.gidMap), (e) => new OverlayUnavailable(`a user namespace for --uid-map/--gid-map: ${(e as NodeJS.ErrnoException).code ?? e}`));
    try {
      for (const d of dirs) {
        // closing the open_tree fd dissolves the clone: it is held until the overlay has its own
        const hold = sys.cloneTreeFd(d.fd, false);
        try {
          sys.idmapTree(hold, userns, false);
          // a plain fd of the clone's root for fsconfig (a kernel may refuse O_PATH ones); no path names it
          const fd = sys.openat(hold, '.', DIR_READ);
          out.push({ fd, path: fdPath(fd), hold });
        } catch (e) {
          sys.close(hold);
          throw new OverlayUnavailable(`an idmapped mount of ${d.path} for --uid-map/--gid-map: ${(e as Error).message}`);
        }
      }
    } finally {
      sys.close(userns);
    }
    return out;
  } catch (e) {
    closeDirs(sys, out);
    throw e;
  } finally {
    closeDirs(sys, dirs);
  }
}

export interface LayersMount extends BundleDirs {
  /** Tests of older kernels' mount paths (mount.ts). */
  force?: 'mount2' | 'strings';
  /** How a layer dir that cannot be opened is reported. */
  refused?: LayerDirRefused;
  /** Show the layers' files with their owners shifted by this mapping (the store keeps the image's). */
  idmap?: IdMap;
}

/** Mount `layers` (bottom-first, as stored in `store`) on m.rootfs, or throw OverlayUnavailable. */
export function mountLayers(sys: Sys, store: LayerStore, layers: StoredLayer[], m: LayersMount): void {
  const shown = visibleLayers(layers);
  const hidden = layers.length - shown.length;
  let lowers = openLayerDirs(sys, store, shown, m.refused && ((i, why) => m.refused!(i + hidden, why)));
  if (m.idmap) lowers = idmapped(sys, lowers, m.idmap);
  try {
    mountOverlay(sys, { lowers, upper: m.upper, work: m.work, target: m.rootfs, shortBase: store.linkDir, force: m.force });
  } finally {
    closeDirs(sys, lowers);
  }
}
