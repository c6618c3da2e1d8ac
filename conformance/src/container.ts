// Bundles and containers driven only through the runtime's command line (create/start/state/
// kill/delete with runc-compatible flags). Each helper registers its own cleanup on the test.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Cmd, env, randomId, removeCgroupTree, sh, sleepMs } from './env';
import { AssertionError, fail, TestContext } from './harness';

/* eslint-disable @typescript-eslint/no-explicit-any */
export type Config = any;

export const DEFAULT_CAPS = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

/** A minimal but complete Linux config: own pid/ipc/uts/mount/network namespaces, the default
 *  filesystems (config-linux.md#default-filesystems) and a non-terminal process. */
export function baseConfig(id: string, args: string[]): Config {
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args,
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'TERM=xterm'],
      cwd: '/',
      capabilities: {
        bounding: [...DEFAULT_CAPS],
        effective: [...DEFAULT_CAPS],
        permitted: [...DEFAULT_CAPS],
      },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: 'rootfs', readonly: false },
    hostname: 'conformance',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    ],
    linux: {
      cgroupsPath: `${env.cgroupParent}/${id}`,
      resources: { devices: [{ allow: false, access: 'rwm' }] },
      namespaces: [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }],
    },
  };
}

/** Applied to every config.json a test writes while a variant runs it (e.g. adds a seccomp profile). */
let configOverlay: ((c: Config) => Config) | null = null;
export function withConfigOverlay<T>(overlay: (c: Config) => Config, body: () => T): T {
  const prev = configOverlay;
  configOverlay = overlay;
  try {
    return body();
  } finally {
    configOverlay = prev;
  }
}

export interface State {
  ociVersion?: unknown;
  id?: unknown;
  status?: unknown;
  pid?: unknown;
  bundle?: unknown;
  annotations?: unknown;
  [k: string]: unknown;
}

/** Run the runtime under test with the run's --root. */
export function rt(args: string[], opts: { stdout?: number; stderr?: number; timeoutMs?: number; cwd?: string; preamble?: string } = {}): Cmd {
  const full = ['--root', env.stateRoot, ...args];
  if (opts.stdout !== undefined || opts.stderr !== undefined) {
    // Container stdio goes to files: the container process inherits them and outlives the command.
    const r = spawnSync(env.runtime, full, {
      stdio: ['ignore', opts.stdout ?? 'ignore', opts.stderr ?? 'ignore'],
      timeout: opts.timeoutMs ?? 30_000,
      cwd: opts.cwd,
    });
    return { code: r.status, signal: r.signal, stdout: '', stderr: '', error: r.error };
  }
  if (opts.preamble) {
    // Run through a shell that first adjusts the calling process (e.g. its oom_score_adj or umask).
    return sh('/bin/sh', ['-c', `${opts.preamble}; exec "$@"`, 'sh', env.runtime, ...full], { timeout: opts.timeoutMs ?? 30_000, cwd: opts.cwd });
  }
  return sh(env.runtime, full, { timeout: opts.timeoutMs ?? 30_000, cwd: opts.cwd });
}

export function describe(c: Cmd): string {
  const msg = (c.stderr.trim() || c.stdout.trim() || c.error?.message || '').split('\n').slice(-3).join(' | ');
  return `exit ${c.code}${c.signal ? ` signal ${c.signal}` : ''}${msg ? `: ${msg}` : ''}`;
}

export class Container {
  readonly id: string;
  readonly dir: string;
  readonly bundle: string;
  readonly rootfs: string;
  readonly outFile: string;
  readonly errFile: string;
  config: Config;
  lastCreate?: Cmd;

