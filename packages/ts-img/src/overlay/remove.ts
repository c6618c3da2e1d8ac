/**
 * `ts-img remove BUNDLE`: unmount the rootfs (an overlay bundle's) and delete the bundle with its
 * own upper and work dirs, then drop its registration in the store, so gc may collect layers no
 * other bundle or image uses. A flat bundle is just deleted.
 */
import fs from 'node:fs';
import path from 'node:path';
import { libc, isSysError } from '@tsrt/libc';
import type { Sys } from '@tsrt/libc';
import { UserError } from '../cli/errors';
import { removeTree } from '../fs/remove-tree';
import { OVERLAY_FILE, readOverlayMeta } from '../bundle/overlay-meta';
import { LayerStore } from './layer-store';
import { isMountPoint, unmountAll } from './mount';

export function removeBundle(bundle: string, sys: Sys = libc()): void {
  const abs = path.resolve(bundle);
  const st = fs.lstatSync(abs, { throwIfNoEntry: false });
  if (!st) throw new UserError(`bundle ${bundle}: no such directory`);
  if (!st.isDirectory()) throw new UserError(`bundle ${bundle}: not a directory`);
  const meta = readOverlayMeta(abs);
  const rootfs = path.join(abs, 'rootfs');
  if (!meta && !fs.existsSync(path.join(abs, 'config.json'))) {
    throw new UserError(`${bundle}: not a bundle (neither config.json nor ${OVERLAY_FILE}): not removed`);
  }
  try {
    unmountAll(sys, rootfs);
  } catch (e) {
    if (isSysError(e, 'EBUSY')) throw new UserError(`bundle ${bundle}: rootfs is busy (is a container still running from it? delete it first)`);
    throw new UserError(`bundle ${bundle}: cannot unmount rootfs: ${(e as Error).message}`);
  }
  // deleting through a mount would delete from the merged view of the shared layers
  if (isMountPoint(sys, rootfs)) throw new UserError(`bundle ${bundle}: rootfs is still mounted: not removed`);
  removeTree(abs, sys);
  if (fs.existsSync(abs)) throw new UserError(`bundle ${bundle}: could not be removed completely`);
  // after the bundle is gone: a crash in between leaves a ref gc finds stale, never a live bundle unregistered
  if (meta) new LayerStore(meta.store).removeRef(abs);
}
