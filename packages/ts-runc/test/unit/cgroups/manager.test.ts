import * as fs from 'fs';
import * as path from 'path';
import { FakeSys } from '@tsrt/libc';
import { MemoryCgroupFs } from '../../../src/cgroups/fs';
import { openCgroupManager, V1Manager, V2Manager } from '../../../src/cgroups/manager';
import { statsToJson, statsV1, statsV2, parseList, hugePageSizes } from '../../../src/cgroups/stats';
import { containerResources } from '../../../src/cgroups';
import type { CgroupDescription } from '../../../src/cgroups/types';

const noSleep = () => undefined;

function v1Tree(): { fs: MemoryCgroupFs; desc: CgroupDescription } {
  const mfs = new MemoryCgroupFs();
  const base: Record<string, string> = {};
  for (const c of ['cpu', 'cpuset', 'memory', 'pids', 'freezer', 'devices']) base[`/cg/${c}/cgroup.procs`] = '';
  base['/cg/cpuset/cpuset.cpus'] = '0-1\n';
  base['/cg/cpuset/cpuset.mems'] = '0\n';
  mfs.seed(base);
  mfs.template = {
    'cgroup.procs': '',
    'cpuset.cpus': '',
    'cpuset.mems': '',
    'memory.limit_in_bytes': '9223372036854771712\n',
    'memory.usage_in_bytes': '4096\n',
    'memory.max_usage_in_bytes': '8192\n',
    'memory.memsw.limit_in_bytes': '9223372036854771712\n',
    'pids.max': 'max\n',
    'freezer.state': 'THAWED\n',
    'cpu.shares': '1024\n',
    'devices.allow': '',
    'devices.deny': '',
  };
  const paths: Record<string, string> = {};
  for (const c of ['cpu', 'cpuset', 'memory', 'pids', 'freezer', 'devices']) paths[c] = `/cg/${c}/a/b`;
  paths[''] = '/cg/unified/a/b';
  mfs.seed({ '/cg/unified/cgroup.procs': '' });
  return { fs: mfs, desc: { driver: 'v1', mode: 'hybrid', path: '/a/b', paths, created: [] } };
}

