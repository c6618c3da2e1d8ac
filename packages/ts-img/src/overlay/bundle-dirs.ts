/**
 * The dirs of a new overlay bundle (overlay/upper, overlay/work, rootfs/), made in its temp dir
 * through that dir's fd and each opened once: the bundle's parent may belong to someone who
 * could swap a path for a symlink at any time, so after the temp dir itself nothing of the
 * bundle is reached by name again (the mount, upper-root.ts and config.json use these fds).
 */
import path from 'node:path';
import * as L from '@tsrt/libc';
import type { Sys } from '@tsrt/libc';
import { BundleDirs, DIR_READ, closeBundleDirs, openBeneath } from './meta-paths';

const { O_PATH, O_DIRECTORY, O_NOFOLLOW, O_CLOEXEC } = L;

export interface NewBundleDirs extends BundleDirs {
  /** The temp dir, then the bundle (renamed into place). */
  bundle: number;
}

export function closeNewBundleDirs(sys: Sys, d: Partial<NewBundleDirs>): void {
  closeBundleDirs(sys, d);
  if (d.bundle !== undefined) sys.close(d.bundle);
}

/** Make and open the dirs in the fresh temp dir `tmp`; paths in the result are those after the rename to `abs`. */
export function makeBundleDirs(sys: Sys, tmp: string, abs: string): NewBundleDirs {
  const bundle = sys.open(tmp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  const out: Partial<NewBundleDirs> = { bundle };
  try {
    // the dir we made (mode 0700, ours), not one put in its place meanwhile
    const st = sys.fstatat(bundle, '', L.AT_EMPTY_PATH);
    if (st.uid !== process.geteuid!() || (st.mode & 0o777) !== 0o700) throw new Error(`bundle ${abs}: its temp dir ${tmp} was replaced while unpacking (refused)`);
    for (const d of ['overlay', 'overlay/upper', 'overlay/work', 'rootfs']) sys.mkdirat(bundle, d, 0o755);
    const open = (rel: string, flags?: number): number => {
      const fd = openBeneath(sys, bundle, rel, flags);
      if (typeof fd !== 'number') throw new Error(`bundle ${abs}: ${rel}: ${fd} (refused)`);
      return fd;
    };
    out.upper = { fd: open('overlay/upper', DIR_READ), path: path.join(abs, 'overlay/upper') };
    out.work = { fd: open('overlay/work', DIR_READ), path: path.join(abs, 'overlay/work') };
    out.rootfs = { fd: open('rootfs'), path: path.join(abs, 'rootfs') };
    return out as NewBundleDirs;
  } catch (e) {
    closeNewBundleDirs(sys, out);
    throw e;
  }
}
