// Run-wide environment: which runtime, the per-run state root and scratch directory, the rootfs
// template, and helpers to run host commands. Everything the run creates lives under `work`.
import { spawnSync, SpawnSyncOptions } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export interface Env {
  runtime: string;
  runtimeName: string;
  runId: string;
  /** Scratch directory of this run (bundles, logs, images). */
  work: string;
  /** The runtime's --root for this run. */
  stateRoot: string;
  rootfsTemplate: string;
  /** Absolute cgroupsPath prefix used for every container of this run. */
  cgroupParent: string;
  unpacker: string;
  unpackerName: string;
  verbose: boolean;
}

export let env: Env;
export function setEnv(e: Env): void {
  env = e;
}

export interface Cmd {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  error?: Error;
}

export function sh(cmd: string, args: string[], opts: SpawnSyncOptions = {}): Cmd {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 30_000, ...opts });
  return {
    code: r.status,
    signal: r.signal,
    stdout: String(r.stdout ?? ''),
    stderr: String(r.stderr ?? ''),
    error: r.error,
  };
}

export function mustSh(cmd: string, args: string[], opts: SpawnSyncOptions = {}): string {
  const r = sh(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.code}: ${r.stderr.trim() || r.error?.message}`);
  return r.stdout;
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
export function sleepMs(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

export function randomId(prefix = 'c'): string {
  return `${prefix}-${crypto.randomBytes(6).toString('hex')}`;
}

export function makeWorkDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oci-conformance-'));
  // Traversable by other uids (user-namespace tests map container root to an unprivileged host uid).
  fs.chmodSync(dir, 0o755);
  return dir;
}

/** A busybox-static rootfs built from the host's /bin/busybox (must be statically linked). */
export function buildRootfsTemplate(dir: string): void {
  const bb = ['/bin/busybox', '/usr/bin/busybox'].find((p) => fs.existsSync(p));
  if (!bb) throw new Error('busybox not found (install busybox-static)');
  for (const d of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'etc', 'proc', 'sys', 'dev', 'tmp', 'root', 'home/user', 'var', 'opt', 'mnt']) {
    fs.mkdirSync(path.join(dir, d), { recursive: true, mode: 0o755 });
  }
  fs.chmodSync(path.join(dir, 'tmp'), 0o1777);
  fs.copyFileSync(bb, path.join(dir, 'bin/busybox'));
  fs.chmodSync(path.join(dir, 'bin/busybox'), 0o755);
  const applets = mustSh(bb, ['--list-full']).split('\n').filter(Boolean);
  for (const a of applets) {
    const p = path.join(dir, a);
    if (!fs.existsSync(p)) fs.symlinkSync('/bin/busybox', p);
  }
  fs.writeFileSync(
    path.join(dir, 'etc/passwd'),
    'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n',
  );
  fs.writeFileSync(path.join(dir, 'etc/group'), 'root:x:0:\nusers:x:100:user\nuser:x:1000:\nnogroup:x:65534:\n');
  fs.writeFileSync(path.join(dir, 'etc/hostname'), 'template\n');
  fs.chownSync(path.join(dir, 'home/user'), 1000, 1000);
}

/** Cgroup hierarchies mounted on this host (v1 controller dirs and/or the v2 mount). */
export function cgroupMounts(): { dir: string; type: string; opts: string }[] {
  const out: { dir: string; type: string; opts: string }[] = [];
  for (const line of fs.readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
    const f = line.split(' ');
    if (f[2] === 'cgroup' || f[2] === 'cgroup2') out.push({ dir: f[1], type: f[2], opts: f[3] });
  }
  return out;
}

/** rmdir a cgroup subtree (children first) in every hierarchy; ignores what is busy or absent. */
export function removeCgroupTree(rel: string): void {
  for (const m of cgroupMounts()) {
    const top = path.join(m.dir, rel);
    const rec = (d: string): void => {
      let ents: fs.Dirent[];
      try {
        ents = fs.readdirSync(d, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of ents) if (e.isDirectory()) rec(path.join(d, e.name));
      // Processes still in one of our cgroups were left by the runtime under test: kill them.
      const procs = (): number[] => {
        try {
          return fs.readFileSync(path.join(d, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
        } catch {
          return [];
        }
      };
      let left = procs();
      for (let i = 0; left.length > 0 && i < 100; i++) {
        for (const pid of left) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            /* gone */
          }
        }
        sleepMs(10);
        left = procs();
      }
      try {
        fs.rmdirSync(d);
      } catch {
        /* busy or gone */
      }
    };
    rec(top);
  }
}

export function isMountpoint(p: string): boolean {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[4] === p);
}

/** The "spec: X.Y.Z" line of `RUNTIME --version` as [major, minor, patch]; null when absent. */
let specVersionCache: number[] | null | undefined;
export function runtimeSpecVersion(): number[] | null {
  if (specVersionCache === undefined) {
    const m = /^spec:\s*(\d+)\.(\d+)\.(\d+)/m.exec(sh(env.runtime, ['--version']).stdout);
    specVersionCache = m ? [Number(m[1]), Number(m[2]), Number(m[3])] : null;
  }
  return specVersionCache;
}

/** True when the runtime declares a spec version older than major.minor. */
export function runtimePredates(major: number, minor: number): boolean {
  const v = runtimeSpecVersion();
  return !!v && (v[0] < major || (v[0] === major && v[1] < minor));
}
