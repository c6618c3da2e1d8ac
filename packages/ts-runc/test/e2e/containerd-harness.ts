/**
 * A private containerd 1.6 for e2e tests: root, state, gRPC/ttrpc sockets in a temp dir, no CRI
 * plugin, a namespace of its own, the busybox demo image imported from an oci-archive, and
 * `ctr` calls that hand the runc v2 shim a runtime wrapper (--runc-binary) and a private
 * --runc-root. Clean-up kills and deletes every task, stops the daemon and the shims, unmounts,
 * removes the dirs and the cgroups of the namespace.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawn, type ChildProcess } from 'child_process';
import {
  run, ok, runtimeWrapper, demoImageLayout, unmountBelow, pidsWithCmdline, killPids, waitFor,
  existingCgroups, removeCgroupTrees, existingPaths, removeEmptyDirsIfNew, readOrEmpty, deleteStateLeft, stopDaemon, type Result,
} from './helpers';
import { shq } from './podman-harness';

export const IMAGE = 'localhost/ts-runc-e2e:latest';

export class Containerd {
  readonly dir: string;
  readonly sock: string;
  readonly ns: string;
  readonly wrappers: Record<string, { bin: string; real: string; calls: () => string[] }> = {};
  private daemon?: ChildProcess;
  private cgroupsBefore: Set<string>;
  private runDirsBefore: Set<string>;
  // containerd 1.6 keeps shim sockets under /run/containerd/s whatever its state dir is
  private readonly runDirs: string[];

  constructor(runtimes: Array<{ name: string; bin: string }>) {
    this.ns = `tsrunc-e2e-${process.pid}`;
    this.cgroupsBefore = existingCgroups([this.ns]);
    // the shim's default runtime root is /run/containerd/runc/NS (when ctr gets no --runc-root)
    this.runDirs = [`/run/containerd/runc/${this.ns}`, '/run/containerd/s', '/run/containerd/fifo', '/run/containerd/runc', '/run/containerd'];
    this.runDirsBefore = existingPaths(this.runDirs);
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ts-runc-e2e-containerd-'));
    this.sock = path.join(this.dir, 'containerd.sock');
    for (const r of runtimes) {
      const w = runtimeWrapper(this.dir, r.name, r.bin);
      this.wrappers[r.name] = { ...w, real: r.bin };
    }
    for (const d of ['root', 'state', 'fifo', 'runc-root']) fs.mkdirSync(path.join(this.dir, d));
    fs.writeFileSync(
      path.join(this.dir, 'config.toml'),
      [
        'version = 2',
        `root = ${JSON.stringify(path.join(this.dir, 'root'))}`,
        `state = ${JSON.stringify(path.join(this.dir, 'state'))}`,
        'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
        '[grpc]',
        `  address = ${JSON.stringify(this.sock)}`,
        '[ttrpc]',
        `  address = ${JSON.stringify(this.sock + '.ttrpc')}`,
        '[debug]',
        '  address = ""',
        '[metrics]',
        '  address = ""',
        '',
      ].join('\n'),
    );
  }

  async start(): Promise<void> {
    const log = fs.openSync(path.join(this.dir, 'containerd.log'), 'w');
    this.daemon = spawn('containerd', ['--config', path.join(this.dir, 'config.toml')], { stdio: ['ignore', log, log] });
    fs.closeSync(log);
    // A probe that throws counts as "not yet": a daemon that died ends the wait by answering true.
    const exited = () => this.daemon?.exitCode !== null || this.daemon?.signalCode !== null;
    await waitFor('containerd to serve', () => exited() || run('ctr', ['--address', this.sock, 'version'], { timeout: 5000 }).status === 0, 30000, 200);
    if (exited()) throw new Error(`containerd exited: ${this.log()}`);
  }

  log(): string {
    return readOrEmpty(path.join(this.dir, 'containerd.log'));
  }

  ctr(args: string[], opts: { input?: string; timeout?: number } = {}): Result {
    return run('ctr', ['--address', this.sock, '-n', this.ns, ...args], opts);
  }

  cmdline(args: string[]): string {
    return ['ctr', '--address', this.sock, '-n', this.ns, ...args].map(shq).join(' ');
  }

  /** ctr run's runtime options for the named runtime. */
  runtimeArgs(rt: string): string[] {
    return ['--runc-binary', this.wrappers[rt].bin, '--runc-root', path.join(this.dir, 'runc-root'), '--fifo-dir', path.join(this.dir, 'fifo')];
  }

  /** ctr task exec keeps its IO fifos under /run/containerd/fifo unless told otherwise. */
  fifoArgs(): string[] {
    return ['--fifo-dir', path.join(this.dir, 'fifo')];
  }

  importImage(): void {
    const archive = path.join(this.dir, 'image.tar');
    ok(run('tar', ['-C', demoImageLayout(), '-cf', archive, '.']));
    ok(this.ctr(['image', 'import', '--base-name', 'localhost/ts-runc-e2e', archive]));
    const refs = ok(this.ctr(['image', 'ls', '-q']));
    if (!refs.includes(IMAGE)) throw new Error(`image import gave ${refs}`);
  }

  async cleanup(): Promise<string[]> {
    const problems: string[] = [];
    if (this.daemon && this.daemon.exitCode === null) {
      const tasks = this.ctr(['task', 'ls', '-q']).stdout.split('\n').filter(Boolean);
      for (const t of tasks) {
        this.ctr(['task', 'kill', '-a', '-s', 'KILL', t]);
      }
      // Wait (bounded) for the kills to land; delete -f copes with a task still running.
      const running = () => this.ctr(['task', 'ls']).stdout.split('\n').filter((l) => tasks.includes(l.split(/\s+/)[0]) && /\b(RUNNING|PAUSED)\b/.test(l));
      if (tasks.length) await waitFor('the killed tasks to stop', () => running().length === 0, 15000).catch(() => undefined);
      for (const t of tasks) this.ctr(['task', 'delete', '-f', t]);
      for (const c of this.ctr(['container', 'ls', '-q']).stdout.split('\n').filter(Boolean)) this.ctr(['container', 'rm', c]);
      for (const i of this.ctr(['image', 'ls', '-q']).stdout.split('\n').filter(Boolean)) this.ctr(['image', 'rm', i]);
      if (!(await stopDaemon(this.daemon, 'containerd'))) problems.push('containerd did not exit on SIGTERM');
    }
    const shims = pidsWithCmdline(this.sock);
    if (shims.length) {
      killPids(shims, 'SIGTERM');
      await waitFor('the shims to exit on SIGTERM', () => pidsWithCmdline(this.sock).length === 0, 5000).catch(() => undefined);
      killPids(pidsWithCmdline(this.sock));
    }
    // runtime state the shim left in the private --runc-root
    const bins = Object.values(this.wrappers).map((w) => w.real);
    problems.push(...deleteStateLeft(path.join(this.dir, 'runc-root', this.ns), bins));
    unmountBelow(this.dir);
    fs.rmSync(this.dir, { recursive: true, force: true });
    if (!this.cgroupsBefore.has(this.ns)) problems.push(...removeCgroupTrees([this.ns]).map((s) => `cgroup left: ${s}`));
    const defRoot = this.runDirs[0];
    problems.push(...deleteStateLeft(defRoot, bins, `runtime state left in ${defRoot}`));
    removeEmptyDirsIfNew(this.runDirs, this.runDirsBefore);
    return problems;
  }
}