describe('v1 driver (in-memory tree)', () => {
  test('create records what it made, seeds cpuset, join writes every hierarchy', () => {
    const { fs: mfs, desc } = v1Tree();
    const m = openCgroupManager(desc, { fs: mfs, sleep: noSleep });
    expect(m).toBeInstanceOf(V1Manager);
    m.create();
    expect(desc.created).toContain('/cg/memory/a');
    expect(desc.created).toContain('/cg/memory/a/b');
    expect(desc.created).toContain('/cg/unified/a/b');
    expect(mfs.files.get('/cg/cpuset/a/cpuset.cpus')).toBe('0-1');
    expect(mfs.files.get('/cg/cpuset/a/b/cpuset.mems')).toBe('0');
    m.join(1234);
    expect(mfs.writes.filter((w) => w.file.endsWith('cgroup.procs')).map((w) => w.file)).toEqual([
      '/cg/cpu/a/b/cgroup.procs',
      '/cg/cpuset/a/b/cgroup.procs',
      '/cg/memory/a/b/cgroup.procs',
      '/cg/pids/a/b/cgroup.procs',
      '/cg/freezer/a/b/cgroup.procs',
      '/cg/devices/a/b/cgroup.procs',
      '/cg/unified/a/b/cgroup.procs',
    ]);
  });

  test('set writes the translated values; a pre-existing dir is never removed', () => {
    const { fs: mfs, desc } = v1Tree();
    mfs.seed({ '/cg/memory/a/keep': '' }); // /cg/memory/a existed before us
    const m = openCgroupManager(desc, { fs: mfs, sleep: noSleep });
    m.create();
    const warnings = m.set(containerResources({ linux: { resources: { memory: { limit: 1 << 20, kernel: 1 }, pids: { limit: 10 }, devices: [{ allow: false, access: 'rwm' }] } } }));
    expect(warnings).toEqual(['Kernel memory settings are ignored and will be removed']);
    expect(mfs.files.get('/cg/memory/a/b/memory.limit_in_bytes')).toBe('1048576');
    expect(mfs.files.get('/cg/pids/a/b/pids.max')).toBe('10');
    expect(mfs.writes.filter((w) => w.file.includes('devices.')).map((w) => w.value)[0]).toBe('a');
    m.destroy();
    expect(mfs.exists('/cg/memory/a/b')).toBe(false);
    expect(mfs.exists('/cg/memory/a')).toBe(true);
    expect(mfs.exists('/cg/pids/a')).toBe(false);
  });

  test('memory limit below usage: runc\'s message', () => {
    const { fs: mfs, desc } = v1Tree();
    const m = openCgroupManager(desc, { fs: mfs, sleep: noSleep });
    m.create();
    mfs.failWrite = (f) => (f.endsWith('memory.limit_in_bytes') ? 'EBUSY' : undefined);
    expect(() => m.set({ memory: { limit: 1024 } })).toThrow('unable to set memory limit to 1024 (current usage: 4096, peak usage: 8192)');
  });

  test('cpu.shares clamped by the kernel is reported', () => {
    const { fs: mfs, desc } = v1Tree();
    const m = openCgroupManager(desc, { fs: mfs, sleep: noSleep });
    m.create();
    const orig = mfs.write.bind(mfs);
    mfs.write = (f, v) => orig(f, f.endsWith('cpu.shares') ? '262144' : v);
    expect(() => m.set({ cpu: { shares: 999999 } })).toThrow('the maximum allowed cpu-shares is 262144');
  });

  test('freeze/thaw through freezer.state; pids of the whole subtree; destroy removes child cgroups', () => {
    const { fs: mfs, desc } = v1Tree();
    const m = openCgroupManager(desc, { fs: mfs, sleep: noSleep });
    m.create();
    m.freeze();
    expect(m.freezerState()).toBe('FROZEN');
    m.thaw();
    expect(m.freezerState()).toBe('THAWED');
    mfs.files.set('/cg/pids/a/b/cgroup.procs', '10\n11\n');
    mfs.mkdirp('/cg/pids/a/b/sub');
    mfs.files.set('/cg/pids/a/b/sub/cgroup.procs', '12\n');
    expect(m.pids()).toEqual([10, 11, 12]);
    // As in the kernel, a cgroup with tasks stays: removeIfEmpty stops there, and says so.
    expect(m.removeIfEmpty()).toBe(false);
    expect(mfs.exists('/cg/pids/a/b/sub')).toBe(true);
    mfs.files.set('/cg/pids/a/b/sub/cgroup.procs', '');
    mfs.files.set('/cg/pids/a/b/cgroup.procs', '');
    m.destroy();
    expect(m.exists()).toBe(false);
  });

  test('removeIfEmpty: child cgroups go first, then the container\'s own', () => {
    const { fs: mfs, desc } = v1Tree();
    const m = openCgroupManager(desc, { fs: mfs, sleep: noSleep });
    m.create();
    mfs.mkdirp('/cg/pids/a/b/sub/deeper');
    expect(m.removeIfEmpty()).toBe(true);
    expect(m.exists()).toBe(false);
    expect(m.removeIfEmpty()).toBe(true); // gone already
  });

  test('pids reads every hierarchy: a process moved into only some of them is found (a create killed mid-join)', () => {
    const { fs: mfs, desc } = v1Tree();
    const m = openCgroupManager(desc, { fs: mfs, sleep: noSleep });
    m.create();
    const other = Object.entries(desc.paths).find(([c]) => c !== 'pids')![1];
    mfs.files.set(`${other}/cgroup.procs`, '42\n');
    expect(m.pids()).toEqual([42]);
  });

  test('killAll freezes, signals each pid, thaws', () => {
    const { fs: mfs, desc } = v1Tree();
    const fake = new FakeSys();
    const m = openCgroupManager(desc, { fs: mfs, sys: fake.sys, sleep: noSleep });
    m.create();
    mfs.files.set('/cg/pids/a/b/cgroup.procs', '10\n11\n');
    m.killAll(15);
    expect(fake.named('kill')).toEqual([
      [10, 15],
      [11, 15],
    ]);
    expect(mfs.writes.filter((w) => w.file.endsWith('freezer.state')).map((w) => w.value)).toEqual(['FROZEN', 'THAWED']);
  });

  test('no freezer: pause is a clear error', () => {
    const { fs: mfs, desc } = v1Tree();
    delete desc.paths.freezer;
    const m = openCgroupManager(desc, { fs: mfs, sleep: noSleep });
    expect(m.freezerState()).toBe('UNSUPPORTED');
    expect(() => m.freeze()).toThrow('the freezer cgroup controller is not mounted: cannot pause or resume');
  });
});

