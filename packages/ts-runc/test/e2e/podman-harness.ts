/**
 * A private podman for e2e tests: storage root, runroot, tmpdir and network config in a temp dir,
 * a containers.conf (via CONTAINERS_CONF) with cgroupfs, netns none, file events, empty default
 * ulimits (root lacks CAP_SYS_RESOURCE here), runtime wrappers named ts-runc/runc/crun listed in
 * runtime_supports_json so conmon passes --log-format json, and the busybox demo image pulled
 * offline from an OCI layout.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  run, runAsync, ok, runtimeWrapper, demoImageLayout, unmountBelow, pidsWithCmdline, killPids,
  existingCgroups, removeCgroupTrees, existingPaths, removeEmptyDirsIfNew, type Result,
} from './helpers';

export const IMAGE = 'localhost/ts-runc-e2e:latest';

export class Podman {
  readonly dir: string;
  readonly env: NodeJS.ProcessEnv;
  readonly wrappers: Record<string, { bin: string; real: string; calls: () => string[] }> = {};
  private cgroupsBefore: Set<string>;
  private runDirsBefore: Set<string>;
  private static readonly CGROUPS = ['libpod_parent'];
  private static readonly RUN_DIRS = ['/run/containers/networks', '/run/containers'];

  constructor(runtimes: Array<{ name: string; bin: string }>) {
    this.cgroupsBefore = existingCgroups(Podman.CGROUPS);
    this.runDirsBefore = existingPaths(Podman.RUN_DIRS);
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ts-runc-e2e-podman-'));
    for (const d of ['root', 'run', 'tmp', 'net']) fs.mkdirSync(path.join(this.dir, d));
    const table: string[] = [];
    for (const r of runtimes) {
      const w = runtimeWrapper(this.dir, r.name, r.bin);
      this.wrappers[r.name] = { ...w, real: r.bin };
      table.push(`${JSON.stringify(r.name)} = [${JSON.stringify(w.bin)}]`);
    }
    const conf = path.join(this.dir, 'containers.conf');
    fs.writeFileSync(
      conf,
      [
        '[containers]',
        'netns = "none"',
        'default_ulimits = []',
        'log_driver = "k8s-file"',
        '[engine]',
        'cgroup_manager = "cgroupfs"',
        'events_logger = "file"',
        `tmp_dir = ${JSON.stringify(path.join(this.dir, 'tmp'))}`,
        `runtime = ${JSON.stringify(runtimes[0]?.name ?? 'runc')}`,
        'runtime_supports_json = ["ts-runc", "runc", "crun"]',
        '[engine.runtimes]',
        ...table,
        '[network]',
        `network_config_dir = ${JSON.stringify(path.join(this.dir, 'net'))}`,
        '',
      ].join('\n'),
    );
    const storage = path.join(this.dir, 'storage.conf');
    fs.writeFileSync(
      storage,
      ['[storage]', 'driver = "overlay"', `graphroot = ${JSON.stringify(path.join(this.dir, 'root'))}`, `runroot = ${JSON.stringify(path.join(this.dir, 'run'))}`, ''].join('\n'),
    );
    this.env = { ...process.env, CONTAINERS_CONF: conf, CONTAINERS_STORAGE_CONF: storage, CONTAINERS_REGISTRIES_CONF: path.join(this.dir, 'registries.conf') };
    fs.writeFileSync(path.join(this.dir, 'registries.conf'), 'unqualified-search-registries = []\n');
  }

  /** podman with the private config; every call is also explicit about the private dirs. */
  podman(args: string[], opts: { input?: string; timeout?: number } = {}): Result {
    return run('podman', this.globalArgs().concat(args), { env: this.env, ...opts });
  }

  podmanAsync(args: string[]): Promise<Result> {
    return runAsync('podman', this.globalArgs().concat(args), { env: this.env });
  }

  globalArgs(): string[] {
    return [
      '--root', path.join(this.dir, 'root'),
      '--runroot', path.join(this.dir, 'run'),
      '--tmpdir', path.join(this.dir, 'tmp'),
      '--cgroup-manager', 'cgroupfs',
      '--events-backend', 'file',
      '--network-config-dir', path.join(this.dir, 'net'),
    ];
  }

  /** The shell command line for podman (for `script -qec`). */
  cmdline(args: string[]): string {
    return ['podman', ...this.globalArgs(), ...args].map(shq).join(' ');
  }

  loadImage(): void {
    ok(this.podman(['pull', '-q', `oci:${demoImageLayout()}:latest`]));
    const id = ok(this.podman(['images', '-q', '--no-trunc'])).trim().split('\n')[0];
    ok(this.podman(['tag', id, IMAGE]));
  }

  /** Container ids podman handed to the runtime (from the wrappers' argv logs). */
  runtimeIds(): string[] {
    const ids = new Set<string>();
    for (const w of Object.values(this.wrappers)) for (const l of w.calls()) for (const m of l.matchAll(/\b[0-9a-f]{64}\b/g)) ids.add(m[0]);
    return [...ids];
  }

  /** Removes every container and image, stops conmons, unmounts, removes the dirs and the cgroups podman made. */
  cleanup(): string[] {
    const problems: string[] = [];
    this.podman(['rm', '-af', '-t', '0'], { timeout: 60000 });
    this.podman(['rmi', '-af'], { timeout: 60000 });
    const conmons = pidsWithCmdline(this.dir).filter((p) => {
      try {
        return fs.readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'conmon';
      } catch {
        return false;
      }
    });
    if (conmons.length) problems.push(`conmon still running after rm -af: ${conmons.join(' ')}`);
    killPids(conmons);
    // Read while the wrappers' logs still exist (they live in this.dir, removed below).
    const ids = this.runtimeIds();
    // Runtime state left for ids podman used (default --root of each runtime).
    for (const id of ids) {
      for (const w of Object.values(this.wrappers)) {
        const st = run(w.real, ['state', id]);
        if (st.status === 0) {
          problems.push(`${path.basename(w.real)} still has ${id}`);
          run(w.real, ['delete', '-f', id]);
        }
      }
    }
    this.podman(['system', 'reset', '-f'], { timeout: 60000 });
    unmountBelow(this.dir);
    fs.rmSync(this.dir, { recursive: true, force: true });
    // libpod_parent may be shared with another podman user: only our containers' cgroups
    // (libpod_parent/libpod-ID) are emptied; libpod_parent/conmon and libpod_parent go only if
    // this test made them and they are empty.
    const mine = ids.map((id) => `libpod_parent/libpod-${id}`);
    problems.push(...removeCgroupTrees(mine).map((s) => `cgroup left: ${s}`));
    if (!this.cgroupsBefore.has('libpod_parent')) {
      for (const h of fs.readdirSync('/sys/fs/cgroup')) {
        for (const d of ['libpod_parent/conmon', 'libpod_parent']) {
          try {
            fs.rmdirSync(path.join('/sys/fs/cgroup', h, d));
          } catch {
            /* absent or in use */
          }
        }
      }
    }
    removeEmptyDirsIfNew(Podman.RUN_DIRS, this.runDirsBefore);
    return problems;
  }
}

export function shq(s: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
