/**
 * Real containers on a pure cgroup v2 layout. The project machines are hybrid, so the test makes
 * a private mount namespace whose /sys/fs/cgroup is a cgroup2 mount (the same hierarchy the host
 * sees at /sys/fs/cgroup/unified, or at /sys/fs/cgroup on a pure v2 machine) and runs every
 * ts-runc command inside it with nsenter. ts-runc detects v2 there and uses the v2 driver end to
 * end: eBPF device filter, cgroup.freeze, cgroup.kill, recursive pids, stats. Which controllers
 * that hierarchy has depends on the machine (on a hybrid one, those bound to v1 are missing): a
 * limit must be applied where the controller is there and be a clear error where it is not.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawn, spawnSync, type ChildProcess } from 'child_process';
import { waitFor, waitForSync } from '../../helpers/wait';

jest.setTimeout(120_000);

const BIN = path.join(__dirname, '../../../../bin/ts-runc');
const MAKE_ROOTFS = path.join(__dirname, '../../../../../../scripts/make-rootfs');
const usable = process.getuid?.() === 0 && fs.existsSync('/bin/busybox') && spawnSync('which', ['nsenter', 'unshare']).status === 0;
const maybe = usable ? describe : describe.skip;

/** Where the host sees the cgroup2 hierarchy (its root), from /proc/self/mountinfo; '' when none. */
function hostCgroup2Mount(): string {
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [pre, post] = line.split(' - ');
    const f = pre?.split(' ') ?? [];
    if (post?.split(' ')[0] === 'cgroup2' && f[3] === '/') return f[4];
  }
  return '';
}

/** The host's view of the hierarchy: its own cgroup2 mount, or one made for the test (v1-only machine). */
let HOST_V2 = '';
let mountedV2 = false;
let ns: ChildProcess | undefined;
let work = '';
let root = '';
let bundle = '';
let subtreeBefore = '';
const ids: string[] = [];

/** Run ts-runc inside the v2 mount namespace. */
function runc(args: string[], opts: { input?: string } = {}) {
  const r = spawnSync('nsenter', ['-t', String(ns!.pid), '-m', '--', BIN, '--root', root, ...args], { encoding: 'utf8', timeout: 30000, input: opts.input });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
function ok(...args: string[]): string {
  const r = runc(args);
  if (r.code !== 0) throw new Error(`ts-runc ${args.join(' ')} failed (${r.code}): ${r.err}`);
  return r.out;
}
const read = (p: string) => fs.readFileSync(p, 'utf8').trim();
const comm = (pid: number) => read(`/proc/${pid}/comm`);

function start(tag: string, edit: (cfg: any) => void): { id: string; hostDir: string; pid: number } {
  const id = `tsrt-v2c-${tag}-${process.pid}`;
  ids.push(id);
  const cfg = JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8'));
  cfg.process.args = ['sleep', '300'];
  cfg.process.terminal = false;
  cfg.linux.cgroupsPath = `/${id}`;
  edit(cfg);
  const dir = path.join(work, id);
  fs.mkdirSync(dir);
  fs.symlinkSync(path.join(bundle, 'rootfs'), path.join(dir, 'rootfs'));
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg));
  const errFile = path.join(dir, 'create.err');
  const errFd = fs.openSync(errFile, 'w');
  const cr = spawnSync('nsenter', ['-t', String(ns!.pid), '-m', '--', BIN, '--root', root, 'create', '--bundle', dir, id], { stdio: ['ignore', 'ignore', errFd], timeout: 30000 });
  fs.closeSync(errFd);
  if (cr.status !== 0) throw new Error(`create failed: ${fs.readFileSync(errFile, 'utf8')}`);
  ok('start', id);
  const state = JSON.parse(fs.readFileSync(path.join(root, id, 'state.json'), 'utf8'));
  expect(state.cgroup).toMatchObject({ driver: 'v2', mode: 'v2', paths: { '': `/sys/fs/cgroup/${id}` } });
  return { id, hostDir: path.join(HOST_V2, id), pid: JSON.parse(ok('state', id)).pid };
}

