/**
 * The layer applier: applies tar entries of image layers (image-spec layer.md) onto a rootfs,
 * every path resolved inside the rootfs. Parents are opened with openat2(RESOLVE_IN_ROOT |
 * RESOLVE_NO_MAGICLINKS); the last component is always handled with an *at() call on that
 * parent fd that does not follow symlinks (mkdirat, symlinkat, linkat without AT_SYMLINK_FOLLOW,
 * mknodat, openat O_CREAT|O_EXCL|O_NOFOLLOW, fchownat/utimensat AT_SYMLINK_NOFOLLOW, unlinkat),
 * so neither a symlink nor a ".." in the image can make a write land outside the rootfs.
 *
 * Rules: whiteouts (.wh.<name>) remove <name> from lower layers only; an opaque marker
 * (.wh..wh..opq) hides all lower children of its directory wherever it appears in the layer;
 * dir over dir keeps the directory and replaces its attributes; any other collision unlinks the
 * old entry and creates the new one (so a hardlink alias keeps its old content); hardlinks may
 * point into lower layers; directory mtimes are set after the last layer.
 */
import * as fs from 'fs';
import * as L from '@tsrt/libc';
import type { Sys, SysError } from '@tsrt/libc';

const { isSysError, makedev } = L;

// Read the constants once: re-exported module members are getters, too slow for per-entry use.
const { O_DIRECTORY, O_CLOEXEC, O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, AT_SYMLINK_NOFOLLOW, AT_REMOVEDIR,
  S_IFMT, S_IFDIR, S_IFREG, S_IFLNK, S_IFCHR, S_IFBLK, S_IFIFO } = L;
const FILE_CREATE = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
const O_PATH_DIR = L.O_PATH | O_DIRECTORY | O_CLOEXEC;
import type { TarEntry, TarHandler } from './tar';
import { IdMapping, mapId } from './idmap';
import { CachedDir, DirCache } from './dirs';
import { cPath, showName } from './byte-names';
import { listDirFd } from './list-dir';
import type { OverlayBase } from '../overlay/base-view';

export class LayerError extends Error {}

export interface ApplierOptions {
  uidMap?: IdMapping[];
  gidMap?: IdMapping[];
  /** Rootless: ownership changes that fail with EPERM and device nodes are skipped (with a warning). */
  rootless?: boolean;
  warn?: (msg: string) => void;
  /**
   * Extract one layer on its own as an overlayfs lower dir (`unpack --overlay`) instead of
   * applying it onto the layers below: whiteouts become 0/0 char devices, opaque markers and
   * directories a whiteout of the same layer replaced get trusted.overlay.opaque=y, and
   * trusted.overlay.* xattrs of the image are escaped so overlayfs shows them unchanged.
   */
  overlay?: boolean;
  /**
   * Layers applied one onto another as without `overlay`, into a dir overlayfs then stacks as its
   * bottom layer (a fold, overlay/fold-store.ts): as in overlay mode, trusted.overlay.* xattrs of
   * the image are escaped and a 0:0 char device (a whiteout to overlayfs) is refused.
   */
  fold?: boolean;
  /**
   * Overlay mode: the layers below, merged, for a directory this layer creates only implicitly
   * (it gets the lower one's attributes, as in the flat unpack) and a hardlink to a lower file
   * (the file is copied into this layer, then linked). Without it both work as for a first layer.
   */
  base?: OverlayBase;
  /** File data I/O on fds from the syscall layer (default: Node's fs; tests with FakeSys replace it). */
  io?: { write(fd: number, buf: Buffer, off: number, len: number): number; close(fd: number): void };
}

const FS_IO = {
  write: (fd: number, buf: Buffer, off: number, len: number): number => fs.writeSync(fd, buf, off, len),
  close: (fd: number): void => fs.closeSync(fd),
};

const WH = '.wh.';
const OPAQUE = '.wh..wh..opq';
const OVL_XATTR = 'trusted.overlay.';
const OVL_OPAQUE = 'trusted.overlay.opaque';
const S_ISGID = 0o2000;

interface OpenFile {
  fd: number;
  e: TarEntry;
  path: string;
  parentMode: number;
}

/** Split a tar name into clean components; absolute names and ".." are errors. */
export function cleanName(name: string, what = 'entry'): string[] {
  // fast path: relative, no empty, "." or ".." components (a trailing "/" is fine)
  const n = name.startsWith('./') ? name.slice(2) : name;
  if (n !== '' && n[0] !== '/' && n[0] !== '.' && !n.includes('//') && !n.includes('/.') && !n.includes('\0')) {
    const parts = n.split('/');
    if (parts[parts.length - 1] === '') parts.pop();
    return parts;
  }
  if (name.startsWith('/')) throw new LayerError(`${what} ${showName(name)}: absolute path`);
  if (name.includes('\0')) throw new LayerError(`${what} ${showName(name)}: NUL in name`);
  const out: string[] = [];
  for (const c of name.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') throw new LayerError(`${what} ${showName(name)}: ".." in path`);
    out.push(c);
  }
  return out;
}

