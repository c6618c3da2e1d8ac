import { translateV1, translateV2, cpuSharesToWeight, blkioWeightToIoWeight, memorySwapToV2, type V1Context, type V2Context } from '../../../src/cgroups/translate';
import type { LinuxResources } from '@tsrt/oci-spec';

/** A v1 context: controllers mounted, files present (per controller), current values. */
function v1ctx(files: Record<string, string[]>, values: Record<string, string> = {}): V1Context {
  return {
    has: (c) => c in files,
    hasFile: (c, f) => (files[c] ?? []).includes(f),
    read: (c, f) => values[`${c}/${f}`],
  };
}

const ALL_V1: Record<string, string[]> = {
  cpu: ['cpu.shares', 'cpu.cfs_period_us', 'cpu.cfs_quota_us', 'cpu.cfs_burst_us', 'cpu.rt_period_us', 'cpu.rt_runtime_us', 'cpu.idle'],
  cpuset: ['cpuset.cpus', 'cpuset.mems'],
  memory: ['memory.limit_in_bytes', 'memory.memsw.limit_in_bytes', 'memory.soft_limit_in_bytes', 'memory.swappiness', 'memory.oom_control'],
  pids: ['pids.max'],
  devices: ['devices.allow', 'devices.deny'],
  blkio: ['blkio.weight', 'blkio.leaf_weight', 'blkio.weight_device', 'blkio.leaf_weight_device', 'blkio.throttle.read_bps_device', 'blkio.throttle.write_bps_device', 'blkio.throttle.read_iops_device', 'blkio.throttle.write_iops_device'],
  hugetlb: ['hugetlb.2MB.limit_in_bytes', 'hugetlb.1GB.limit_in_bytes'],
  net_cls: ['net_cls.classid'],
  net_prio: ['net_prio.ifpriomap'],
};

const pairs = (t: { writes: Array<{ controller: string; file: string; value: string }> }) => t.writes.map((w) => `${w.controller ? w.controller + ':' : ''}${w.file}=${w.value}`);

describe('conversions', () => {
  test('cpu shares -> weight (runc 1.1 linear formula)', () => {
    expect(cpuSharesToWeight(0)).toBe(0);
    expect(cpuSharesToWeight(2)).toBe(1);
    expect(cpuSharesToWeight(1024)).toBe(39);
    expect(cpuSharesToWeight(262144)).toBe(10000);
  });
  test('blkio weight -> io.weight', () => {
    expect(blkioWeightToIoWeight(0)).toBe(0);
    expect(blkioWeightToIoWeight(10)).toBe(1);
    expect(blkioWeightToIoWeight(500)).toBe(4950);
    expect(blkioWeightToIoWeight(1000)).toBe(10000);
  });
  test('memory swap v1 (memory+swap) -> v2 (swap only)', () => {
    expect(memorySwapToV2(0, -1)).toBe(-1);
    expect(memorySwapToV2(-1, 100)).toBe(-1);
    expect(memorySwapToV2(0, 100)).toBe(0);
    expect(memorySwapToV2(300, 100)).toBe(200);
    expect(memorySwapToV2(100, 100)).toBe(0);
    expect(() => memorySwapToV2(300, 0)).toThrow('unable to set swap limit without memory limit');
    expect(() => memorySwapToV2(50, 100)).toThrow('memory+swap limit should be >= memory limit');
    expect(() => memorySwapToV2(50, -5)).toThrow('invalid memory value: -5');
  });
});

