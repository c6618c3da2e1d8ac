/**
 * Container operations that work through the cgroup layer: pause, resume, ps, events, update.
 * Each loads the state, checks the status with runc's error texts, and reopens the container's
 * cgroups from the description stored at create (state.cgroup).
 */
import { spawnSync } from 'child_process';
import type { LinuxResources } from '@tsrt/oci-spec';
import { RuntimeError, ERR_NOT_RUNNING } from '../errors';
import { openCgroupManager, statsToJson, containerPaused, type CgroupDescription, type CgroupManager } from '../cgroups';
import type { ContainerState } from '../state/container-state';
import { isAlive } from '../state/liveness';
import type { Context } from './context';
import { statusOf, setPausedProbe } from './status';

// Paused-ness is read from the freezer of the stored cgroup description.
setPausedProbe((s) => containerPaused(s.cgroup as CgroupDescription | undefined));

export function managerOf(state: ContainerState): CgroupManager {
  if (!state.cgroup) throw new RuntimeError(`container ${state.id} has no cgroup (it was created without one)`);
  return openCgroupManager(state.cgroup as CgroupDescription);
}

function withState<T>(ctx: Context, id: string, fn: (state: ContainerState) => T): T {
  const lock = ctx.store.lock(id);
  try {
    return fn(ctx.store.load(id));
  } finally {
    lock.release();
  }
}

export function pause(ctx: Context, id: string): void {
  withState(ctx, id, (state) => {
    const status = statusOf(ctx.store, state);
    if (status !== 'running' && status !== 'created') throw new RuntimeError(ERR_NOT_RUNNING);
    managerOf(state).freeze();
  });
}

export function resume(ctx: Context, id: string): void {
  withState(ctx, id, (state) => {
    if (statusOf(ctx.store, state) !== 'paused') throw new RuntimeError('container not paused');
    managerOf(state).thaw();
  });
}

/** Pids of every process of the container (its whole cgroup subtree). */
export function containerPids(ctx: Context, id: string): number[] {
  const state = ctx.store.load(id);
  if (!state.cgroup) return statusOf(ctx.store, state) === 'stopped' ? [] : [state.pid];
  const m = managerOf(state);
  return m.exists() ? m.pids() : [];
}

/** runc ps: `ps` output filtered to the container's pids (table), or the pid list (json). */
export function ps(ctx: Context, id: string, format: string, psArgs: string[]): string {
  if (format !== 'table' && format !== 'json') throw new RuntimeError('invalid format option');
  const pids = containerPids(ctx, id);
  if (format === 'json') return (pids.length ? JSON.stringify(pids) : 'null') + '\n';
  const args = psArgs.length ? psArgs : ['-ef'];
  const r = spawnSync('ps', args, { encoding: 'utf8' });
  if (r.error) throw new RuntimeError(`exec: "ps": ${(r.error as NodeJS.ErrnoException).code === 'ENOENT' ? 'executable file not found in $PATH' : r.error.message}`);
  const output = (r.stdout ?? '') + (r.stderr ?? '');
  if (r.status !== 0) throw new RuntimeError(`exit status ${r.status}: ${output.trim()}`);
  const lines = (r.stdout ?? '').split('\n');
  const pidIndex = lines[0].trim().split(/\s+/).indexOf('PID');
  if (pidIndex < 0) throw new RuntimeError("couldn't find PID field in ps output");
  const out = [lines[0]];
  const want = new Set(pids);
  for (const line of lines.slice(1)) {
    if (!line) continue;
    const field = line.trim().split(/\s+/)[pidIndex];
    if (!/^\d+$/.test(field ?? '')) throw new RuntimeError(`unexpected pid '${field}': invalid syntax`);
    if (want.has(Number(field))) out.push(line);
  }
  return out.join('\n') + '\n';
}

/** A Go duration ("5s", "1m30s", "250ms") in milliseconds. */
export function parseDuration(s: string, flag = 'interval'): number {
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60000, h: 3600000 };
  const t = s.trim();
  if (t === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let pos = 0;
  let m: RegExpExecArray | null;
  const neg = t.startsWith('-');
  const body = neg || t.startsWith('+') ? t.slice(1) : t;
  while ((m = re.exec(body))) {
    total += parseFloat(m[1]) * units[m[2]];
    pos = re.lastIndex;
  }
  if (pos !== body.length || body === '') throw new RuntimeError(`invalid value "${s}" for flag -${flag}: parse error`);
  return neg ? -total : total;
}

export interface EventsOptions {
  stats: boolean;
  intervalMs: number;
  write: (line: string) => void;
  /** Stop the loop (tests); the loop also ends when the container stops. */
  signal?: AbortSignal;
}

