import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { libc, FakeSys, SysError, errnoNumber, O_PATH, O_CLOEXEC, RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS, S_IFLNK, S_IFDIR } from '@tsrt/libc';
import { components, relative, ensureInRoot, openInRoot, openIfExists, parentInRoot, reopenMounted, FdNames, cwdProblem } from '../../src/paths/in-root';

// Real syscalls on a scratch root: what a path inside it resolves to, and what gets created.
describe('ensureInRoot / openInRoot on a real directory', () => {
  const sys = libc();
  let base: string;
  let root: string;
  let rootFd: number;
  const where = (fd: number): string => {
    try {
      return path.relative(root, fs.readlinkSync(`/proc/self/fd/${fd}`)) || '.';
    } finally {
      sys.close(fd);
    }
  };

  beforeAll(() => {
    base = fs.mkdtempSync(path.join(os.tmpdir(), 'in-root-'));
    root = path.join(base, 'root');
    fs.mkdirSync(path.join(root, 'etc'), { recursive: true });
    fs.writeFileSync(path.join(base, 'outside'), 'host');
    fs.symlinkSync('/etc', path.join(root, 'abs'));
    fs.symlinkSync('../../../../..', path.join(root, 'etc', 'up'));
    fs.symlinkSync('/../../outside-new', path.join(root, 'escape'));
    fs.symlinkSync(path.join(base, 'outside'), path.join(root, 'hostpath'));
    fs.symlinkSync('loop', path.join(root, 'loop'));
    fs.symlinkSync('/proc/self/fd/0', path.join(root, 'magic'));
    fs.writeFileSync(path.join(root, 'file'), '');
    rootFd = sys.open(root, O_PATH | O_CLOEXEC);
  });
  afterAll(() => {
    sys.close(rootFd);
    fs.rmSync(base, { recursive: true, force: true });
  });

  test.each([
    ['/etc', 'etc'],
    ['abs', 'etc'],
    ['/etc/up/etc', 'etc'],
    ['../../etc', 'etc'],
    ['/', '.'],
  ])('%s stays inside as %s', (p, expected) => {
    expect(where(openInRoot(sys, rootFd, p))).toBe(expected);
  });

  test('missing directories are made inside, through symlinks and ".."', () => {
    expect(where(ensureInRoot(sys, rootFd, '/new/dir/../sub', 'dir'))).toBe('new/sub');
    expect(fs.statSync(path.join(root, 'new/dir')).isDirectory()).toBe(true);
    expect(where(ensureInRoot(sys, rootFd, '/abs/made', 'dir'))).toBe('etc/made');
  });

  test('a dangling symlink is followed inside the root, never to the host path it names', () => {
    expect(where(ensureInRoot(sys, rootFd, '/escape/x', 'dir'))).toBe('outside-new/x');
    expect(fs.existsSync(path.join(base, 'outside-new'))).toBe(false);
    // An absolute host path in a symlink means that path under the root.
    expect(where(ensureInRoot(sys, rootFd, '/hostpath', 'file'))).toBe(path.join(base, 'outside').slice(1));
    expect(fs.readFileSync(path.join(base, 'outside'), 'utf8')).toBe('host');
  });

  test('a file is created for file mounts, and an existing one kept', () => {
    expect(where(ensureInRoot(sys, rootFd, '/etc/resolv.conf', 'file'))).toBe('etc/resolv.conf');
    expect(fs.statSync(path.join(root, 'etc/resolv.conf')).isFile()).toBe(true);
    expect(where(ensureInRoot(sys, rootFd, '/file', 'file'))).toBe('file');
  });

  test('/proc magic links are refused (ELOOP), symlinks to them stay plain paths in a root without /proc', () => {
    const host = sys.open('/', O_PATH | O_CLOEXEC);
    try {
      for (const p of ['/proc/self/fd/0', '/proc/self/root', '/proc/self/cwd/x', `/proc/self/task/${process.pid}/root`]) {
        expect(() => ensureInRoot(sys, host, p, 'dir')).toThrow(expect.objectContaining({ code: 'ELOOP' }));
      }
      // /proc/self itself is a plain symlink (to the pid): allowed.
      expect(fs.readlinkSync(`/proc/self/fd/${ensureInRoot(sys, host, '/proc/self/fdinfo', 'dir')}`)).toMatch(/^\/proc\/\d+\/fdinfo$/);
    } finally {
      sys.close(host);
    }
    expect(where(ensureInRoot(sys, rootFd, '/magic', 'dir'))).toBe('proc/self/fd/0');
  });

  test('loops are refused (ELOOP), a file in the middle is ENOTDIR', () => {
    expect(() => ensureInRoot(sys, rootFd, '/loop/x', 'dir')).toThrow(expect.objectContaining({ code: 'ELOOP' }));
    expect(() => ensureInRoot(sys, rootFd, '/file/x', 'dir')).toThrow(expect.objectContaining({ code: 'ENOTDIR' }));
  });

  test('openIfExists: -1 for a missing path', () => {
    expect(openIfExists(sys, rootFd, '/nope/nothing')).toBe(-1);
  });

  test('parentInRoot gives the parent and the last name, not following it', () => {
    const { dir, name } = parentInRoot(sys, rootFd, '/etc/up');
    expect(name).toBe('up');
    expect((sys.fstatat(dir, name, 0x100).mode & 0o170000) === S_IFLNK).toBe(true);
    expect(where(dir)).toBe('etc');
    expect(() => parentInRoot(sys, rootFd, '/')).toThrow('not a name of a file');
  });

  test('FdNames names an fd for path-only calls and restores the cwd', () => {
    const names = new FdNames(sys);
    const cwd = process.cwd();
    const fd = openInRoot(sys, rootFd, '/etc');
    try {
      expect(names.run((n) => fs.readdirSync(n(fd))).sort()).toEqual(fs.readdirSync(path.join(root, 'etc')).sort());
      expect(process.cwd()).toBe(cwd);
    } finally {
      sys.close(fd);
      names.close();
    }
  });
});