describe('translateV1', () => {
  test('nothing asked, nothing written', () => {
    expect(translateV1({}, v1ctx({})).writes).toEqual([]);
  });

  test('full resource set maps to the v1 files in order', () => {
    const r: LinuxResources = {
      cpu: { shares: 512, quota: 50000, period: 100000, burst: 1000, realtimePeriod: 1000000, realtimeRuntime: 950000, cpus: '0-1', mems: '0', idle: 0 },
      memory: { limit: 1 << 26, reservation: 1 << 25, swappiness: 10, disableOOMKiller: true },
      pids: { limit: 32 },
      blockIO: {
        weight: 300,
        leafWeight: 200,
        weightDevice: [{ major: 8, minor: 0, weight: 400, leafWeight: 100 }],
        throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1048576 }],
        throttleWriteIOPSDevice: [{ major: 8, minor: 16, rate: 100 }],
      },
      hugepageLimits: [{ pageSize: '2MB', limit: 4194304 }],
      network: { classID: 0x100001, priorities: [{ name: 'eth0', priority: 5 }] },
    };
    expect(pairs(translateV1(r, v1ctx(ALL_V1)))).toEqual([
      'cpuset:cpuset.cpus=0-1',
      'cpuset:cpuset.mems=0',
      'cpu:cpu.shares=512',
      'cpu:cpu.cfs_period_us=100000',
      'cpu:cpu.cfs_quota_us=50000',
      'cpu:cpu.cfs_period_us=100000',
      'cpu:cpu.cfs_burst_us=1000',
      'cpu:cpu.rt_period_us=1000000',
      'cpu:cpu.rt_runtime_us=950000',
      'cpu:cpu.idle=0',
      'memory:memory.limit_in_bytes=67108864',
      'memory:memory.soft_limit_in_bytes=33554432',
      'memory:memory.swappiness=10',
      'memory:memory.oom_control=1',
      'pids:pids.max=32',
      'blkio:blkio.weight=300',
      'blkio:blkio.leaf_weight=200',
      'blkio:blkio.weight_device=8:0 400',
      'blkio:blkio.leaf_weight_device=8:0 100',
      'blkio:blkio.throttle.read_bps_device=8:0 1048576',
      'blkio:blkio.throttle.write_iops_device=8:16 100',
      'hugetlb:hugetlb.2MB.limit_in_bytes=4194304',
      'net_cls:net_cls.classid=1048577',
      'net_prio:net_prio.ifpriomap=eth0 5',
    ]);
  });

  test('cpu.shares is read back; the period write may fail with EINVAL when the quota follows', () => {
    const t = translateV1({ cpu: { shares: 1024, period: 50000, quota: 20000 } }, v1ctx(ALL_V1));
    expect(t.writes[0]).toMatchObject({ file: 'cpu.shares', verify: 'cpu.shares' });
    expect(t.writes[1]).toMatchObject({ file: 'cpu.cfs_period_us', tolerate: 'EINVAL' });
    const alone = translateV1({ cpu: { period: 50000 } }, v1ctx(ALL_V1));
    expect(alone.writes).toEqual([{ controller: 'cpu', file: 'cpu.cfs_period_us', value: '50000' }]);
  });

  test('memory and swap: write order keeps memory <= memory+swap', () => {
    // Raising: current limit below the new swap -> swap first.
    const up = translateV1({ memory: { limit: 200, swap: 400 } }, v1ctx(ALL_V1, { 'memory/memory.limit_in_bytes': '100\n' }));
    expect(pairs(up)).toEqual(['memory:memory.memsw.limit_in_bytes=400', 'memory:memory.limit_in_bytes=200']);
    // Lowering: current limit above the new swap -> memory first.
    const down = translateV1({ memory: { limit: 100, swap: 200 } }, v1ctx(ALL_V1, { 'memory/memory.limit_in_bytes': '9223372036854771712\n' }));
    expect(pairs(down)).toEqual(['memory:memory.limit_in_bytes=100', 'memory:memory.memsw.limit_in_bytes=200']);
    // Unlimited swap: swap first.
    const inf = translateV1({ memory: { limit: 100, swap: -1 } }, v1ctx(ALL_V1, { 'memory/memory.limit_in_bytes': '50' }));
    expect(pairs(inf)).toEqual(['memory:memory.memsw.limit_in_bytes=-1', 'memory:memory.limit_in_bytes=100']);
  });

  test('memory -1 with swap unset also lifts the swap limit (when swap accounting exists)', () => {
    expect(pairs(translateV1({ memory: { limit: -1 } }, v1ctx(ALL_V1, { 'memory/memory.limit_in_bytes': '100' })))).toEqual([
      'memory:memory.memsw.limit_in_bytes=-1',
      'memory:memory.limit_in_bytes=-1',
    ]);
    const noSwap = { ...ALL_V1, memory: ['memory.limit_in_bytes'] };
    expect(pairs(translateV1({ memory: { limit: -1 } }, v1ctx(noSwap)))).toEqual(['memory:memory.limit_in_bytes=-1']);
  });

  test('errors: swap without accounting, swap below memory, swappiness range, unified on v1', () => {
    const noSwap = { ...ALL_V1, memory: ['memory.limit_in_bytes'] };
    expect(() => translateV1({ memory: { limit: 100, swap: 200 } }, v1ctx(noSwap))).toThrow(/cannot set memory swap limit: memory.memsw.limit_in_bytes does not exist/);
    expect(() => translateV1({ memory: { limit: 200, swap: 100 } }, v1ctx(ALL_V1))).toThrow('memory+swap limit should be >= memory limit');
    expect(() => translateV1({ memory: { swappiness: 101 } }, v1ctx(ALL_V1))).toThrow('invalid value:101. valid memory swappiness range is 0-100');
    expect(() => translateV1({ unified: { 'memory.high': '1' } }, v1ctx(ALL_V1))).toThrow('invalid configuration: cannot use unified on cgroup v1');
  });

  test('kernel memory is accepted with runc\'s warning', () => {
    const t = translateV1({ memory: { kernel: 1 << 20, kernelTCP: 1 << 20 } }, v1ctx(ALL_V1));
    expect(t.writes).toEqual([]);
    expect(t.warnings).toEqual(['Kernel memory settings are ignored and will be removed']);
  });

  test('a limit on a controller that is not mounted is an error, never silent', () => {
    const here = { ...ALL_V1 };
    delete (here as Record<string, unknown>).net_cls;
    delete (here as Record<string, unknown>).hugetlb;
    expect(() => translateV1({ network: { classID: 1 } }, v1ctx(here))).toThrow('cannot set net_cls limit: the net_cls cgroup controller is not mounted');
    expect(() => translateV1({ hugepageLimits: [{ pageSize: '2MB', limit: 1 }] }, v1ctx(here))).toThrow(/cannot set hugetlb limit/);
    expect(() => translateV1({ hugepageLimits: [{ pageSize: '3MB', limit: 1 }] }, v1ctx(ALL_V1))).toThrow(/invalid hugepage size "3MB"/);
    expect(() => translateV1({ pids: { limit: 5 } }, v1ctx({}))).toThrow(/cannot set pids limit/);
    expect(() => translateV1({ cpu: { burst: 5 } }, v1ctx({ cpu: ['cpu.shares'] }))).toThrow('cannot set cpu burst limit: cpu.cfs_burst_us does not exist');
  });

  test('pids: -1 is max, 0 is left alone', () => {
    expect(pairs(translateV1({ pids: { limit: -1 } }, v1ctx(ALL_V1)))).toEqual(['pids:pids.max=max']);
    expect(pairs(translateV1({ pids: { limit: 0 } }, v1ctx(ALL_V1)))).toEqual([]);
  });

  test('blkio weight falls back to BFQ, errors without either scheduler file', () => {
    const bfq = { ...ALL_V1, blkio: ['blkio.bfq.weight'] };
    expect(pairs(translateV1({ blockIO: { weight: 300, weightDevice: [{ major: 8, minor: 0, weight: 20 }] } }, v1ctx(bfq)))).toEqual([
      'blkio:blkio.bfq.weight=300',
      'blkio:blkio.bfq.weight=8:0 20',
    ]);
    expect(() => translateV1({ blockIO: { weight: 300 } }, v1ctx({ ...ALL_V1, blkio: [] }))).toThrow(/neither blkio.weight nor blkio.bfq.weight exists/);
    const bfqDev = { ...ALL_V1, blkio: ['blkio.bfq.weight', 'blkio.bfq.weight_device'] };
    expect(pairs(translateV1({ blockIO: { weightDevice: [{ major: 8, minor: 0, weight: 20 }] } }, v1ctx(bfqDev)))).toEqual(['blkio:blkio.bfq.weight_device=8:0 20']);
  });

  test('devices: reset to the final default, then the exceptions', () => {
    const t = translateV1(
      {
        devices: [
          { allow: false, access: 'rwm' },
          { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' },
          { allow: true, type: 'c', major: 136, access: 'rw' },
        ],
      },
      v1ctx(ALL_V1),
    );
    expect(pairs(t)).toEqual(['devices:devices.deny=a', 'devices:devices.allow=c 1:3 rwm', 'devices:devices.allow=c 136:* rw']);
  });
});

