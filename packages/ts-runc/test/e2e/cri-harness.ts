/**
 * A private containerd 1.6 with its CRI plugin, for driving runtimes as the kubelet does: root,
 * state, sockets, config, CNI conf dir, pod logs and the runc v2 shim's runtime root all in one
 * temp dir; one CRI runtime handler per runtime (io.containerd.runc.v2 with BinaryName = a
 * wrapper that logs the runtime's argv); a pause-like sandbox image and the busybox demo image
 * imported offline into the k8s.io namespace. Clean-up removes the pods through the CRI, stops
 * the daemon and its shims, unmounts, and removes the dirs and the cgroups the pods used.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawn, type ChildProcess } from 'child_process';
import {
  run, ok, runtimeWrapper, demoImageLayout, unmountBelow, pidsWithCmdline, killPids, waitFor,
  existingCgroups, removeCgroupTrees, existingPaths, removeEmptyDirsIfNew, readOrEmpty, deleteStateLeft, stopDaemon, type Result,
} from './helpers';
import { CriClient } from './cri-client';

export const APP_IMAGE = 'localhost/ts-runc-e2e:latest';
export const PAUSE_IMAGE = 'localhost/ts-runc-e2e-pause:latest';
/** The namespace containerd's CRI plugin keeps its containers and images in. */
export const K8S_NS = 'k8s.io';
const CRI_PLUGIN = 'io.containerd.grpc.v1.cri';

export class CriContainerd {
  readonly dir: string;
  readonly sock: string;
  /** The shim's --root for every handler (the runc v2 shim adds the namespace: RUNC_ROOT/k8s.io). */
  readonly runcRoot: string;
  /** Pods' cgroup_parent lives below this top cgroup, removed afterwards if the test made it. */
  readonly cgroupTop: string;
  readonly wrappers: Record<string, { bin: string; real: string; calls: () => string[] }> = {};
  cri?: CriClient;
  private daemon?: ChildProcess;
  private readonly cgroupsBefore: Set<string>;
  // containerd 1.6 keeps shim sockets under /run/containerd/s whatever its state dir is
  private readonly runDirs = ['/run/containerd/s', '/run/containerd'];
  private readonly runDirsBefore: Set<string>;

  constructor(runtimes: Array<{ name: string; bin: string }>) {
    this.cgroupTop = `ts-runc-e2e-cri-${process.pid}`;
    this.cgroupsBefore = existingCgroups([this.cgroupTop]);
    this.runDirsBefore = existingPaths(this.runDirs);
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ts-runc-e2e-cri-'));
    this.sock = path.join(this.dir, 'containerd.sock');
    this.runcRoot = path.join(this.dir, 'runc-root');
    for (const d of ['root', 'state', 'runc-root', 'cni', 'opt', 'pods']) fs.mkdirSync(path.join(this.dir, d));
    const handlers: string[] = [];
    for (const r of runtimes) {
      const w = runtimeWrapper(this.dir, r.name, r.bin);
      this.wrappers[r.name] = { ...w, real: r.bin };
      const h = `[plugins."${CRI_PLUGIN}".containerd.runtimes.${JSON.stringify(r.name)}]`;
      handlers.push(
        h,
        '  runtime_type = "io.containerd.runc.v2"',
        `${h.slice(0, -1)}.options]`,
        `  BinaryName = ${JSON.stringify(w.bin)}`,
        `  Root = ${JSON.stringify(this.runcRoot)}`,
        '  SystemdCgroup = false',
      );
    }
    const q = JSON.stringify;
    fs.writeFileSync(
      path.join(this.dir, 'config.toml'),
      [
        'version = 2',
        `root = ${q(path.join(this.dir, 'root'))}`,
        `state = ${q(path.join(this.dir, 'state'))}`,
        // nothing disabled: the CRI plugin must load
        'disabled_plugins = []',
        '[grpc]',
        `  address = ${q(this.sock)}`,
        '[ttrpc]',
        `  address = ${q(this.sock + '.ttrpc')}`,
        '[debug]',
        '  address = ""',
        '[metrics]',
        '  address = ""',
        // the opt plugin would otherwise create /opt/containerd
        '[plugins."io.containerd.internal.v1.opt"]',
        `  path = ${q(path.join(this.dir, 'opt'))}`,
        `[plugins."${CRI_PLUGIN}"]`,
        `  sandbox_image = ${q(PAUSE_IMAGE)}`,
        // no AppArmor on this kernel; and it must not load a profile into a shared host's kernel
        '  disable_apparmor = true',
        // root here lacks CAP_SYS_RESOURCE: the pause's -998 (and any score below containerd's own)
        // cannot be set, so the CRI raises them to containerd's score, as for rootless
        '  restrict_oom_score_adj = true',
        '  stream_server_address = "127.0.0.1"',
        '  stream_server_port = "0"',
        `[plugins."${CRI_PLUGIN}".containerd]`,
        `  default_runtime_name = ${q(runtimes[0]?.name ?? 'runc')}`,
        '  snapshotter = "overlayfs"',
        ...handlers,
        // an empty conf dir of our own: pods use the host network (NamespaceMode NODE)
        `[plugins."${CRI_PLUGIN}".cni]`,
        '  bin_dir = "/usr/lib/cni"',
        `  conf_dir = ${q(path.join(this.dir, 'cni'))}`,
        '',
      ].join('\n'),
    );
  }

