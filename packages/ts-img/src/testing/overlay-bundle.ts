/**
 * An overlay bundle made by hand, for tests and benches until `unpack --overlay` exists: the
 * image flat-unpacked once as the top lower dir (below it one empty dir per other layer, as the
 * contract wants a dir per layer), an upper and work dir in the bundle, the overlay mounted on
 * BUNDLE/rootfs with the options ts-img uses, BUNDLE/ts-img-overlay.json written as the
 * contract says. Tests only: the lowers are not store layers.
 */
import fs from 'node:fs';
import path from 'node:path';
import { libc } from '@tsrt/libc';
import { unpack } from '../unpack';
import { OverlayMeta, writeOverlayMeta } from '../bundle/overlay-meta';
import { writeOrigin } from '../repack/origin';

const MNT_DETACH = 2;

export interface HandOverlayBundle {
  bundle: string;
  /** the mounted overlay (BUNDLE/rootfs) */
  rootfs: string;
  lower: string;
  upper: string;
  /** unmount (if still mounted); the caller removes the dirs */
  unmount(): void;
}

/** Mount `lowerdirs` (bottom first, as in the contract; overlayfs wants them top first). */
export function mountOverlay(lowerdirs: string[], upper: string, work: string, target: string): void {
  const lower = [...lowerdirs].reverse().join(':');
  libc().mount('overlay', target, 'overlay', 0, `lowerdir=${lower},upperdir=${upper},workdir=${work},redirect_dir=off,index=off,metacopy=off`);
}

/** LAYOUT:TAG flat-unpacked into DIR/lower, the bundle at DIR/bundle (DIR must exist), its origin the image. */
export async function handOverlayBundle(layout: string, tag: string, dir: string): Promise<HandOverlayBundle> {
  const flat = path.join(dir, 'flat');
  const r = await unpack(`${layout}:${tag}`, flat, { quiet: true });
  const lower = path.join(dir, 'lower');
  fs.renameSync(path.join(flat, 'rootfs'), lower);
  const bundle = path.join(dir, 'bundle');
  const upper = path.join(bundle, 'overlay', 'upper');
  const work = path.join(bundle, 'overlay', 'work');
  const rootfs = path.join(bundle, 'rootfs');
  for (const d of [upper, work, rootfs]) fs.mkdirSync(d, { recursive: true, mode: 0o755 });
  fs.renameSync(path.join(flat, 'config.json'), path.join(bundle, 'config.json'));
  writeOrigin(bundle, { layout, manifestDigest: r.manifestDigest, name: tag });
  fs.rmSync(flat, { recursive: true, force: true });
  // the container's / is the upper root: it starts as the image's
  const st = fs.lstatSync(lower);
  fs.chownSync(upper, st.uid, st.gid);
  fs.chmodSync(upper, st.mode & 0o7777);
  fs.utimesSync(upper, st.atime, st.mtime);
  const layers = r.config.rootfs.diff_ids;
  const lowerdirs = layers.map((_, i) => (i === layers.length - 1 ? lower : path.join(dir, `empty-${i}`)));
  for (const d of lowerdirs.slice(0, -1)) fs.mkdirSync(d);
  const meta: OverlayMeta = { version: 1, store: dir, layers, lowerdirs, upper, work };
  writeOverlayMeta(bundle, meta);
  mountOverlay(lowerdirs, upper, work, rootfs);
  let mounted = true;
  return {
    bundle,
    rootfs,
    lower,
    upper,
    unmount: () => {
      if (mounted) libc().umount2(rootfs, MNT_DETACH);
      mounted = false;
    },
  };
}