export class Applier implements TarHandler {
  private readonly dirs: DirCache;
  private touched = new Set<string>();
  /** Directory times (and, when not root, the final mode) applied after the last layer. */
  private dirTimes = new Map<string, { atime: bigint; mtime: bigint; mode?: number }>();
  private cur: OpenFile | null = null;
  private skip = false;
  private layer = '';
  private warned = new Set<string>();
  private readonly euid = process.geteuid ? process.geteuid() : 0;
  private readonly egid = process.getegid ? process.getegid() : 0;
  private readonly umask = process.umask();
  private readonly io: NonNullable<ApplierOptions['io']>;
  /** Entries applied so far (all layers). */
  entries = 0;
  /** A layer had an entry for the root directory itself (its attributes are the rootfs's). */
  rootEntrySeen = false;
  /** Overlay mode: the layer hides every lower layer (an opaque marker at its root). */
  rootOpaque = false;
  /** The uids and gids the entries give (before a mapping): what a mapping must cover. */
  readonly owners = { uids: new Set<number>(), gids: new Set<number>() };

  constructor(
    private readonly sys: Sys,
    private readonly rootfd: number,
    private readonly rootPath: string,
    private readonly opts: ApplierOptions = {},
  ) {
    this.dirs = new DirCache(sys, rootfd, {
      created: (p, pfd, name) => {
        this.markTouched(p);
        if (!(this.opts.overlay && this.implicitDir(p, pfd, name))) this.implicitOwner(p, pfd, name);
      },
      fail: (p, msg) => this.fail(p, msg),
    });
    this.io = opts.io ?? FS_IO;
  }

  beginLayer(label: string): void {
    this.layer = label;
    this.touched = new Set();
    this.created = [];
    this.tracking = false;
  }

  endLayer(): void {
    if (this.cur) this.closeCur();
    this.touched = new Set();
    this.created = [];
    this.tracking = false;
  }

  private warn(key: string, msg: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    (this.opts.warn ?? ((m: string) => process.stderr.write(`ts-img: warning: ${m}\n`)))(msg);
  }

  private fail(e: TarEntry | string, msg: string): never {
    const name = typeof e === 'string' ? e : e.name;
    throw new LayerError(`${this.layer}: ${showName(name)}: ${msg}`);
  }

  // ----- directory handles ------------------------------------------------------------------

  private dropDirCache(): void {
    this.dirs.drop();
  }

  private dir(path: string, create: boolean): CachedDir | null {
    return this.dirs.get(path, create);
  }

  /**
   * Paths this layer created, for "whiteouts hide lower layers only". Recorded cheaply in a list;
   * the set (with ancestors) is only built once the layer has a whiteout.
   */
  private created: string[] = [];

  private touchedSet(): Set<string> {
    if (this.created.length > 0) {
      const list = this.created;
      this.created = [];
      this.tracking = true;
      for (const p of list) this.markTouched(p);
    }
    this.tracking = true;
    return this.touched;
  }

  private tracking = false;

  private markTouched(path: string): void {
    if (!this.tracking) {
      this.created.push(path);
      return;
    }
    let p = path;
    while (p !== '' && !this.touched.has(p)) {
      this.touched.add(p);
      const i = p.lastIndexOf('/');
      p = i < 0 ? '' : p.slice(0, i);
    }
  }

  // ----- removal ----------------------------------------------------------------------------

  /**
   * A lower directory a whiteout or a type change removes is renamed aside at once, under a name
   * no image entry can collide with, and emptied later in steps (emptyTrashSteps), so a signal is
   * not held up by one huge synchronous removal. Where the rename cannot be made, it is removed now.
   */
  private discardDir(pfd: number, name: string): void {
    const aside = `${this.trashPrefix}${this.trash.length}-${this.trashSeq++}`;
    try {
      this.sys.renameat2(pfd, cPath(name), this.rootfd, aside, 1 /* RENAME_NOREPLACE */);
      this.trash.push(aside);
    } catch {
      this.rmTree(pfd, name);
    }
  }
  private readonly trash: string[] = [];
  private trashSeq = 0;
  private readonly trashPrefix = `.ts-img-removed-${process.pid}-${Date.now().toString(36)}-`;

  /** Remove what discardDir put aside, a few hundred entries per step. */
  *emptyTrashSteps(): Generator<void> {
    while (this.trash.length) {
      const aside = this.trash[this.trash.length - 1];
      try {
        this.sys.fstatat(this.rootfd, aside, AT_SYMLINK_NOFOLLOW);
      } catch (e) {
        // an opaque root put it aside again, under another name already in the list
        if (!isSysError(e, 'ENOENT')) throw e;
        this.trash.pop();
        continue;
      }
      yield* this.rmTreeSteps(this.rootfd, aside);
      this.trash.pop();
    }
  }

