import { MemoryCgroupFs } from '../../../src/cgroups/fs';
import { setupContainerCgroups, removeContainerCgroups, containerPaused, killContainerProcesses, detectHierarchies, parkOutsideMemoryCgroup, chargeMemoryToContainer } from '../../../src/cgroups';
import { mergeResources, parseDuration, parseRamBytes, parseUintFlag, updatable } from '../../../src/lifecycle/cgroup-ops';
import { fromFlags } from '../../../src/cli/commands/update';
import { FakeSys } from '@tsrt/libc';

describe('command helpers', () => {
  test('Go durations', () => {
    expect(parseDuration('5s')).toBe(5000);
    expect(parseDuration('1m30s')).toBe(90000);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('1.5h')).toBe(5400000);
    expect(parseDuration('0')).toBe(0);
    expect(parseDuration('0s')).toBe(0);
    expect(() => parseDuration('xyz')).toThrow('invalid value "xyz" for flag -interval: parse error');
    expect(() => parseDuration('5')).toThrow('parse error');
  });
  test('sizes as runc reads them', () => {
    expect(parseRamBytes('64m', 'memory')).toBe(64 << 20);
    expect(parseRamBytes('1g', 'memory')).toBe(1 << 30);
    expect(parseRamBytes('1.5k', 'memory')).toBe(1536);
    expect(parseRamBytes('100', 'memory')).toBe(100);
    expect(parseRamBytes('-1', 'memory-swap')).toBe(-1);
    expect(parseRamBytes('10MB', 'memory')).toBe(10 << 20);
    expect(() => parseRamBytes('10x', 'memory')).toThrow("invalid value for memory: invalid size: '10x'");
    expect(() => parseUintFlag('abc', 'cpu-share')).toThrow('invalid value for cpu-share: strconv.ParseUint: parsing "abc": invalid syntax');
  });
  test('update flags become a partial LinuxResources', () => {
    expect(fromFlags({ memory: '32m', 'memory-swap': '64m', 'pids-limit': '7', 'cpu-quota': '-1', 'cpuset-cpus': '0' })).toEqual({
      memory: { limit: 32 << 20, swap: 64 << 20 },
      cpu: { quota: -1, cpus: '0' },
      pids: { limit: 7 },
    });
    expect(fromFlags({})).toEqual({});
  });
  test('update keeps only the fields runc updates (a whole podman resources file must not reset devices)', () => {
    expect(
      updatable({
        devices: [{ allow: false, access: 'rwm' }],
        memory: { limit: 10, swap: 20, swappiness: 5, disableOOMKiller: true },
        cpu: { shares: 5, cpus: '0' },
        blockIO: { weight: 100, throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1 }] },
        pids: { limit: 3 },
        hugepageLimits: [{ pageSize: '2MB', limit: 1 }],
        network: { classID: 1 },
      }),
    ).toEqual({ memory: { limit: 10, swap: 20 }, cpu: { shares: 5, cpus: '0' }, blockIO: { weight: 100 }, pids: { limit: 3 } });
  });
  test('stored resources merge: zero/absent keep the old value', () => {
    expect(mergeResources({ memory: { limit: 10, swap: 20 }, pids: { limit: 3 } }, { memory: { limit: 15, swap: 0 }, cpu: { shares: 5 } })).toEqual({
      memory: { limit: 15, swap: 20 },
      pids: { limit: 3 },
      cpu: { shares: 5 },
    });
  });
});