/** runc events: one JSON object per line; --stats prints one stats event and returns. */
export async function events(ctx: Context, id: string, opts: EventsOptions): Promise<void> {
  if (!(opts.intervalMs > 0)) throw new RuntimeError('duration interval must be greater than 0');
  const state = ctx.store.load(id);
  if (statusOf(ctx.store, state) === 'stopped') throw new RuntimeError(`container with id ${id} is not running`);
  const m = managerOf(state);
  const statsEvent = () => statsToJson({ type: 'stats', id, data: m.stats() }) + '\n';
  if (opts.stats) {
    opts.write(statsEvent());
    return;
  }
  let oomSeen = m.oomKillCount();
  const alive = () => isAlive(state.pid, state.pidStartTime) && m.exists();
  let nextStats = Date.now() + opts.intervalMs;
  const tick = Math.min(100, opts.intervalMs);
  while (!opts.signal?.aborted) {
    await new Promise((r) => setTimeout(r, tick));
    try {
      const oom = m.oomKillCount();
      for (; oomSeen < oom; oomSeen++) opts.write(JSON.stringify({ type: 'oom', id }) + '\n');
    } catch {
      /* the cgroup is going away */
    }
    if (!alive()) return;
    if (Date.now() >= nextStats) {
      nextStats += opts.intervalMs;
      try {
        opts.write(statsEvent());
      } catch (e) {
        ctx.log.error(`stats: ${(e as Error).message}`);
      }
    }
  }
}

/** The resource update runc's `update` accepts, applied on top of what the container has. */
export function update(ctx: Context, id: string, all: LinuxResources): string[] {
  const r = updatable(all);
  return withState(ctx, id, (state) => {
    if (statusOf(ctx.store, state) === 'stopped') throw new RuntimeError(ERR_NOT_RUNNING);
    const warnings = managerOf(state).set(r);
    // Keep the stored config in step, as runc saves its updated cgroup config.
    const cfg = state.config ?? {};
    cfg.linux ??= {};
    cfg.linux.resources = mergeResources(cfg.linux.resources ?? {}, r);
    state.config = cfg;
    ctx.store.save(state);
    return warnings;
  });
}

/**
 * The fields runc's update applies (podman passes a whole LinuxResources with --resources=FILE;
 * devices, hugepages, network... in it must not reset the running container's settings).
 */
export function updatable(r: LinuxResources): LinuxResources {
  const out: LinuxResources = {};
  const pick = <T extends object>(o: T | undefined, keys: Array<keyof T>): T | undefined => {
    if (!o) return undefined;
    const p = {} as T;
    for (const k of keys) if (o[k] !== undefined && o[k] !== null) p[k] = o[k];
    return Object.keys(p).length ? p : undefined;
  };
  const memory = pick(r.memory, ['limit', 'reservation', 'swap', 'kernel', 'kernelTCP']);
  const cpu = pick(r.cpu, ['shares', 'quota', 'burst', 'period', 'realtimeRuntime', 'realtimePeriod', 'cpus', 'mems', 'idle']);
  const blockIO = pick(r.blockIO, ['weight']);
  const pids = pick(r.pids, ['limit']);
  if (memory) out.memory = memory;
  if (cpu) out.cpu = cpu;
  if (blockIO) out.blockIO = blockIO;
  if (pids) out.pids = pids;
  if (r.unified && Object.keys(r.unified).length) out.unified = r.unified;
  return out;
}

/** Shallow per-section merge; zero/absent values in `upd` leave the old ones (runc's rule). */
export function mergeResources(old: LinuxResources, upd: LinuxResources): LinuxResources {
  const out: LinuxResources = { ...old };
  for (const key of ['memory', 'cpu', 'pids', 'blockIO'] as const) {
    const u = upd[key] as Record<string, unknown> | undefined;
    if (!u) continue;
    const merged: Record<string, unknown> = { ...((old[key] as Record<string, unknown>) ?? {}) };
    for (const [k, v] of Object.entries(u)) if (v !== undefined && v !== null && v !== 0 && v !== '') merged[k] = v;
    (out as Record<string, unknown>)[key] = merged;
  }
  for (const key of ['hugepageLimits', 'network', 'unified', 'rdma'] as const) {
    if (upd[key] !== undefined) (out as Record<string, unknown>)[key] = upd[key];
  }
  return out;
}

/** runc's size syntax (docker/go-units RAMInBytes): "64m", "1.5g", "100", "-1". */
export function parseRamBytes(v: string, flag: string): number {
  const m = /^(-?\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b)?$/i.exec(v.trim());
  if (!m) throw new RuntimeError(`invalid value for ${flag}: invalid size: '${v}'`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 }[m[2].toLowerCase() as '' | 'k'];
  return Math.trunc(parseFloat(m[1]) * mult);
}

export function parseUintFlag(v: string, flag: string): number {
  if (!/^\d+$/.test(v.trim())) throw new RuntimeError(`invalid value for ${flag}: strconv.ParseUint: parsing ${JSON.stringify(v)}: invalid syntax`);
  return Number(v);
}

export function parseIntFlag(v: string, flag: string): number {
  if (!/^-?\d+$/.test(v.trim())) throw new RuntimeError(`invalid value for ${flag}: strconv.ParseInt: parsing ${JSON.stringify(v)}: invalid syntax`);
  return Number(v);
}
