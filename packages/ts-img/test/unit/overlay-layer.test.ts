import * as fs from 'fs';
import * as path from 'path';
import { FakeSys, FSCONFIG_CMD_CREATE, FSCONFIG_SET_STRING, libc } from '@tsrt/libc';
import { Applier } from '../../src/layers/applier';
import { mountOverlay, OverlayUnavailable, assertOverlayPossible } from '../../src/overlay/mount';
import { visibleLayers } from '../../src/overlay/mount-layers';
import { FOLD_STEP, MAX_LOWERS, foldCount } from '../../src/overlay/fold-store';
import type { StoredLayer } from '../../src/overlay/layer-store';
import { applyLayers, rmrf, tmpdir } from '../helpers';

// One layer extracted on its own in overlay mode: overlayfs' encoding of whiteouts and opaque dirs.
describe('applier, overlay mode', () => {
  let root: string;
  beforeEach(() => { root = tmpdir(); });
  afterEach(() => rmrf(root));
  const st = (p: string): fs.Stats => fs.lstatSync(path.join(root, p));
  const opaque = (p: string): string | undefined => {
    try { return libc().lgetxattr(path.join(root, p), 'trusted.overlay.opaque').toString(); } catch { return undefined; }
  };
  const one = (entries: Parameters<typeof applyLayers>[1][0]): Applier => applyLayers(root, [entries], { overlay: true });

  test('a whiteout of a name the layer lacks becomes a 0/0 char device; of its own file, nothing', () => {
    one([{ name: 'd/', type: 'dir' }, { name: 'd/.wh.gone' }, { name: 'mine', data: 'm' }, { name: '.wh.mine' }, { name: '.wh..wh.plnk' }]);
    expect([st('d/gone').isCharacterDevice(), st('d/gone').rdev]).toEqual([true, 0]);
    expect(fs.readFileSync(path.join(root, 'mine'), 'utf8')).toBe('m');
    expect(fs.readdirSync(root).sort()).toEqual(['d', 'mine']);
  });

  test('opaque markers, and dirs a whiteout of the same layer replaced (either order), are opaque', () => {
    one([
      { name: 'o/', type: 'dir' }, { name: 'o/.wh..wh..opq' }, { name: 'o/', type: 'dir', mode: 0o700 },
      { name: '.wh.r' }, { name: 'r/', type: 'dir' },
      { name: 'k/', type: 'dir' }, { name: '.wh.k' },
      { name: 'plain/', type: 'dir' },
    ]);
    expect([opaque('o'), opaque('r'), opaque('k'), opaque('plain')]).toEqual(['y', 'y', 'y', undefined]);
    expect(st('o').mode & 0o777).toBe(0o700); // the later dir entry kept the marker
  });

  test('an opaque marker at the root is reported, not set (overlayfs ignores it there)', () => {
    const a = one([{ name: '.wh..wh..opq' }, { name: 'f', data: 'f' }]);
    expect(a.rootOpaque).toBe(true);
    expect(opaque('')).toBeUndefined();
  });

  test('refused: a 0:0 char device entry, a hardlink to a whiteout or to nothing (no layers below)', () => {
    expect(() => one([{ name: 'c', type: 'char', devmajor: 0, devminor: 0 }])).toThrow(/"c": a 0:0 character device is a whiteout to overlayfs: unpack without --overlay/);
    expect(() => one([{ name: '.wh.x' }, { name: 'y', type: 'link', linkname: 'x' }])).toThrow(/hardlink target "x" does not exist/);
    expect(() => one([{ name: 'z', type: 'link', linkname: 'lower/file' }])).toThrow(/hardlink target "lower\/file" does not exist/);
  });

  test('fold mode: layers applied onto each other as flat (whiteouts remove), image trusted.overlay.* escaped, 0:0 char devices refused', () => {
    const a = applyLayers(root, [
      [{ name: './', type: 'dir', mode: 0o750 }, { name: 'd/', type: 'dir' }, { name: 'd/gone', data: 'g' }, { name: 'o/', type: 'dir' }, { name: 'o/old', data: 'o' },
        { name: 'x', data: 'x', xattrs: { 'trusted.overlay.opaque': 'y', 'user.u': 'v' } }],
      [{ name: 'd/.wh.gone' }, { name: 'o/.wh..wh..opq' }, { name: 'o/new', data: 'n' }],
    ], { fold: true });
    expect(fs.readdirSync(path.join(root, 'd'))).toEqual([]);
    expect(fs.readdirSync(path.join(root, 'o'))).toEqual(['new']);
    expect(opaque('o')).toBeUndefined(); // nothing lies below a fold: no overlayfs marker
    expect(libc().llistxattr(path.join(root, 'x')).sort()).toEqual(['trusted.overlay.overlay.opaque', 'user.u']);
    expect(a.rootEntrySeen).toBe(true);
    expect(() => applyLayers(root, [[{ name: 'c', type: 'char', devmajor: 0, devminor: 0 }]], { fold: true })).toThrow(/a 0:0 character device is a whiteout to overlayfs/);
  });

  test('foldCount: none up to 500 layers; beyond, a multiple of the fold step leaving at most 500 lowers', () => {
    expect([1, 300, MAX_LOWERS].map(foldCount)).toEqual([0, 0, 0]);
    expect([501, 520, 599, 600, 601, 2000].map(foldCount)).toEqual([100, 100, 100, 200, 200, 1600]);
    for (let n = MAX_LOWERS + 1; n < 5000; n++) {
      const k = foldCount(n);
      expect(k % FOLD_STEP).toBe(0);
      expect(n - k + 1).toBeLessThanOrEqual(MAX_LOWERS);
      expect(k).toBeLessThan(n);
    }
  });

  test('visibleLayers: from the topmost layer with an opaque root up', () => {
    const l = (rootOpaque: boolean, diffId: string): StoredLayer => ({ diffId, key: diffId, diff: `/s/${diffId}`, rootOpaque, rootEntry: false, entries: 0, chainDependent: false });
    expect(visibleLayers([l(false, 'a'), l(true, 'b'), l(false, 'c'), l(true, 'd'), l(false, 'e')]).map((x) => x.diffId)).toEqual(['d', 'e']);
    expect(visibleLayers([l(false, 'a'), l(false, 'b')]).map((x) => x.diffId)).toEqual(['a', 'b']);
  });
});