/** The controllers the v2 hierarchy offers its children (the root's cgroup.controllers). */
function v2Controllers(): string[] {
  return read(path.join(HOST_V2, 'cgroup.controllers')).split(/\s+/).filter(Boolean);
}

/** ts-runc state says "stopped" (polled: the init's exit is reaped asynchronously). */
function waitStopped(id: string): void {
  waitForSync(`container ${id} to be stopped`, () => JSON.parse(ok('state', id)).status === 'stopped', { lastSeen: () => JSON.parse(ok('state', id)).status });
}

maybe('real containers on a pure cgroup v2 layout (private mount namespace)', () => {
  beforeAll(async () => {
    HOST_V2 = hostCgroup2Mount();
    if (!HOST_V2) {
      // No cgroup2 on this host (v1 only): mount the hierarchy where the test can look at it.
      HOST_V2 = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrt-v2c-host-'));
      const r = spawnSync('mount', ['-t', 'cgroup2', 'none', HOST_V2], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`mount cgroup2 at ${HOST_V2}: ${r.stderr}`);
      mountedV2 = true;
    }
    subtreeBefore = read(path.join(HOST_V2, 'cgroup.subtree_control'));
    ns = spawn('unshare', ['-m', '--propagation', 'private', 'sleep', '900'], { stdio: 'ignore' });
    // nsenter must not run before unshare has made the namespace private (the umount below would
    // hit the host's mounts): unshare execs sleep only once that is done.
    const hostMntNs = fs.readlinkSync('/proc/self/ns/mnt');
    await waitFor('unshare to set up the private mount namespace and exec sleep', () => comm(ns!.pid!) === 'sleep' && fs.readlinkSync(`/proc/${ns!.pid}/ns/mnt`) !== hostMntNs, {
      lastSeen: () => ({ comm: comm(ns!.pid!), exitCode: ns!.exitCode }),
    });
    const m = spawnSync('nsenter', ['-t', String(ns.pid), '-m', 'sh', '-c', 'umount -R /sys/fs/cgroup && mount -t cgroup2 none /sys/fs/cgroup'], { encoding: 'utf8' });
    if (m.status !== 0) throw new Error(`v2 namespace: ${m.stderr}`);
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrt-v2c-'));
    root = path.join(work, 'root');
    bundle = path.join(work, 'bundle');
    fs.mkdirSync(bundle);
    const r = spawnSync(MAKE_ROOTFS, [path.join(bundle, 'rootfs')], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`make-rootfs: ${r.stderr}`);
    const s = spawnSync(BIN, ['spec'], { cwd: bundle, encoding: 'utf8' });
    if (s.status !== 0) throw new Error(`spec: ${s.stderr}`);
  });

  afterEach(() => {
    for (const id of ids.splice(0)) runc(['delete', '-f', id]);
  });

  afterAll(() => {
    ns?.kill('SIGKILL');
    if (HOST_V2) {
      const before = new Set(subtreeBefore.split(/\s+/).filter(Boolean));
      for (const c of read(path.join(HOST_V2, 'cgroup.subtree_control')).split(/\s+/).filter(Boolean)) {
        if (!before.has(c)) {
          try {
            fs.writeFileSync(path.join(HOST_V2, 'cgroup.subtree_control'), `-${c}`);
          } catch {
            /* another cgroup uses it now */
          }
        }
      }
    }
    if (mountedV2) {
      spawnSync('umount', [HOST_V2]);
      fs.rmdirSync(HOST_V2);
    }
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  test('create/ps/pause/resume/events/kill --all/delete through the v2 driver', () => {
    const c = start('life', (cfg) => {
      cfg.linux.devices = [{ path: '/dev/kmsg-x', type: 'c', major: 1, minor: 11, fileMode: 0o666 }];
      cfg.linux.resources = { devices: [{ allow: false, access: 'rwm' }] };
    });
    expect(read(path.join(c.hostDir, 'cgroup.procs')).split('\n')).toContain(String(c.pid));
    expect(JSON.parse(ok('ps', '-f', 'json', c.id))).toEqual([c.pid]);

    // Device filter (eBPF): the node exists in the container but the cgroup denies it.
    const dev = runc(['exec', c.id, 'sh', '-c', 'echo x > /dev/kmsg-x && echo opened || echo denied; head -c1 /dev/zero >/dev/null && echo zero-ok']);
    expect(dev.out.trim().split('\n')).toEqual(['denied', 'zero-ok']);

    ok('pause', c.id);
    expect(JSON.parse(ok('state', c.id)).status).toBe('paused');
    expect(read(path.join(c.hostDir, 'cgroup.freeze'))).toBe('1');
    expect(read(path.join(c.hostDir, 'cgroup.events'))).toContain('frozen 1');
    ok('resume', c.id);
    expect(JSON.parse(ok('state', c.id)).status).toBe('running');
    expect(read(path.join(c.hostDir, 'cgroup.events'))).toContain('frozen 0');

    const ev = JSON.parse(ok('events', '--stats', c.id));
    expect(ev).toMatchObject({ type: 'stats', id: c.id });
    expect(ev.data.pids.current).toBe(1);
    expect(ev.data.cpu.usage.total).toBeGreaterThan(0);

    // pids in v2: applied when this hierarchy has the controller; on a hybrid machine it is bound
    // to v1, and the update is a clear error, nothing silently accepted.
    const upd = runc(['update', '--pids-limit', '5', c.id]);
    if (v2Controllers().includes('pids')) {
      expect([upd.code, upd.err]).toEqual([0, '']);
      expect(read(path.join(c.hostDir, 'pids.max'))).toBe('5');
    } else {
      expect(upd.code).toBe(1);
      expect(upd.err).toContain('cannot set pids limit: the pids controller is not available in this cgroup v2 hierarchy');
    }

    ok('kill', '--all', c.id, 'KILL');
    waitStopped(c.id);
    ok('delete', c.id);
    expect(fs.existsSync(c.hostDir)).toBe(false);
  });

  test('a memory limit: in memory.max when v2 has the controller, else create fails and leaves no cgroup', () => {
    const id = `tsrt-v2c-fail-${process.pid}`;
    const cfgDir = path.join(work, id);
    fs.mkdirSync(cfgDir);
    fs.symlinkSync(path.join(bundle, 'rootfs'), path.join(cfgDir, 'rootfs'));
    const cfg = JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8'));
    cfg.process.terminal = false;
    cfg.linux.cgroupsPath = `/${id}`;
    cfg.linux.resources = { memory: { limit: 64 << 20 } };
    fs.writeFileSync(path.join(cfgDir, 'config.json'), JSON.stringify(cfg));
    const errFile = path.join(cfgDir, 'err');
    const errFd = fs.openSync(errFile, 'w');
    const r = spawnSync('nsenter', ['-t', String(ns!.pid), '-m', '--', BIN, '--root', root, 'create', '--bundle', cfgDir, id], { stdio: ['ignore', 'ignore', errFd] });
    fs.closeSync(errFd);
    if (v2Controllers().includes('memory')) {
      ids.push(id); // deleted after the test
      expect([r.status, fs.readFileSync(errFile, 'utf8')]).toEqual([0, '']);
      expect(read(path.join(HOST_V2, id, 'memory.max'))).toBe(String(64 << 20));
      return;
    }
    expect(r.status).toBe(1);
    expect(fs.readFileSync(errFile, 'utf8')).toContain('cannot set memory limit: the memory controller is not available in this cgroup v2 hierarchy');
    expect(fs.existsSync(path.join(HOST_V2, id))).toBe(false);
    expect(fs.existsSync(path.join(root, id))).toBe(false);
  });
});
