/**
 * Resources -> ordered cgroup file writes, for v1 and v2, with runc's semantics: 0 or absent
 * means "leave alone", a limit asked for on a controller we do not have is an error, settings
 * the kernel cannot honour on this version are warnings, never silent.
 *
 * These functions are pure: what they need to know about the live cgroup (which controllers
 * and files exist, a current value) comes through the context object.
 */
import type { LinuxResources } from '@tsrt/oci-spec';
import { emulateDeviceRules, normalizeDeviceRules, v1DeviceWrites } from './devices';
import { CgroupError, type CgroupWrite, type Translation } from './types';

export interface V1Context {
  /** Is there a directory for this controller (is it mounted)? */
  has(controller: string): boolean;
  hasFile(controller: string, file: string): boolean;
  read(controller: string, file: string): string | undefined;
}

export interface V2Context {
  /** Controllers enabled for this cgroup (its cgroup.controllers). */
  controllers: Set<string>;
  hasFile(file: string): boolean;
  read(file: string): string | undefined;
}

// ---------------------------------------------------------------------------------------------
// Conversions (runc 1.1 / crun formulas)
// ---------------------------------------------------------------------------------------------

/** cpu.shares [2..262144] -> cpu.weight [1..10000]; 0 stays 0 (unset). Linear, as runc 1.1. */
export function cpuSharesToWeight(shares: number): number {
  if (!shares) return 0;
  return 1 + Math.floor(((shares - 2) * 9999) / 262142);
}

/** blkio.weight [10..1000] -> io.weight [1..10000]; 0 stays 0 (unset). */
export function blkioWeightToIoWeight(weight: number): number {
  if (!weight) return 0;
  return 1 + Math.floor(((weight - 10) * 9999) / 990);
}

/**
 * v1's memory.memsw (memory+swap) to v2's memory.swap.max (swap alone). -1 is unlimited, 0 is
 * unset; an unlimited memory with unset swap means unlimited swap too (v1 compatibility).
 */
export function memorySwapToV2(swap: number, memory: number): number {
  if (memory === -1 && swap === 0) return -1;
  if (swap === -1 || swap === 0) return swap;
  if (memory === 0 || memory === -1) throw new CgroupError('unable to set swap limit without memory limit');
  if (memory < 0) throw new CgroupError(`invalid memory value: ${memory}`);
  if (swap < memory) throw new CgroupError('memory+swap limit should be >= memory limit');
  return swap - memory;
}

/** v2 files with .max/.low/.high: -1 is "max", 0 means do not write. */
function numToStr(v: number): string {
  if (v === 0) return '';
  if (v === -1) return 'max';
  return String(v);
}

function cannot(what: string, why: string): CgroupError {
  return new CgroupError(`cannot set ${what} limit: ${why}`);
}

const set = (v: number | undefined | null): v is number => v !== undefined && v !== null && v !== 0;
const defined = <T>(v: T | undefined | null): v is T => v !== undefined && v !== null;

// ---------------------------------------------------------------------------------------------
// v1
// ---------------------------------------------------------------------------------------------

