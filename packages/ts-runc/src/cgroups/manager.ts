/**
 * The cgroup manager: one interface, a v1 driver (also used on hybrid machines, where it
 * creates and joins the unified dir too, as runc does) and a v2 driver. A manager is built
 * either from the container's id/cgroupsPath at create time (`cgroupManagerFor`) or from the
 * stored description in any later command (`openCgroupManager`).
 */
import * as path from 'path';
import type { LinuxResources } from '@tsrt/oci-spec';
import { libc, type Sys } from '@tsrt/libc';
import { realFs, type CgroupFs } from './fs';
import { detectHierarchies, hierarchyDir, parseProcCgroup, resolveInnerPath, type Hierarchies } from './paths';
import type { RuncStats } from './stats';
import { deviceState, translateV1, translateV2 } from './translate';
import { CgroupError, type CgroupDescription, type CgroupWrite, type FreezerState } from './types';

export interface CgroupManager {
  readonly description: CgroupDescription;
  /** Create the directories (v1: seed cpuset; v2: enable controllers down the path). Idempotent. */
  create(): void;
  /** Move a process into the container's cgroup(s): call it late (see process-model.md). */
  join(pid: number): void;
  /** Apply resources; 0/absent fields are left alone (so the same call serves update). Returns warnings. */
  set(resources: LinuxResources): string[];
  freeze(): void;
  thaw(): void;
  freezerState(): FreezerState;
  /** Every pid in the container's cgroup and its descendants. */
  pids(): number[];
  stats(): RuncStats;
  /** OOM kills so far (memory.oom_control / memory.events oom_kill), 0 without a memory controller. */
  oomKillCount(): number;
  /** Signal every process (v2 cgroup.kill for SIGKILL; else freeze, signal each, thaw). */
  killAll(signal: number): void;
  /** Remove the directories we created (children first, EBUSY retried briefly). */
  destroy(): void;
  /** Remove the directories we created, children first, if no task is left: false at the first busy one. */
  removeIfEmpty(): boolean;
  exists(): boolean;
}

export interface ManagerDeps {
  fs?: CgroupFs;
  sys?: Sys;
  /** Sleep used while polling freezer state and retrying rmdir. */
  sleep?: (ms: number) => void;
}

export interface CreateRequest extends ManagerDeps {
  id: string;
  cgroupsPath?: string;
  systemd?: boolean;
  /** Test hooks: the layout and our own /proc/self/cgroup. */
  hierarchies?: Hierarchies;
  ownCgroup?: Record<string, string>;
  /** Hybrid only: also create/join the unified dir (default true, as runc). */
  hybridUnified?: boolean;
}

const sab = new Int32Array(new SharedArrayBuffer(4));
export function sleepSync(ms: number): void {
  Atomics.wait(sab, 0, 0, ms);
}

/** The description of a container's cgroups: where they go; nothing is created yet. */
export function describeCgroups(req: CreateRequest): CgroupDescription {
  const inner = resolveInnerPath(req);
  const h = req.hierarchies ?? detectHierarchies();
  const own = req.ownCgroup ?? parseProcCgroup(require('fs').readFileSync('/proc/self/cgroup', 'utf8'));
  const paths: Record<string, string> = {};
  if (h.mode === 'v2') {
    paths[''] = hierarchyDir(h.unified!, inner, own[''], true);
    return { driver: 'v2', mode: 'v2', path: inner, paths, created: [], root: h.unified!.mountPoint };
  }
  for (const [ctrl, mount] of Object.entries(h.v1)) {
    paths[ctrl] = hierarchyDir(mount, inner, own[ctrl]);
  }
  if (h.mode === 'hybrid' && h.unified && req.hybridUnified !== false) paths[''] = hierarchyDir(h.unified, inner, own['']);
  return { driver: 'v1', mode: h.mode, path: inner, paths, created: [] };
}

/** A manager for a new container (call create() on it). */
export function cgroupManagerFor(req: CreateRequest): CgroupManager {
  return openCgroupManager(describeCgroups(req), req);
}

/** Reopen a container's cgroups from the description stored in its state. */
export function openCgroupManager(desc: CgroupDescription, deps: ManagerDeps = {}): CgroupManager {
  return desc.driver === 'v2' ? new V2Manager(desc, deps) : new V1Manager(desc, deps);
}

// ---------------------------------------------------------------------------------------------

abstract class BaseManager implements CgroupManager {
  protected fs: CgroupFs;
  protected sleep: (ms: number) => void;
  private sysImpl?: Sys;
  constructor(
    readonly description: CgroupDescription,
    deps: ManagerDeps,
  ) {
    this.fs = deps.fs ?? realFs;
    this.sysImpl = deps.sys;
    this.sleep = deps.sleep ?? sleepSync;
  }
  protected get sys(): Sys {
    return (this.sysImpl ??= libc());
  }

