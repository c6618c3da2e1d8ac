import { withThreadInCgroups } from '../../../src/cgroups/thread-cgroupns';
import type { CgroupDescription } from '../../../src/cgroups/types';

const hierarchies = {
  mode: 'hybrid' as const,
  unified: { mountPoint: '/sys/fs/cgroup/unified', root: '/' },
  v1: { memory: { mountPoint: '/sys/fs/cgroup/memory', root: '/' }, cpu: { mountPoint: '/sys/fs/cgroup/cpu,cpuacct', root: '/' }, cpuacct: { mountPoint: '/sys/fs/cgroup/cpu,cpuacct', root: '/' } },
};
const desc: CgroupDescription = {
  driver: 'v1', mode: 'hybrid', path: '/c1', created: [],
  paths: { memory: '/sys/fs/cgroup/memory/c1', cpu: '/sys/fs/cgroup/cpu,cpuacct/c1', cpuacct: '/sys/fs/cgroup/cpu,cpuacct/c1', '': '/sys/fs/cgroup/unified/c1' },
};
const own = { memory: '/user.slice', cpu: '/user.slice', cpuacct: '/user.slice', '': '/user.slice/session-1.scope' };

describe('the container thread alone in the container\'s cgroups while it makes its cgroup namespace', () => {
  test('v1: its tid in tasks (once per directory); the v2 dir through cgroup.procs; all back after', async () => {
    const writes: string[] = [];
    const fs = { write: (f: string, v: string) => void writes.push(`${f}=${v}`), read: () => '', list: () => [], mkdir: () => undefined, rmdir: () => undefined, exists: () => true } as any;
    let during: string[] = [];
    await withThreadInCgroups(desc, 77, async () => void (during = [...writes]), { fs, hierarchies, own });
    expect(during).toEqual([
      '/sys/fs/cgroup/memory/c1/tasks=77',
      '/sys/fs/cgroup/cpu,cpuacct/c1/tasks=77',
      '/sys/fs/cgroup/unified/c1/cgroup.procs=77',
    ]);
    expect(writes.slice(3)).toEqual([
      '/sys/fs/cgroup/memory/user.slice/tasks=77',
      '/sys/fs/cgroup/cpu,cpuacct/user.slice/tasks=77',
      '/sys/fs/cgroup/unified/user.slice/session-1.scope/cgroup.procs=77',
    ]);
  });

  test('a failed move puts back what moved and runs nothing', async () => {
    const writes: string[] = [];
    const fs = { write: (f: string, v: string) => { if (f.includes('cpu,cpuacct/c1')) throw new Error('ENOSPC'); writes.push(`${f}=${v}`); } } as any;
    let ran = false;
    await expect(withThreadInCgroups(desc, 77, async () => void (ran = true), { fs, hierarchies, own })).rejects.toThrow('failed to join cgroup /sys/fs/cgroup/cpu,cpuacct/c1 with thread 77');
    expect(ran).toBe(false);
    expect(writes).toEqual(['/sys/fs/cgroup/memory/c1/tasks=77', '/sys/fs/cgroup/memory/user.slice/tasks=77']);
  });

  test('no cgroups of its own (rootless): the step just runs', async () => {
    let ran = false;
    await withThreadInCgroups(undefined, 77, async () => void (ran = true));
    expect(ran).toBe(true);
  });
});
