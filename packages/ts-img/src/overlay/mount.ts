/**
 * Mounting and unmounting a bundle's overlay rootfs through the syscall layer (no mount(8)).
 *
 * The new mount API passes each lower dir with its own fsconfig("lowerdir+") call (Linux 6.8+),
 * so the number of layers is not limited by the one page mount(2) allows for its option string.
 * Every dir is handed over as an fd opened beforehand (Linux 6.13+; /proc/self/fd/N strings for
 * what a bundle's owner controls where the kernel takes paths only) and the mount is moved onto
 * the rootfs fd: nothing the kernel resolves again by name can be swapped for a symlink.
 * Older kernels get mount(2) with the lower dirs named by short links relative to the layer
 * store (Docker's overlay2 trick), which fits about 250 layers in a page.
 *
 * Options keep the upper dir a plain diff that `repack` can read: no redirects, no index, no
 * metacopy (a metadata-only copy-up would leave a data-less file in the upper dir), no xino.
 */
import fs from 'node:fs';
import * as L from '@tsrt/libc';
import type { Sys } from '@tsrt/libc';
import { UserError } from '../cli/errors';

const { FSOPEN_CLOEXEC, FSMOUNT_CLOEXEC, FSCONFIG_SET_STRING, FSCONFIG_CMD_CREATE, UMOUNT_NOFOLLOW, isSysError } = L;

/** Options that keep the upper dir a plain diff; each is set where the kernel knows it. */
export const PLAIN_DIFF_OPTIONS: ReadonlyArray<[string, string]> = [['redirect_dir', 'off'], ['index', 'off'], ['metacopy', 'off'], ['xino', 'off']];

/** mount(2) takes one page of options. */
const PAGE = 4096;

/**
 * A dir of the overlay, opened once without following symlinks beneath a dir we trust (the
 * store's for a layer, the bundle's for upper, work and rootfs); the mount is given the fd, so
 * a path swapped after the open cannot redirect it.
 */
export interface OverlayDir {
  fd: number;
  /** Its absolute path: for lowers, what kernels before 6.13 are given; for messages. */
  path: string;
  /** A lower's name relative to `OverlaySpec.shortBase` (mount(2)'s one page of options). */
  short?: string;
  /** An fd that keeps the dir's detached mount alive until the overlay holds it (mount-layers.ts). */
  hold?: number;
}

export interface OverlaySpec {
  /** Bottom-first. */
  lowers: OverlayDir[];
  upper: OverlayDir;
  work: OverlayDir;
  /** The mount point (an O_PATH fd is enough). */
  target: OverlayDir;
  /** Directory the short names are relative to. */
  shortBase?: string;
  /** Tests of older kernels' paths: mount(2), or the new API with path strings (6.8-6.12). */
  force?: 'mount2' | 'strings';
}

/** Any failure to mount: the message says the way out; `why` alone for a command other than unpack. */
export class OverlayUnavailable extends UserError {
  constructor(readonly why: string) {
    super(`overlayfs cannot be mounted here (${why}): unpack without --overlay`);
  }
}

function unavailable(why: string): OverlayUnavailable {
  return new OverlayUnavailable(why);
}

/** Before any work: is overlayfs there at all, and are the dirs not on an overlay themselves? */
export function assertOverlayPossible(sys: Sys, dirs: string[], filesystems = '/proc/filesystems'): void {
  let list = '';
  try {
    list = fs.readFileSync(filesystems, 'utf8');
  } catch {
    /* no procfs: let the mount say */
  }
  if (list && !/\toverlay$/m.test(list)) throw unavailable(`no overlay in ${filesystems}`);
  for (const d of dirs) {
    const fd = sys.open(d, L.O_PATH | L.O_DIRECTORY | L.O_CLOEXEC);
    try {
      if ((sys.fstatfs(fd).type >>> 0) === L.OVERLAYFS_SUPER_MAGIC) throw unavailable(`${d} is itself on overlayfs`);
    } finally {
      sys.close(fd);
    }
  }
}

