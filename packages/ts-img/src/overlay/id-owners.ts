/**
 * An overlay bundle unpacked with --uid-map/--gid-map shows the shared layers through idmapped
 * mounts, which show an id outside the mapping as the overflow id (65534) where the flat unpack
 * refuses the image. So every uid and gid the image's entries give must be in the mapping, as
 * the flat applier requires: the extraction records them (the applier's `owners`); a layer an
 * older ts-img extracted is read instead (its whiteouts, 0/0 char devices, left out).
 */
import { libc } from '@tsrt/libc';
import { UserError } from '../cli/errors';
import { IdMapping, mapId } from '../layers/idmap';
import { openRoot, walkTree } from '../repack/walk';
import type { Owners, StoredLayer } from './layer-store';
import { layerOfLower } from './fold-store';

/** The owners of a layer dir's entries, read. */
async function readOwners(dir: string): Promise<Owners> {
  const uids = new Set<number>();
  const gids = new Set<number>();
  const fd = openRoot(dir, 'layer');
  try {
    await walkTree(fd, {
      entry: async (e) => {
        if (!(e.st.isCharacterDevice() && e.st.rdev === 0)) {
          uids.add(e.st.uid);
          gids.add(e.st.gid);
        }
        return e.st.isDirectory();
      },
    });
  } finally {
    libc().close(fd);
  }
  return { uids: [...uids], gids: [...gids] };
}

/** What the mapped unpack says of the lowers (`layers`, its fold first when `folded`), one line naming the first that fails. */
export async function assertOwnersMapped(layers: StoredLayer[], diffIds: string[], folded: number, uidMap: IdMapping[] | undefined, gidMap: IdMapping[] | undefined): Promise<void> {
  for (const [i, l] of layers.entries()) {
    const owners = l.owners ?? (await readOwners(l.diff));
    const j = layerOfLower(i, folded);
    const which = j === undefined ? `layers 1-${folded} (folded into ${l.diff})` : `layer ${j + 1}/${diffIds.length} (${l.diffId})`;
    for (const [ids, map, what, opt] of [[owners.uids, uidMap, 'uid', '--uid-map'], [owners.gids, gidMap, 'gid', '--gid-map']] as const) {
      for (const id of ids) {
        try {
          mapId(id, map, what);
        } catch (e) {
          throw new UserError(`${which}: ${(e as Error).message} (${opt})`);
        }
      }
    }
  }
}