  abstract create(): void;
  abstract set(resources: LinuxResources): string[];
  abstract freeze(): void;
  abstract thaw(): void;
  abstract freezerState(): FreezerState;
  abstract stats(): RuncStats;
  abstract oomKillCount(): number;
  protected abstract procsDir(): string | undefined;

  /** Unique directories, in a stable order. */
  protected dirs(): string[] {
    return [...new Set(Object.values(this.description.paths))];
  }

  protected noteCreated(dirs: string[]): void {
    for (const d of dirs) if (!this.description.created.includes(d)) this.description.created.push(d);
  }

  join(pid: number): void {
    for (const dir of this.dirs()) {
      try {
        this.fs.write(path.join(dir, 'cgroup.procs'), String(pid));
      } catch (e) {
        throw new CgroupError(`failed to join cgroup ${dir} with pid ${pid}: ${(e as Error).message}`);
      }
    }
  }

  protected read(dir: string, file: string): string | undefined {
    try {
      return this.fs.read(path.join(dir, file));
    } catch {
      return undefined;
    }
  }

  /** Perform translated writes; a failure names the file, the value and the errno. */
  protected apply(writes: CgroupWrite[], dirOf: (w: CgroupWrite) => string): void {
    for (const w of writes) {
      const dir = dirOf(w);
      const file = path.join(dir, w.file);
      try {
        this.fs.write(file, w.value);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code ?? '';
        if (w.tolerate && code === w.tolerate) continue;
        if (code === 'EBUSY' && (w.file === 'memory.limit_in_bytes' || w.file === 'memory.max')) {
          const usage = this.read(dir, w.file === 'memory.max' ? 'memory.current' : 'memory.usage_in_bytes')?.trim();
          const peak = this.read(dir, w.file === 'memory.max' ? 'memory.peak' : 'memory.max_usage_in_bytes')?.trim();
          throw new CgroupError(`unable to set memory limit to ${w.value} (current usage: ${usage ?? '?'}, peak usage: ${peak ?? '?'})`);
        }
        throw new CgroupError(`failed to write ${JSON.stringify(w.value)} to ${file}: ${code || (e as Error).message}`);
      }
      if (w.verify === 'cpu.shares') {
        const got = Number(this.read(dir, w.file)?.trim());
        const want = Number(w.value);
        if (got > 0 && got !== want) {
          if (want > got) throw new CgroupError(`the maximum allowed cpu-shares is ${got}`);
          throw new CgroupError(`the minimum allowed cpu-shares is ${got}`);
        }
      }
    }
  }

  /**
   * Every process in any of the container's cgroups. Each hierarchy is read, not one for all: a
   * create killed while it moved its init in, one hierarchy after the other, leaves it in only
   * some of them, and delete -f must still find it (the others would stay busy).
   */
  pids(): number[] {
    const top = this.procsDir();
    if (!top) return [];
    const out: number[] = [];
    const walk = (dir: string) => {
      const txt = this.read(dir, 'cgroup.procs');
      if (txt === undefined) return;
      for (const l of txt.split('\n')) if (l.trim()) out.push(parseInt(l, 10));
      for (const sub of this.fs.subdirs(dir)) walk(path.join(dir, sub));
    };
    for (const dir of new Set([top, ...this.dirs()])) walk(dir);
    return [...new Set(out)];
  }

  killAll(signal: number): void {
    const frozen = this.tryFreeze();
    try {
      for (const pid of this.pids()) {
        try {
          this.sys.kill(pid, signal);
        } catch (e) {
          if ((e as { code?: string }).code !== 'ESRCH') throw e;
        }
      }
    } finally {
      if (frozen) this.thaw();
    }
  }

  /** Freeze if we can (for killAll); false when there is no freezer. */
  protected tryFreeze(): boolean {
    if (this.freezerState() === 'UNSUPPORTED') return false;
    try {
      this.freeze();
      return true;
    } catch {
      return false;
    }
  }

  exists(): boolean {
    return this.dirs().some((d) => this.fs.exists(d));
  }

  destroy(): void {
    const errors: string[] = [];
    // Deepest first; sub-cgroups the container made inside its own go too.
    for (const dir of [...this.description.created].sort((a, b) => b.length - a.length)) {
      try {
        this.removeTree(dir);
      } catch (e) {
        errors.push(`${dir}: ${(e as Error).message}`);
      }
    }
    if (errors.length) throw new CgroupError(`failed to remove cgroup: ${errors.join('; ')}`);
  }

  removeIfEmpty(): boolean {
    const once = (dir: string): boolean => {
      for (let listed = false; ; listed = true) {
        try {
          this.fs.rmdir(dir);
          return true;
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          if (code === 'ENOENT') return true;
          // Busy: child cgroups (removed, then once more), or tasks.
          if (code !== 'EBUSY' || listed || !this.fs.subdirs(dir).every((sub) => once(path.join(dir, sub)))) return false;
        }
      }
    };
    return [...this.description.created].sort((a, b) => b.length - a.length).every(once);
  }