/** The kernel's own words about a failed fsconfig, from the context fd ("e overlayfs: ..."). */
function contextLog(fd: number): string {
  const out: string[] = [];
  const buf = Buffer.alloc(1024);
  for (let i = 0; i < 8; i++) {
    let n = 0;
    try {
      n = fs.readSync(fd, buf, 0, buf.length, null);
    } catch {
      break;
    }
    if (n <= 0) break;
    out.push(buf.toString('utf8', 0, n).replace(/^[ewi] /, ''));
  }
  return out.join('; ');
}

/** A dir's fd as a path the kernel resolves to that very dir (for the string forms of the options). */
export const fdPath = (fd: number): string => `/proc/self/fd/${fd}`;

/** How the options carry the dirs: fds (Linux 6.13+), or strings (lowerdir+ of Linux 6.8-6.12). */
type Carry = 'fds' | 'strings';

/**
 * The first lowerdir+ (the topmost layer) tells what this kernel takes: 'fds', 'strings', or
 * undefined before Linux 6.8 (no lowerdir+ at all). Each refusal's log line is read and dropped.
 */
function firstLower(sys: Sys, ctx: number, top: OverlayDir, want: Carry): Carry | undefined {
  const unknownKey = (e: unknown): boolean => isSysError(e, 'EINVAL') && /nknown parameter/i.test(contextLog(ctx));
  if (want === 'fds') {
    try {
      sys.fsconfigFd(ctx, 'lowerdir+', top.fd);
      return 'fds';
    } catch (e) {
      // "Unknown parameter": no lowerdir+; "Bad value": a lowerdir+ of paths only (before 6.13)
      if (unknownKey(e)) return undefined;
      if (!isSysError(e, 'EINVAL')) throw e;
    }
  }
  try {
    sys.fsconfig(ctx, FSCONFIG_SET_STRING, 'lowerdir+', top.path, 0);
    return 'strings';
  } catch (e) {
    if (unknownKey(e)) return undefined;
    throw e;
  }
}

/**
 * A detached overlay mount made with the new mount API (its fd), or undefined when this kernel
 * lacks the API or lowerdir+. Without an upper dir it is read-only (and needs two lowers).
 * Each dir goes in as its fd where the kernel takes one, so nothing is looked up by path again;
 * before 6.13 lowers go by path (the store is root's) and upper and work as /proc/self/fd/N.
 */
function newApiMount(sys: Sys, lowersBottomFirst: OverlayDir[], upper?: { upper: OverlayDir; work: OverlayDir }, want: Carry = 'fds'): number | undefined {
  let ctx: number;
  try {
    ctx = sys.fsopen('overlay', FSOPEN_CLOEXEC);
  } catch (e) {
    if (isSysError(e, 'ENOSYS')) return undefined; // before Linux 5.2
    if (isSysError(e, 'ENODEV')) throw unavailable('no overlay filesystem in this kernel');
    throw unavailable((e as Error).message);
  }
  try {
    const set = (k: string, v: string): void => sys.fsconfig(ctx, FSCONFIG_SET_STRING, k, v, 0);
    // lowerdir+ adds a layer below those already given: topmost first
    const top = [...lowersBottomFirst].reverse();
    const carry = firstLower(sys, ctx, top[0], want);
    if (carry === undefined) return undefined;
    const dir = (k: string, d: OverlayDir, lower: boolean): void => {
      if (carry === 'fds') sys.fsconfigFd(ctx, k, d.fd);
      else set(k, lower ? d.path : fdPath(d.fd));
    };
    for (const l of top.slice(1)) dir('lowerdir+', l, true);
    set('source', 'overlay'); // what mountinfo shows, as for mount -t overlay overlay
    if (upper) {
      dir('upperdir', upper.upper, false);
      dir('workdir', upper.work, false);
    }
    for (const [k, v] of PLAIN_DIFF_OPTIONS) {
      try {
        set(k, v);
      } catch (e) {
        if (!isSysError(e, 'EINVAL')) throw e;
        contextLog(ctx); // an option this kernel does not have: drop its message
      }
    }
    sys.fsconfig(ctx, FSCONFIG_CMD_CREATE, null, null, 0);
    return sys.fsmount(ctx, FSMOUNT_CLOEXEC, 0);
  } catch (e) {
    if (e instanceof OverlayUnavailable) throw e;
    const why = contextLog(ctx);
    throw unavailable(why ? `${(e as Error).message}: ${why}` : (e as Error).message);
  } finally {
    sys.close(ctx);
  }
}

