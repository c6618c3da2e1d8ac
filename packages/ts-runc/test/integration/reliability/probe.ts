/**
 * Reliability probes: what a container can leave behind on the host, measured so that other
 * engineers' concurrent test runs on the same machine do not count. Everything our tests create
 * carries a unique prefix (container IDs, hence cgroup dirs) or lives under one base directory
 * (bundles, --root), and the test process is a child subreaper: every process our ts-runc calls
 * start stays our descendant after its parent exits, so "processes left" means exactly ours.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawn, spawnSync, execFileSync, type ChildProcess } from 'child_process';
import { libc, PR_SET_CHILD_SUBREAPER, WNOHANG } from '@tsrt/libc';
import { TS_RUNC, makeBundleAt } from '../../helpers/runtime';

export const SOAK = process.env.SOAK === '1';

let subreaper = false;
/** Make this (jest worker) process the reaper of every orphan below it. */
export function becomeSubreaper(): void {
  if (subreaper) return;
  libc().prctl(PR_SET_CHILD_SUBREAPER, 1);
  subreaper = true;
}

interface Proc {
  pid: number;
  ppid: number;
  state: string;
  comm: string;
}

function readProcs(): Proc[] {
  const out: Proc[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const text = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const close = text.lastIndexOf(')');
      const rest = text.slice(close + 2).split(' ');
      out.push({ pid: Number(name), ppid: Number(rest[1]), state: rest[0], comm: text.slice(text.indexOf('(') + 1, close) });
    } catch {
      /* gone */
    }
  }
  return out;
}

/** Every descendant of `root` (default: this process), zombies included. */
export function descendants(root = process.pid): Proc[] {
  const procs = readProcs();
  const kids = new Map<number, Proc[]>();
  for (const p of procs) kids.set(p.ppid, [...(kids.get(p.ppid) ?? []), p]);
  const out: Proc[] = [];
  const todo = [root];
  while (todo.length) {
    for (const k of kids.get(todo.pop()!) ?? []) {
      out.push(k);
      todo.push(k.pid);
    }
  }
  return out;
}

/** Children child_process started (libuv reaps those): never waitpid them ourselves. */
const ownChildren = new Set<number>();

/**
 * Reap orphans continuously while asynchronous commands run. It matters: the init of a pid
 * namespace cannot finish exiting while a process of its namespace whose parent is outside
 * (an `exec -d` command re-parented to us) is an unreaped zombie, so delete would wait.
 */
export function startReaper(everyMs = 20): () => void {
  const t = setInterval(reapOrphans, everyMs);
  return () => clearInterval(t);
}

/** Does the process live in a pid namespace below ours (a container's)? Zombies keep NSpid. */
function inNestedPidNs(pid: number): boolean {
  try {
    return (/^NSpid:\s+(.*)$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1].trim().split(/\s+/).length ?? 1) > 1;
  } catch {
    return false;
  }
}

/**
 * Reap zombie children that nobody else waits for, re-parented to us as subreaper: container
 * processes (of a pid namespace below ours) and the runtime's own helpers ("ts-runc init",
 * "ts-runc exec", children of a ts-runc we killed). Nothing else of our own pid namespace:
 * under --runInBand every test file shares this process, and a child_process child of another
 * file reaped here is an exit libuv never sees (jest then waits for it forever).
 */
export function reapOrphans(): number {
  const sys = libc();
  let n = 0;
  for (const p of descendants()) {
    if (p.ppid !== process.pid || p.state !== 'Z' || ownChildren.has(p.pid)) continue;
    if (!inNestedPidNs(p.pid) && !/^ts-runc (init|exec)/.test(p.comm)) continue;
    try {
      if (sys.waitpid(p.pid, WNOHANG)) n++;
    } catch {
      /* not ours to reap (libuv's) or gone */
    }
  }
  return n;
}

function cgroupMounts(): string[] {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => / - cgroup2? /.test(l))
    .map((l) => l.split(' ')[4]);
}

/** Every directory of every cgroup hierarchy (a bounded walk: cgroup trees here are small). */
function cgroupDirs(): string[] {
  const out: string[] = [];
  const walk = (d: string, depth: number) => {
    out.push(d);
    if (depth > 8) return;
    let ents: fs.Dirent[];
    try {
      ents = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of ents) if (e.isDirectory()) walk(path.join(d, e.name), depth + 1);
  };
  for (const m of cgroupMounts()) walk(m, 0);
  return out;
}

export interface Snapshot {
  /** Global figures (other engineers' runs move these: printed, not asserted). */
  mountsAll: number;
  cgroupDirsAll: number;
  procsAll: number;
  zombiesAll: number;
  vethsAll: number;
  netnsNamed: number;
  /** Ours: attributable to this test's prefix, base directory or process tree. */
  mounts: number;
  cgroupDirs: number;
  stateDirs: number;
  procs: number;
  zombies: number;
  fds: number;
}

function countVeths(): number {
  try {
    return execFileSync('ip', ['-o', 'link', 'show', 'type', 'veth'], { encoding: 'utf8' }).split('\n').filter(Boolean).length;
  } catch {
    return 0;
  }
}

