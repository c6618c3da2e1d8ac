import * as fs from 'fs';
import * as path from 'path';
import type { Spec } from '@tsrt/oci-spec';
import type { CgroupDescription } from './types';

type Resources = NonNullable<NonNullable<Spec['linux']>['resources']>;

/** Fewer tasks than this in pids.max and Node's own threads (about ten) could fail to start. */
const MIN_PIDS_FOR_EARLY_JOIN = 64;

/**
 * May a freshly spawned Node helper (create's stage 2) join the container's cgroups at once,
 * while it is still starting up, instead of after its start-up? (exec's helper never joins:
 * only the command it spawns does, see lifecycle/exec-gate.ts; `into: 'running'` is kept for
 * callers that would put a helper into a running container.)
 *
 * Joining late keeps Node's start-up memory (~40 MB) charged outside the container, so tiny
 * memory limits work, and keeps a pids or CPU limit from throttling the helper's start-up; but
 * it costs a round trip on the critical path (and on cgroup v1 the first write to cgroup.procs
 * waits for an RCU grace period, ~10 ms). Without any such limit nothing can go wrong by joining
 * early, and the join then overlaps the helper's start-up.
 */
export function joinEarly(resources: Resources | undefined | null, execCpuAffinity?: unknown, into: 'new' | 'running' = 'new'): boolean {
  // execCPUAffinity.initial is the affinity stage 2 sets just before it joins.
  if (execCpuAffinity) return false;
  if (!resources) return true;
  const m = resources.memory;
  if (m && [m.limit, m.reservation, m.swap].some((v) => typeof v === 'number' && v > 0)) return false;
  const p = resources.pids?.limit;
  // A running container may be near its pids limit: the helper's threads must exist before it joins.
  if (typeof p === 'number' && p > 0 && (into === 'running' || p < MIN_PIDS_FOR_EARLY_JOIN)) return false;
  const c = resources.cpu;
  if (c && ((typeof c.quota === 'number' && c.quota > 0) || c.cpus || c.mems || c.idle === 1 || (typeof c.realtimeRuntime === 'number' && c.realtimeRuntime > 0))) return false;
  const u = resources.unified;
  if (u && Object.keys(u).some((k) => /^(memory|pids|cpu|cpuset)\./.test(k))) return false;
  return true;
}

/**
 * The smallest memory limit from the container's cgroup up to the root, in bytes (Infinity when
 * none): a parent's limit (a pod's, say) binds the helper as much as the container's own.
 */
export function effectiveMemoryLimit(desc: CgroupDescription, read: (file: string) => string = (f) => fs.readFileSync(f, 'utf8')): number {
  try {
    if (desc.driver === 'v1') {
      const dir = desc.paths.memory;
      if (!dir) return Infinity;
      const m = /^hierarchical_memory_limit (\d+)$/m.exec(read(path.join(dir, 'memory.stat')));
      // v1 reports "unlimited" as the largest page-aligned 63-bit value.
      return m && Number(m[1]) < 2 ** 62 ? Number(m[1]) : Infinity;
    }
    const root = desc.root ?? '/sys/fs/cgroup';
    let limit = Infinity;
    for (let dir = desc.paths[''] ?? ''; dir.startsWith(root + '/'); dir = path.dirname(dir)) {
      let v: string;
      try {
        v = read(path.join(dir, 'memory.max')).trim();
      } catch {
        continue; // memory controller not enabled at this level
      }
      if (v !== 'max') limit = Math.min(limit, Number(v));
    }
    return limit;
  } catch {
    return 0; // unreadable: assume the worst, join late
  }
}

/**
 * joinEarly for the config, and no memory limit on the cgroup or any of its parents.
 * `into`: a new container's empty cgroup (create) or a running one's (exec).
 */
export function helperJoinsEarly(desc: CgroupDescription | undefined, resources: Resources | undefined | null, execCpuAffinity: unknown, into: 'new' | 'running'): boolean {
  // Any memory limit above us (a pod's, say) could be nearly used up: ~40 MB more might OOM-kill
  // a process of a neighbour container.
  return !!desc && joinEarly(resources, execCpuAffinity, into) && effectiveMemoryLimit(desc) === Infinity;
}