function withNewApi(sys: Sys, s: OverlaySpec): boolean {
  const mnt = newApiMount(sys, s.lowers, s, s.force === 'strings' ? 'strings' : 'fds');
  if (mnt === undefined) return false;
  try {
    sys.moveMountToFd(mnt, s.target.fd);
  } catch (e) {
    throw unavailable((e as Error).message);
  } finally {
    sys.close(mnt); // an open mount fd keeps the mount busy
  }
  return true;
}

/**
 * A read-only view of layers merged (at least two), never attached anywhere: its fd is its root,
 * and closing it (or the process dying) is all the cleanup it needs. Linux 6.8+.
 */
export function openMergedView(sys: Sys, lowersBottomFirst: OverlayDir[]): number {
  const fd = newApiMount(sys, lowersBottomFirst);
  if (fd === undefined) throw unavailable('a layer of this image needs the layers below it, which takes the new mount API with lowerdir+ (Linux 6.8)');
  return fd;
}

/** mount(2) option values escape the separators overlayfs splits on. */
const esc = (p: string): string => p.replace(/[\\,:]/g, (c) => `\\${c}`);

function withMount2(sys: Sys, s: OverlaySpec): void {
  const tail = `,upperdir=${fdPath(s.upper.fd)},workdir=${fdPath(s.work.fd)},${PLAIN_DIFF_OPTIONS.map(([k, v]) => `${k}=${v}`).join(',')}`;
  const top = [...s.lowers].reverse();
  const target = fdPath(s.target.fd); // mount(2) follows it to the dir the fd is
  const full = `lowerdir=${top.map((l) => esc(l.path)).join(':')}${tail}`;
  if (full.length < PAGE) {
    mountData(sys, target, full);
    return;
  }
  if (!s.shortBase || top.some((l) => !l.short)) throw unavailable(`${top.length} lower dirs do not fit in one page of mount options`);
  const short = `lowerdir=${top.map((l) => esc(l.short!)).join(':')}${tail}`;
  if (short.length >= PAGE) throw unavailable(`${top.length} layers do not fit in one page of mount options; Linux 6.8 takes any number`);
  // relative lower dirs are resolved against the cwd of the mounting process
  const cwd = process.cwd();
  process.chdir(s.shortBase);
  try {
    mountData(sys, target, short);
  } finally {
    process.chdir(cwd);
  }
}

function mountData(sys: Sys, target: string, data: string): void {
  try {
    sys.mount('overlay', target, 'overlay', 0, data);
  } catch (e) {
    throw unavailable((e as Error).message);
  }
}

/** Mount the overlay on s.target, or throw OverlayUnavailable (one line, says to drop --overlay). */
export function mountOverlay(sys: Sys, s: OverlaySpec): void {
  if (s.lowers.length === 0) throw new Error('an overlay needs at least one lower dir');
  if (s.force !== 'mount2' && withNewApi(sys, s)) return;
  withMount2(sys, s);
}

/** Is `dir` the root of a mount? (statx: the mount-root attribute.) */
export function isMountPoint(sys: Sys, dir: string): boolean {
  let fd: number;
  try {
    fd = sys.open(dir, L.O_PATH | L.O_DIRECTORY | L.O_NOFOLLOW | L.O_CLOEXEC);
  } catch (e) {
    if (isSysError(e, 'ENOENT') || isSysError(e, 'ENOTDIR') || isSysError(e, 'ELOOP')) return false;
    throw e;
  }
  try {
    return sys.statxFd(fd).mountRoot;
  } finally {
    sys.close(fd);
  }
}

/**
 * Unmount whatever is mounted on `dir` (mounts stacked there too), never following a symlink.
 * `lazy` detaches a busy mount (cleanup after a failure); otherwise EBUSY is the caller's error.
 */
export function unmountAll(sys: Sys, dir: string, lazy = false): void {
  for (let i = 0; i < 64 && isMountPoint(sys, dir); i++) {
    sys.umount2(dir, UMOUNT_NOFOLLOW | (lazy ? L.MNT_DETACH : 0));
  }
}