describe('pure logic (FakeSys)', () => {
  const err = (code: string) => new SysError('openat2', 'x', errnoNumber(code));

  test('components and relative', () => {
    expect(components('//a/./b/../c/')).toEqual(['a', 'b', '..', 'c']);
    expect(relative('/')).toBe('.');
    expect(relative('/a/b')).toBe('a/b');
  });

  test('ensureInRoot resolves with RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS and creates relative to the parent fd', () => {
    const f = new FakeSys();
    const made = new Set<string>(['', 'a']);
    let next = 10;
    const opened: number[] = [];
    f.respond('openat2', (_d: number, p: string) => {
      if (!made.has(p === '.' ? '' : p)) throw err('ENOENT');
      opened.push(next);
      return next++;
    });
    f.respond('fstatat', () => {
      throw err('ENOENT');
    });
    f.respond('mkdirat', (dirfd: number, name: string) => made.add(dirfd === 10 ? `a/${name}` : `a/b/${name}`));
    const fd = ensureInRoot(f.sys, 3, '/a/b/c', 'dir');
    expect(fd).toBeGreaterThan(10);
    for (const [dirfd, , , , resolve] of f.named('openat2')) {
      expect(dirfd).toBe(3);
      expect(resolve).toBe(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
    }
    expect(f.named('mkdirat').map((a) => a[1])).toEqual(['b', 'c']);
    // Every fd opened on the way but the result is closed.
    expect(f.named('close')).toEqual(opened.slice(0, -1).map((x) => [x]));
  });

  test('reopenMounted refuses a name that no longer leads to a new mount', () => {
    const f = new FakeSys();
    f.respond('openat2', () => 7);
    f.respond('statxFd', (fd: number) => ({ mode: S_IFDIR, mountId: 5n, mountRoot: fd === 7 }));
    expect(() => reopenMounted(f.sys, 3, '/data/x', 4)).toThrow('/data/x changed while it was being mounted on');
    expect(f.named('close')).toEqual([[7]]);
    const g = new FakeSys();
    g.respond('openat2', () => 7);
    g.respond('statxFd', (fd: number) => ({ mode: S_IFDIR, mountId: fd === 7 ? 6n : 5n, mountRoot: fd === 7 }));
    expect(reopenMounted(g.sys, 3, '/data/x', 4)).toBe(7);
  });

  test('FdNames refuses a /proc that is not procfs', () => {
    const f = new FakeSys();
    f.respond('open', () => 9);
    f.respond('fstatfs', () => ({ type: 0x01021994, flags: 0 }));
    expect(() => new FdNames(f.sys)).toThrow('/proc is not a procfs');
    expect(f.named('close')).toEqual([[9]]);
  });

  test('FdNames.mount passes fd names and restores the cwd', () => {
    const f = new FakeSys();
    let fds = 20;
    f.respond('open', () => fds++);
    f.respond('fstatfs', () => ({ type: 0x9fa0, flags: 0 }));
    const names = new FdNames(f.sys);
    names.mount(5, 6, null, 0x1000, null);
    expect(f.named('mount')).toEqual([['5', '6', null, 0x1000, null]]);
    expect(f.named('fchdir')).toEqual([[20], [21]]);
  });

  test('cwdProblem explains ELOOP', () => {
    expect(cwdProblem(err('ELOOP'))).toMatch(/^ELOOP \(a magic link/);
    expect(cwdProblem(err('ENOENT'))).toBe('ENOENT');
  });
});
