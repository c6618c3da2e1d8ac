import * as fs from 'fs';
import * as path from 'path';
import { FakeSys, O_PATH, RESOLVE_IN_ROOT, AT_SYMLINK_NOFOLLOW } from '@tsrt/libc';
import { Applier } from '../../src/layers/applier';
import { TarParser } from '../../src/layers/tar';
import { tarBuffer } from '../../src/testing/tarwriter';
import { applyLayers, dumpTree, rmrf, tmpdir } from '../helpers';

// Layer rules (image-spec layer.md) on real temp dirs: the applier's *at() calls on a scratch root.
describe('layer rules', () => {
  let root: string;
  let base: string;
  beforeEach(() => {
    base = tmpdir();
    root = path.join(base, 'rootfs');
    fs.mkdirSync(root);
  });
  afterEach(() => rmrf(base));
  const read = (p: string): string => fs.readFileSync(path.join(root, p), 'utf8');
  const exists = (p: string): boolean => {
    try {
      fs.lstatSync(path.join(root, p));
      return true;
    } catch {
      return false;
    }
  };

  test('whiteout removes lower entries only; same-layer entries survive', () => {
    applyLayers(root, [
      [{ name: 'a', data: 'lower' }, { name: 'd/', type: 'dir' }, { name: 'd/x', data: 'x' }],
      [{ name: 'b', data: 'same layer' }, { name: '.wh.a' }, { name: '.wh.b' }, { name: '.wh.d' }],
    ]);
    expect(exists('a')).toBe(false);
    expect(exists('d')).toBe(false);
    expect(read('b')).toBe('same layer');
    expect(exists('.wh.a')).toBe(false);
    expect(exists('.wh.b')).toBe(false);
  });

  test('whiteout before the same-layer entry of that name: the lower goes, the new one stays', () => {
    applyLayers(root, [
      [{ name: 'a', data: 'lower' }],
      [{ name: '.wh.a' }, { name: 'a', data: 'upper' }],
    ]);
    expect(read('a')).toBe('upper');
  });

  test('whiteout of a lower dir keeps children added by the same layer', () => {
    applyLayers(root, [
      [{ name: 'd/', type: 'dir' }, { name: 'd/old', data: 'old' }],
      [{ name: 'd/new', data: 'new' }, { name: '.wh.d' }],
    ]);
    expect(exists('d/old')).toBe(false);
    expect(read('d/new')).toBe('new');
  });

  test('opaque dir hides lower children wherever the marker appears', () => {
    applyLayers(root, [
      [{ name: 'o/', type: 'dir' }, { name: 'o/l1', data: '1' }, { name: 'o/sub/', type: 'dir' }, { name: 'o/sub/l2', data: '2' }],
      [{ name: 'o/before', data: 'b' }, { name: 'o/.wh..wh..opq' }, { name: 'o/after', data: 'a' }],
    ]);
    expect(fs.readdirSync(path.join(root, 'o')).sort()).toEqual(['after', 'before']);
  });

  test('opaque marker first in the layer', () => {
    applyLayers(root, [
      [{ name: 'o/l1', data: '1' }],
      [{ name: 'o/.wh..wh..opq' }, { name: 'o/n', data: 'n' }],
    ]);
    expect(fs.readdirSync(path.join(root, 'o'))).toEqual(['n']);
  });

  test('opaque dir whose own entry appears in the layer keeps the new attributes', () => {
    applyLayers(root, [
      [{ name: 'o/', type: 'dir', mode: 0o755 }, { name: 'o/l1', data: '1' }],
      [{ name: 'o/', type: 'dir', mode: 0o700 }, { name: 'o/.wh..wh..opq' }],
    ]);
    expect(fs.readdirSync(path.join(root, 'o'))).toEqual([]);
    expect(fs.statSync(path.join(root, 'o')).mode & 0o777).toBe(0o700);
  });

  test('dir over dir replaces attributes and keeps children', () => {
    applyLayers(root, [
      [{ name: 'd/', type: 'dir', mode: 0o755, uid: 0 }, { name: 'd/c', data: 'c' }],
      [{ name: 'd/', type: 'dir', mode: 0o710, uid: 1000, gid: 1000, mtime: 1000 }],
    ]);
    const st = fs.statSync(path.join(root, 'd'));
    expect(st.mode & 0o7777).toBe(0o710);
    expect(st.uid).toBe(1000);
    expect(read('d/c')).toBe('c');
    expect(st.mtimeMs).toBe(1000 * 1000);
  });

  test('dir over dir replaces xattrs too', () => {
    applyLayers(root, [
      [{ name: 'd/', type: 'dir', xattrs: { 'user.old': 'o', 'user.keep': 'k1' } }],
      [{ name: 'd/', type: 'dir', xattrs: { 'user.keep': 'k2', 'user.new': 'n' } }],
    ]);
    expect(dumpTree(root).d.xattrs).toEqual({ 'user.keep': Buffer.from('k2').toString('hex'), 'user.new': Buffer.from('n').toString('hex') });
  });

  test('file over dir, dir over file, symlink over file, file over symlink', () => {
    applyLayers(root, [
      [{ name: 'a/', type: 'dir' }, { name: 'a/x', data: 'x' }, { name: 'b', data: 'b' }, { name: 'c', data: 'c' }, { name: 'd', type: 'symlink', linkname: 'c' }],
      [{ name: 'a', data: 'now a file' }, { name: 'b/', type: 'dir' }, { name: 'c', type: 'symlink', linkname: 'b' }, { name: 'd', data: 'now a file' }],
    ]);
    expect(read('a')).toBe('now a file');
    expect(fs.lstatSync(path.join(root, 'b')).isDirectory()).toBe(true);
    expect(fs.readlinkSync(path.join(root, 'c'))).toBe('b');
    expect(fs.lstatSync(path.join(root, 'd')).isFile()).toBe(true);
  });

  test('replacing one hardlink alias leaves the other with the old content', () => {
    applyLayers(root, [
      [{ name: 'f', data: 'old' }, { name: 'g', type: 'link', linkname: 'f' }],
      [{ name: 'f', data: 'new' }],
    ]);
    expect(read('f')).toBe('new');
    expect(read('g')).toBe('old');
  });

  test('hardlink into a lower layer', () => {
    applyLayers(root, [
      [{ name: 'lib/f', data: 'lower' }],
      [{ name: 'h', type: 'link', linkname: 'lib/f' }],
    ]);
    expect(fs.statSync(path.join(root, 'h')).ino).toBe(fs.statSync(path.join(root, 'lib/f')).ino);
  });

  test('hardlink to a missing target or a directory is an error', () => {
    expect(() => applyLayers(root, [[{ name: 'h', type: 'link', linkname: 'nope' }]])).toThrow(/does not exist/);
    expect(() => applyLayers(root, [[{ name: 'dd/', type: 'dir' }, { name: 'h2', type: 'link', linkname: 'dd' }]])).toThrow(/directory|EPERM/);
  });

  test('modes incl. setuid/setgid/sticky, owners, mtimes, devices, fifos, xattrs', () => {
    applyLayers(root, [[
      { name: 'suid', data: 'x', mode: 0o4755, uid: 1, gid: 2, mtime: 100 },
      { name: 'sgid', data: 'x', mode: 0o2711, mtime: 100 },
      { name: 'sticky/', type: 'dir', mode: 0o1777, mtime: 200 },
      { name: 'c', type: 'char', devmajor: 1, devminor: 5, mode: 0o600 },
      { name: 'b', type: 'block', devmajor: 7, devminor: 1, mode: 0o640 },
      { name: 'p', type: 'fifo', mode: 0o620 },
      { name: 'x', data: 'x', xattrs: { 'user.k': 'v' } },
      { name: 's', type: 'symlink', linkname: 'suid', uid: 5, gid: 6, mtime: 300 },
    ]]);
    const t = dumpTree(root);
    expect(t.suid).toMatchObject({ mode: 0o4755, uid: 1, gid: 2, mtimeMs: 100000 });
    expect(t.sgid.mode).toBe(0o2711);
    expect(t.sticky).toMatchObject({ type: 'dir', mode: 0o1777, mtimeMs: 200000 });
    expect(t.c).toMatchObject({ type: 'char', mode: 0o600 });
    expect(t.b).toMatchObject({ type: 'block', mode: 0o640 });
    expect(t.p).toMatchObject({ type: 'fifo', mode: 0o620 });
    expect(t.x.xattrs['user.k']).toBe(Buffer.from('v').toString('hex'));
    expect(t.s).toMatchObject({ type: 'symlink', link: 'suid', uid: 5, gid: 6, mtimeMs: 300000 });
  });

  test('directory mtimes are set after the last layer', () => {
    applyLayers(root, [
      [{ name: 'd/', type: 'dir', mtime: 111 }, { name: 'd/a', data: 'a' }],
      [{ name: 'd/b', data: 'b' }, { name: 'd/.wh.a' }],
    ]);
    expect(fs.statSync(path.join(root, 'd')).mtimeMs).toBe(111000);
  });

  test('implicit parents are created', () => {
    applyLayers(root, [[{ name: 'x/y/z', data: 'z' }]]);
    expect(read('x/y/z')).toBe('z');
    expect(fs.statSync(path.join(root, 'x/y')).mode & 0o777).toBe(0o755);
  });

  test('uid/gid mapping shifts ownership', () => {
    applyLayers(root, [[{ name: 'f', data: 'x', uid: 0, gid: 0 }, { name: 'g', data: 'x', uid: 1000, gid: 1000 }]], {
      uidMap: [{ containerID: 0, hostID: 100000, size: 65536 }],
      gidMap: [{ containerID: 0, hostID: 200000, size: 65536 }],
    });
    expect(fs.statSync(path.join(root, 'f'))).toMatchObject({ uid: 100000, gid: 200000 });
    expect(fs.statSync(path.join(root, 'g'))).toMatchObject({ uid: 101000, gid: 201000 });
  });

  test('with a mapping, dirs no entry describes (implicit parents; the root without ./) are the mapped unpacking user\'s', () => {
    const a = applyLayers(root, [[{ name: 'x/y/z', data: 'z', uid: 5, gid: 6 }]], {
      uidMap: [{ containerID: 0, hostID: 100000, size: 65536 }],
      gidMap: [{ containerID: 0, hostID: 200000, size: 65536 }],
    });
    for (const d of ['x', 'x/y', '']) expect(fs.lstatSync(path.join(root, d))).toMatchObject({ uid: 100000, gid: 200000 });
    expect(fs.lstatSync(path.join(root, 'x/y/z'))).toMatchObject({ uid: 100005, gid: 200006 });
    // the ids a mapping must cover, the unpacking user's among them
    expect([...a.owners.uids].sort()).toEqual([0, 5]);
    expect([...a.owners.gids].sort()).toEqual([0, 6]);
    fs.mkdirSync(path.join(root, 'other'));
    expect(() => applyLayers(path.join(root, 'other'), [[{ name: 'p/f', data: 'f', uid: 1 }]], { uidMap: [{ containerID: 1, hostID: 100001, size: 10 }] }))
      .toThrow(/"p": a directory made for the entries below it: uid 0 is not in the uid mapping/);
  });

  test('without a mapping they stay the unpacking user\'s; a root entry is the root\'s owner', () => {
    applyLayers(root, [[{ name: './', type: 'dir', uid: 7, gid: 8 }, { name: 'x/f', data: 'f' }]], { uidMap: [{ containerID: 0, hostID: 100000, size: 65536 }] });
    expect(fs.lstatSync(root)).toMatchObject({ uid: 100007, gid: 8 });
    expect(fs.lstatSync(path.join(root, 'x'))).toMatchObject({ uid: 100000, gid: 0 });
  });

  test('security.capability v3 rootid follows the uid mapping', () => {
    const v3 = Buffer.alloc(24);
    v3.writeUInt32LE(0x03000001, 0); // VFS_CAP_REVISION_3 | effective
    v3.writeUInt32LE(1 << 10, 4); // cap_net_bind_service permitted
    v3.writeUInt32LE(0, 20); // rootid 0
    applyLayers(root, [[{ name: 'f', data: 'x', xattrs: { 'security.capability': v3 } }]], {
      uidMap: [{ containerID: 0, hostID: 100000, size: 65536 }],
      gidMap: [{ containerID: 0, hostID: 100000, size: 65536 }],
    });
    const got = Buffer.from(dumpTree(root).f.xattrs['security.capability'], 'hex');
    expect(got.readUInt32LE(20)).toBe(100000);
    expect(got.readUInt32LE(4)).toBe(1 << 10);
  });

  test('invalid whiteouts are errors', () => {
    for (const n of ['.wh.', '.wh..', 'd/.wh..']) {
      expect(() => applyLayers(root, [[{ name: n }]])).toThrow(/invalid whiteout/);
    }
    expect(() => applyLayers(root, [[{ name: '.wh.x/y', data: 'y' }]])).toThrow(/whiteout name used as a directory/);
  });

  test('a non-directory root entry is an error', () => {
    expect(() => applyLayers(root, [[{ name: './', type: 'symlink', linkname: '/' }]])).toThrow(/root of a layer must be a directory/);
    expect(() => applyLayers(root, [[{ name: '.', data: 'x' }]])).toThrow(/root of a layer must be a directory/);
  });
});

