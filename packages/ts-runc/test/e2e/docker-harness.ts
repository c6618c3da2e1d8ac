/**
 * A private dockerd 20.10 (Debian's docker.io) for e2e tests: data root, exec root, pid file,
 * API socket, client config and its managed containerd all in a temp dir; cgroupfs driver under a
 * cgroup parent of its own; no bridge, no iptables, no ip_forward change, no userland proxy. The
 * runtimes are declared in a daemon.json as wrappers that log their argv (docker calls them
 * through containerd-shim-runc-v2). The busybox demo image is loaded offline from a docker-save
 * tarball made of the OCI layout. Everything is synchronous: the daemon logs to a file and the
 * waits poll with a deadline.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawn, type ChildProcess } from 'child_process';
import { waitForSync } from '../helpers/wait';
import {
  run, ok, have, runtimeWrapper, demoImageLayout, unmountBelow, pidsWithCmdline, killPids,
  existingCgroups, removeCgroupTrees, existingPaths, removeEmptyDirsIfNew, readOrEmpty, deleteStateLeft, type Result,
} from './helpers';
import { shq } from './podman-harness';

export const IMAGE = 'localhost/ts-runc-e2e:latest';
/** Debian's client, the daemon's own version (another docker CLI may come first on PATH). */
export const DOCKER = '/usr/bin/docker';
/** Docker's names for the runtimes: "runc" is docker's built-in default, so the baseline is runc-ref. */
const DOCKER_NAMES: Record<string, string> = { 'ts-runc': 'ts', runc: 'runc-ref', crun: 'crun-ref' };
/** Host dirs dockerd and its containerd make whatever their roots are (removed if new and empty). */
const RUN_DIRS = ['/run/docker/plugins', '/run/docker', '/run/containerd/s', '/run/containerd'];

/** Why this host cannot run the docker e2e tests (undefined when it can): missing pieces, or a daemon that does not start. */
export function dockerUnavailable(): string | undefined {
  const missing = ['dockerd', 'containerd', 'containerd-shim-runc-v2', 'script'].filter((b) => !have(b));
  if (!fs.existsSync(DOCKER)) missing.push(DOCKER);
  if (missing.length) return `not installed: ${missing.join(', ')} (scripts/setup installs docker.io)`;
  // A throwaway daemon: the one the tests use starts in beforeAll, whose afterAll is sure to run.
  const probe = new Docker([]);
  try {
    probe.start();
    return undefined;
  } catch (e) {
    return `dockerd does not start here: ${(e as Error).message}`;
  } finally {
    probe.cleanup();
  }
}

export class Docker {
  readonly dir: string;
  readonly sock: string;
  readonly ns: string;
  /** The cgroup parent of every container of this daemon, relative to each hierarchy's root. */
  readonly cgroupParent: string;
  readonly env: NodeJS.ProcessEnv;
  readonly wrappers: Record<string, { bin: string; real: string; dockerName: string; calls: () => string[] }> = {};
  private daemon?: ChildProcess;
  private cgroupsBefore: Set<string>;
  private runDirsBefore: Set<string>;

  constructor(runtimes: Array<{ name: string; bin: string }>) {
    this.runDirsBefore = existingPaths(RUN_DIRS);
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ts-runc-e2e-docker-'));
    const tag = `tsrunc-e2e-docker-${process.pid}-${path.basename(this.dir).split('-').pop()}`;
    this.ns = tag;
    this.cgroupParent = tag;
    this.cgroupsBefore = existingCgroups([tag]);
    this.sock = path.join(this.dir, 'docker.sock');
    for (const d of ['data', 'exec', 'client']) fs.mkdirSync(path.join(this.dir, d));
    const declared: Record<string, { path: string }> = {};
    for (const r of runtimes) {
      const w = runtimeWrapper(this.dir, r.name, r.bin);
      const dockerName = DOCKER_NAMES[r.name] ?? `${r.name}-ref`;
      this.wrappers[r.name] = { ...w, real: r.bin, dockerName };
      declared[dockerName] = { path: w.bin };
    }
    fs.writeFileSync(
      path.join(this.dir, 'daemon.json'),
      JSON.stringify({
        runtimes: declared,
        // dockerd 20.10 keeps its trust key in /etc/docker unless told otherwise
        'deprecated-key-path': path.join(this.dir, 'key.json'),
        'cgroup-parent': `/${tag}`,
        'containerd-namespace': tag,
        'containerd-plugins-namespace': `${tag}-plugins`,
      }),
    );
    // DOCKER_CONFIG: the client keeps its own config (~/.docker) in the temp dir as well
    this.env = { ...process.env, DOCKER_CONFIG: path.join(this.dir, 'client'), DOCKER_HOST: `unix://${this.sock}` };
  }

