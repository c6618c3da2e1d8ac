/**
 * The paths of a bundle's ts-img-overlay.json, checked before root mounts them (`ts-img mount`).
 * The file lies in the bundle, whose owner may have edited it: unchecked, it would make root
 * mount any directory as a lower layer (its files, setuid ones too, shown to the container) or as
 * the upper one (the container then writing into it). So each lower dir must be the dir of its
 * own layer in the store (STORE/.ts-img/ovl/<hex>/diff), upper and work dirs inside the bundle,
 * all written plainly (no `..`) and reached with no symlink on the way (openat2 refuses both).
 * The store's own path is taken as written (plain): it is where unpack put the layers, root's.
 * The checks are the opens: the mount is given the fds they return (mount.ts), so the owner of
 * the bundle swapping one of its dirs for a symlink afterwards changes nothing.
 */
import path from 'node:path';
import * as L from '@tsrt/libc';
import type { Sys } from '@tsrt/libc';
import { UserError } from '../cli/errors';
import type { OverlayMeta } from '../bundle/overlay-meta';
import { LayerStore, chainIds } from './layer-store';
import { foldKeyOf } from './fold-store';
import type { OverlayDir } from './mount';

const { O_PATH, O_RDONLY, O_DIRECTORY, O_CLOEXEC, RESOLVE_BENEATH, RESOLVE_NO_SYMLINKS, RESOLVE_NO_MAGICLINKS, isSysError } = L;
// no O_NOFOLLOW: with it a trailing symlink would open as itself; RESOLVE_NO_SYMLINKS refuses it (ELOOP), as every other one
const DIR_PATH = O_PATH | O_DIRECTORY | O_CLOEXEC;
/** Not O_PATH: a kernel whose fsconfig(FSCONFIG_SET_FD) gets the file with fget() refuses O_PATH ones (6.18 takes them). */
export const DIR_READ = O_RDONLY | O_DIRECTORY | O_CLOEXEC;

export type NotBeneath = 'missing' | 'a symlink on the way' | 'not a directory';

/** Absolute and normalized: no `..`, `.`, `//` or trailing slash (what unpack writes). */
function plain(p: string): boolean {
  return path.resolve(p) === p;
}

/**
 * `rel` below the dir fd `rootfd`, opened (`flags`) when it is a directory reached with no
 * symlink and no `..` out of it; otherwise why not.
 */
export function openBeneath(sys: Sys, rootfd: number, rel: string, flags = DIR_PATH): number | NotBeneath {
  try {
    return sys.openat2(rootfd, rel, flags, 0, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
  } catch (e) {
    if (isSysError(e, 'ENOENT')) return 'missing';
    if (isSysError(e, 'ELOOP') || isSysError(e, 'EXDEV')) return 'a symlink on the way';
    if (isSysError(e, 'ENOTDIR')) return 'not a directory';
    throw e;
  }
}

/**
 * The store key of each lower dir (bottom-first), checked to name its own layer's dir in the
 * store: by the layer's diff_id, or by its chain id for a layer that needed the ones below; and
 * of the fold, when the bundle has one: the fold of exactly its bottom fold.layers layers.
 */
export function lowerKeys(meta: OverlayMeta, store: LayerStore, file: string): { keys: string[]; fold?: string } {
  // the kernel resolves a `..` after a symlink elsewhere than path.relative() does
  if (!plain(meta.store)) throw new UserError(`${file}: store ${meta.store} is not a plain absolute path (refused)`);
  const chains = chainIds(meta.layers);
  const folded = meta.fold?.layers ?? 0;
  let fold: string | undefined;
  if (meta.fold) {
    fold = plain(meta.fold.dir) ? foldKeyOf(store, meta.fold.dir) : undefined;
    if (fold === undefined) throw new UserError(`${file}: fold.dir ${meta.fold.dir} is not a fold dir of the store ${meta.store} (refused)`);
    if (fold !== chains[folded - 1]) throw new UserError(`${file}: fold.dir is not the fold of the bottom ${folded} layers (refused)`);
  }
  const keys = meta.lowerdirs.map((d, i) => {
    const key = plain(d) ? store.keyOf(d) : undefined;
    const j = folded + i;
    if (key === undefined) throw new UserError(`${file}: lowerdirs[${i}] ${d} is not a layer dir of the store ${meta.store} (refused)`);
    if (key !== meta.layers[j] && key !== chains[j]) throw new UserError(`${file}: lowerdirs[${i}] is not the dir of layers[${j}] ${meta.layers[j]} (refused)`);
    return key;
  });
  return { keys, fold };
}

/** The bundle's own dirs, each opened once: the mount is given these fds. */
export interface BundleDirs {
  rootfs: OverlayDir;
  upper: OverlayDir;
  work: OverlayDir;
}

export function closeBundleDirs(sys: Sys, d: Partial<BundleDirs>): void {
  for (const x of [d.rootfs, d.upper, d.work]) if (x) sys.close(x.fd);
}

/**
 * Open the bundle's rootfs (a symlink there would move the mount elsewhere), and meta.upper and
 * meta.work: directories of the bundle's own, not in its rootfs. Each refusal names the field.
 */
export function openBundleDirs(sys: Sys, bundle: string, abs: string, meta: OverlayMeta, file: string): BundleDirs {
  const fd = sys.open(abs, O_PATH | O_DIRECTORY | O_CLOEXEC);
  const out: Partial<BundleDirs> = {};
  try {
    const rootfs = openBeneath(sys, fd, 'rootfs');
    if (rootfs === 'missing') throw new UserError(`bundle ${bundle}: no rootfs directory`);
    if (typeof rootfs !== 'number') throw new UserError(`bundle ${bundle}: rootfs: ${rootfs} (refused)`);
    out.rootfs = { fd: rootfs, path: path.join(abs, 'rootfs') };
    for (const [name, dir] of [['upper', meta.upper], ['work', meta.work]] as const) {
      const rel = path.relative(abs, dir);
      if (!plain(dir) || rel === '' || rel === '..' || rel.startsWith('../') || rel === 'rootfs' || rel.startsWith('rootfs/')) {
        throw new UserError(`${file}: ${name} ${dir} is not a directory of the bundle ${abs} (refused; a moved bundle needs an unpack anew)`);
      }
      const r = openBeneath(sys, fd, rel, DIR_READ);
      if (r === 'missing') throw new UserError(`bundle ${bundle}: the ${name} dir ${dir} is missing: unpack the image again`);
      if (typeof r !== 'number') throw new UserError(`${file}: ${name} ${dir}: ${r} (refused)`);
      out[name] = { fd: r, path: dir };
    }
    return out as BundleDirs;
  } catch (e) {
    closeBundleDirs(sys, out);
    throw e;
  } finally {
    sys.close(fd);
  }
}