  private removeTree(dir: string): void {
    if (!this.fs.exists(dir)) return;
    for (const sub of this.fs.subdirs(dir)) this.removeTree(path.join(dir, sub));
    let delay = 10;
    for (let attempt = 0; ; attempt++) {
      try {
        this.fs.rmdir(dir);
        return;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') return;
        // EBUSY while killed tasks finish exiting: they leave cgroup.procs first (a Node helper
        // of ~50 MB can take a second under load), so allow about 5 s in all.
        if (code !== 'EBUSY' || attempt >= 9) throw e;
        this.sleep(delay);
        delay *= 2;
      }
    }
  }

  /** Poll until `done` or time out. */
  protected waitFor(done: () => boolean, ms: number, step = 5, onTick?: (i: number) => void): boolean {
    const deadline = Date.now() + ms;
    for (let i = 0; ; i++) {
      if (done()) return true;
      if (Date.now() >= deadline) return false;
      onTick?.(i);
      this.sleep(step);
    }
  }
}

// ---------------------------------------------------------------------------------------------

export class V1Manager extends BaseManager {
  create(): void {
    const created: string[] = [];
    for (const dir of this.dirs()) created.push(...this.fs.mkdirp(dir));
    this.noteCreated(created);
    const cs = this.description.paths['cpuset'];
    if (cs) this.seedCpuset(cs);
  }

  /** A new v1 cpuset has empty cpus/mems and refuses tasks: copy them down from the parent. */
  private seedCpuset(leaf: string): void {
    const chain: string[] = [];
    for (let d = leaf; this.fs.exists(path.join(d, 'cpuset.cpus')); d = path.dirname(d)) {
      chain.unshift(d);
      if (path.dirname(d) === d) break;
    }
    for (let i = 1; i < chain.length; i++) {
      for (const f of ['cpuset.cpus', 'cpuset.mems']) {
        if ((this.read(chain[i], f) ?? '').trim() === '') {
          const parent = (this.read(chain[i - 1], f) ?? '').trim();
          if (parent) this.fs.write(path.join(chain[i], f), parent);
        }
      }
    }
  }

  private ctrlDir(c: string): string | undefined {
    return c === '' ? undefined : this.description.paths[c];
  }

  set(resources: LinuxResources): string[] {
    const t = translateV1(resources, {
      has: (c) => !!this.ctrlDir(c) && this.fs.exists(this.ctrlDir(c)!),
      hasFile: (c, f) => !!this.ctrlDir(c) && this.fs.exists(path.join(this.ctrlDir(c)!, f)),
      read: (c, f) => (this.ctrlDir(c) ? this.read(this.ctrlDir(c)!, f) : undefined),
    });
    this.apply(t.writes, (w) => this.ctrlDir(w.controller)!);
    return t.warnings;
  }

  private freezerDir(): string {
    const d = this.description.paths['freezer'];
    if (!d) throw new CgroupError('the freezer cgroup controller is not mounted: cannot pause or resume');
    return d;
  }

  private state(): string {
    return (this.read(this.freezerDir(), 'freezer.state') ?? '').trim();
  }

  freeze(): void {
    const dir = this.freezerDir();
    const file = path.join(dir, 'freezer.state');
    this.fs.write(file, 'FROZEN');
    // A task in an uninterruptible sleep keeps the cgroup FREEZING: nudge it by writing again.
    const ok = this.waitFor(() => this.state() === 'FROZEN', 2000, 2, (i) => {
      if (i % 50 === 49) this.fs.write(file, 'FROZEN');
    });
    if (!ok) {
      this.fs.write(file, 'THAWED');
      throw new CgroupError('unable to freeze the container: its cgroup stayed in FREEZING state');
    }
  }

  thaw(): void {
    const file = path.join(this.freezerDir(), 'freezer.state');
    this.fs.write(file, 'THAWED');
    if (!this.waitFor(() => this.state() === 'THAWED', 2000, 2)) throw new CgroupError('unable to thaw the container');
  }

  freezerState(): FreezerState {
    const d = this.description.paths['freezer'];
    if (!d) return 'UNSUPPORTED';
    const s = (this.read(d, 'freezer.state') ?? '').trim();
    return s === 'FROZEN' || s === 'FREEZING' ? s : 'THAWED';
  }

  protected procsDir(): string | undefined {
    const p = this.description.paths;
    return p['pids'] ?? p['freezer'] ?? p['devices'] ?? p['memory'] ?? p['cpu'] ?? Object.values(p)[0];
  }

  stats(): RuncStats {
    const { statsV1 } = require('./stats') as typeof import('./stats');
    return statsV1(this.fs, this.description.paths);
  }

