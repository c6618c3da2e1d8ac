/**
 * Container statistics in runc's `events` JSON shape (the "data" of a {"type":"stats"} event),
 * read from v1 or v2 files. Counters are bigints (limits such as 9223372036854771712 do not fit
 * a double); `statsToJson` prints them as plain JSON numbers. Fields runc marks omitempty are
 * left out when zero, so the output matches runc's byte for byte in shape.
 */
import * as path from 'path';
import type { CgroupFs } from './fs';

export type U64 = bigint;

export interface MemoryEntry {
  limit: U64;
  usage?: U64;
  max?: U64;
  failcnt: U64;
}

export interface BlkioEntry {
  major?: U64;
  minor?: U64;
  op?: string;
  value?: U64;
}

export interface RuncStats {
  cpu: {
    usage: { total?: U64; percpu?: U64[]; percpu_kernel?: U64[]; percpu_user?: U64[]; kernel: U64; user: U64 };
    throttling: { periods?: U64; throttledPeriods?: U64; throttledTime?: U64 };
  };
  cpuset: {
    cpus?: number[];
    cpu_exclusive: U64;
    mems?: number[];
    mem_hardwall: U64;
    mem_exclusive: U64;
    memory_migrate: U64;
    memory_spread_page: U64;
    memory_spread_slab: U64;
    memory_pressure: U64;
    sched_load_balance: U64;
    sched_relax_domain_level: U64;
  };
  memory: { cache?: U64; usage: MemoryEntry; swap: MemoryEntry; kernel: MemoryEntry; kernelTCP: MemoryEntry; raw?: Record<string, U64> };
  pids: { current?: U64; limit?: U64 };
  blkio: Record<string, BlkioEntry[]>;
  hugetlb: Record<string, { usage?: U64; max?: U64; failcnt: U64 }>;
  intel_rdt: Record<string, never>;
  network_interfaces: null;
}

export const MAX_U64 = 18446744073709551615n;

/** JSON with bigints as bare numbers. */
export function statsToJson(v: unknown): string {
  return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? `__u64__${x}` : x)).replace(/"__u64__(-?\d+)"/g, '$1');
}

function omitZero<T extends Record<string, unknown>>(o: T): T {
  for (const k of Object.keys(o)) {
    const v = o[k];
    if (v === undefined || v === 0n || v === '' || (Array.isArray(v) && v.length === 0)) delete o[k];
  }
  return o;
}

/** "0-2,4" -> [0,1,2,4] */
export function parseList(s: string): number[] {
  const out: number[] = [];
  for (const part of s.trim().split(',')) {
    if (!part) continue;
    const [a, b] = part.split('-').map((x) => parseInt(x, 10));
    for (let i = a; i <= (b ?? a); i++) out.push(i);
  }
  return out;
}

/** A cgroup value: a number, or "max" (MAX_U64); a negative number (sched_relax_domain_level -1) kept. */
function u64(s: string | undefined): U64 {
  if (s === undefined) return 0n;
  const t = s.trim();
  if (t === 'max') return MAX_U64;
  if (!/^-?\d+$/.test(t)) return 0n;
  return BigInt(t);
}

/** "key value" lines -> map. */
export function parseKeyValues(text: string | undefined): Record<string, U64> {
  const out: Record<string, U64> = {};
  for (const line of (text ?? '').split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && /^\d+$/.test(v)) out[k] = BigInt(v);
  }
  return out;
}

/** runc leaves out a memory entry's usage and max when they are zero. */
function withoutZeroes(e: MemoryEntry): MemoryEntry {
  if (!e.usage) delete e.usage;
  if (!e.max) delete e.max;
  return e;
}

/** memory.stat as runc prints it under "raw": keys in order. */
function sortedByKey(raw: Record<string, U64>): Record<string, U64> {
  const out: Record<string, U64> = {};
  for (const k of Object.keys(raw).sort()) out[k] = raw[k];
  return out;
}