export function translateV1(r: LinuxResources, ctx: V1Context): Translation {
  const writes: CgroupWrite[] = [];
  const warnings: string[] = [];
  const need = (controller: string, what = controller) => {
    if (!ctx.has(controller)) throw cannot(what, `the ${controller} cgroup controller is not mounted (container could not join or create cgroup)`);
  };
  const needFile = (controller: string, file: string, what: string) => {
    need(controller, what);
    if (!ctx.hasFile(controller, file)) throw cannot(what, `${file} does not exist (not supported by this kernel)`);
  };
  const w = (controller: string, file: string, value: string | number, extra: Partial<CgroupWrite> = {}) =>
    writes.push({ controller, file, value: String(value), ...extra });

  if (r.unified && Object.keys(r.unified).length) {
    throw new CgroupError('invalid configuration: cannot use unified on cgroup v1');
  }

  // cpuset
  const cpu = r.cpu ?? {};
  if (cpu.cpus) {
    need('cpuset', 'cpuset');
    w('cpuset', 'cpuset.cpus', cpu.cpus);
  }
  if (cpu.mems) {
    need('cpuset', 'cpuset');
    w('cpuset', 'cpuset.mems', cpu.mems);
  }

  // cpu
  if (set(cpu.shares)) {
    need('cpu', 'cpu shares');
    w('cpu', 'cpu.shares', cpu.shares, { verify: 'cpu.shares' });
  }
  if (set(cpu.period)) {
    need('cpu', 'cpu period');
    // The kernel may refuse a smaller period until the quota is lowered: tolerate and retry.
    w('cpu', 'cpu.cfs_period_us', cpu.period, set(cpu.quota) ? { tolerate: 'EINVAL' } : {});
  }
  if (set(cpu.quota)) {
    need('cpu', 'cpu quota');
    w('cpu', 'cpu.cfs_quota_us', cpu.quota);
    if (set(cpu.period)) w('cpu', 'cpu.cfs_period_us', cpu.period);
  }
  if (defined(cpu.burst)) {
    needFile('cpu', 'cpu.cfs_burst_us', 'cpu burst');
    w('cpu', 'cpu.cfs_burst_us', cpu.burst);
  }
  if (set(cpu.realtimePeriod)) {
    needFile('cpu', 'cpu.rt_period_us', 'cpu realtime period');
    w('cpu', 'cpu.rt_period_us', cpu.realtimePeriod);
  }
  if (set(cpu.realtimeRuntime)) {
    needFile('cpu', 'cpu.rt_runtime_us', 'cpu realtime runtime');
    w('cpu', 'cpu.rt_runtime_us', cpu.realtimeRuntime);
  }
  if (defined(cpu.idle)) {
    needFile('cpu', 'cpu.idle', 'cpu idle');
    w('cpu', 'cpu.idle', cpu.idle);
  }

  // memory
  const m = r.memory ?? {};
  if (defined(m.kernel) || defined(m.kernelTCP)) warnings.push('Kernel memory settings are ignored and will be removed');
  const limit = m.limit ?? 0;
  let swap = m.swap ?? 0;
  const memsw = 'memory.memsw.limit_in_bytes';
  if (limit !== 0 || swap !== 0 || set(m.reservation) || defined(m.swappiness) || m.disableOOMKiller) need('memory');
  if (limit === -1 && swap === 0 && ctx.hasFile('memory', memsw)) swap = -1;
  else if (swap !== 0 && !ctx.hasFile('memory', memsw)) {
    throw cannot('memory swap', `${memsw} does not exist (swap accounting is disabled in this kernel)`);
  }
  if (limit > 0 && swap > 0 && swap < limit) throw cannot('memory', 'memory+swap limit should be >= memory limit');
  const setLimit = () => limit !== 0 && w('memory', 'memory.limit_in_bytes', limit);
  const setSwap = () => swap !== 0 && w('memory', memsw, swap);
  if (limit !== 0 && swap !== 0) {
    // Write order so that memory <= memory+swap holds after each write.
    const cur = ctx.read('memory', 'memory.limit_in_bytes');
    const curLimit = cur === undefined ? 0n : BigInt(cur.trim());
    if (swap === -1 || curLimit < BigInt(swap)) {
      setSwap();
      setLimit();
    } else {
      setLimit();
      setSwap();
    }
  } else {
    setLimit();
    setSwap();
  }
  if (set(m.reservation)) w('memory', 'memory.soft_limit_in_bytes', m.reservation);
  if (defined(m.swappiness) && m.swappiness !== -1) {
    if (m.swappiness < 0 || m.swappiness > 100) {
      throw new CgroupError(`invalid value:${m.swappiness}. valid memory swappiness range is 0-100`);
    }
    w('memory', 'memory.swappiness', m.swappiness);
  }
  if (m.disableOOMKiller) w('memory', 'memory.oom_control', 1);

  // pids
  if (r.pids && set(r.pids.limit)) {
    need('pids');
    w('pids', 'pids.max', r.pids.limit > 0 ? r.pids.limit : 'max');
  }

  // devices
  if (r.devices) {
    need('devices');
    writes.push(...v1DeviceWrites(normalizeDeviceRules(r.devices)));
  }

  // blkio
  const b = r.blockIO;
  if (b) {
    const hasCfq = ctx.hasFile('blkio', 'blkio.weight');
    const hasBfq = ctx.hasFile('blkio', 'blkio.bfq.weight');
    if (set(b.weight)) {
      need('blkio', 'blkio weight');
      if (!hasCfq && !hasBfq) throw cannot('blkio weight', 'neither blkio.weight nor blkio.bfq.weight exists (no CFQ or BFQ I/O scheduler)');
      w('blkio', hasCfq ? 'blkio.weight' : 'blkio.bfq.weight', b.weight);
    }
    if (set(b.leafWeight)) {
      needFile('blkio', 'blkio.leaf_weight', 'blkio leaf weight');
      w('blkio', 'blkio.leaf_weight', b.leafWeight);
    }
    for (const d of b.weightDevice ?? []) {
      if (set(d.weight)) {
        need('blkio', 'blkio weight_device');
        if (!hasCfq && !hasBfq) throw cannot('blkio weight_device', 'neither blkio.weight_device nor blkio.bfq.weight exists (no CFQ or BFQ I/O scheduler)');
        const file = hasCfq ? 'blkio.weight_device' : ctx.hasFile('blkio', 'blkio.bfq.weight_device') ? 'blkio.bfq.weight_device' : 'blkio.bfq.weight';
        w('blkio', file, `${d.major}:${d.minor} ${d.weight}`);
      }
      if (set(d.leafWeight)) {
        needFile('blkio', 'blkio.leaf_weight_device', 'blkio leaf_weight_device');
        w('blkio', 'blkio.leaf_weight_device', `${d.major}:${d.minor} ${d.leafWeight}`);
      }
    }
    const throttle: Array<[keyof typeof b, string]> = [
      ['throttleReadBpsDevice', 'blkio.throttle.read_bps_device'],
      ['throttleWriteBpsDevice', 'blkio.throttle.write_bps_device'],
      ['throttleReadIOPSDevice', 'blkio.throttle.read_iops_device'],
      ['throttleWriteIOPSDevice', 'blkio.throttle.write_iops_device'],
    ];
    for (const [key, file] of throttle) {
      for (const d of (b[key] as Array<{ major: number; minor: number; rate: number }> | undefined) ?? []) {
        needFile('blkio', file, 'blkio throttle');
        w('blkio', file, `${d.major}:${d.minor} ${d.rate}`);
      }
    }
  }

  // hugetlb
  for (const h of r.hugepageLimits ?? []) {
    need('hugetlb');
    const file = `hugetlb.${h.pageSize}.limit_in_bytes`;
    if (!ctx.hasFile('hugetlb', file)) throw cannot('hugetlb', `invalid hugepage size ${JSON.stringify(h.pageSize)} (${file} does not exist)`);
    w('hugetlb', file, h.limit);
  }

  // network
  if (r.network) {
    if (set(r.network.classID)) {
      need('net_cls');
      w('net_cls', 'net_cls.classid', r.network.classID);
    }
    for (const p of r.network.priorities ?? []) {
      need('net_prio');
      w('net_prio', 'net_prio.ifpriomap', `${p.name} ${p.priority}`);
    }
  }

  // rdma
  for (const [dev, lim] of Object.entries(r.rdma ?? {})) {
    need('rdma');
    w('rdma', 'rdma.max', rdmaLine(dev, lim));
  }
  return { writes, warnings };
}