  /** Starts dockerd (it starts its own containerd under the exec root) and waits until the API answers. */
  start(): void {
    const log = fs.openSync(path.join(this.dir, 'dockerd.log'), 'w');
    this.daemon = spawn(
      'dockerd',
      [
        '--config-file', path.join(this.dir, 'daemon.json'),
        '--data-root', path.join(this.dir, 'data'),
        '--exec-root', path.join(this.dir, 'exec'),
        '--pidfile', path.join(this.dir, 'docker.pid'),
        '-H', `unix://${this.sock}`,
        '--exec-opt', 'native.cgroupdriver=cgroupfs',
        '--bridge=none', '--iptables=false', '--ip-masq=false', '--ip-forward=false', '--userland-proxy=false',
      ],
      { stdio: ['ignore', log, log] },
    );
    fs.closeSync(log);
    const pid = this.daemon.pid!;
    // (a probe's exception only means "not yet" to waitForSync: an exit is a value here)
    const state = waitForSync('dockerd to answer `docker info`', () => {
      if (exited(pid)) return 'exited';
      return this.docker(['info', '--format', '{{.ServerVersion}}'], { timeout: 10000 }).status === 0 && 'up';
    }, { timeoutMs: 60000, everyMs: 100, lastSeen: () => this.log().slice(-2000) });
    if (state === 'exited') throw new Error(`dockerd exited:\n${this.log().slice(-3000)}`);
  }

  log(): string {
    return readOrEmpty(path.join(this.dir, 'dockerd.log'));
  }

  docker(args: string[], opts: { input?: string; timeout?: number } = {}): Result {
    return run(DOCKER, ['-H', `unix://${this.sock}`, ...args], { env: this.env, ...opts });
  }

  /** The shell command line for docker (for `script -qec`). */
  cmdline(args: string[]): string {
    return [DOCKER, '-H', `unix://${this.sock}`, ...args].map(shq).join(' ');
  }

  /** `docker load` of a docker-save tarball: the OCI layout's blobs plus the manifest.json docker reads. */
  loadImage(): void {
    const layout = demoImageLayout();
    const index = JSON.parse(fs.readFileSync(path.join(layout, 'index.json'), 'utf8'));
    const blob = (digest: string) => `blobs/sha256/${digest.replace(/^sha256:/, '')}`;
    const manifest = JSON.parse(fs.readFileSync(path.join(layout, blob(index.manifests[0].digest)), 'utf8'));
    const img = path.join(this.dir, 'image');
    fs.mkdirSync(img);
    fs.writeFileSync(
      path.join(img, 'manifest.json'),
      JSON.stringify([{ Config: blob(manifest.config.digest), RepoTags: [IMAGE], Layers: manifest.layers.map((l: { digest: string }) => blob(l.digest)) }]),
    );
    const archive = path.join(img, 'image.tar');
    ok(run('tar', ['-cf', archive, '-C', layout, 'blobs', '-C', img, 'manifest.json']));
    const out = ok(this.docker(['load', '-i', archive]));
    if (!out.includes(IMAGE)) throw new Error(`docker load said: ${out}`);
  }

  /** The runtime root the shim hands every runtime (one per containerd namespace). */
  runtimeRoot(): string {
    return path.join(this.dir, 'exec', 'runtime-runc', this.ns);
  }

  /**
   * Removes every container, stops dockerd (which stops its containerd), then kills whatever of
   * ours is left (shims, containerd), deletes runtime state, unmounts, removes the temp dir, the
   * cgroup parent (if this daemon made it) and the host dirs dockerd made. Returns what it found left.
   */
  cleanup(): string[] {
    const problems: string[] = [];
    const pid = this.daemon?.pid;
    if (pid && !exited(pid)) {
      const ids = this.docker(['ps', '-aq']).stdout.split('\n').filter(Boolean);
      if (ids.length) this.docker(['rm', '-f', ...ids], { timeout: 120000 });
      // Container cgroups the runtime left behind after its delete (before the daemon goes).
      problems.push(...this.childCgroups().map((d) => `cgroup left after docker rm -f: ${d}`));
      killPids([pid], 'SIGTERM');
      try {
        waitForSync('dockerd to exit on SIGTERM', () => exited(pid), { timeoutMs: 30000, everyMs: 50 });
      } catch {
        problems.push('dockerd did not exit within 30 s of SIGTERM');
        killPids([pid]);
      }
    }
    // Shims and the managed containerd: their command lines name paths in our temp dir.
    const left = pidsWithCmdline(this.dir).filter((p) => !exited(p));
    if (left.length) {
      problems.push(`processes left after dockerd exited: ${left.map((p) => `${p} ${cmdline(p)}`).join('; ')}`);
      killPids(left);
      try {
        waitForSync('left-over processes to die', () => left.every(exited), { timeoutMs: 10000, everyMs: 50 });
      } catch {
        /* reported above */
      }
    }
    problems.push(...deleteStateLeft(this.runtimeRoot(), Object.values(this.wrappers).map((w) => w.real)));
    unmountBelow(this.dir);
    fs.rmSync(this.dir, { recursive: true, force: true });
    if (!this.cgroupsBefore.has(this.cgroupParent)) problems.push(...removeCgroupTrees([this.cgroupParent]).map((s) => `cgroup left: ${s}`));
    removeEmptyDirsIfNew(RUN_DIRS, this.runDirsBefore);
    return problems;
  }

  /** Container cgroups under this daemon's parent, in any hierarchy. */
  childCgroups(): string[] {
    const out: string[] = [];
    for (const h of fs.readdirSync('/sys/fs/cgroup')) {
      const p = path.join('/sys/fs/cgroup', h, this.cgroupParent);
      try {
        for (const e of fs.readdirSync(p, { withFileTypes: true })) if (e.isDirectory()) out.push(path.join(p, e.name));
      } catch {
        /* no such hierarchy or parent */
      }
    }
    return out;
  }
}

/** Gone or a zombie (a child of ours is reaped by the event loop, which a synchronous wait blocks). */
export function exited(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

function cmdline(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
  } catch {
    return '?';
  }
}