  constructor(readonly t: TestContext, args: string[], opts: { id?: string; rootfs?: boolean } = {}) {
    this.id = opts.id ?? randomId();
    this.dir = fs.mkdtempSync(path.join(env.work, 'b-'));
    fs.chmodSync(this.dir, 0o755);
    this.bundle = path.join(this.dir, 'bundle');
    fs.mkdirSync(this.bundle, { mode: 0o755 });
    fs.chmodSync(this.bundle, 0o755);
    this.rootfs = path.join(this.bundle, 'rootfs');
    this.outFile = path.join(this.dir, 'stdout');
    this.errFile = path.join(this.dir, 'stderr');
    if (opts.rootfs !== false) {
      const r = sh('cp', ['-a', env.rootfsTemplate, this.rootfs]);
      if (r.code !== 0) throw new Error(`copying rootfs: ${r.stderr}`);
    }
    this.config = baseConfig(this.id, args);
    t.defer(() => this.destroy());
    // What the runtime and the container wrote to stderr explains most failures.
    t.onFailure(() => {
      const err = this.stderr().trim();
      return err ? `${this.id} stderr: ${err.split('\n').slice(-5).join(' | ')}` : undefined;
    });
  }

  /** Forced delete, then the bundle and the container's cgroups. Safe to call repeatedly. */
  destroy(): void {
    rt(['delete', '-f', this.id], { timeoutMs: 15_000 });
    const cg = this.config?.linux?.cgroupsPath;
    if (typeof cg === 'string' && cg.startsWith(env.cgroupParent)) removeCgroupTree(cg);
    sh('rm', ['-rf', '--one-file-system', this.dir]);
  }

  writeConfig(): void {
    const config = configOverlay ? configOverlay(this.config) : this.config;
    fs.writeFileSync(path.join(this.bundle, 'config.json'), JSON.stringify(config, null, 2));
  }

  /** `create --bundle B ID`; the container's stdout/stderr go to files in the scratch dir. */
  create(extra: string[] = [], opts: { preamble?: string } = {}): Cmd {
    this.writeConfig();
    const args = ['create', '--bundle', this.bundle, ...extra, this.id];
    if (opts.preamble) {
      const out = fs.openSync(this.outFile, 'a');
      const err = fs.openSync(this.errFile, 'a');
      try {
        const r = spawnSync('/bin/sh', ['-c', `${opts.preamble}; exec "$@"`, 'sh', env.runtime, '--root', env.stateRoot, ...args], {
          stdio: ['ignore', out, err],
          timeout: 30_000,
        });
        this.lastCreate = { code: r.status, signal: r.signal, stdout: '', stderr: this.stderr(), error: r.error };
      } finally {
        fs.closeSync(out);
        fs.closeSync(err);
      }
      return this.lastCreate;
    }
    const out = fs.openSync(this.outFile, 'a');
    const err = fs.openSync(this.errFile, 'a');
    try {
      const r = rt(args, { stdout: out, stderr: err });
      this.lastCreate = { ...r, stderr: this.stderr() };
    } finally {
      fs.closeSync(out);
      fs.closeSync(err);
    }
    return this.lastCreate;
  }

  mustCreate(extra: string[] = [], opts: { preamble?: string } = {}): void {
    const r = this.create(extra, opts);
    if (r.code !== 0) fail(`create failed: ${describe(r)}`);
  }

  start(): Cmd {
    return rt(['start', this.id]);
  }

  mustStart(): void {
    const r = this.start();
    if (r.code !== 0) fail(`start failed: ${describe(r)}${this.stderr() ? ` (container stderr: ${this.stderr().trim()})` : ''}`);
  }

  kill(sig?: string): Cmd {
    return rt(sig === undefined ? ['kill', this.id] : ['kill', this.id, sig]);
  }

  delete(force = false): Cmd {
    return rt(force ? ['delete', '-f', this.id] : ['delete', this.id]);
  }

  stateCmd(): Cmd {
    return rt(['state', this.id]);
  }

  /** Parsed state, or null when the runtime reports an error. */
  state(): State | null {
    const r = this.stateCmd();
    if (r.code !== 0) return null;
    try {
      return JSON.parse(r.stdout) as State;
    } catch {
      throw new AssertionError(`state output is not JSON: ${r.stdout.slice(0, 200)}`);
    }
  }

  mustState(): State {
    const s = this.state();
    if (!s) fail(`state failed: ${describe(this.stateCmd())}`);
    return s;
  }

  waitStatus(status: string, timeoutMs = 10_000): State | null {
    const end = Date.now() + timeoutMs;
    let s: State | null = null;
    for (;;) {
      s = this.state();
      if (s && s.status === status) return s;
      if (Date.now() > end) return s;
      sleepMs(15);
    }
  }

