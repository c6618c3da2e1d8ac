/**
 * The overlay diff source: an overlay bundle's upper dir already is the change (Docker's
 * overlay2 commit), so it is written as it is, translated from overlayfs' encoding
 * (overlay-entries.ts) into the layer's: whiteouts to .wh.<name>, opaque dirs to the dir entry
 * plus .wh..wh..opq. Every upper entry counts as "changed" (the upper does not say whether the
 * lower had it); the lower layers are never read, so the cost follows the size of the change.
 * The upper's root is written as ./ : overlayfs shows the upper root's mode, owner and mtime as /.
 */
import fs from 'node:fs';
import { UserError } from '../cli/errors';
import { showName } from '../layers/byte-names';
import { LayerEntries, fileType, hostXattr, readXattrs, refuseWhiteoutName, unmapId } from './entries';
import { classifyUpper } from './overlay-entries';
import type { DiffSourceOptions } from './source';
import type { TreeVisitor, WalkEntry } from './walk';

const dropAll = (): boolean => true;
const keepAll = (): boolean => false;

/** Write one upper entry; true when it is a directory to walk into. */
async function upperEntry(e: WalkEntry, upper: string, out: LayerEntries, opts: DiffSourceOptions): Promise<boolean> {
  if (e.rel !== '' && opts.exclude.has(e.rel)) return false;
  const c = classifyUpper(
    { isFile: e.st.isFile(), isDirectory: e.st.isDirectory(), isCharacterDevice: e.st.isCharacterDevice(), rdev: e.st.rdev },
    readXattrs(e.at, keepAll), // overlayfs' own xattrs are needed even with --no-xattrs
    opts.xattrs ? hostXattr : dropAll,
  );
  if (c.kind === 'unsupported') throw new UserError(`${upper}: ${showName(e.rel || '.')} is ${c.why}, which repack cannot read`);
  if (c.kind === 'whiteout') {
    const i = e.rel.lastIndexOf('/');
    await out.whiteout(i < 0 ? '' : e.rel.slice(0, i), e.name);
    return false;
  }
  refuseWhiteoutName(e.rel, e.name);
  if (!fileType(e.st)) {
    opts.log?.(`skipping socket ${showName(e.rel)}`);
    return false;
  }
  const ids = { uid: unmapId(e.st.uid, opts.uidMap, 'uid'), gid: unmapId(e.st.gid, opts.gidMap, 'gid') };
  await out.write(e, ids, opts.xattrs ? c.xattrs : undefined, out.linkTarget(e), e.rel === '' ? null : 'changed');
  if (c.opaque) await out.opaque(e.rel);
  return e.st.isDirectory();
}

/** The upper's root entry (call before walking `rootFd`), then a visitor for the rest. */
export async function upperDiff(rootFd: number, upper: string, out: LayerEntries, opts: DiffSourceOptions): Promise<TreeVisitor> {
  const at = `/proc/self/fd/${rootFd}/.`; // the dir, not the fd's magic link (atPath would drop the '.')
  await upperEntry({ rel: '', name: '', at, st: fs.lstatSync(at) }, upper, out, opts);
  return { entry: (e) => upperEntry(e, upper, out, opts) };
}
