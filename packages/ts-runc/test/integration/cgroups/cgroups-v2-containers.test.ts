/**
 * Real containers on a pure cgroup v2 layout. This machine is hybrid, so the test makes a
 * private mount namespace whose /sys/fs/cgroup is a cgroup2 mount (the same hierarchy the host
 * sees at /sys/fs/cgroup/unified) and runs every ts-runc command inside it with nsenter. ts-runc
 * detects v2 there and uses the v2 driver end to end: eBPF device filter, cgroup.freeze,
 * cgroup.kill, recursive pids, stats, clear errors for controllers bound to v1.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawn, spawnSync, type ChildProcess } from 'child_process';

const BIN = path.join(__dirname, '../../../../bin/ts-runc');
const MAKE_ROOTFS = path.join(__dirname, '../../../../../../scripts/make-rootfs');
const HOST_V2 = '/sys/fs/cgroup/unified';
const usable = process.getuid?.() === 0 && fs.existsSync('/bin/busybox') && fs.existsSync(HOST_V2) && spawnSync('which', ['nsenter', 'unshare']).status === 0;
const maybe = usable ? describe : describe.skip;

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

maybe('real containers on a pure cgroup v2 layout (private mount namespace)', () => {
  beforeAll(async () => {
    subtreeBefore = read(path.join(HOST_V2, 'cgroup.subtree_control'));
    ns = spawn('unshare', ['-m', '--propagation', 'private', 'sleep', '900'], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 100));
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

    // Controllers bound to v1 on this machine: a clear error, nothing silently accepted.
    const upd = runc(['update', '--pids-limit', '5', c.id]);
    expect(upd.code).toBe(1);
    expect(upd.err).toContain('cannot set pids limit: the pids controller is not available in this cgroup v2 hierarchy');

    ok('kill', '--all', c.id, 'KILL');
    for (let i = 0; i < 100 && JSON.parse(ok('state', c.id)).status !== 'stopped'; i++) spawnSync('sleep', ['0.02']);
    ok('delete', c.id);
    expect(fs.existsSync(c.hostDir)).toBe(false);
  });

  test('a limit whose controller v2 lacks here fails create and leaves no cgroup', () => {
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
    expect(r.status).toBe(1);
    expect(fs.readFileSync(errFile, 'utf8')).toContain('cannot set memory limit: the memory controller is not available in this cgroup v2 hierarchy');
    expect(fs.existsSync(path.join(HOST_V2, id))).toBe(false);
    expect(fs.existsSync(path.join(root, id))).toBe(false);
  });
});