  mustWaitStopped(timeoutMs = 10_000): void {
    const s = this.waitStatus('stopped', timeoutMs);
    if (!s || s.status !== 'stopped') fail(`container did not reach "stopped" (last state: ${JSON.stringify(s)})`);
  }

  /** Wait until the container printed the line `word`; false when it timed out or the process died first. */
  waitLine(word: string, pid?: number, timeoutMs = 10_000): boolean {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.stdout().split('\n').includes(word)) return true;
      if (Date.now() > deadline || (pid !== undefined && !pidAlive(pid))) return this.stdout().split('\n').includes(word);
      sleepMs(15);
    }
  }

  stdout(): string {
    try {
      return fs.readFileSync(this.outFile, 'utf8');
    } catch {
      return '';
    }
  }

  stderr(): string {
    try {
      return fs.readFileSync(this.errFile, 'utf8');
    } catch {
      return '';
    }
  }
}

/** The line a container prints after its real check, so that one that printed nothing, or stopped
 *  before the end of its script, fails the test. */
export const OK_MARKER = 'CONFORMANCE-OK';

/** Like runIn with `; echo CONFORMANCE-OK` appended; fails unless that is the last line, and
 *  returns the output before it. */
export function runInOk(t: TestContext, script: string, mutate?: (c: Container) => void): { out: string; err: string; c: Container } {
  const r = runIn(t, `${script}; echo ${OK_MARKER}`, mutate);
  return { ...r, out: withoutMarker(r.out) };
}

/** The output before the final CONFORMANCE-OK line; fails when that line is missing. */
export function withoutMarker(out: string): string {
  const lines = out.replace(/\n$/, '').split('\n');
  if (lines[lines.length - 1] !== OK_MARKER) fail(`the container did not print ${OK_MARKER} at the end of its script (it stopped early); output: ${JSON.stringify(out)}`);
  return lines.slice(0, -1).map((l) => l + '\n').join('');
}

/** An error from the runtime shows that it rejected the property under test only when the same
 *  base config without that property runs: this control container must print CONFORMANCE-OK. */
export function mustRunWithout(t: TestContext, property: string): void {
  const c = new Container(t, ['/bin/sh', '-c', `echo ${OK_MARKER}`]);
  const r = c.create();
  if (r.code !== 0) fail(`rejected, but so is the config without ${property} (create: ${describe(r)})`);
  const s = c.start();
  if (s.code !== 0) fail(`rejected, but so is the config without ${property} (start: ${describe(s)})`);
  c.mustWaitStopped();
  if (c.stdout().trim() !== OK_MARKER) fail(`rejected, but the config without ${property} does not run either (stdout: ${JSON.stringify(c.stdout())})`);
}

/** Create, start and wait for the process to exit; returns its stdout (stderr appended on request). */
export function runIn(t: TestContext, script: string, mutate?: (c: Container) => void): { out: string; err: string; c: Container } {
  const c = new Container(t, ['/bin/sh', '-c', script]);
  if (mutate) mutate(c);
  c.mustCreate();
  c.mustStart();
  c.mustWaitStopped();
  return { out: c.stdout(), err: c.stderr(), c };
}

export const READY_MARKER = 'CONFORMANCE-READY';

/** A long-running container (sleeps), created and started, whose program has printed that it runs:
 *  what a test then observes from the host is the user program, not the runtime's init. */
export function running(t: TestContext, mutate?: (c: Container) => void): Container {
  const c = new Container(t, ['/bin/sh', '-c', `echo ${READY_MARKER}; exec sleep 1000`]);
  if (mutate) mutate(c);
  c.mustCreate();
  c.mustStart();
  const pid = c.state()?.pid;
  if (!c.waitLine(READY_MARKER, typeof pid === 'number' ? pid : undefined)) {
    fail(`the container program did not print ${READY_MARKER} (state: ${JSON.stringify(c.state())}, stdout: ${JSON.stringify(c.stdout())})`);
  }
  return c;
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const stateChar = st.slice(st.lastIndexOf(')') + 2, st.lastIndexOf(')') + 3);
    return stateChar !== 'Z' && stateChar !== 'X';
  } catch {
    return false;
  }
}