describe('v2 driver (in-memory tree)', () => {
  function v2Tree() {
    const mfs = new MemoryCgroupFs().seed({
      '/u/cgroup.controllers': 'cpu memory pids hugetlb\n',
      '/u/cgroup.subtree_control': '',
      '/u/cgroup.procs': '',
    });
    mfs.template = {
      'cgroup.controllers': 'cpu memory pids hugetlb\n',
      'cgroup.subtree_control': '',
      'cgroup.procs': '',
      'cgroup.freeze': '0\n',
      'cgroup.events': 'populated 0\nfrozen 0\n',
      'cgroup.kill': '',
      'pids.max': 'max\n',
      'memory.max': 'max\n',
      'memory.swap.max': 'max\n',
      'cpu.max': 'max 100000\n',
      'cpu.weight': '100\n',
    };
    const desc: CgroupDescription = { driver: 'v2', mode: 'v2', path: '/p/c', paths: { '': '/u/p/c' }, created: [], root: '/u' };
    return { mfs, desc };
  }

  test('create enables controllers down the path; set writes; devices go through bpf', () => {
    const { mfs, desc } = v2Tree();
    const fake = new FakeSys().respond('bpf', () => 5).respond('open', () => 6);
    const m = openCgroupManager(desc, { fs: mfs, sys: fake.sys, sleep: noSleep });
    expect(m).toBeInstanceOf(V2Manager);
    m.create();
    expect(desc.created).toEqual(['/u/p', '/u/p/c']);
    expect(mfs.writes.map((w) => `${w.file}=${w.value}`)).toEqual(['/u/cgroup.subtree_control=+cpu +memory +pids +hugetlb', '/u/p/cgroup.subtree_control=+cpu +memory +pids +hugetlb']);
    m.set(containerResources({ linux: { resources: { memory: { limit: 1 << 20 }, cpu: { shares: 2048, quota: 20000 }, pids: { limit: 7 } } } }));
    expect(mfs.files.get('/u/p/c/memory.max')).toBe('1048576');
    expect(mfs.files.get('/u/p/c/memory.swap.max')).toBeDefined();
    expect(mfs.files.get('/u/p/c/cpu.weight')).toBe('79');
    expect(mfs.files.get('/u/p/c/cpu.max')).toBe('20000 100000');
    expect(mfs.files.get('/u/p/c/pids.max')).toBe('7');
    expect(fake.named('bpf').length).toBeGreaterThan(0);
    expect(fake.named('open')[0][0]).toBe('/u/p/c');
  });

  test('freeze waits for cgroup.events; killAll(SIGKILL) uses cgroup.kill', () => {
    const { mfs, desc } = v2Tree();
    const m = openCgroupManager(desc, { fs: mfs, sleep: noSleep });
    m.create();
    const orig = mfs.write.bind(mfs);
    mfs.write = (f, v) => {
      orig(f, v);
      if (f.endsWith('cgroup.freeze')) mfs.files.set(path.join(path.dirname(f), 'cgroup.events'), `populated 1\nfrozen ${v}\n`);
    };
    m.freeze();
    expect(m.freezerState()).toBe('FROZEN');
    m.thaw();
    expect(m.freezerState()).toBe('THAWED');
    m.killAll(9);
    expect(mfs.files.get('/u/p/c/cgroup.kill')).toBe('1');
  });

  test('a missing controller is an error naming what is available', () => {
    const { mfs, desc } = v2Tree();
    mfs.template['cgroup.controllers'] = 'hugetlb\n';
    const m = openCgroupManager(desc, { fs: mfs, sleep: noSleep });
    m.create();
    expect(() => m.set({ pids: { limit: 3 } })).toThrow('cannot set pids limit: the pids controller is not available in this cgroup v2 hierarchy (available: hugetlb)');
  });
});