// fds far above any real one: the kernel-log read on a fake context fd fails at once (EBADF)
describe('mountOverlay (fake syscalls)', () => {
  const spec = {
    lowers: [{ fd: 200001, path: '/s/a', short: 'aaaa' }, { fd: 200002, path: '/s/b', short: 'bbbb' }],
    upper: { fd: 200003, path: '/b/overlay/upper' }, work: { fd: 200004, path: '/b/overlay/work' }, target: { fd: 200005, path: '/b/rootfs' }, shortBase: '/s/l',
  };
  const strings = (f: FakeSys): string[] => f.named('fsconfig').filter((a) => a[1] === FSCONFIG_SET_STRING).map((a) => `${a[2]}=${a[3]}`);
  const OPTIONS = ['redirect_dir=off', 'index=off', 'metacopy=off', 'xino=off'];

  test('the new API: every dir by its fd (lowerdir+ topmost first, upper, work), options, create, mount, moved onto the rootfs fd', () => {
    const f = new FakeSys().respond('fsopen', () => 100010).respond('fsmount', () => 100011);
    mountOverlay(f.sys, spec);
    expect(f.named('fsconfigFd')).toEqual([[100010, 'lowerdir+', 200002], [100010, 'lowerdir+', 200001], [100010, 'upperdir', 200003], [100010, 'workdir', 200004]]);
    expect(strings(f)).toEqual(['source=overlay', ...OPTIONS]); // no path given for any dir
    expect(f.named('fsconfig').some((a) => a[1] === FSCONFIG_CMD_CREATE)).toBe(true);
    expect(f.named('moveMountToFd')).toEqual([[100011, 200005]]);
    expect(f.named('moveMount')).toEqual([]);
    expect(f.named('close').map((a) => a[0]).sort()).toEqual([100010, 100011]); // an open mount fd keeps it busy; the dirs are the caller's
  });

  test('Linux 6.8-6.12 (lowerdir+ takes no fd: EINVAL): lowers by path, upper and work as /proc/self/fd/N', () => {
    const f = new FakeSys().respond('fsopen', () => 100010).respond('fsmount', () => 100011).fail('fsconfigFd', 'EINVAL');
    mountOverlay(f.sys, spec);
    expect(f.named('fsconfigFd')).toHaveLength(1);
    expect(strings(f)).toEqual(['lowerdir+=/s/b', 'lowerdir+=/s/a', 'source=overlay', 'upperdir=/proc/self/fd/200003', 'workdir=/proc/self/fd/200004', ...OPTIONS]);
    expect(f.named('moveMountToFd')).toEqual([[100011, 200005]]);
    // and the same when asked for (tests of that path on newer kernels)
    const g = new FakeSys().respond('fsopen', () => 100010).respond('fsmount', () => 100011);
    mountOverlay(g.sys, { ...spec, force: 'strings' });
    expect(g.named('fsconfigFd')).toEqual([]);
    expect(strings(g)).toEqual(strings(f));
  });

  test('before Linux 6.8 (the kernel log says lowerdir+ is an unknown parameter): mount(2)', () => {
    const d = tmpdir();
    const log = path.join(d, 'log');
    fs.writeFileSync(log, "e overlay: Unknown parameter 'lowerdir+'");
    const ctx = fs.openSync(log, 'r'); // what the context fd would read
    try {
      const f = new FakeSys().respond('fsopen', () => ctx).fail('fsconfigFd', 'EINVAL');
      mountOverlay(f.sys, spec);
      expect(f.named('fsconfig')).toEqual([]);
      expect(f.named('mount')).toHaveLength(1);
    } finally {
      fs.closeSync(ctx);
      rmrf(d);
    }
  });

  test('a failure is one OverlayUnavailable line that says to drop --overlay; fds closed', () => {
    const f = new FakeSys().respond('fsopen', () => 100010).fail('fsconfig', 'EINVAL', (_fd, cmd) => cmd === FSCONFIG_CMD_CREATE);
    let err: unknown;
    try { mountOverlay(f.sys, spec); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(OverlayUnavailable);
    expect((err as Error).message).toMatch(/^overlayfs cannot be mounted here \(.*EINVAL.*\): unpack without --overlay$/);
    expect(f.named('close')).toEqual([[100010]]);
    expect(f.named('moveMountToFd')).toEqual([]);
  });

  test('a kernel without the new API (ENOSYS): mount(2) onto /proc/self/fd of the rootfs, upper and work by fd too', () => {
    const f = new FakeSys().fail('fsopen', 'ENOSYS');
    mountOverlay(f.sys, spec);
    expect(f.named('mount')).toEqual([['overlay', '/proc/self/fd/200005', 'overlay', 0, `lowerdir=/s/b:/s/a,upperdir=/proc/self/fd/200003,workdir=/proc/self/fd/200004,${OPTIONS.join(',')}`]]);
  });

  test('mount(2) beyond a page: short names relative to the link dir; beyond that, a clear error', () => {
    const lowers = Array.from({ length: 300 }, (_, i) => ({ fd: 300000 + i, path: `/var/lib/ts-img/.ts-img/ovl/${String(i).padStart(64, '0')}/diff`, short: String(i).padStart(10, '0') }));
    const f = new FakeSys();
    let cwd = '';
    f.respond('mount', () => { cwd = process.cwd(); });
    const here = process.cwd();
    mountOverlay(f.sys, { ...spec, lowers, shortBase: '/', force: 'mount2' });
    expect(cwd).toBe('/');
    expect(process.cwd()).toBe(here);
    const data = f.named('mount')[0][4] as string;
    expect(data.startsWith(`lowerdir=${'299'.padStart(10, '0')}:`)).toBe(true);
    expect(data.length).toBeLessThan(4096);
    const more = Array.from({ length: 400 }, (_, i) => ({ fd: 300000 + i, path: `/x/${i}`.padEnd(80, 'x'), short: String(i).padStart(10, '0') }));
    expect(() => mountOverlay(new FakeSys().sys, { ...spec, lowers: more, shortBase: '/', force: 'mount2' })).toThrow(/400 layers do not fit in one page .*unpack without --overlay/);
  });

  test('no overlay in /proc/filesystems: refused before any work', () => {
    const d = tmpdir();
    try {
      fs.writeFileSync(path.join(d, 'filesystems'), 'nodev\ttmpfs\n\text4\n');
      expect(() => assertOverlayPossible(new FakeSys().sys, [], path.join(d, 'filesystems'))).toThrow(/no overlay in .*filesystems\): unpack without --overlay/);
    } finally {
      rmrf(d);
    }
  });
});
