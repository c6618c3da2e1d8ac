import { joinEarly, effectiveMemoryLimit } from '../../../src/cgroups/join-timing';
import type { CgroupDescription } from '../../../src/cgroups/types';

describe('when a Node helper joins the container cgroups', () => {
  test('no resources, or only unlimiting ones: early (the join overlaps its start-up)', () => {
    expect(joinEarly(undefined)).toBe(true);
    expect(joinEarly({})).toBe(true);
    expect(joinEarly({ memory: { limit: -1, swap: -1 }, pids: { limit: 0 }, cpu: { shares: 512, quota: -1, period: 100000 } })).toBe(true);
    expect(joinEarly({ pids: { limit: 2048 }, blockIO: { weight: 100 }, devices: [{ allow: false, access: 'rwm' }] })).toBe(true);
    expect(joinEarly({ unified: { 'io.weight': '100' } })).toBe(true);
  });
  test('any memory, small pids or CPU limit: late, so Node start-up is not charged or throttled', () => {
    expect(joinEarly({ memory: { limit: 262144 } })).toBe(false);
    expect(joinEarly({ memory: { reservation: 1 << 20 } })).toBe(false);
    expect(joinEarly({ memory: { swap: 1 << 20 } })).toBe(false);
    expect(joinEarly({ pids: { limit: 5 } })).toBe(false);
    expect(joinEarly({ cpu: { quota: 10000, period: 100000 } })).toBe(false);
    expect(joinEarly({ cpu: { cpus: '0' } })).toBe(false);
    expect(joinEarly({ cpu: { idle: 1 } })).toBe(false);
    expect(joinEarly({ unified: { 'memory.max': '1M' } })).toBe(false);
    expect(joinEarly({ unified: { 'pids.max': '3' } })).toBe(false);
  });
  test('a running container (exec) with any pids limit: late, it may be near the limit', () => {
    expect(joinEarly({ pids: { limit: 2048 } }, undefined, 'running')).toBe(false);
    expect(joinEarly({ pids: { limit: 0 } }, undefined, 'running')).toBe(true);
    expect(joinEarly({}, undefined, 'running')).toBe(true);
  });
  test('execCPUAffinity: late (stage 2 sets the initial affinity right before it joins)', () => {
    expect(joinEarly({}, { initial: '0' })).toBe(false);
  });
});

describe('the memory limit a helper would run under', () => {
  const files = (m: Record<string, string>) => (f: string) => {
    if (!(f in m)) throw Object.assign(new Error('ENOENT ' + f), { code: 'ENOENT' });
    return m[f];
  };
  const v1: CgroupDescription = { driver: 'v1', mode: 'hybrid', path: '/pod/c', paths: { memory: '/sys/fs/cgroup/memory/pod/c' }, created: [] };
  const v2: CgroupDescription = { driver: 'v2', mode: 'v2', path: '/pod/c', paths: { '': '/sys/fs/cgroup/pod/c' }, created: [], root: '/sys/fs/cgroup' };
  test('v1: hierarchical_memory_limit, which includes the parents; "unlimited" is Infinity', () => {
    expect(effectiveMemoryLimit(v1, files({ '/sys/fs/cgroup/memory/pod/c/memory.stat': 'cache 0\nhierarchical_memory_limit 8388608\nrss 0\n' }))).toBe(8388608);
    expect(effectiveMemoryLimit(v1, files({ '/sys/fs/cgroup/memory/pod/c/memory.stat': 'hierarchical_memory_limit 9223372036854771712\n' }))).toBe(Infinity);
  });
  test('v2: the smallest memory.max on the way up; levels without the controller are skipped', () => {
    expect(effectiveMemoryLimit(v2, files({ '/sys/fs/cgroup/pod/c/memory.max': 'max\n', '/sys/fs/cgroup/pod/memory.max': '16777216\n' }))).toBe(16777216);
    expect(effectiveMemoryLimit(v2, files({ '/sys/fs/cgroup/pod/c/memory.max': 'max\n' }))).toBe(Infinity);
  });
  test('unreadable: 0, so the helper joins late', () => {
    expect(effectiveMemoryLimit(v1, files({}))).toBe(0);
  });
});
