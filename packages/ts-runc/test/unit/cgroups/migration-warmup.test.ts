import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { warmUpMigration, writeOnPool, preservedFds } from '../../../src/cgroups/migration-warmup';
import type { Hierarchies } from '../../../src/cgroups/paths';

const hybrid: Hierarchies = {
  mode: 'hybrid',
  unified: { mountPoint: '/sys/fs/cgroup/unified', root: '/' },
  v1: { cpu: { mountPoint: '/sys/fs/cgroup/cpu,cpuacct', root: '/' }, memory: { mountPoint: '/sys/fs/cgroup/memory', root: '/' } },
};
const own = { cpu: '/user.slice', memory: '/user.slice/m', '': '/user.slice/session-1.scope' };

function warm(hierarchies: Hierarchies, mine: Record<string, string>): string[] {
  const writes: string[] = [];
  warmUpMigration({ write: (f, t) => void writes.push(`${f}=${t}`), hierarchies, own: mine, pid: 4242 });
  return writes;
}

describe('the cgroup migration warm-up moves this process only into the cgroup it is in', () => {
  test('v1 or hybrid: our pid into our own cgroup of the first v1 hierarchy', () => {
    expect(warm(hybrid, own)).toEqual(['/sys/fs/cgroup/cpu,cpuacct/user.slice/cgroup.procs=4242']);
  });

  test('v2: our own cgroup of the unified hierarchy', () => {
    expect(warm({ mode: 'v2', unified: { mountPoint: '/sys/fs/cgroup', root: '/' }, v1: {} }, { '': '/system.slice/x.service' })).toEqual([
      '/sys/fs/cgroup/system.slice/x.service/cgroup.procs=4242',
    ]);
  });

  test('a mount of a sub-tree that holds our cgroup: the path below its root', () => {
    const h: Hierarchies = { mode: 'v1', v1: { pids: { mountPoint: '/sys/fs/cgroup/pids', root: '/docker/abc' } } };
    expect(warm(h, { pids: '/docker/abc/inner' })).toEqual(['/sys/fs/cgroup/pids/inner/cgroup.procs=4242']);
    expect(warm(h, { pids: '/docker/abc' })).toEqual(['/sys/fs/cgroup/pids/cgroup.procs=4242']);
  });

  test('a mount that does not show our cgroup, or no line for its hierarchy: nothing written', () => {
    const h: Hierarchies = { mode: 'v1', v1: { pids: { mountPoint: '/sys/fs/cgroup/pids', root: '/docker/abc' } } };
    expect(warm(h, { pids: '/docker/abcd' })).toEqual([]);
    expect(warm(h, { pids: '/' })).toEqual([]);
    expect(warm(h, { memory: '/docker/abc' })).toEqual([]);
  });

  test('no cgroup filesystem, or a failing write: no write, no error', () => {
    expect(warm({ mode: 'v1', v1: {} }, own)).toEqual([]);
    expect(() => warmUpMigration({ write: () => { throw new Error('EACCES'); }, hierarchies: hybrid, own, pid: 1 })).not.toThrow();
  });
});

describe('the warm-up\'s fd never goes to a container', () => {
  test('--preserve-fds N in every form runc takes; unreadable: no fd is low enough', () => {
    expect(preservedFds(['run', '-b', 'b', 'id'])).toBe(0);
    expect(preservedFds(['--root', 'r', 'run', '--preserve-fds', '5', 'id'])).toBe(5);
    expect(preservedFds(['exec', '--preserve-fds=2', 'id', 'true'])).toBe(2);
    expect(preservedFds(['create', '-preserve-fds', '7', 'id'])).toBe(7);
    expect(preservedFds(['run', '--preserve-fds', 'x', 'id'])).toBe(Infinity);
    expect(preservedFds(['run', '--preserve-fds'])).toBe(Infinity);
    // Given twice, the largest: the CLI keeps the last, and a first 0 must not hide a later 5.
    expect(preservedFds(['run', '--preserve-fds', '0', '--preserve-fds=5', 'id'])).toBe(5);
    expect(preservedFds(['run', '--preserve-fds', '6', '--preserve-fds', '2', 'id'])).toBe(6);
  });

  test('an fd that --preserve-fds would pass on (a gap the caller left) is closed unwritten', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warmup-'));
    try {
      const low = path.join(dir, 'low');
      writeOnPool(low, '4242', 1 << 20);
      const written = path.join(dir, 'written');
      writeOnPool(written, '4242', 3);
      // the low one was closed at once; the other once its write is done (its callback)
      const openOnDir = () => fs.readdirSync('/proc/self/fd').map((fd) => { try { return fs.readlinkSync(`/proc/self/fd/${fd}`); } catch { return ''; } }).filter((t) => t.startsWith(dir));
      expect(openOnDir()).not.toContain(low);
      for (let i = 0; i < 400 && openOnDir().length; i++) await new Promise((r) => setTimeout(r, 5));
      expect(openOnDir()).toEqual([]);
      expect(fs.readFileSync(written, 'utf8')).toBe('4242');
      expect(fs.readFileSync(low, 'utf8')).toBe('');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
