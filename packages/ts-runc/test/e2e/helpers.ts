/**
 * Shared pieces of the real-client e2e tests (podman + conmon, containerd + its runc v2 shim):
 * synchronous commands with their output in files (a detached container keeps inherited pipes
 * open), an expect-style session under `script` (a real pty), runtime wrappers that log every argv
 * the client used, an offline busybox image, and clean-up of what the clients leave on the host
 * (mounts, cgroups, processes, run dirs).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'child_process';
import { REPO, TS_RUNC } from '../helpers/runtime';
import { waitFor as waitForEvent } from '../helpers/wait';

export { REPO, TS_RUNC };
export const RUNC = '/usr/sbin/runc';

/** The runtimes the scenarios run with: ts-runc, and runc as the baseline (E2E_RUNTIMES=ts-runc,runc). */
export function runtimes(): Array<{ name: string; bin: string }> {
  const all: Record<string, string> = { 'ts-runc': TS_RUNC, runc: RUNC, crun: '/usr/bin/crun' };
  const names = (process.env.E2E_RUNTIMES || 'ts-runc,runc').split(',').map((s) => s.trim()).filter(Boolean);
  return names.map((name) => {
    if (!all[name]) throw new Error(`E2E_RUNTIMES: unknown runtime ${name}`);
    return { name, bin: all[name] };
  });
}

export function have(bin: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;
}

export interface Result {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** for messages: the command and what it printed */
  text: string;
}

let seq = 0;
/** Runs a command to completion; stdout/stderr go through files so a daemonised child cannot hold us. */
export function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string; timeout?: number; cwd?: string } = {}): Result {
  const base = path.join(os.tmpdir(), `ts-runc-e2e-out-${process.pid}-${seq++}`);
  const fdOut = fs.openSync(`${base}.out`, 'w');
  const fdErr = fs.openSync(`${base}.err`, 'w');
  try {
    const r = spawnSync(cmd, args, {
      input: opts.input ?? '',
      stdio: ['pipe', fdOut, fdErr],
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      timeout: opts.timeout ?? 60000,
      killSignal: 'SIGKILL',
    });
    const stdout = fs.readFileSync(`${base}.out`, 'utf8');
    const stderr = fs.readFileSync(`${base}.err`, 'utf8');
    const status = r.error && (r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT' ? null : r.status;
    const text = `$ ${cmd} ${args.join(' ')}\n-> status ${status} signal ${r.signal}${r.error ? ` (${r.error.message})` : ''}\nstdout: ${stdout}\nstderr: ${stderr}`;
    return { status, signal: r.signal, stdout, stderr, text };
  } finally {
    fs.closeSync(fdOut);
    fs.closeSync(fdErr);
    fs.rmSync(`${base}.out`, { force: true });
    fs.rmSync(`${base}.err`, { force: true });
  }
}

/** Runs a command asynchronously (for concurrency tests); output through files as in run(). */
export function runAsync(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; timeout?: number } = {}): Promise<Result> {
  const base = path.join(os.tmpdir(), `ts-runc-e2e-out-${process.pid}-${seq++}`);
  const fdOut = fs.openSync(`${base}.out`, 'w');
  const fdErr = fs.openSync(`${base}.err`, 'w');
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ['ignore', fdOut, fdErr], env: opts.env ?? process.env });
    const timer = setTimeout(() => p.kill('SIGKILL'), opts.timeout ?? 60000);
    p.on('close', (status, signal) => {
      clearTimeout(timer);
      fs.closeSync(fdOut);
      fs.closeSync(fdErr);
      const stdout = fs.readFileSync(`${base}.out`, 'utf8');
      const stderr = fs.readFileSync(`${base}.err`, 'utf8');
      fs.rmSync(`${base}.out`, { force: true });
      fs.rmSync(`${base}.err`, { force: true });
      resolve({ status, signal, stdout, stderr, text: `$ ${cmd} ${args.join(' ')}\n-> status ${status} signal ${signal}\nstdout: ${stdout}\nstderr: ${stderr}` });
    });
  });
}

/** Asserts exit status 0 and returns stdout (the whole transcript is in the failure message). */
export function ok(r: Result): string {
  if (r.status !== 0) throw new Error(`command failed\n${r.text}`);
  return r.stdout;
}

/**
 * Containers still in a runtime's --root after an engine was stopped: each is reported (as
 * "`label`: ID") and deleted with every runtime binary given (whichever made it).
 */
export function deleteStateLeft(root: string, bins: string[], label = 'runtime state left'): string[] {
  if (!fs.existsSync(root)) return [];
  const ids = fs.readdirSync(root);
  for (const id of ids) for (const bin of bins) run(bin, ['--root', root, 'delete', '-f', id]);
  return ids.map((id) => `${label}: ${id}`);
}

