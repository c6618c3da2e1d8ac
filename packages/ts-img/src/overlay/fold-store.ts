/**
 * Folds: overlayfs stacks at most 500 lower layers (OVL_MAX_STACK), so the bottom layers of a
 * taller image are applied one onto another, as the flat unpack applies them, into one dir of
 * the store that serves as the bottom lower layer:
 *   STORE/.ts-img/ovl/fold/<hex>/diff        the folded layers (hex: their chain id)
 *   STORE/.ts-img/ovl/fold/<hex>/layer.json  {"fold": how many layers, "rootEntry", "entries"}
 * Keyed by the chain id of the layers it folds, so images on the same base share it; made like a
 * layer (extracted in tmp/, renamed into place complete, under a lock of its own). Only bundles
 * keep a fold (gc-layers.ts): no image names one.
 */
import fs from 'node:fs';
import path from 'node:path';
import { HEX, LayerStore, Owners, StoredLayer, hexOf, readInfo } from './layer-store';

/** overlayfs' limit of lower layers (OVL_MAX_STACK in fs/overlayfs/params.h). */
export const MAX_LOWERS = 500;
/** Folds cover a multiple of this many layers: images on one base whose tops differ a little share theirs. */
export const FOLD_STEP = 100;

/** How many bottom layers of an image of `n` layers are folded (0: none), leaving at most MAX_LOWERS lowers. */
export function foldCount(n: number): number {
  return n <= MAX_LOWERS ? 0 : Math.ceil((n - (MAX_LOWERS - 1)) / FOLD_STEP) * FOLD_STEP;
}

/** The image layer (0-based) lower `i` of a bundle is; its fold, lower 0 when `folded`, is undefined. */
export function layerOfLower(i: number, folded: number): number | undefined {
  return !folded ? i : i === 0 ? undefined : folded + i - 1;
}

export interface FoldInfo {
  rootEntry: boolean;
  entries: number;
  owners: Owners;
}

const foldDir = (store: LayerStore, key: string): string => path.join(store.root, 'fold', hexOf(key));
const linkTarget = (key: string): string => `../fold/${hexOf(key)}/diff`;

/** The fold stored under `key` (the chain id of its top layer), or undefined when not (completely) there. */
export function getFold(store: LayerStore, key: string): StoredLayer | undefined {
  const dir = foldDir(store, key);
  const info = readInfo<FoldInfo & { fold: number }>(dir);
  if (!info) return undefined;
  return {
    diffId: key, key, diff: path.join(dir, 'diff'), rootEntry: !!info.rootEntry, rootOpaque: false, entries: info.entries ?? 0,
    chainDependent: false, fold: info.fold ?? 0, short: store.shortLink(hexOf(key), linkTarget(key)),
    ...(info.owners ? { owners: info.owners } : {}),
  };
}

/** The fold of the bottom `count` layers, applied by `extract` into a fresh dir unless there already. */
export async function ensureFold(store: LayerStore, key: string, count: number, extract: (diffDir: string) => Promise<FoldInfo>): Promise<StoredLayer> {
  const found = (): StoredLayer | undefined => getFold(store, key);
  return found() ?? store.extractOnce(`fold-${hexOf(key)}`, found, async (tmp) => {
    const info = await extract(path.join(tmp, 'diff'));
    fs.writeFileSync(path.join(tmp, 'layer.json'), `${JSON.stringify({ fold: count, ...info })}\n`, { mode: 0o644 });
    return foldDir(store, key);
  });
}

/** The key of a fold dir of this store (undefined for any other path). */
export function foldKeyOf(store: LayerStore, dir: string): string | undefined {
  const rel = path.relative(store.root, dir).split(path.sep);
  return rel.length === 3 && rel[0] === 'fold' && HEX.test(rel[1]) && rel[2] === 'diff' ? `sha256:${rel[1]}` : undefined;
}

/** Where the fold `key` is (its diff dir), whether it is there or not. */
export function foldDiff(store: LayerStore, key: string): string {
  return path.join(foldDir(store, key), 'diff');
}

/** Every stored fold's key. */
export function listFolds(store: LayerStore): string[] {
  try {
    return fs.readdirSync(path.join(store.root, 'fold')).filter((n) => HEX.test(n)).map((n) => `sha256:${n}`);
  } catch {
    return [];
  }
}

/** Remove a fold (the caller holds the gc lock exclusively). */
export function removeFold(store: LayerStore, key: string): void {
  store.removeDir(foldDir(store, key), linkTarget(key));
}