// The same rules seen through the recording fake: what the applier asks the kernel for.
describe('applier syscalls (FakeSys)', () => {
  function run(entries: Parameters<typeof tarBuffer>[0], setup?: (f: FakeSys) => void): FakeSys {
    const f = new FakeSys();
    let fd = 10;
    f.respond('fstatat', () => ({ mode: 0o40755, uid: 0, gid: 0, size: 0, nlink: 1, ino: 1n, dev: 1n, rdev: 0n, mtimeNs: 0n }));
    f.respond('openat2', () => ++fd);
    f.respond('openat', () => ++fd);
    setup?.(f);
    const a = new Applier(f.sys, 3, '/root', { warn: () => {}, io: { write: (_fd, _b, _o, len) => len, close: () => {} } });
    a.beginLayer('l');
    const p = new TarParser(a);
    p.push(tarBuffer(entries));
    p.finish();
    a.endLayer();
    a.close();
    return f;
  }

  test('parents are opened with openat2(RESOLVE_IN_ROOT) from the root fd, O_PATH', () => {
    const f = run([{ name: 'a/b/c', type: 'symlink', linkname: '/etc' }]);
    const calls = f.named('openat2');
    expect(calls.length).toBeGreaterThan(0);
    for (const [dirfd, , flags, , resolve] of calls as number[][]) {
      expect(dirfd).toBe(3);
      expect(resolve & RESOLVE_IN_ROOT).toBeTruthy();
      expect(flags & O_PATH).toBeTruthy();
    }
  });

  test('symlink ownership and times never follow the link', () => {
    const f = run([{ name: 's', type: 'symlink', linkname: '/etc/passwd', uid: 7, gid: 7 }]);
    expect(f.named('symlinkat')[0]).toEqual(['/etc/passwd', 3, 's']);
    const [, name, uid, , flags] = f.named('fchownat')[0] as [number, string, number, number, number];
    expect([name, uid, flags & AT_SYMLINK_NOFOLLOW]).toEqual(['s', 7, AT_SYMLINK_NOFOLLOW]);
    expect((f.named('utimensat')[0] as number[])[4] & AT_SYMLINK_NOFOLLOW).toBeTruthy();
  });

  test('files are created with O_CREAT|O_EXCL|O_NOFOLLOW on the parent fd; EEXIST unlinks first', () => {
    let n = 0;
    const f = run([{ name: 'f', data: 'x' }], (fk) => {
      fk.respond('openat', (_d: number, name: string, flags: number) => {
        if (name === 'f' && n++ === 0) {
          const { SysError } = require('@tsrt/libc');
          throw new SysError('openat', name, 17);
        }
        void flags;
        return 42;
      });
      fk.respond('fstatat', () => ({ mode: 0o100644, uid: 0, gid: 0, size: 0, nlink: 1, ino: 1n, dev: 1n, rdev: 0n, mtimeNs: 0n }));
    });
    const opens = f.named('openat') as number[][];
    expect(opens[0][2] & 0o200).toBeTruthy(); // O_EXCL
    expect(opens[0][2] & 0o400000).toBeTruthy(); // O_NOFOLLOW
    expect(f.named('unlinkat')[0]).toEqual([3, 'f', 0]);
  });
});
