// The bundle's dirs are opened once, beneath the bundle's fd and through no symlink: the mount gets those fds.
import { FakeSys, O_PATH, O_RDONLY, O_DIRECTORY, O_NOFOLLOW, O_CLOEXEC, RESOLVE_BENEATH, RESOLVE_NO_SYMLINKS, RESOLVE_NO_MAGICLINKS } from '@tsrt/libc';
import { makeBundleDirs } from '../../src/overlay/bundle-dirs';
import { openBundleDirs } from '../../src/overlay/meta-paths';
import type { OverlayMeta } from '../../src/bundle/overlay-meta';

const RESOLVE = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
const S_IFDIR = 0o040000;

/** A fake whose opens return fresh numbers from 500 on, openat2 refusing `refuse` with ELOOP. */
function fake(owner = process.geteuid!(), refuse = ''): FakeSys {
  let next = 500;
  return new FakeSys()
    .respond('open', () => next++)
    .respond('openat2', () => next++)
    .respond('fstatat', () => ({ uid: owner, mode: S_IFDIR | 0o700 }))
    .fail('openat2', 'ELOOP', (_fd, rel) => rel === refuse);
}

describe('a new bundle\'s dirs', () => {
  test('made with mkdirat in the temp dir\'s fd, each opened beneath it with no symlink; paths are the bundle\'s', () => {
    const f = fake();
    const d = makeBundleDirs(f.sys, '/p/.b.ts-img-1-ab', '/p/b');
    expect(f.named('open')).toEqual([['/p/.b.ts-img-1-ab', O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC]]);
    expect(f.named('mkdirat').map((a) => [a[0], a[1]])).toEqual([[500, 'overlay'], [500, 'overlay/upper'], [500, 'overlay/work'], [500, 'rootfs']]);
    expect(f.named('openat2')).toEqual([
      [500, 'overlay/upper', O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0, RESOLVE],
      [500, 'overlay/work', O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0, RESOLVE],
      [500, 'rootfs', O_PATH | O_DIRECTORY | O_CLOEXEC, 0, RESOLVE],
    ]);
    expect(d).toEqual({ bundle: 500, upper: { fd: 501, path: '/p/b/overlay/upper' }, work: { fd: 502, path: '/p/b/overlay/work' }, rootfs: { fd: 503, path: '/p/b/rootfs' } });
  });

  test('a temp dir not ours (replaced meanwhile) is refused, nothing made in it, its fd closed', () => {
    const f = fake(12345);
    expect(() => makeBundleDirs(f.sys, '/p/.b.ts-img-1-ab', '/p/b')).toThrow(/^bundle \/p\/b: its temp dir \/p\/\.b\.ts-img-1-ab was replaced while unpacking \(refused\)$/);
    expect(f.named('mkdirat')).toEqual([]);
    expect(f.named('close')).toEqual([[500]]);
  });

  test('a symlink where a dir was made: refused, every fd opened so far closed', () => {
    const f = fake(undefined, 'overlay/work');
    expect(() => makeBundleDirs(f.sys, '/p/t', '/p/b')).toThrow('bundle /p/b: overlay/work: a symlink on the way (refused)');
    expect(f.named('close').map((a) => a[0]).sort()).toEqual([500, 501]);
  });
});

describe('an existing bundle\'s dirs (ts-img mount)', () => {
  const meta: OverlayMeta = { version: 1, store: '/s', layers: [`sha256:${'a'.repeat(64)}`], lowerdirs: ['/s/x'], upper: '/b/overlay/upper', work: '/b/overlay/work' };

  test('rootfs, upper and work opened beneath the bundle\'s fd: the fds are what the mount gets', () => {
    const f = fake();
    const d = openBundleDirs(f.sys, 'b', '/b', meta, '/b/ts-img-overlay.json');
    expect(f.named('openat2').map((a) => [a[0], a[1], a[4]])).toEqual([[500, 'rootfs', RESOLVE], [500, 'overlay/upper', RESOLVE], [500, 'overlay/work', RESOLVE]]);
    expect(d).toEqual({ rootfs: { fd: 501, path: '/b/rootfs' }, upper: { fd: 502, path: '/b/overlay/upper' }, work: { fd: 503, path: '/b/overlay/work' } });
    expect(f.named('close')).toEqual([[500]]); // the bundle's own fd only
  });

  test('a symlink on the way to upper: one line naming the file and the field; the fds opened closed', () => {
    const f = fake(undefined, 'overlay/upper');
    expect(() => openBundleDirs(f.sys, 'b', '/b', meta, '/b/ts-img-overlay.json')).toThrow('/b/ts-img-overlay.json: upper /b/overlay/upper: a symlink on the way (refused)');
    expect(f.named('close').map((a) => a[0]).sort()).toEqual([500, 501]);
  });
});