/** SIGTERM a daemon we started; SIGKILL when it has not exited within `timeoutMs`. False then. */
export async function stopDaemon(daemon: ChildProcess, what: string, timeoutMs = 15000): Promise<boolean> {
  daemon.kill('SIGTERM');
  try {
    await waitFor(`${what} to exit`, () => daemon.exitCode !== null || daemon.signalCode !== null, timeoutMs);
    return true;
  } catch {
    daemon.kill('SIGKILL');
    return false;
  }
}

/** Does a process with this pid exist (signal 0 reaches it)? */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A file's text, or '' when it cannot be read (a daemon's log before it wrote one). */
export function readOrEmpty(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((res) => setTimeout(res, ms));
}

/** Polls fn until it returns a truthy value (or throws, naming what was awaited, after timeoutMs). */
export function waitFor<T>(what: string, fn: () => T | undefined | null | false, timeoutMs = 15000, everyMs = 100): Promise<T> {
  return waitForEvent(what, fn, { timeoutMs, everyMs });
}

/**
 * A command line run under `script -qec` so that it has a real pty as its terminal, driven like
 * expect: wait for output, send keys, wait for the exit status.
 */
export class PtySession {
  output = '';
  status: number | null = null;
  private done: Promise<number | null>;
  private child;

  constructor(readonly cmdline: string, env?: NodeJS.ProcessEnv) {
    this.child = spawn('script', ['-qec', cmdline, '/dev/null'], { env: env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout.on('data', (d: Buffer) => (this.output += d.toString('utf8')));
    this.child.stderr.on('data', (d: Buffer) => (this.output += d.toString('utf8')));
    this.done = new Promise((res) => {
      this.child.on('close', (code, sig) => {
        this.status = code ?? (sig ? 128 : null);
        res(this.status);
      });
    });
  }

  /** Waits until the output (from offset `from`, default 0) matches re. */
  async expect(re: RegExp, timeoutMs = 20000, from = 0): Promise<RegExpMatchArray> {
    return waitFor(`${re} in the output of ${this.cmdline}; got ${JSON.stringify(this.output)}`, () => this.output.slice(from).match(re), timeoutMs, 50);
  }

  send(s: string): void {
    this.child.stdin.write(s);
  }

  /** Waits for the command to exit; kills it (and fails) after timeoutMs. */
  async wait(timeoutMs = 20000): Promise<number | null> {
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    try {
      const st = await this.done;
      return st;
    } finally {
      clearTimeout(timer);
      this.child.stdin.end();
    }
  }

  kill(): void {
    if (this.status === null) this.child.kill('SIGKILL');
  }
}

/**
 * A wrapper script named like the runtime (conmon decides on --log-format json by the runtime's
 * file name) that appends its argv to calls.log and execs the real binary unchanged.
 */
export function runtimeWrapper(dir: string, name: string, realBin: string): { bin: string; calls: () => string[] } {
  const binDir = path.join(dir, 'bin');
  fs.mkdirSync(binDir, { recursive: true });
  const log = path.join(dir, `calls-${name}.log`);
  const bin = path.join(binDir, name);
  fs.writeFileSync(bin, `#!/bin/sh\nprintf '%s\\n' "$*" >> '${log}'\nexec '${realBin}' "$@"\n`, { mode: 0o755 });
  return { bin, calls: () => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').filter(Boolean) : []) };
}

let demoLayout: string | undefined;
/** The busybox demo image as an OCI layout (scripts/make-demo-image), built once per test process. */
export function demoImageLayout(): string {
  if (!demoLayout) {
    // lower case only: podman pull oci:DIR names the image after the path
    const d = path.join(os.tmpdir(), `ts-runc-e2e-image-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
    fs.mkdirSync(d);
    execFileSync(path.join(REPO, 'scripts/make-demo-image'), [path.join(d, 'layout')], { stdio: 'ignore' });
    demoLayout = path.join(d, 'layout');
  }
  return demoLayout;
}
export function removeDemoImage(): void {
  if (demoLayout) fs.rmSync(path.dirname(demoLayout), { recursive: true, force: true });
  demoLayout = undefined;
}

/** Unmounts (lazily, deepest first) everything mounted at or below dir. */
export function unmountBelow(dir: string): void {
  const real = fs.existsSync(dir) ? fs.realpathSync(dir) : dir;
  const points = fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((p) => p && (p === real || p.startsWith(real + '/')))
    .map((p) => p.replace(/\\(\d{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8))));
  for (const p of [...new Set(points)].sort((a, b) => b.length - a.length)) {
    spawnSync('umount', ['-l', p], { stdio: 'ignore' });
  }
}

/** Pids of processes whose command line contains needle (ours: daemons, shims, conmons started by the test). */
export function pidsWithCmdline(needle: string): number[] {
  const out: number[] = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${e}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmd.includes(needle)) out.push(Number(e));
    } catch {
      /* gone */
    }
  }
  return out;
}

export function killPids(pids: number[], sig: NodeJS.Signals = 'SIGKILL'): void {
  for (const p of pids) {
    try {
      process.kill(p, sig);
    } catch {
      /* gone */
    }
  }
}

const CG = '/sys/fs/cgroup';
function hierarchies(): string[] {
  return fs
    .readdirSync(CG)
    .map((h) => path.join(CG, h))
    .filter((p) => {
      try {
        return fs.statSync(p).isDirectory() && fs.existsSync(path.join(p, 'cgroup.procs'));
      } catch {
        return false;
      }
    });
}

/** Which of the relative cgroup paths exist now in any hierarchy (to remove only what a test made). */
export function existingCgroups(rels: string[]): Set<string> {
  const s = new Set<string>();
  for (const h of hierarchies()) for (const r of rels) if (fs.existsSync(path.join(h, r))) s.add(r);
  return s;
}

/**
 * Removes the cgroup trees rel (in every hierarchy), deepest first. Processes still inside belong
 * to the test (a leak is reported by the caller): thawed, killed, then the dirs removed.
 */
export function removeCgroupTrees(rels: string[]): string[] {
  const leftovers: string[] = [];
  for (const h of hierarchies()) {
    for (const rel of rels) {
      const top = path.join(h, rel);
      if (!fs.existsSync(top)) continue;
      const dirs: string[] = [];
      const walk = (d: string) => {
        dirs.push(d);
        for (const e of fs.readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(path.join(d, e.name));
      };
      walk(top);
      for (const d of dirs.reverse()) {
        for (let i = 0; i < 50; i++) {
          const procs = fs.readFileSync(path.join(d, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
          if (procs.length === 0) break;
          if (i === 0) leftovers.push(`${d}: ${procs.join(' ')}`);
          if (fs.existsSync(path.join(d, 'freezer.state'))) {
            try {
              fs.writeFileSync(path.join(d, 'freezer.state'), 'THAWED');
            } catch {
              /* ignore */
            }
          }
          killPids(procs);
          spawnSync('sleep', ['0.1']);
        }
        try {
          fs.rmdirSync(d);
        } catch (e) {
          leftovers.push(`${d}: ${(e as Error).message}`);
        }
      }
    }
  }
  return leftovers;
}

/** Removes the dirs (deepest first) if they are empty and did not exist before the test. */
export function removeEmptyDirsIfNew(dirs: string[], before: Set<string>): void {
  for (const d of dirs) {
    if (before.has(d)) continue;
    try {
      fs.rmdirSync(d);
    } catch {
      /* not empty or gone */
    }
  }
}

export function existingPaths(paths: string[]): Set<string> {
  return new Set(paths.filter((p) => fs.existsSync(p)));
}

/** The container's cgroup directory for one v1 controller, from /proc/PID/cgroup. */
export function cgroupDirOf(pid: number, controller: string): string {
  const line = fs
    .readFileSync(`/proc/${pid}/cgroup`, 'utf8')
    .split('\n')
    .find((l) => l.split(':')[1]?.split(',').includes(controller));
  if (!line) throw new Error(`no ${controller} line in /proc/${pid}/cgroup`);
  return path.join(CG, controller, line.split(':').slice(2).join(':'));
}

/** Is this host's cgroup layout pure v2 (cgroup2 at /sys/fs/cgroup)? Else v1 or hybrid: limits in v1 controllers. */
export const CGROUP_V2 = fs.existsSync(path.join(CG, 'cgroup.controllers'));

/** The file holding a container process's memory limit on this host (v1 controller or unified). */
export function memoryLimitFileOf(pid: number): string {
  if (!CGROUP_V2) return `${cgroupDirOf(pid, 'memory')}/memory.limit_in_bytes`;
  const line = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => l.startsWith('0::'));
  if (!line) throw new Error(`no unified line in /proc/${pid}/cgroup`);
  return path.join(CG, line.slice(3), 'memory.max');
}

/** The file holding a container process's pids limit on this host (v1 controller or unified). */
export function pidsLimitFileOf(pid: number): string {
  if (!CGROUP_V2) return `${cgroupDirOf(pid, 'pids')}/pids.max`;
  return path.join(path.dirname(memoryLimitFileOf(pid)), 'pids.max');
}

/** A long-running container command that reports signals on stdout and exits 3 on TERM. */
export const SIGNAL_LOOP = 'trap "echo got-usr1" USR1; trap "echo got-hup" HUP; trap "echo got-term; exit 3" TERM; echo ready; while :; do sleep 0.1; done';
/**
 * A command that prints a growing counter (to see whether a container is frozen), also kept in
 * /tmp/count: read through /proc/PID/root, that file is the process's own doing, with no log
 * pipeline between (a log may still grow after a freeze with lines written before it).
 */
export const COUNTER_LOOP = 'i=0; while :; do i=$((i+1)); echo $i > /tmp/count; echo tick-$i; sleep 0.1; done';
