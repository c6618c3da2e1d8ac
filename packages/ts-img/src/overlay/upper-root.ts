/**
 * The root of an overlay mount shows the upper dir's own attributes, so the bundle's upper root
 * gets what the flat unpack gives rootfs/: those of the topmost layer with an entry for "./",
 * or mode 0755, owned by the unpacking user, with the epoch as its times when no layer has one.
 * With --uid-map/--gid-map its owner is mapped as the flat unpack maps it (the upper dir holds
 * host ids). Written through the upper dir's fd: its path is in the bundle, whose parent may not be ours.
 */
import fs from 'node:fs';
import type { Sys } from '@tsrt/libc';
import type { StoredLayer } from './layer-store';
import { mapId } from '../layers/idmap';
import { UserError } from '../cli/errors';
import type { IdMap } from './mount-layers';

export function setUpperRoot(sys: Sys, layers: StoredLayer[], upperFd: number, map: IdMap = {}): void {
  const from = [...layers].reverse().find((l) => l.rootEntry);
  if (!from) {
    // the unpacking user's, mapped as the flat unpack maps a root no layer describes
    if (map.uidMap || map.gidMap) {
      let ids: [number, number];
      try {
        ids = [mapId(process.geteuid!(), map.uidMap, 'uid'), mapId(process.getegid!(), map.gidMap, 'gid')];
      } catch (e) {
        throw new UserError(`rootfs/, which no layer has an entry for, is the unpacking user's: ${(e as Error).message} (--uid-map/--gid-map)`);
      }
      sys.fchown(upperFd, ...ids);
    }
    sys.fchmod(upperFd, 0o755);
    sys.utimensat(upperFd, null, 0n, 0n, 0);
    return;
  }
  const st = fs.lstatSync(from.diff, { bigint: true }); // the store's: root's
  sys.fchown(upperFd, mapId(Number(st.uid), map.uidMap, 'uid'), mapId(Number(st.gid), map.gidMap, 'gid'));
  sys.fchmod(upperFd, Number(st.mode) & 0o7777);
  for (const k of sys.llistxattr(from.diff)) sys.fsetxattr(upperFd, k, sys.lgetxattr(from.diff, k), 0);
  sys.utimensat(upperFd, null, st.atimeNs, st.mtimeNs, 0);
}