  /**
   * Starts the daemon and checks that the CRI plugin loaded and answers. Returns undefined when
   * it does, else the reason (the caller skips): the plugin's status in `ctr plugins ls` and the
   * daemon's log lines about it.
   */
  async start(): Promise<string | undefined> {
    const log = fs.openSync(path.join(this.dir, 'containerd.log'), 'w');
    this.daemon = spawn('containerd', ['--config', path.join(this.dir, 'config.toml')], { stdio: ['ignore', log, log] });
    fs.closeSync(log);
    await waitFor('containerd to serve', () => {
      if (this.daemon?.exitCode !== null) throw new Error(`containerd exited: ${this.log()}`);
      return run('ctr', ['--address', this.sock, 'version'], { timeout: 5000 }).status === 0;
    }, 30000, 200);
    const plugins = ok(run('ctr', ['--address', this.sock, 'plugins', 'ls']));
    const line = criPluginLine(plugins);
    if (!line || !/\bok\s*$/.test(line)) {
      const why = this.log().split('\n').filter((l) => /cri|CRI/.test(l) && /level=(error|warning|fatal)/.test(l)).join('\n');
      return `the CRI plugin did not load: ${line ?? '(not listed)'}\n${why}`;
    }
    this.cri = new CriClient(this.sock);
    try {
      await this.cri.runtime('Version', { version: '0.1.0' }, 20000);
    } catch (e) {
      return `the CRI plugin loaded but does not answer: ${(e as Error).message}`;
    }
    return undefined;
  }

  log(): string {
    return readOrEmpty(path.join(this.dir, 'containerd.log'));
  }

  ctr(args: string[], opts: { input?: string; timeout?: number } = {}): Result {
    return run('ctr', ['--address', this.sock, '-n', K8S_NS, ...args], opts);
  }

  /** The demo image and a pause-like image made from it, imported into k8s.io (no PullImage: offline). */
  importImages(): void {
    const app = demoImageLayout();
    const pause = path.join(this.dir, 'pause-layout');
    pauseLayout(app, pause);
    for (const [layout, base] of [[app, APP_IMAGE], [pause, PAUSE_IMAGE]]) {
      const archive = path.join(this.dir, `${path.basename(layout)}.tar`);
      ok(run('tar', ['-C', layout, '-cf', archive, '.']));
      ok(this.ctr(['images', 'import', '--base-name', base.replace(/:latest$/, ''), archive]));
      fs.rmSync(archive);
    }
    const refs = ok(this.ctr(['images', 'ls', '-q']));
    for (const ref of [APP_IMAGE, PAUSE_IMAGE]) if (!refs.split('\n').includes(ref)) throw new Error(`image import gave ${refs}`);
  }

  /** Runtime state dirs the shim left (one per container id) in the handlers' runtime root. */
  runtimeStateLeft(): string[] {
    const d = path.join(this.runcRoot, K8S_NS);
    return fs.existsSync(d) ? fs.readdirSync(d) : [];
  }

  async cleanup(): Promise<string[]> {
    const problems: string[] = [];
    if (this.cri && this.daemon && this.daemon.exitCode === null) {
      // As the kubelet would: stop and remove every pod (its containers, /dev/shm mount, netns).
      try {
        const pods = (await this.cri.runtime('ListPodSandbox', {}, 30000)).items as Array<{ id: string }>;
        for (const p of pods) {
          problems.push(`pod left: ${p.id}`);
          await this.cri.runtime('StopPodSandbox', { pod_sandbox_id: p.id }, 60000).catch((e) => problems.push(`StopPodSandbox ${p.id}: ${e.message}`));
          await this.cri.runtime('RemovePodSandbox', { pod_sandbox_id: p.id }, 60000).catch((e) => problems.push(`RemovePodSandbox ${p.id}: ${e.message}`));
        }
      } catch (e) {
        problems.push(`cleanup through the CRI: ${(e as Error).message}`);
      }
    }
    this.cri?.close();
    if (this.daemon && this.daemon.exitCode === null) {
      if (!(await stopDaemon(this.daemon, 'containerd'))) problems.push('containerd did not exit on SIGTERM');
    }
    // shims name our socket in their command line
    const shims = pidsWithCmdline(this.sock);
    if (shims.length) {
      problems.push(`shims left: ${shims.join(' ')}`);
      killPids(shims, 'SIGTERM');
      await waitFor('the shims to exit on SIGTERM', () => pidsWithCmdline(this.sock).length === 0, 5000).catch(() => undefined);
      killPids(pidsWithCmdline(this.sock));
    }
    problems.push(...deleteStateLeft(path.join(this.runcRoot, K8S_NS), Object.values(this.wrappers).map((w) => w.real)));
    unmountBelow(this.dir);
    fs.rmSync(this.dir, { recursive: true, force: true });
    if (!this.cgroupsBefore.has(this.cgroupTop)) problems.push(...removeCgroupTrees([this.cgroupTop]).map((s) => `cgroup left: ${s}`));
    removeEmptyDirsIfNew(this.runDirs, this.runDirsBefore);
    return problems;
  }
}