export function emptyStats(): RuncStats {
  const entry = (): MemoryEntry => ({ limit: 0n, failcnt: 0n });
  return {
    cpu: { usage: { kernel: 0n, user: 0n }, throttling: {} },
    cpuset: {
      cpu_exclusive: 0n,
      mem_hardwall: 0n,
      mem_exclusive: 0n,
      memory_migrate: 0n,
      memory_spread_page: 0n,
      memory_spread_slab: 0n,
      memory_pressure: 0n,
      sched_load_balance: 0n,
      sched_relax_domain_level: 0n,
    },
    memory: { usage: entry(), swap: entry(), kernel: entry(), kernelTCP: entry() },
    pids: {},
    blkio: {},
    hugetlb: {},
    intel_rdt: {},
    network_interfaces: null,
  };
}

class Reader {
  constructor(private fs: CgroupFs) {}
  get(dir: string | undefined, file: string): string | undefined {
    if (!dir) return undefined;
    try {
      return this.fs.read(path.join(dir, file));
    } catch {
      return undefined;
    }
  }
}

/** Hugepage sizes of this machine as cgroup file names use them ("2MB", "1GB"). */
export function hugePageSizes(sysfs = '/sys/kernel/mm/hugepages', list?: string[]): string[] {
  let names = list;
  if (!names) {
    try {
      names = require('fs').readdirSync(sysfs) as string[];
    } catch {
      names = [];
    }
  }
  const units = ['KB', 'MB', 'GB', 'TB', 'PB'];
  return names
    .map((n) => /^hugepages-(\d+)kB$/.exec(n))
    .filter((m): m is RegExpExecArray => !!m)
    .map((m) => {
      let v = parseInt(m[1], 10);
      let u = 0;
      while (v >= 1024 && v % 1024 === 0 && u < units.length - 1) {
        v /= 1024;
        u++;
      }
      return `${v}${units[u]}`;
    });
}

function blkioEntries(text: string | undefined): BlkioEntry[] {
  const out: BlkioEntry[] = [];
  for (const line of (text ?? '').split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 2 || !/^\d+:\d+$/.test(f[0])) continue;
    const [maj, min] = f[0].split(':').map((x) => BigInt(x));
    const e: BlkioEntry = f.length === 3 ? { major: maj, minor: min, op: f[1], value: u64(f[2]) } : { major: maj, minor: min, value: u64(f[1]) };
    out.push(omitZero(e as Record<string, unknown>) as BlkioEntry);
  }
  return out;
}