  private *rmTreeSteps(pfd: number, name: string): Generator<void> {
    const fd = this.sys.openat(pfd, cPath(name), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    try {
      let n = 0;
      for (const c of listDirFd(fd)) {
        if (c.dir) yield* this.rmTreeSteps(fd, c.name);
        else this.sys.unlinkat(fd, cPath(c.name), 0);
        if (++n % 256 === 0) yield;
      }
    } finally {
      this.sys.close(fd);
    }
    this.sys.unlinkat(pfd, cPath(name), AT_REMOVEDIR);
    yield;
  }

  private rmTree(pfd: number, name: string): void {
    const fd = this.sys.openat(pfd, cPath(name), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    try {
      for (const c of listDirFd(fd)) {
        if (c.dir) this.rmTree(fd, c.name);
        else this.sys.unlinkat(fd, cPath(c.name), 0);
      }
    } finally {
      this.sys.close(fd);
    }
    this.sys.unlinkat(pfd, cPath(name), AT_REMOVEDIR);
  }

  /** Remove whatever is at pfd/name (already lstat'ed as `mode`). */
  private removeAt(pfd: number, name: string, path: string, mode: number): void {
    const t = mode & S_IFMT;
    if (t === S_IFDIR) {
      this.dropDirCache();
      this.discardDir(pfd, name);
      for (const k of [...this.dirTimes.keys()]) if (k === path || k.startsWith(path + '/')) this.dirTimes.delete(k);
    } else {
      if (t === S_IFLNK) this.dropDirCache();
      this.sys.unlinkat(pfd, cPath(name), 0);
    }
  }

  /** Remove the lower-layer content at `path`, keeping what this layer created. */
  private removeLower(pfd: number, name: string, path: string): void {
    let st;
    try {
      st = this.sys.fstatat(pfd, cPath(name), AT_SYMLINK_NOFOLLOW);
    } catch (e) {
      if (isSysError(e, 'ENOENT')) return;
      throw e;
    }
    if (!this.touchedSet().has(path)) {
      this.removeAt(pfd, name, path, st.mode);
      return;
    }
    if ((st.mode & S_IFMT) !== S_IFDIR) return;
    const fd = this.sys.openat(pfd, cPath(name), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    try {
      for (const c of listDirFd(fd)) this.removeLower(fd, c.name, path + '/' + c.name);
    } finally {
      this.sys.close(fd);
    }
  }

  // ----- entries ----------------------------------------------------------------------------

  entry(e: TarEntry): void {
    if (this.cur) this.closeCur();
    if (this.dirs.hasStale) this.dirs.closeStale();
    this.skip = false;
    this.entries++;
    const comps = cleanName(e.name, `${this.layer}: entry`);
    for (let i = 0; i < comps.length - 1; i++) {
      if (comps[i].startsWith(WH)) this.fail(e, 'whiteout name used as a directory');
    }
    if (comps.length === 0) {
      this.rootEntry(e);
      return;
    }
    const name = comps[comps.length - 1];
    const parentPath = comps.slice(0, -1).join('/');
    const path = parentPath === '' ? name : parentPath + '/' + name;
    if (name.startsWith(WH)) {
      this.skip = true;
      this.whiteout(e, parentPath, name);
      return;
    }
    const parent = this.dir(parentPath, true)!;
    this.markTouched(path);
    const pfd = parent.fd;
    switch (e.type) {
      case 'dir':
        this.mkdir(e, pfd, name, path);
        break;
      case 'file': {
        const cname = cPath(name);
        const fd = this.create(pfd, name, path, () =>
          this.sys.openat(pfd, cname, FILE_CREATE, e.mode & 0o777),
        ) as number;
        this.cur = { fd, e, path, parentMode: parent.mode };
        break;
      }
      case 'symlink': {
        const cname = cPath(name);
        this.create(pfd, name, path, () => this.sys.symlinkat(cPath(e.linkname), pfd, cname));
        this.chownAt(e, pfd, name, parent.mode);
        this.xattrsAt(e, pfd, name);
        this.sys.utimensat(pfd, cname, e.atimeNs ?? e.mtimeNs, e.mtimeNs, AT_SYMLINK_NOFOLLOW);
        break;
      }
      case 'link':
        this.hardlink(e, pfd, name, path);
        break;
      case 'char':
      case 'block':
      case 'fifo': {
        const t = e.type === 'char' ? S_IFCHR : e.type === 'block' ? S_IFBLK : S_IFIFO;
        if ((this.opts.overlay || this.opts.fold) && t === S_IFCHR && e.devmajor === 0 && e.devminor === 0) {
          this.fail(e, 'a 0:0 character device is a whiteout to overlayfs: unpack without --overlay');
        }
        const dev = e.type === 'fifo' ? 0n : makedev(e.devmajor, e.devminor);
        const cname = cPath(name);
        try {
          this.create(pfd, name, path, () => this.sys.mknodat(pfd, cname, t | (e.mode & 0o777), dev));
        } catch (err) {
          if (this.opts.rootless && isSysError(err, 'EPERM')) {
            this.warn('mknod', `rootless: skipping device node ${showName(e.name)} (and any others)`);
            return;
          }
          throw err;
        }
        this.chownAt(e, pfd, name, parent.mode);
        this.sys.fchmodat(pfd, cname, e.mode & 0o7777, 0);
        this.xattrsAt(e, pfd, name);
        this.sys.utimensat(pfd, cname, e.atimeNs ?? e.mtimeNs, e.mtimeNs, AT_SYMLINK_NOFOLLOW);
        break;
      }
    }
  }

  data(chunk: Buffer): void {
    if (!this.cur) return;
    let off = 0;
    const io = this.io;
    while (off < chunk.length) off += io.write(this.cur.fd, chunk, off, chunk.length - off);
  }

  end(): void {
    if (this.cur) this.closeCur();
  }

  private closeCur(): void {
    const { fd, e, parentMode } = this.cur!;
    this.cur = null;
    try {
      const chowned = this.chownFd(e, fd, parentMode);
      // openat applied mode & ~umask; set the exact mode when that differs or chown may have cleared bits
      if (chowned || (e.mode & 0o7777) !== (e.mode & 0o777 & ~this.umask)) this.sys.fchmod(fd, e.mode & 0o7777);
      if (e.xattrs.size > 0) this.xattrsFd(e, fd);
      this.sys.utimensat(fd, null, e.atimeNs ?? e.mtimeNs, e.mtimeNs, 0);
    } finally {
      this.io.close(fd);
    }
  }

  private rootEntry(e: TarEntry): void {
    if (e.type !== 'dir') this.fail(e, 'the root of a layer must be a directory');
    this.rootEntrySeen = true;
    const fd = this.sys.openat(this.rootfd, '.', O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    try {
      this.chownFd(e, fd, 0);
      this.sys.fchmod(fd, e.mode & 0o7777);
      this.xattrsFd(e, fd);
    } finally {
      this.sys.close(fd);
    }
    this.dirTimes.set('', { atime: e.atimeNs ?? e.mtimeNs, mtime: e.mtimeNs });
  }

  /** Run `make`; on EEXIST remove the old entry (never dir-over-dir here) and run it again. */
  private create(pfd: number, name: string, path: string, make: () => unknown): unknown {
    try {
      return make();
    } catch (err) {
      if (!isSysError(err, 'EEXIST')) throw err;
    }
    const st = this.sys.fstatat(pfd, cPath(name), AT_SYMLINK_NOFOLLOW);
    this.removeAt(pfd, name, path, st.mode);
    return make();
  }

  private mkdir(e: TarEntry, pfd: number, name: string, path: string): void {
    let existed = false;
    let replacedWhiteout = false;
    const cname = cPath(name);
    try {
      this.sys.mkdirat(pfd, cname, 0o700);
    } catch (err) {
      if (!isSysError(err, 'EEXIST')) throw err;
      const st = this.sys.fstatat(pfd, cname, AT_SYMLINK_NOFOLLOW);
      if ((st.mode & S_IFMT) !== S_IFDIR) {
        // a whiteout of this layer came first: the new dir must hide the lower one's children
        replacedWhiteout = this.isOverlayWhiteout(st);
        this.removeAt(pfd, name, path, st.mode);
        this.sys.mkdirat(pfd, cname, 0o700);
      } else existed = true;
    }
    // Not root (rootless): keep the owner's rwx until the end, or a 0555 dir would stop later entries
    const mode = e.mode & 0o7777;
    const now = this.euid === 0 ? mode : mode | 0o700;
    const fd = this.sys.openat(pfd, cname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    try {
      this.chownFd(e, fd, 0);
      this.sys.fchmod(fd, now);
      if (existed) this.dropOldXattrs(e, fd);
      if (e.xattrs.size > 0) this.xattrsFd(e, fd);
      if (replacedWhiteout) {
        this.sys.fsetxattr(fd, OVL_OPAQUE, Buffer.from('y'), 0);
        this.opaqued.add(path);
      }
    } finally {
      this.sys.close(fd);
    }
    // the cached fd (if any) still refers to this same directory: update its mode
    const c = this.dirs.peek(path);
    if (c) c.mode = S_IFDIR | now;
    this.dirTimes.set(path, { atime: e.atimeNs ?? e.mtimeNs, mtime: e.mtimeNs, ...(now !== mode ? { mode } : {}) });
  }

  private hardlink(e: TarEntry, pfd: number, name: string, path: string): void {
    const t = cleanName(e.linkname, `${this.layer}: hardlink target of ${showName(e.name)}:`);
    if (t.length === 0) this.fail(e, 'hardlink to the root');
    const tname = t[t.length - 1];
    const missing = `hardlink target ${showName(e.linkname)} does not exist`;
    const tpath = t.join('/');
    const cname = cPath(name);
    if (tpath === path) {
      // A link to itself changes nothing when the file is there (a lower layer's); else it names nothing.
      try {
        this.sys.fstatat(pfd, cname, AT_SYMLINK_NOFOLLOW);
      } catch (err) {
        if (!isSysError(err, 'ENOENT')) throw err;
        const lower = this.opts.overlay ? this.inBase(t) : null;
        if (!lower) this.fail(e, `hardlink to itself, and ${missing.slice('hardlink target '.length)}`);
        this.sys.close(lower.pfd);
      }
      return;
    }
    if (this.opts.overlay) this.copyUpForLink(e, t, missing);
    const tparent = this.dir(t.slice(0, -1).join('/'), false);
    if (!tparent) this.fail(e, missing);
    const ctname = cPath(tname);
    if (this.opts.overlay) this.refuseWhiteoutTarget(e, tparent.fd, ctname);
    try {
      this.create(pfd, name, path, () => this.sys.linkat(tparent.fd, ctname, pfd, cname, 0));
    } catch (err) {
      if (isSysError(err, 'ENOENT')) this.fail(e, missing);
      if (isSysError(err, 'EPERM')) this.fail(e, `hardlink target ${showName(e.linkname)} is a directory or not linkable`);
      throw err;
    }
  }

  private whiteout(e: TarEntry, parentPath: string, name: string): void {
    if (this.opts.overlay) {
      this.overlayWhiteout(e, parentPath, name);
      return;
    }
    this.touchedSet();
    if (name === OPAQUE) {
      const parent = this.dir(parentPath, true)!;
      this.markTouched(parentPath);
      for (const c of listDirFd(parent.fd)) {
        this.removeLower(parent.fd, c.name, parentPath === '' ? c.name : parentPath + '/' + c.name);
      }
      return;
    }
    if (name.startsWith(WH + WH)) {
      // AUFS bookkeeping (.wh..wh.plnk, .wh..wh.aufs, ...): not part of the filesystem
      return;
    }
    const victim = name.slice(WH.length);
    if (victim === '' || victim === '.' || victim === '..') this.fail(e, 'invalid whiteout');
    const parent = this.dir(parentPath, false);
    if (!parent) return;
    this.removeLower(parent.fd, victim, parentPath === '' ? victim : parentPath + '/' + victim);
  }

  // ----- overlay layers -----------------------------------------------------------------------

  /** In an overlay layer dir a 0/0 char device is a whiteout (the image's own are refused). */
  private isOverlayWhiteout(st: { mode: number; rdev: bigint }): boolean {
    return !!this.opts.overlay && (st.mode & S_IFMT) === S_IFCHR && st.rdev === 0n;
  }

  /** A link to a name this layer whited out names nothing, as in the flat unpack. */
  private refuseWhiteoutTarget(e: TarEntry, tfd: number, ctname: L.PathArg): void {
    try {
      if (this.isOverlayWhiteout(this.sys.fstatat(tfd, ctname, AT_SYMLINK_NOFOLLOW))) this.fail(e, `hardlink target ${showName(e.linkname)} does not exist`);
    } catch (err) {
      if (!isSysError(err, 'ENOENT')) throw err;
    }
  }

  private setOpaque(dirfd: number, name: L.PathArg = '.'): void {
    const fd = this.sys.openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    try {
      this.sys.fsetxattr(fd, OVL_OPAQUE, Buffer.from('y'), 0);
    } finally {
      this.sys.close(fd);
    }
  }

  /**
   * The layer's dir holds only this layer: a whiteout of a name this layer does not have becomes
   * a whiteout device; of a directory it has, that directory becomes opaque (its lower children
   * are hidden, its own stay); of a non-directory it has, nothing (that entry hides the lower one).
   */
  private overlayWhiteout(e: TarEntry, parentPath: string, name: string): void {
    if (name === OPAQUE) {
      const parent = this.dir(parentPath, true)!;
      if (parentPath === '') this.rootOpaque = true; // overlayfs ignores opaque on a layer's root
      else this.setOpaque(parent.fd);
      this.opaqued.add(parentPath);
      // lower files copied up for a link are not this layer's own: they go like the rest below
      for (const p of [...this.copiedUp]) if (parentPath === '' || p.startsWith(parentPath + '/')) this.dropCopy(p);
      return;
    }
    if (name.startsWith(WH + WH)) return; // AUFS bookkeeping
    const victim = name.slice(WH.length);
    if (victim === '' || victim === '.' || victim === '..') this.fail(e, 'invalid whiteout');
    const parent = this.dir(parentPath, true)!;
    const cvictim = cPath(victim);
    const vpath = parentPath === '' ? victim : `${parentPath}/${victim}`;
    if (this.copiedUp.has(vpath)) this.dropCopy(vpath);
    let st;
    try {
      st = this.sys.fstatat(parent.fd, cvictim, AT_SYMLINK_NOFOLLOW);
    } catch (err) {
      if (!isSysError(err, 'ENOENT')) throw err;
      this.sys.mknodat(parent.fd, cvictim, S_IFCHR, 0n);
      return;
    }
    if ((st.mode & S_IFMT) === S_IFDIR) {
      this.setOpaque(parent.fd, cvictim);
      this.opaqued.add(vpath);
    }
  }

  /** Lower files copied into this layer for a hardlink (paths): not entries of this layer. */
  private readonly copiedUp = new Set<string>();
  /** Dirs this layer made opaque ('' the root): what is below them in lower layers is gone. */
  private readonly opaqued = new Set<string>();

  /** A copied-up lower file a whiteout or opaque marker removes: its link keeps the content. */
  private dropCopy(p: string): void {
    this.copiedUp.delete(p);
    const i = p.lastIndexOf('/');
    const parent = this.dir(i < 0 ? '' : p.slice(0, i), false);
    if (parent) this.sys.unlinkat(parent.fd, cPath(p.slice(i + 1)), 0);
  }

  /** The base's parent dir fd of `comps` and the entry's stat there, or null when it has none. */
  private inBase(comps: string[]): { pfd: number; name: string; st: L.StatResult } | null {
    // hidden by an opaque marker this layer has already applied
    for (let k = 0; k < comps.length; k++) if (this.opaqued.has(comps.slice(0, k).join('/'))) return null;
    const root = this.opts.base?.rootFd();
    if (root === undefined) return null;
    let pfd: number;
    try {
      pfd = comps.length === 1 ? this.sys.openat(root, '.', O_PATH_DIR) : this.sys.openat2(root, cPath(comps.slice(0, -1).join('/')), O_PATH_DIR, 0, L.RESOLVE_IN_ROOT | L.RESOLVE_NO_MAGICLINKS);
    } catch (err) {
      if (isSysError(err, 'ENOENT') || isSysError(err, 'ENOTDIR')) return null;
      throw err;
    }
    const name = comps[comps.length - 1];
    try {
      return { pfd, name, st: this.sys.fstatat(pfd, cPath(name), AT_SYMLINK_NOFOLLOW) };
    } catch (err) {
      this.sys.close(pfd);
      if (isSysError(err, 'ENOENT')) return null;
      throw err;
    }
  }

  /**
   * A dir this layer creates only implicitly takes the attributes the layers below give it, as
   * in the flat unpack (where it is not created at all); a lower non-directory there would be
   * written through in the flat unpack, which one layer's dir cannot express.
   */
  private implicitDir(path: string, pfd: number, name: string): boolean {
    if (!this.opts.base) return false;
    const b = this.inBase(path.split('/'));
    if (!b) return false;
    try {
      if ((b.st.mode & S_IFMT) !== S_IFDIR) {
        this.fail(path, 'a lower layer has a non-directory here that this layer writes through: unpack without --overlay');
      }
      const cname = cPath(name);
      this.sys.fchownat(pfd, cname, b.st.uid, b.st.gid, AT_SYMLINK_NOFOLLOW);
      this.copyXattrs(b.pfd, b.name, pfd, name);
      this.sys.fchmodat(pfd, cname, b.st.mode & 0o7777, 0);
      this.dirTimes.set(path, { atime: b.st.mtimeNs, mtime: b.st.mtimeNs });
    } finally {
      this.sys.close(b.pfd);
    }
    return true;
  }

  /**
   * A directory no entry describes belongs to the unpacking user: with --uid-map/--gid-map that
   * user's mapped ids (the container's root when root unpacks), as an overlay bundle's idmapped
   * layers show such a dir; the ids count among the owners a mapping must cover. The root too
   * when no layer has an entry for it.
   */
  private implicitOwner(path: string, pfd: number, name: string): void {
    this.owners.uids.add(this.euid);
    this.owners.gids.add(this.egid);
    if (!this.opts.uidMap?.length && !this.opts.gidMap?.length) return;
    let uid: number;
    let gid: number;
    try {
      [uid, gid] = [mapId(this.euid, this.opts.uidMap, 'uid'), mapId(this.egid, this.opts.gidMap, 'gid')];
    } catch (err) {
      this.fail(path || '.', `${path ? 'a directory made for the entries below it' : 'the root, which no layer has an entry for'}: ${(err as Error).message}`);
    }
    try {
      // '' is the root itself (the rootfs dir: no layer had an entry for it)
      this.sys.fchownat(pfd, cPath(name), uid, gid, AT_SYMLINK_NOFOLLOW | (name === '' ? L.AT_EMPTY_PATH : 0));
    } catch (err) {
      if (!(this.opts.rootless && isSysError(err, 'EPERM'))) throw err;
      this.warn('chown', `rootless: cannot set ownership ${uid}:${gid} (${showName(path || '.')} and others)`);
    }
  }

  /** xattrs as the merged view shows them (unescaped), stored as this layer must hold them. */
  private copyXattrs(fromPfd: number, fromName: string, toPfd: number, toName: string): void {
    const src = cPath(`/proc/self/fd/${fromPfd}/${fromName}`);
    const dst = cPath(`/proc/self/fd/${toPfd}/${toName}`);
    for (const k of this.sys.llistxattr(src)) this.sys.lsetxattr(dst, this.xattrName(k), this.sys.lgetxattr(src, k), 0);
  }

  /**
   * A hardlink whose target is not in this layer: copy the lower file (content, owner, mode,
   * xattrs, times) into this layer at its path, so both names are one inode here as in the flat
   * unpack. Nothing when the target is this layer's or the layers below lack it.
   */
  private copyUpForLink(e: TarEntry, t: string[], missing: string): void {
    const tpath = t.join('/');
    const tname = t[t.length - 1];
    const mine = this.dir(t.slice(0, -1).join('/'), false);
    if (mine) {
      try {
        this.sys.fstatat(mine.fd, cPath(tname), AT_SYMLINK_NOFOLLOW);
        return;
      } catch (err) {
        if (!isSysError(err, 'ENOENT')) throw err;
      }
    }
    const b = this.inBase(t);
    if (!b) return;
    try {
      const type = b.st.mode & S_IFMT;
      if (type === S_IFDIR) this.fail(e, `hardlink target ${showName(e.linkname)} is a directory or not linkable`);
      const parent = this.dir(t.slice(0, -1).join('/'), true)!;
      const cname = cPath(tname);
      if (type === S_IFREG) {
        const src = this.sys.openat(b.pfd, cPath(b.name), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        try {
          const dst = this.sys.openat(parent.fd, cname, FILE_CREATE, 0o600);
          try {
            const buf = Buffer.allocUnsafe(1 << 20);
            for (let n; (n = fs.readSync(src, buf, 0, buf.length, null)) > 0;) for (let off = 0; off < n;) off += this.io.write(dst, buf, off, n - off);
          } finally {
            this.io.close(dst);
          }
        } finally {
          fs.closeSync(src);
        }
      } else if (type === S_IFLNK) {
        this.sys.symlinkat(cPath(this.sys.readlinkat(b.pfd, cPath(b.name), 'latin1')), parent.fd, cname);
      } else {
        this.sys.mknodat(parent.fd, cname, type | 0o600, b.st.rdev);
      }
      this.sys.fchownat(parent.fd, cname, b.st.uid, b.st.gid, AT_SYMLINK_NOFOLLOW);
      if (type !== S_IFLNK) this.sys.fchmodat(parent.fd, cname, b.st.mode & 0o7777, 0);
      this.copyXattrs(b.pfd, b.name, parent.fd, tname);
      this.sys.utimensat(parent.fd, cname, b.st.mtimeNs, b.st.mtimeNs, AT_SYMLINK_NOFOLLOW);
      this.copiedUp.add(tpath);
    } catch (err) {
      if (isSysError(err, 'ENOENT')) this.fail(e, missing);
      throw err;
    } finally {
      this.sys.close(b.pfd);
    }
  }

  /** trusted.overlay.X of the image is stored escaped (trusted.overlay.overlay.X): overlayfs shows it as X. */
  private xattrName(k: string): string {
    return (this.opts.overlay || this.opts.fold) && k.startsWith(OVL_XATTR) ? `${OVL_XATTR}overlay.${k.slice(OVL_XATTR.length)}` : k;
  }

  // ----- metadata ---------------------------------------------------------------------------

  private ids(e: TarEntry): [number, number] {
    this.owners.uids.add(e.uid);
    this.owners.gids.add(e.gid);
    try {
      return [mapId(e.uid, this.opts.uidMap, 'uid'), mapId(e.gid, this.opts.gidMap, 'gid')];
    } catch (err) {
      this.fail(e, (err as Error).message);
    }
  }

  /** fchown unless the new file already has that owner; true when it called chown. */
  private chownFd(e: TarEntry, fd: number, parentMode: number): boolean {
    const [uid, gid] = this.ids(e);
    if (uid === this.euid && gid === this.egid && (parentMode & S_ISGID) === 0) return false;
    try {
      this.sys.fchown(fd, uid, gid);
    } catch (err) {
      if (this.opts.rootless && isSysError(err, 'EPERM')) {
        this.warn('chown', `rootless: cannot set ownership ${uid}:${gid} (${showName(e.name)} and others)`);
        return false;
      }
      throw err;
    }
    return true;
  }

  private chownAt(e: TarEntry, pfd: number, name: string, parentMode: number): void {
    const [uid, gid] = this.ids(e);
    if (uid === this.euid && gid === this.egid && (parentMode & S_ISGID) === 0) return;
    try {
      this.sys.fchownat(pfd, cPath(name), uid, gid, AT_SYMLINK_NOFOLLOW);
    } catch (err) {
      if (this.opts.rootless && isSysError(err, 'EPERM')) {
        this.warn('chown', `rootless: cannot set ownership ${uid}:${gid} (${showName(e.name)} and others)`);
        return;
      }
      throw err;
    }
  }

  private xattrErr(e: TarEntry, key: string, err: unknown): void {
    const onLink = e.type === 'symlink' && isSysError(err, 'EPERM'); // user.* is not allowed on symlinks
    if (onLink || isSysError(err, 'EOPNOTSUPP') || isSysError(err, 'ENOTSUP') || (this.opts.rootless && isSysError(err, 'EPERM'))) {
      this.warn(`xattr:${key}`, `cannot set xattr ${key} on ${showName(e.name)} (${(err as SysError).code}); skipped`);
      return;
    }
    throw err;
  }

  /**
   * security.capability v3 carries the uid that is root for it (rootid): with a uid mapping that
   * uid is a container uid and must become its host uid, like file ownership.
   */
  private xattrValue(e: TarEntry, k: string, v: Buffer): Buffer {
    if (k !== 'security.capability' || v.length !== 24 || (v.readUInt32LE(0) & 0xff000000) !== 0x03000000) return v;
    this.owners.uids.add(v.readUInt32LE(20)); // an idmapped mount shows it mapped as well
    if (!this.opts.uidMap || this.opts.uidMap.length === 0) return v;
    const out = Buffer.from(v);
    try {
      out.writeUInt32LE(mapId(v.readUInt32LE(20), this.opts.uidMap, 'uid'), 20);
    } catch (err) {
      this.fail(e, `security.capability rootid: ${(err as Error).message}`);
    }
    return out;
  }

  /**
   * Dir over dir: "the existing path's attributes MUST be replaced by those of the entry", so
   * user.* and trusted.* xattrs the new entry does not carry go (security.* is left to the LSM).
   */
  private dropOldXattrs(e: TarEntry, fd: number): void {
    let names: string[];
    try {
      names = this.sys.flistxattr(fd);
    } catch {
      return;
    }
    const kept = new Set([...e.xattrs.keys()].map((k) => this.xattrName(k)));
    if (this.opts.overlay) kept.add(OVL_OPAQUE); // set by this layer's whiteouts, not an image attribute
    for (const n of names) {
      if ((n.startsWith('user.') || n.startsWith('trusted.')) && !kept.has(n)) {
        try {
          this.sys.fremovexattr(fd, n);
        } catch (err) {
          this.xattrErr(e, n, err);
        }
      }
    }
  }

  private xattrsFd(e: TarEntry, fd: number): void {
    for (const [k, v] of e.xattrs) {
      try {
        this.sys.fsetxattr(fd, this.xattrName(k), this.xattrValue(e, k, v), 0);
      } catch (err) {
        this.xattrErr(e, k, err);
      }
    }
  }

  private xattrsAt(e: TarEntry, pfd: number, name: string): void {
    for (const [k, v] of e.xattrs) {
      try {
        // the magic link names the (already root-confined) parent; the last component is not followed
        this.sys.lsetxattr(cPath(`/proc/self/fd/${pfd}/${name}`), this.xattrName(k), v, 0);
      } catch (err) {
        this.xattrErr(e, k, err);
      }
    }
  }

  /** After the last layer: directory times (deepest first), then release fds. */
  finish(): void {
    for (const _ of this.finishSteps()) {
      /* all at once */
    }
  }

  /**
   * finish, one directory per step: the caller gives the event loop a turn between steps, so a
   * signal stops an image of many directories here too (close() in its cleanup releases the fds).
   */
  *finishSteps(): Generator<void> {
    if (this.cur) this.closeCur();
    yield* this.emptyTrashSteps();
    // a layer dir's root is not what a bundle shows (the upper dir's is: overlay/upper-root.ts)
    if (!this.rootEntrySeen && !this.opts.overlay && !this.opts.fold) this.implicitOwner('', this.rootfd, '');
    // no layer had a root entry: the rootfs gets the epoch, as in umoci, not the time of the unpack
    if (!this.dirTimes.has('')) this.dirTimes.set('', { atime: 0n, mtime: 0n });
    const paths = [...this.dirTimes.keys()].sort((a, b) => b.length - a.length);
    for (const p of paths) {
      const t = this.dirTimes.get(p)!;
      if (p === '') {
        this.sys.utimensat(-100, this.rootPath, t.atime, t.mtime, 0);
        continue;
      }
      const i = p.lastIndexOf('/');
      const parent = this.dir(i < 0 ? '' : p.slice(0, i), false);
      if (!parent) continue;
      const name = cPath(p.slice(i + 1));
      try {
        const st = this.sys.fstatat(parent.fd, name, AT_SYMLINK_NOFOLLOW);
        if ((st.mode & S_IFMT) !== S_IFDIR) continue;
        if (t.mode !== undefined) this.sys.fchmodat(parent.fd, name, t.mode, 0); // just checked: a dir, not a link
        this.sys.utimensat(parent.fd, name, t.atime, t.mtime, AT_SYMLINK_NOFOLLOW);
      } catch (err) {
        if (!isSysError(err, 'ENOENT')) throw err;
      }
      yield;
    }
    this.close();
  }

  close(): void {
    if (this.cur) {
      this.io.close(this.cur.fd);
      this.cur = null;
    }
    this.dirs.drop();
    this.dirs.closeStale();
  }
}

export { S_IFREG };