/** The CRI plugin's row in `ctr plugins ls` (TYPE ID PLATFORMS STATUS). */
function criPluginLine(plugins: string): string | undefined {
  return plugins.split('\n').find((l) => /^io\.containerd\.grpc\.v1\s+cri\s/.test(l));
}

/**
 * Why containerd's CRI cannot be used here, or undefined when it can: binaries present, and a
 * throwaway daemon with the test's config lists the CRI plugin as loaded ("ok"). Synchronous, so
 * that a test file can decide between describe and describe.skip while it is collected.
 */
export function criUnavailable(runtimes: Array<{ name: string; bin: string }>): string | undefined {
  for (const bin of ['containerd', 'ctr', 'containerd-shim-runc-v2']) {
    if (run('sh', ['-c', `command -v ${bin}`]).status !== 0) return `${bin} is not installed`;
  }
  const probe = new CriContainerd(runtimes);
  try {
    // start, wait (bounded) until it serves, list the plugins, stop: all in one synchronous shell
    const script = [
      'containerd --config "$1" >"$2" 2>&1 & pid=$!',
      'i=0; until ctr --address "$3" version >/dev/null 2>&1; do',
      '  kill -0 $pid 2>/dev/null || { echo "containerd exited"; exit 1; }',
      '  i=$((i+1)); [ $i -gt 300 ] && { kill $pid; echo "containerd did not serve"; exit 1; }',
      '  sleep 0.1',
      'done',
      'ctr --address "$3" plugins ls; kill $pid; wait $pid',
    ].join('\n');
    const r = run('sh', ['-c', script, 'probe', path.join(probe.dir, 'config.toml'), path.join(probe.dir, 'containerd.log'), probe.sock], { timeout: 60000 });
    const line = criPluginLine(r.stdout);
    if (r.status !== 0) return `a throwaway containerd did not start: ${r.text}\n${probe.log().slice(-2000)}`;
    if (!line || !/\bok\s*$/.test(line)) {
      const why = probe.log().split('\n').filter((l) => /cri/i.test(l) && /level=(error|fatal)/.test(l)).join('\n');
      return `the CRI plugin did not load: ${line?.trim().replace(/\s+/g, ' ') ?? 'not listed by ctr plugins ls'}\n${why}`;
    }
    return undefined;
  } finally {
    killPids(pidsWithCmdline(probe.sock));
    unmountBelow(probe.dir);
    fs.rmSync(probe.dir, { recursive: true, force: true });
  }
}

/**
 * An OCI layout beside `base` with the same layer and a config whose entrypoint sleeps forever,
 * as the pause image's does (containerd's CRI kills the sandbox with SIGKILL, so no TERM handler).
 */
function pauseLayout(base: string, out: string): void {
  fs.cpSync(base, out, { recursive: true });
  const blob = (d: string) => path.join(out, 'blobs', d.replace(':', '/'));
  const put = (json: object) => {
    const data = Buffer.from(JSON.stringify(json));
    const digest = `sha256:${crypto.createHash('sha256').update(data).digest('hex')}`;
    fs.writeFileSync(blob(digest), data);
    return { digest, size: data.length };
  };
  const index = JSON.parse(fs.readFileSync(path.join(out, 'index.json'), 'utf8'));
  const manifest = JSON.parse(fs.readFileSync(blob(index.manifests[0].digest), 'utf8'));
  const config = JSON.parse(fs.readFileSync(blob(manifest.config.digest), 'utf8'));
  config.config = { ...config.config, Entrypoint: ['/bin/sleep', 'infinity'], Cmd: null, Labels: { 'org.opencontainers.image.title': 'ts-runc e2e pause' } };
  manifest.config = { ...manifest.config, ...put(config) };
  index.manifests[0] = { ...index.manifests[0], ...put(manifest) };
  fs.writeFileSync(path.join(out, 'index.json'), JSON.stringify(index));
}