describe('stats', () => {
  test('v1 stats have runc\'s shape (compared with runc 1.1.5 events --stats on this machine)', () => {
    const mfs = new MemoryCgroupFs().seed({
      '/s/cpuacct/cpuacct.usage': '12057891\n',
      '/s/cpuacct/cpuacct.usage_percpu': '343984 11713907 \n',
      '/s/cpuacct/cpuacct.usage_all': 'cpu user system\n0 0 0\n1 4000000 4000000\n',
      '/s/cpuacct/cpuacct.stat': 'user 0\nsystem 0\n',
      '/s/cpu/cpu.stat': 'nr_periods 0\nnr_throttled 0\nthrottled_time 0\n',
      '/s/cpuset/cpuset.cpus': '0-1\n',
      '/s/cpuset/cpuset.mems': '0\n',
      '/s/cpuset/cpuset.sched_load_balance': '1\n',
      '/s/cpuset/cpuset.sched_relax_domain_level': '-1\n',
      '/s/memory/memory.stat': 'cache 0\nrss 53248\n',
      '/s/memory/memory.limit_in_bytes': '67108864\n',
      '/s/memory/memory.usage_in_bytes': '745472\n',
      '/s/memory/memory.max_usage_in_bytes': '2519040\n',
      '/s/memory/memory.failcnt': '0\n',
      '/s/memory/memory.kmem.tcp.limit_in_bytes': '9223372036854771712\n',
      '/s/memory/memory.kmem.tcp.usage_in_bytes': '0\n',
      '/s/pids/pids.current': '1\n',
      '/s/pids/pids.max': '50\n',
    });
    const paths = { cpuacct: '/s/cpuacct', cpu: '/s/cpu', cpuset: '/s/cpuset', memory: '/s/memory', pids: '/s/pids', blkio: '/s/blkio' };
    const json = JSON.parse(statsToJson(statsV1(mfs, paths, [])));
    expect(Object.keys(json)).toEqual(['cpu', 'cpuset', 'memory', 'pids', 'blkio', 'hugetlb', 'intel_rdt', 'network_interfaces']);
    expect(json.cpu).toEqual({ usage: { total: 12057891, percpu: [343984, 11713907], percpu_kernel: [0, 4000000], percpu_user: [0, 4000000], kernel: 0, user: 0 }, throttling: {} });
    expect(json.cpuset.cpus).toEqual([0, 1]);
    expect(json.cpuset.sched_relax_domain_level).toBe(-1);
    expect(json.memory.usage).toEqual({ limit: 67108864, usage: 745472, max: 2519040, failcnt: 0 });
    expect(statsToJson(statsV1(mfs, paths, []))).toContain('"kernelTCP":{"limit":9223372036854771712,"failcnt":0}');
    expect(json.memory.raw).toEqual({ cache: 0, rss: 53248 });
    expect(json.pids).toEqual({ current: 1, limit: 50 });
    expect(json.blkio).toEqual({});
    expect(json.network_interfaces).toBeNull();
    // The real sample's top-level and nested key order matches.
    const sample = fs.readFileSync(path.join(__dirname, '../../../../test/unit/cgroups/runc-stats-sample.json'), 'utf8');
    const runc = JSON.parse(sample).data;
    expect(Object.keys(json.cpuset)).toEqual(Object.keys(runc.cpuset));
    expect(Object.keys(json.memory)).toEqual(Object.keys(runc.memory));
    expect(Object.keys(json.cpu.usage)).toEqual(Object.keys(runc.cpu.usage));
  });

  test('v2 stats: cpu.stat in ns, memory with swap as memory+swap, io.stat, pids without the controller', () => {
    const mfs = new MemoryCgroupFs().seed({
      '/v/cpu.stat': 'usage_usec 100\nuser_usec 60\nsystem_usec 40\nnr_periods 3\nnr_throttled 1\nthrottled_usec 7\n',
      '/v/memory.stat': 'anon 10\nfile 20\n',
      '/v/memory.current': '30\n',
      '/v/memory.max': '100\n',
      '/v/memory.swap.current': '5\n',
      '/v/memory.swap.max': 'max\n',
      '/v/memory.events': 'low 0\nhigh 0\nmax 2\noom 1\noom_kill 1\n',
      '/v/io.stat': '8:0 rbytes=4096 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n',
      '/v/hugetlb.2MB.current': '0\n',
      '/v/hugetlb.2MB.max': '4194304\n',
    });
    const json = JSON.parse(statsToJson(statsV2(mfs, '/v', 3, ['2MB'])));
    expect(json.cpu).toEqual({ usage: { total: 100000, kernel: 40000, user: 60000 }, throttling: { periods: 3, throttledPeriods: 1, throttledTime: 7000 } });
    expect(json.memory.cache).toBe(20);
    expect(json.memory.usage).toEqual({ limit: 100, usage: 30, failcnt: 2 });
    expect(json.memory.swap).toEqual({ limit: 18446744073709551615, usage: 35, failcnt: 0 });
    expect(json.pids).toEqual({ current: 3 });
    expect(json.blkio.ioServiceBytesRecursive).toEqual([{ major: 8, op: 'Read', value: 4096 }, { major: 8, op: 'Write' }]);
    expect(json.hugetlb).toEqual({ '2MB': { max: 4194304, failcnt: 0 } });
  });

  test('helpers', () => {
    expect(parseList('0-2,5,7-8')).toEqual([0, 1, 2, 5, 7, 8]);
    expect(hugePageSizes('', ['hugepages-2048kB', 'hugepages-1048576kB', 'hugepages-64kB', 'junk'])).toEqual(['2MB', '1GB', '64KB']);
  });
});