describe('lifecycle glue on an in-memory v1 tree', () => {
  const MOUNTS = '37 33 0:32 / /cg/memory rw - cgroup cgroup rw,memory\n38 33 0:33 / /cg/freezer rw - cgroup cgroup rw,freezer\n39 33 0:34 / /cg/pids rw - cgroup cgroup rw,pids\n40 33 0:35 / /cg/devices rw - cgroup cgroup rw,devices\n';
  function tree() {
    const mfs = new MemoryCgroupFs().seed({ '/cg/memory/cgroup.procs': '', '/cg/freezer/cgroup.procs': '', '/cg/pids/cgroup.procs': '', '/cg/devices/cgroup.procs': '' });
    mfs.template = { 'cgroup.procs': '', 'memory.limit_in_bytes': '9223372036854771712', 'freezer.state': 'THAWED', 'pids.max': 'max', 'devices.allow': '', 'devices.deny': '' };
    return mfs;
  }
  const hierarchies = detectHierarchies(MOUNTS);

  test('setup applies resources and describes; a failure removes what was created', () => {
    const mfs = tree();
    const cg = setupContainerCgroups('c1', { linux: { cgroupsPath: '/c1', resources: { memory: { limit: 1 << 20, kernel: 1 }, pids: { limit: 4 } } } }, { fs: mfs, hierarchies, ownCgroup: {}, sleep: () => undefined });
    expect(cg.warnings).toEqual(['Kernel memory settings are ignored and will be removed']);
    expect(cg.description.created.sort()).toEqual(['/cg/devices/c1', '/cg/freezer/c1', '/cg/memory/c1', '/cg/pids/c1']);
    expect(mfs.files.get('/cg/memory/c1/memory.limit_in_bytes')).toBe('1048576');
    expect(containerPaused(cg.description, { fs: mfs })).toBe(false);
    removeContainerCgroups(cg.description, { fs: mfs, sleep: () => undefined });
    expect(mfs.exists('/cg/memory/c1')).toBe(false);

    const mfs2 = tree();
    expect(() => setupContainerCgroups('c2', { linux: { cgroupsPath: '/c2', resources: { network: { classID: 1 } } } }, { fs: mfs2, hierarchies, ownCgroup: {} })).toThrow(
      /cannot set net_cls limit/,
    );
    expect(mfs2.exists('/cg/memory/c2')).toBe(false);
  });

  test('kill --all signals every pid; leftovers are killed before removal', () => {
    const mfs = tree();
    const fake = new FakeSys();
    const cg = setupContainerCgroups('c3', { linux: { cgroupsPath: '/c3' } }, { fs: mfs, sys: fake.sys, hierarchies, ownCgroup: {}, sleep: () => undefined });
    mfs.files.set('/cg/pids/c3/cgroup.procs', '41\n42\n');
    killContainerProcesses(cg.description, 15, { fs: mfs, sys: fake.sys, sleep: () => undefined });
    expect(fake.named('kill')).toEqual([
      [41, 15],
      [42, 15],
    ]);
    fake.respond('kill', () => mfs.files.set('/cg/pids/c3/cgroup.procs', ''));
    removeContainerCgroups(cg.description, { fs: mfs, sys: fake.sys, sleep: () => undefined });
    expect(fake.named('kill').slice(2)).toEqual([
      [41, 9],
      [42, 9],
    ]);
    expect(mfs.exists('/cg/pids/c3')).toBe(false);
  });

  test('stage 2 parked: only the memory hierarchy moves, to our own memory cgroup, and back', () => {
    const mfs = tree();
    mfs.mkdirp('/cg/memory/runtime');
    mfs.files.set('/cg/memory/runtime/cgroup.procs', '');
    const cg = setupContainerCgroups('c5', { linux: { cgroupsPath: '/c5', resources: { memory: { limit: 1 << 20 } } } }, { fs: mfs, hierarchies, ownCgroup: {}, sleep: () => undefined });
    const before = mfs.writes.length;
    expect(parkOutsideMemoryCgroup(cg.description, 42, { fs: mfs, hierarchies, ownCgroup: { memory: '/runtime', pids: '/' } })).toBe(true);
    chargeMemoryToContainer(cg.description, 42, { fs: mfs });
    expect(mfs.writes.slice(before)).toEqual([
      { file: '/cg/memory/runtime/cgroup.procs', value: '42' },
      { file: '/cg/memory/c5/cgroup.procs', value: '42' },
    ]);
    // Our own cgroup is the container's (a shared cgroupsPath) or refuses us: nothing to do, no error.
    expect(parkOutsideMemoryCgroup(cg.description, 42, { fs: mfs, hierarchies, ownCgroup: { memory: '/c5' } })).toBe(false);
    mfs.failWrite = (f) => (f.startsWith('/cg/memory/runtime/') ? 'EACCES' : undefined);
    expect(parkOutsideMemoryCgroup(cg.description, 42, { fs: mfs, hierarchies, ownCgroup: { memory: '/runtime' } })).toBe(false);
    mfs.failWrite = (f) => (f.startsWith('/cg/memory/c5/') ? 'ESRCH' : undefined);
    expect(() => chargeMemoryToContainer(cg.description, 42, { fs: mfs })).toThrow('failed to join cgroup /cg/memory/c5 with pid 42: write /cg/memory/c5/cgroup.procs: ESRCH');
  });

  test('an empty container cgroup is removed without a look for processes', () => {
    const mfs = tree();
    const fake = new FakeSys();
    const cg = setupContainerCgroups('c6', { linux: { cgroupsPath: '/c6' } }, { fs: mfs, sys: fake.sys, hierarchies, ownCgroup: {}, sleep: () => undefined });
    const reads: string[] = [];
    const read = mfs.read.bind(mfs);
    mfs.read = (f: string) => (reads.push(f), read(f));
    removeContainerCgroups(cg.description, { fs: mfs, sys: fake.sys, sleep: () => undefined });
    expect(reads).toEqual([]);
    expect(fake.named('kill')).toEqual([]);
    for (const c of ['memory', 'freezer', 'pids', 'devices']) expect(mfs.exists(`/cg/${c}/c6`)).toBe(false);
  });

  test('a cgroup that existed before the container is neither emptied nor removed', () => {
    const mfs = tree();
    for (const c of ['memory', 'freezer', 'pids', 'devices']) mfs.mkdirp(`/cg/${c}/shared`);
    mfs.files.set('/cg/pids/shared/cgroup.procs', '77\n');
    const fake = new FakeSys();
    const cg = setupContainerCgroups('c4', { linux: { cgroupsPath: '/shared' } }, { fs: mfs, sys: fake.sys, hierarchies, ownCgroup: {}, sleep: () => undefined });
    expect(cg.description.created).toEqual([]);
    removeContainerCgroups(cg.description, { fs: mfs, sys: fake.sys, sleep: () => undefined });
    expect(fake.named('kill')).toEqual([]);
    expect(mfs.exists('/cg/pids/shared')).toBe(true);
  });
});

describe('parking on a cgroup v2 host', () => {
  test('the whole process goes to our own cgroup and back', () => {
    const hierarchies = detectHierarchies('30 1 0:26 / /cg rw - cgroup2 cgroup2 rw\n', '/cg');
    const mfs = new MemoryCgroupFs().seed({ '/cg/user/cgroup.procs': '', '/cg/pod/c6/cgroup.procs': '' });
    const desc = { driver: 'v2' as const, mode: 'v2' as const, path: '/pod/c6', paths: { '': '/cg/pod/c6' }, created: ['/cg/pod/c6'], root: '/cg' };
    expect(parkOutsideMemoryCgroup(desc, 7, { fs: mfs, hierarchies, ownCgroup: { '': '/user' } })).toBe(true);
    chargeMemoryToContainer(desc, 7, { fs: mfs });
    expect(mfs.writes).toEqual([
      { file: '/cg/user/cgroup.procs', value: '7' },
      { file: '/cg/pod/c6/cgroup.procs', value: '7' },
    ]);
  });
});