function rdmaLine(dev: string, lim: { hcaHandles?: number; hcaObjects?: number }): string {
  const parts = [dev];
  if (defined(lim.hcaHandles)) parts.push(`hca_handle=${lim.hcaHandles}`);
  if (defined(lim.hcaObjects)) parts.push(`hca_object=${lim.hcaObjects}`);
  return parts.join(' ');
}

// ---------------------------------------------------------------------------------------------
// v2
// ---------------------------------------------------------------------------------------------

/**
 * Translate for the unified hierarchy. Device rules are not file writes on v2: the caller
 * compiles `deviceState(r)` into an eBPF program (see bpf.ts).
 */
export function translateV2(r: LinuxResources, ctx: V2Context): Translation {
  const writes: CgroupWrite[] = [];
  const warnings: string[] = [];
  const need = (controller: string, what = controller) => {
    if (!ctx.controllers.has(controller)) {
      const have = [...ctx.controllers].join(' ') || 'none';
      throw cannot(what, `the ${controller} controller is not available in this cgroup v2 hierarchy (available: ${have})`);
    }
  };
  const needFile = (controller: string, file: string, what: string) => {
    need(controller, what);
    if (!ctx.hasFile(file)) throw cannot(what, `${file} does not exist (not supported by this kernel)`);
  };
  const w = (file: string, value: string | number) => writes.push({ controller: '', file, value: String(value) });

  // pids
  if (r.pids && set(r.pids.limit)) {
    need('pids');
    w('pids.max', r.pids.limit > 0 ? r.pids.limit : 'max');
  }

  // memory
  const m = r.memory ?? {};
  if (defined(m.kernel) || defined(m.kernelTCP)) warnings.push('Kernel memory settings are ignored and will be removed');
  if (defined(m.swappiness) && m.swappiness !== -1) warnings.push('memory.swappiness is not supported on cgroup v2 and is ignored');
  if (m.disableOOMKiller) warnings.push('disableOOMKiller is not supported on cgroup v2 and is ignored');
  const limit = m.limit ?? 0;
  const swapAsked = m.swap ?? 0;
  if (limit !== 0 || swapAsked !== 0 || set(m.reservation)) {
    need('memory');
    const swap = memorySwapToV2(swapAsked, limit);
    let swapStr = numToStr(swap);
    if (swapStr === '' && swap === 0 && swapAsked > 0) swapStr = '0'; // memory == memory+swap: no swap
    if (swapStr !== '') {
      if (ctx.hasFile('memory.swap.max')) w('memory.swap.max', swapStr);
      else if (swapAsked !== 0) throw cannot('memory swap', 'memory.swap.max does not exist (swap accounting is disabled in this kernel)');
    }
    if (limit !== 0) w('memory.max', numToStr(limit));
    if (set(m.reservation)) w('memory.low', numToStr(m.reservation));
  }

  // io
  const b = r.blockIO;
  if (b) {
    const bfq = ctx.hasFile('io.bfq.weight');
    if (set(b.weight)) {
      need('io', 'io weight');
      if (bfq) w('io.bfq.weight', b.weight);
      else {
        needFile('io', 'io.weight', 'io weight');
        w('io.weight', blkioWeightToIoWeight(b.weight));
      }
    }
    if (set(b.leafWeight)) warnings.push('blockIO.leafWeight is not supported on cgroup v2 and is ignored');
    for (const d of b.weightDevice ?? []) {
      if (set(d.weight)) {
        need('io', 'io weight_device');
        if (bfq) w('io.bfq.weight', `${d.major}:${d.minor} ${d.weight}`);
        else {
          needFile('io', 'io.weight', 'io weight_device');
          w('io.weight', `${d.major}:${d.minor} ${blkioWeightToIoWeight(d.weight)}`);
        }
      }
      if (set(d.leafWeight)) warnings.push('blockIO.weightDevice[].leafWeight is not supported on cgroup v2 and is ignored');
    }
    const throttle: Array<[keyof typeof b, string]> = [
      ['throttleReadBpsDevice', 'rbps'],
      ['throttleWriteBpsDevice', 'wbps'],
      ['throttleReadIOPSDevice', 'riops'],
      ['throttleWriteIOPSDevice', 'wiops'],
    ];
    for (const [key, name] of throttle) {
      for (const d of (b[key] as Array<{ major: number; minor: number; rate: number }> | undefined) ?? []) {
        needFile('io', 'io.max', 'io throttle');
        w('io.max', `${d.major}:${d.minor} ${name}=${d.rate ? d.rate : 'max'}`);
      }
    }
  }

  // cpu
  const cpu = r.cpu ?? {};
  if (set(cpu.realtimeRuntime) || set(cpu.realtimePeriod)) {
    throw cannot('cpu realtime', 'cgroup v2 has no realtime CPU settings (cpu.rt_runtime_us, cpu.rt_period_us)');
  }
  if (set(cpu.shares)) {
    need('cpu', 'cpu shares');
    w('cpu.weight', cpuSharesToWeight(cpu.shares));
  }
  if (set(cpu.quota) || set(cpu.period)) {
    need('cpu', set(cpu.quota) ? 'cpu quota' : 'cpu period');
    // An update of one half keeps the other half as it is now.
    const [curQuota, curPeriod] = (ctx.read('cpu.max') ?? 'max 100000').trim().split(/\s+/);
    const quota = set(cpu.quota) ? (cpu.quota > 0 ? String(cpu.quota) : 'max') : curQuota || 'max';
    const period = set(cpu.period) ? String(cpu.period) : curPeriod || '100000';
    w('cpu.max', `${quota} ${period}`);
  }
  if (defined(cpu.burst)) {
    needFile('cpu', 'cpu.max.burst', 'cpu burst');
    w('cpu.max.burst', cpu.burst);
  }
  if (defined(cpu.idle)) {
    needFile('cpu', 'cpu.idle', 'cpu idle');
    w('cpu.idle', cpu.idle);
  }

  // cpuset
  if (cpu.cpus) {
    need('cpuset');
    w('cpuset.cpus', cpu.cpus);
  }
  if (cpu.mems) {
    need('cpuset');
    w('cpuset.mems', cpu.mems);
  }

  // hugetlb
  for (const h of r.hugepageLimits ?? []) {
    need('hugetlb');
    const file = `hugetlb.${h.pageSize}.max`;
    if (!ctx.hasFile(file)) throw cannot('hugetlb', `invalid hugepage size ${JSON.stringify(h.pageSize)} (${file} does not exist)`);
    w(file, h.limit);
    const rsvd = `hugetlb.${h.pageSize}.rsvd.max`;
    if (ctx.hasFile(rsvd)) w(rsvd, h.limit);
  }

  // rdma
  for (const [dev, lim] of Object.entries(r.rdma ?? {})) {
    need('rdma');
    w('rdma.max', rdmaLine(dev, lim));
  }

  // network: no v2 controller exists for these
  if (r.network && (set(r.network.classID) || (r.network.priorities ?? []).length)) {
    warnings.push('network classID and priorities are not supported on cgroup v2 (no net_cls/net_prio controllers) and are ignored');
  }

  // unified: raw key/values, written last so they win
  for (const [k, v] of Object.entries(r.unified ?? {})) {
    if (k.includes('/')) throw new CgroupError(`unified resource ${JSON.stringify(k)} must be a file name (no slashes)`);
    const dot = k.indexOf('.');
    if (dot <= 0) throw new CgroupError(`unified resource ${JSON.stringify(k)} must be in the form CONTROLLER.PARAMETER`);
    const c = k.slice(0, dot);
    if (c !== 'cgroup' && !ctx.controllers.has(c) && !ctx.hasFile(k)) {
      throw new CgroupError(`unified resource ${JSON.stringify(k)} can't be set: controller ${JSON.stringify(c)} not available`);
    }
    if (!ctx.hasFile(k)) throw new CgroupError(`unable to set unified resource ${JSON.stringify(k)}: no such file`);
    w(k, v);
  }
  return { writes, warnings };
}

/** The device decision state for v2 (compiled to eBPF), or undefined when devices are not set. */
export function deviceState(r: LinuxResources) {
  if (!r.devices) return undefined;
  return emulateDeviceRules(normalizeDeviceRules(r.devices));
}