  oomKillCount(): number {
    const d = this.description.paths['memory'];
    if (!d) return 0;
    const m = /^oom_kill (\d+)$/m.exec(this.read(d, 'memory.oom_control') ?? '');
    return m ? Number(m[1]) : 0;
  }
}

// ---------------------------------------------------------------------------------------------

export class V2Manager extends BaseManager {
  private get dir(): string {
    return this.description.paths[''];
  }

  create(): void {
    const root = this.description.root ?? '/sys/fs/cgroup';
    const rel = path.relative(root, this.dir);
    if (rel.startsWith('..')) throw new CgroupError(`cgroup path ${this.dir} is outside the cgroup2 mount ${root}`);
    // Enable every available controller in each ancestor so the leaf gets them (as runc).
    let cur = root;
    const parts = rel ? rel.split('/') : [];
    for (let i = 0; i < parts.length; i++) {
      this.enableControllers(cur);
      cur = path.join(cur, parts[i]);
      if (!this.fs.exists(cur)) this.noteCreated(this.fs.mkdirp(cur));
    }
  }

  private enableControllers(dir: string): void {
    const avail = (this.read(dir, 'cgroup.controllers') ?? '').trim().split(/\s+/).filter(Boolean);
    if (!avail.length) return;
    const enabled = new Set((this.read(dir, 'cgroup.subtree_control') ?? '').trim().split(/\s+/).filter(Boolean));
    const want = avail.filter((c) => !enabled.has(c));
    if (!want.length) return;
    const file = path.join(dir, 'cgroup.subtree_control');
    try {
      this.fs.write(file, want.map((c) => '+' + c).join(' '));
    } catch {
      // One by one: some may be refused (a parent with processes, a threaded subtree).
      for (const c of want) {
        try {
          this.fs.write(file, '+' + c);
        } catch {
          /* that controller stays unavailable below: set() reports it if a limit needs it */
        }
      }
    }
  }

  set(resources: LinuxResources): string[] {
    const controllers = new Set((this.read(this.dir, 'cgroup.controllers') ?? '').trim().split(/\s+/).filter(Boolean));
    const t = translateV2(resources, {
      controllers,
      hasFile: (f) => this.fs.exists(path.join(this.dir, f)),
      read: (f) => this.read(this.dir, f),
    });
    const devices = deviceState(resources);
    if (devices) {
      // Loaded on demand: only v2 needs it, and create should load as little as possible.
      const { assembleDeviceFilter, attachDeviceFilter } = require('./bpf') as typeof import('./bpf');
      attachDeviceFilter(this.sys, this.dir, assembleDeviceFilter(devices));
    }
    this.apply(t.writes, () => this.dir);
    return t.warnings;
  }

  private freezeFile(): string {
    const f = path.join(this.dir, 'cgroup.freeze');
    if (!this.fs.exists(f)) throw new CgroupError(`cannot freeze: ${f} does not exist (cgroup v2 freezer needs Linux 5.2)`);
    return f;
  }

  private frozenEvent(): string | undefined {
    return /^frozen (\d)$/m.exec(this.read(this.dir, 'cgroup.events') ?? '')?.[1];
  }

  freeze(): void {
    this.fs.write(this.freezeFile(), '1');
    if (!this.waitFor(() => this.frozenEvent() !== '0', 2000, 2)) {
      this.fs.write(this.freezeFile(), '0');
      throw new CgroupError('unable to freeze the container: cgroup.events never reported frozen');
    }
  }

  thaw(): void {
    this.fs.write(this.freezeFile(), '0');
    if (!this.waitFor(() => this.frozenEvent() !== '1', 2000, 2)) throw new CgroupError('unable to thaw the container');
  }

  freezerState(): FreezerState {
    const v = this.read(this.dir, 'cgroup.freeze');
    if (v === undefined) return this.fs.exists(this.dir) ? 'UNSUPPORTED' : 'THAWED';
    if (v.trim() !== '1') return 'THAWED';
    return this.frozenEvent() === '0' ? 'FREEZING' : 'FROZEN';
  }

  protected procsDir(): string | undefined {
    return this.dir;
  }

  override killAll(signal: number): void {
    if (signal === 9 && this.fs.exists(path.join(this.dir, 'cgroup.kill'))) {
      this.fs.write(path.join(this.dir, 'cgroup.kill'), '1');
      return;
    }
    super.killAll(signal);
  }

  stats(): RuncStats {
    const { statsV2 } = require('./stats') as typeof import('./stats');
    return statsV2(this.fs, this.dir, this.pids().length);
  }

  oomKillCount(): number {
    const m = /^oom_kill (\d+)$/m.exec(this.read(this.dir, 'memory.events') ?? '');
    return m ? Number(m[1]) : 0;
  }
}