/** Stats from v1 controller dirs (controller name -> dir). `pidsCount` is used if pids is absent. */
export function statsV1(fs: CgroupFs, paths: Record<string, string>, hugeSizes = hugePageSizes()): RuncStats {
  const r = new Reader(fs);
  const st = emptyStats();
  const ticks = (v: U64) => (v * 1000000000n) / 100n; // USER_HZ is 100

  const acct = paths['cpuacct'];
  if (acct) {
    const list = (s: string | undefined) => (s ?? '').trim().split(/\s+/).filter(Boolean).map((x) => BigInt(x));
    let percpuKernel: U64[] | undefined;
    let percpuUser: U64[] | undefined;
    const all = r.get(acct, 'cpuacct.usage_all');
    if (all) {
      percpuKernel = [];
      percpuUser = [];
      for (const line of all.split('\n').slice(1)) {
        const f = line.trim().split(/\s+/);
        if (f.length === 3) {
          percpuUser.push(BigInt(f[1]));
          percpuKernel.push(BigInt(f[2]));
        }
      }
    }
    const kv = parseKeyValues(r.get(acct, 'cpuacct.stat'));
    st.cpu.usage = {
      ...omitZero({ total: u64(r.get(acct, 'cpuacct.usage')), percpu: list(r.get(acct, 'cpuacct.usage_percpu')), percpu_kernel: percpuKernel, percpu_user: percpuUser }),
      kernel: ticks(kv.system ?? 0n),
      user: ticks(kv.user ?? 0n),
    };
  }
  const cpu = paths['cpu'];
  if (cpu) {
    const kv = parseKeyValues(r.get(cpu, 'cpu.stat'));
    st.cpu.throttling = omitZero({ periods: kv.nr_periods, throttledPeriods: kv.nr_throttled, throttledTime: kv.throttled_time });
  }
  const cs = paths['cpuset'];
  if (cs) {
    const cpus = parseList(r.get(cs, 'cpuset.cpus') ?? '');
    const mems = parseList(r.get(cs, 'cpuset.mems') ?? '');
    const n = (f: string) => u64(r.get(cs, `cpuset.${f}`));
    Object.assign(st, {
      cpuset: {
        ...(cpus.length ? { cpus } : {}),
        cpu_exclusive: n('cpu_exclusive'),
        ...(mems.length ? { mems } : {}),
        mem_hardwall: n('mem_hardwall'),
        mem_exclusive: n('mem_exclusive'),
        memory_migrate: n('memory_migrate'),
        memory_spread_page: n('memory_spread_page'),
        memory_spread_slab: n('memory_spread_slab'),
        memory_pressure: n('memory_pressure'),
        sched_load_balance: n('sched_load_balance'),
        sched_relax_domain_level: n('sched_relax_domain_level'),
      },
    });
  }
  const mem = paths['memory'];
  if (mem) {
    const raw = parseKeyValues(r.get(mem, 'memory.stat'));
    const entry = (prefix: string): MemoryEntry =>
      withoutZeroes({
        limit: u64(r.get(mem, `${prefix}.limit_in_bytes`)),
        usage: u64(r.get(mem, `${prefix}.usage_in_bytes`)),
        max: u64(r.get(mem, `${prefix}.max_usage_in_bytes`)),
        failcnt: u64(r.get(mem, `${prefix}.failcnt`)),
      });
    const sorted = sortedByKey(raw);
    st.memory = {
      ...(raw.cache ? { cache: raw.cache } : {}),
      usage: entry('memory'),
      swap: entry('memory.memsw'),
      kernel: entry('memory.kmem'),
      kernelTCP: entry('memory.kmem.tcp'),
      ...(Object.keys(sorted).length ? { raw: sorted } : {}),
    };
  }
  const pids = paths['pids'];
  if (pids) {
    const max = r.get(pids, 'pids.max');
    st.pids = omitZero({ current: u64(r.get(pids, 'pids.current')), limit: max?.trim() === 'max' ? 0n : u64(max) });
  }
  const blk = paths['blkio'];
  if (blk) {
    // CFQ stats when present, else BFQ, else the throttle layer's counters (as runc).
    const names: Array<[string, string]> = [
      ['ioServiceBytesRecursive', 'io_service_bytes_recursive'],
      ['ioServicedRecursive', 'io_serviced_recursive'],
      ['ioQueueRecursive', 'io_queued_recursive'],
      ['ioServiceTimeRecursive', 'io_service_time_recursive'],
      ['ioWaitTimeRecursive', 'io_wait_time_recursive'],
      ['ioMergedRecursive', 'io_merged_recursive'],
      ['ioTimeRecursive', 'time_recursive'],
      ['sectorsRecursive', 'sectors_recursive'],
    ];
    const prefix = r.get(blk, 'blkio.io_serviced_recursive') !== undefined ? 'blkio.' : r.get(blk, 'blkio.bfq.io_serviced_recursive') !== undefined ? 'blkio.bfq.' : 'blkio.throttle.';
    if (prefix === 'blkio.throttle.') names.splice(2);
    for (const [key, file] of names) {
      const e = blkioEntries(r.get(blk, prefix + file));
      if (e.length) st.blkio[key] = e;
    }
  }
  const h = paths['hugetlb'];
  if (h) {
    for (const size of hugeSizes) {
      const e = { usage: u64(r.get(h, `hugetlb.${size}.usage_in_bytes`)), max: u64(r.get(h, `hugetlb.${size}.max_usage_in_bytes`)), failcnt: u64(r.get(h, `hugetlb.${size}.failcnt`)) };
      st.hugetlb[size] = omitZero(e as Record<string, unknown>) as typeof e;
      st.hugetlb[size].failcnt ??= 0n;
    }
  }
  return st;
}