export function snapshot(prefix: string, base: string, root: string): Snapshot {
  const mountinfo = fs.readFileSync('/proc/self/mountinfo', 'utf8').trim().split('\n');
  const cgs = cgroupDirs();
  const procs = readProcs();
  const mine = descendants();
  let stateDirs = 0;
  try {
    stateDirs = fs.readdirSync(root).filter((n) => !n.startsWith('.')).length;
  } catch {
    /* no root yet */
  }
  let netnsNamed = 0;
  try {
    netnsNamed = fs.readdirSync('/run/netns').length;
  } catch {
    /* none */
  }
  return {
    mountsAll: mountinfo.length,
    cgroupDirsAll: cgs.length,
    procsAll: procs.length,
    zombiesAll: procs.filter((p) => p.state === 'Z').length,
    vethsAll: countVeths(),
    netnsNamed,
    mounts: mountinfo.filter((l) => l.includes(base) || l.includes(prefix)).length,
    cgroupDirs: cgs.filter((d) => d.includes(prefix)).length,
    stateDirs,
    procs: mine.filter((p) => p.state !== 'Z').length,
    zombies: mine.filter((p) => p.state === 'Z').length,
    fds: fs.readdirSync('/proc/self/fd').length,
  };
}

/** console.log a before/after table; returns the keys whose "ours" figure grew. */
export function report(title: string, before: Snapshot, after: Snapshot, extra: Record<string, string | number> = {}): string[] {
  const rows = (Object.keys(before) as Array<keyof Snapshot>).map((k) => ({ what: k, before: before[k], after: after[k], delta: after[k] - before[k] }));
  const lines = [`${title}`, ...Object.entries(extra).map(([k, v]) => `  ${k}: ${v}`), '  what            before   after   delta'];
  for (const r of rows) lines.push(`  ${r.what.padEnd(15)} ${String(r.before).padStart(6)} ${String(r.after).padStart(7)} ${String(r.delta).padStart(7)}`);
  console.log(lines.join('\n'));
  const asserted: Array<keyof Snapshot> = ['mounts', 'cgroupDirs', 'stateDirs', 'procs', 'zombies', 'fds'];
  return asserted.filter((k) => after[k] > before[k]);
}

/** One directory for every bundle, root and output of a test file. */
export function workDir(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `ts-runc-rel-${tag}-`));
}

/** A bundle under `base` (a copy of the busybox rootfs and the ts-runc spec defaults). */
export function bundleIn(base: string, name: string, args: string[], edit?: (c: any) => void): string {
  const dir = path.join(base, name);
  fs.mkdirSync(dir);
  return makeBundleAt(dir, args, edit).dir;
}

export interface Result {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Run a runtime binary synchronously with file-backed stdio (detached containers keep pipes open). */
export function rt(bin: string, root: string, args: string[], opts: { cwd?: string; timeout?: number; env?: NodeJS.ProcessEnv } = {}): Result {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ts-runc-rel-io-'));
  const out = path.join(tmp, 'out'), err = path.join(tmp, 'err');
  const fo = fs.openSync(out, 'w'), fe = fs.openSync(err, 'w');
  const t0 = Date.now();
  try {
    const r = spawnSync(bin, ['--root', root, ...args], { stdio: ['ignore', fo, fe], timeout: opts.timeout ?? 60000, cwd: opts.cwd, env: opts.env });
    return { status: r.status, signal: r.signal, stdout: fs.readFileSync(out, 'utf8'), stderr: fs.readFileSync(err, 'utf8'), ms: Date.now() - t0 };
  } finally {
    fs.closeSync(fo);
    fs.closeSync(fe);
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** The same, asynchronously (for parallel runs and kill-at-random-time). */
export function rtAsync(bin: string, root: string, args: string[], opts: { env?: NodeJS.ProcessEnv; timeout?: number; cwd?: string; onSpawn?: (c: ChildProcess) => void } = {}): Promise<Result> {
  return new Promise((resolve) => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ts-runc-rel-io-'));
    const out = path.join(tmp, 'out'), err = path.join(tmp, 'err');
    const fo = fs.openSync(out, 'w'), fe = fs.openSync(err, 'w');
    const t0 = Date.now();
    const c = spawn(bin, ['--root', root, ...args], { stdio: ['ignore', fo, fe], env: opts.env, cwd: opts.cwd, timeout: opts.timeout ?? 120000 });
    if (c.pid) ownChildren.add(c.pid);
    opts.onSpawn?.(c);
    c.on('close', (status, signal) => {
      ownChildren.delete(c.pid!);
      fs.closeSync(fo);
      fs.closeSync(fe);
      const r = { status, signal, stdout: fs.readFileSync(out, 'utf8'), stderr: fs.readFileSync(err, 'utf8'), ms: Date.now() - t0 };
      fs.rmSync(tmp, { recursive: true, force: true });
      resolve(r);
    });
  });
}

/** The checks every error output must pass: one line, no JS stack frame. */
export function oneLineError(stderr: string): boolean {
  const lines = stderr.trim().split('\n').filter(Boolean);
  return lines.length === 1 && !/^\s+at /m.test(stderr) && !/\bat .*\.js:\d+:\d+/.test(stderr);
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : NaN;
}

/** Best-effort clean-up of everything under `root` and `base`. */
export function cleanAll(bin: string, root: string, base: string): void {
  if (fs.existsSync(root)) {
    for (const id of fs.readdirSync(root).filter((n) => !n.startsWith('.'))) rt(bin, root, ['delete', '-f', id]);
  }
  fs.rmSync(base, { recursive: true, force: true });
}

export { TS_RUNC };
export const RUNC = '/usr/sbin/runc';
export const CRUN = '/usr/bin/crun';
export { spawnSync };