function v2ctx(controllers: string[], files: string[] = [], values: Record<string, string> = {}): V2Context {
  return { controllers: new Set(controllers), hasFile: (f) => files.includes(f) || f in values, read: (f) => values[f] };
}

const V2_FILES = ['memory.swap.max', 'io.weight', 'io.max', 'cpu.max.burst', 'cpu.idle', 'hugetlb.2MB.max', 'hugetlb.2MB.rsvd.max', 'memory.high', 'cgroup.max.depth'];
const ALL_V2 = ['cpuset', 'cpu', 'io', 'memory', 'hugetlb', 'pids', 'rdma'];

describe('translateV2', () => {
  test('full resource set with v1->v2 conversions', () => {
    const r: LinuxResources = {
      cpu: { shares: 1024, quota: 50000, period: 100000, burst: 1000, cpus: '0', mems: '0', idle: 1 },
      memory: { limit: 1000, swap: 3000, reservation: 500 },
      pids: { limit: -1 },
      blockIO: { weight: 500, weightDevice: [{ major: 8, minor: 0, weight: 10 }], throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1024 }], throttleWriteIOPSDevice: [{ major: 8, minor: 0, rate: 0 }] },
      hugepageLimits: [{ pageSize: '2MB', limit: 2097152 }],
      rdma: { mlx5_1: { hcaHandles: 3, hcaObjects: 10000 } },
      unified: { 'memory.high': '900' },
    };
    expect(pairs(translateV2(r, v2ctx(ALL_V2, V2_FILES)))).toEqual([
      'pids.max=max',
      'memory.swap.max=2000',
      'memory.max=1000',
      'memory.low=500',
      'io.weight=4950',
      'io.weight=8:0 1',
      'io.max=8:0 rbps=1024',
      'io.max=8:0 wiops=max',
      'cpu.weight=39',
      'cpu.max=50000 100000',
      'cpu.max.burst=1000',
      'cpu.idle=1',
      'cpuset.cpus=0',
      'cpuset.mems=0',
      'hugetlb.2MB.max=2097152',
      'hugetlb.2MB.rsvd.max=2097152',
      'rdma.max=mlx5_1 hca_handle=3 hca_object=10000',
      'memory.high=900',
    ]);
  });

  test('memory: equal memory and swap disables swap; -1 memory lifts swap', () => {
    expect(pairs(translateV2({ memory: { limit: 100, swap: 100 } }, v2ctx(ALL_V2, V2_FILES)))).toEqual(['memory.swap.max=0', 'memory.max=100']);
    expect(pairs(translateV2({ memory: { limit: -1 } }, v2ctx(ALL_V2, V2_FILES)))).toEqual(['memory.swap.max=max', 'memory.max=max']);
    // Without swap accounting the implied swap is skipped, an explicit one is an error.
    expect(pairs(translateV2({ memory: { limit: -1 } }, v2ctx(ALL_V2, [])))).toEqual(['memory.max=max']);
    expect(() => translateV2({ memory: { limit: 10, swap: 20 } }, v2ctx(ALL_V2, []))).toThrow(/memory.swap.max does not exist/);
  });

  test('cpu.max: an update of one half keeps the other', () => {
    const ctx = v2ctx(ALL_V2, V2_FILES, { 'cpu.max': '20000 50000\n' });
    expect(pairs(translateV2({ cpu: { period: 100000 } }, ctx))).toEqual(['cpu.max=20000 100000']);
    expect(pairs(translateV2({ cpu: { quota: 30000 } }, ctx))).toEqual(['cpu.max=30000 50000']);
    expect(pairs(translateV2({ cpu: { quota: -1 } }, ctx))).toEqual(['cpu.max=max 50000']);
  });

  test('io weight goes to io.bfq.weight unconverted when BFQ is there', () => {
    expect(pairs(translateV2({ blockIO: { weight: 500, weightDevice: [{ major: 8, minor: 0, weight: 10 }] } }, v2ctx(ALL_V2, ['io.bfq.weight'])))).toEqual([
      'io.bfq.weight=500',
      'io.bfq.weight=8:0 10',
    ]);
  });

  test('warnings for what v2 cannot do, errors for missing controllers', () => {
    const t = translateV2(
      { memory: { kernel: 5, swappiness: 10, disableOOMKiller: true }, blockIO: { leafWeight: 10 }, network: { classID: 1 } },
      v2ctx(ALL_V2, V2_FILES),
    );
    expect(t.writes).toEqual([]);
    expect(t.warnings).toEqual([
      'Kernel memory settings are ignored and will be removed',
      'memory.swappiness is not supported on cgroup v2 and is ignored',
      'disableOOMKiller is not supported on cgroup v2 and is ignored',
      'blockIO.leafWeight is not supported on cgroup v2 and is ignored',
      'network classID and priorities are not supported on cgroup v2 (no net_cls/net_prio controllers) and are ignored',
    ]);
    expect(() => translateV2({ pids: { limit: 5 } }, v2ctx(['hugetlb']))).toThrow(
      'cannot set pids limit: the pids controller is not available in this cgroup v2 hierarchy (available: hugetlb)',
    );
    expect(() => translateV2({ memory: { limit: 5 } }, v2ctx([]))).toThrow(/cannot set memory limit.*available: none/);
    expect(() => translateV2({ cpu: { realtimeRuntime: 5 } }, v2ctx(ALL_V2))).toThrow(/cannot set cpu realtime limit: cgroup v2 has no realtime/);
    expect(() => translateV2({ hugepageLimits: [{ pageSize: '64KB', limit: 1 }] }, v2ctx(ALL_V2, V2_FILES))).toThrow(/invalid hugepage size "64KB"/);
  });

  test('unified: validated keys, controller availability', () => {
    expect(() => translateV2({ unified: { '../x': '1' } }, v2ctx(ALL_V2, V2_FILES))).toThrow('must be a file name (no slashes)');
    expect(() => translateV2({ unified: { nodot: '1' } }, v2ctx(ALL_V2, V2_FILES))).toThrow('must be in the form CONTROLLER.PARAMETER');
    expect(() => translateV2({ unified: { 'misc.max': '1' } }, v2ctx(ALL_V2, V2_FILES))).toThrow(`unified resource "misc.max" can't be set: controller "misc" not available`);
    expect(() => translateV2({ unified: { 'memory.nope': '1' } }, v2ctx(ALL_V2, V2_FILES))).toThrow('unable to set unified resource "memory.nope": no such file');
    expect(pairs(translateV2({ unified: { 'cgroup.max.depth': '3' } }, v2ctx([], V2_FILES)))).toEqual(['cgroup.max.depth=3']);
  });
});