/** Stats from a v2 cgroup dir. `pidCount` stands in for pids.current without the controller. */
export function statsV2(fs: CgroupFs, dir: string, pidCount: number, hugeSizes = hugePageSizes()): RuncStats {
  const r = new Reader(fs);
  const st = emptyStats();
  const cpu = parseKeyValues(r.get(dir, 'cpu.stat'));
  st.cpu.usage = { ...omitZero({ total: (cpu.usage_usec ?? 0n) * 1000n }), kernel: (cpu.system_usec ?? 0n) * 1000n, user: (cpu.user_usec ?? 0n) * 1000n };
  st.cpu.throttling = omitZero({
    periods: cpu.nr_periods,
    throttledPeriods: cpu.nr_throttled,
    throttledTime: cpu.throttled_usec === undefined ? undefined : cpu.throttled_usec * 1000n,
  });
  const memStat = r.get(dir, 'memory.stat');
  if (memStat !== undefined) {
    const raw = parseKeyValues(memStat);
    const usage = u64(r.get(dir, 'memory.current'));
    const limit = u64(r.get(dir, 'memory.max'));
    const failcnt = parseKeyValues(r.get(dir, 'memory.events')).max ?? 0n;
    const swapUsage = u64(r.get(dir, 'memory.swap.current'));
    const swapMax = r.get(dir, 'memory.swap.max');
    const swapLimit = swapMax === undefined ? 0n : u64(swapMax) === MAX_U64 ? MAX_U64 : u64(swapMax) + limit;
    const entry = withoutZeroes;
    const sorted = sortedByKey(raw);
    st.memory = {
      ...(raw.file ? { cache: raw.file } : {}),
      usage: entry({ limit, usage, max: u64(r.get(dir, 'memory.peak')), failcnt }),
      swap: entry({ limit: swapLimit, usage: swapUsage + usage, failcnt: 0n }),
      kernel: { limit: 0n, failcnt: 0n },
      kernelTCP: { limit: 0n, failcnt: 0n },
      ...(Object.keys(sorted).length ? { raw: sorted } : {}),
    };
  }
  const pidsCur = r.get(dir, 'pids.current');
  const pidsMax = r.get(dir, 'pids.max');
  st.pids = omitZero({ current: pidsCur === undefined ? BigInt(pidCount) : u64(pidsCur), limit: pidsMax === undefined || pidsMax.trim() === 'max' ? 0n : u64(pidsMax) });
  const io = r.get(dir, 'io.stat');
  if (io) {
    const bytes: BlkioEntry[] = [];
    const ios: BlkioEntry[] = [];
    for (const line of io.split('\n')) {
      const f = line.trim().split(/\s+/);
      if (!/^\d+:\d+$/.test(f[0] ?? '')) continue;
      const [major, minor] = f[0].split(':').map((x) => BigInt(x));
      const kv: Record<string, U64> = {};
      for (const p of f.slice(1)) {
        const [k, v] = p.split('=');
        kv[k] = u64(v);
      }
      const e = (op: string, value: U64 | undefined) => omitZero({ major, minor, op, value: value ?? 0n } as Record<string, unknown>) as BlkioEntry;
      bytes.push(e('Read', kv.rbytes), e('Write', kv.wbytes));
      ios.push(e('Read', kv.rios), e('Write', kv.wios));
    }
    if (bytes.length) st.blkio.ioServiceBytesRecursive = bytes;
    if (ios.length) st.blkio.ioServicedRecursive = ios;
  }
  for (const size of hugeSizes) {
    const cur = r.get(dir, `hugetlb.${size}.current`);
    if (cur === undefined) continue;
    const e = { usage: u64(cur), max: u64(r.get(dir, `hugetlb.${size}.max`)), failcnt: parseKeyValues(r.get(dir, `hugetlb.${size}.events`)).max ?? 0n };
    if (e.max === MAX_U64) e.max = 0n;
    st.hugetlb[size] = omitZero(e as Record<string, unknown>) as typeof e;
    st.hugetlb[size].failcnt ??= 0n;
  }
  return st;
}
