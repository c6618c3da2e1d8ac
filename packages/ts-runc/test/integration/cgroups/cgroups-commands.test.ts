/**
 * The cgroup commands on real containers, through the ts-runc binary: create puts the init in
 * its cgroups with the limits of config.json, ps lists it, pause/resume freeze it, events
 * --stats reports usage, update changes the files, kill --all and delete leave nothing.
 * Limits are read back where this machine keeps them (a v1 controller's directory, or the
 * unified one); swap limits depend on the kernel's swap accounting (a clear error without it).
 * Nothing waits for a guessed time: the tests wait for the event itself (bounded).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawn, spawnSync } from 'child_process';
import { waitFor, waitForSync } from '../../helpers/wait';

jest.setTimeout(120_000);

const BIN = path.join(__dirname, '../../../../bin/ts-runc');
const MAKE_ROOTFS = path.join(__dirname, '../../../../../../scripts/make-rootfs');
const isRoot = process.getuid?.() === 0;
const maybe = isRoot && fs.existsSync('/bin/busybox') ? describe : describe.skip;

let work = '';
let root = '';
let bundle = '';
const ids: string[] = [];

function runc(...args: string[]) {
  const r = spawnSync(BIN, ['--root', root, ...args], { encoding: 'utf8', timeout: 30000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
function ok(...args: string[]): string {
  const r = runc(...args);
  if (r.code !== 0) throw new Error(`ts-runc ${args.join(' ')} failed (${r.code}): ${r.err}`);
  return r.out;
}
const read = (p: string) => fs.readFileSync(p, 'utf8').trim();

type Started = { id: string; paths: Record<string, string>; pid: number };
/** A limit as the container's cgroup driver wrote it: the v1 controller's file, or the unified one. */
function limitOf(c: Started, ctrl: string, v1file: string, v2file: string): string {
  return c.paths[ctrl] ? read(path.join(c.paths[ctrl], v1file)) : read(path.join(c.paths[''], v2file));
}
/** Does this kernel account swap (v1 memory.memsw.*, v2 memory.swap.max)? */
function swapAccounting(c: Started): boolean {
  return c.paths.memory ? fs.existsSync(path.join(c.paths.memory, 'memory.memsw.limit_in_bytes')) : fs.existsSync(path.join(c.paths[''], 'memory.swap.max'));
}
/** ts-runc state says "stopped" (polled: the init's exit is reaped asynchronously). */
function waitStopped(id: string): void {
  waitForSync(`container ${id} to be stopped`, () => JSON.parse(ok('state', id)).status === 'stopped', { lastSeen: () => JSON.parse(ok('state', id)).status });
}
/**
 * `ts-runc events` running in the background; lines() is what it printed so far. It prints
 * nothing when it starts: its first stats line (after one interval) shows it is watching.
 */
function eventsStream(id: string, interval: string) {
  const child = spawn(BIN, ['--root', root, 'events', '--interval', interval, id], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const closed = new Promise<void>((r) => child.on('close', () => r()));
  return {
    events: () => out.split('\n').filter((l) => l.endsWith('}')).map((l) => JSON.parse(l)),
    stderr: () => err,
    exited: () => child.exitCode !== null || child.signalCode !== null,
    stop: async () => {
      child.kill('SIGKILL');
      await closed;
    },
  };
}

/** Write config.json for a long-running container with these resources, create and start it. */
function start(tag: string, resources: Record<string, unknown>, args = ['sleep', '300']): Started {
  const id = `tsrt-cmd-${tag}-${process.pid}`;
  ids.push(id);
  const cfg = JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8'));
  cfg.process.args = args;
  cfg.process.terminal = false;
  cfg.linux.cgroupsPath = `/${id}`;
  cfg.linux.resources = { ...(cfg.linux.resources ?? {}), ...resources };
  const dir = path.join(work, id);
  fs.mkdirSync(dir);
  fs.symlinkSync(path.join(bundle, 'rootfs'), path.join(dir, 'rootfs'));
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg));
  // The container's init inherits create's stdio: give it files, not pipes spawnSync would wait on.
  const errFile = path.join(dir, 'create.err');
  const errFd = fs.openSync(errFile, 'w');
  const cr = spawnSync(BIN, ['--root', root, 'create', '--bundle', dir, id], { stdio: ['ignore', 'ignore', errFd], timeout: 30000 });
  fs.closeSync(errFd);
  if (cr.status !== 0) throw new Error(`ts-runc create failed (${cr.status}): ${fs.readFileSync(errFile, 'utf8')}`);
  ok('start', id);
  const state = JSON.parse(fs.readFileSync(path.join(root, id, 'state.json'), 'utf8'));
  expect(state.cgroup).toBeDefined();
  return { id, paths: state.cgroup.paths, pid: JSON.parse(ok('state', id)).pid };
}

maybe('cgroup commands on real containers', () => {
  beforeAll(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrt-cgcmd-'));
    root = path.join(work, 'root');
    bundle = path.join(work, 'bundle');
    fs.mkdirSync(bundle);
    const r = spawnSync(MAKE_ROOTFS, [path.join(bundle, 'rootfs')], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`make-rootfs: ${r.stderr}`);
    const s = spawnSync(BIN, ['spec'], { cwd: bundle, encoding: 'utf8' });
    if (s.status !== 0) throw new Error(`spec: ${s.stderr}`);
  });

  afterEach(() => {
    for (const id of ids.splice(0)) runc('delete', '-f', id);
  });

  afterAll(() => {
    fs.rmSync(work, { recursive: true, force: true });
  });

  test('create applies config.json limits; ps lists the init; delete leaves no cgroup directory', () => {
    const c = start('basic', { memory: { limit: 64 << 20 }, pids: { limit: 20 } });
    const dirs = Object.values(c.paths);
    for (const d of dirs) expect(read(path.join(d, 'cgroup.procs')).split('\n')).toContain(String(c.pid));
    expect(limitOf(c, 'memory', 'memory.limit_in_bytes', 'memory.max')).toBe(String(64 << 20));
    expect(limitOf(c, 'pids', 'pids.max', 'pids.max')).toBe('20');
    // v1 device rules are a file; v2's are an eBPF program (cgroups-v2 tests look at that).
    if (c.paths.devices) expect(read(path.join(c.paths.devices, 'devices.list'))).not.toContain('a *:* rwm');
    expect(JSON.parse(ok('ps', '-f', 'json', c.id))).toEqual([c.pid]);
    const table = ok('ps', c.id).trimEnd().split('\n');
    expect(table[0]).toMatch(/PID/);
    expect(table).toHaveLength(2);
    expect(table[1]).toMatch(/sleep 300/);
    const custom = ok('ps', c.id, '-o', 'pid,comm').trimEnd().split('\n');
    expect(custom[0]).toMatch(/^\s*PID COMMAND$/);
    expect(custom.slice(1)).toEqual([expect.stringMatching(new RegExp(`^\\s*${c.pid} sleep$`))]);
    expect(runc('ps', '-f', 'xml', c.id)).toMatchObject({ code: 1, err: expect.stringContaining('invalid format option') });
    expect(runc('ps', c.id, '-o', 'comm')).toMatchObject({ code: 1, err: expect.stringContaining("couldn't find PID field in ps output") });

    ok('kill', c.id, 'KILL');
    waitStopped(c.id);
    // runc: kill --all of a stopped container succeeds (it signals what is left in the cgroup); plain kill does not.
    ok('kill', '--all', c.id, 'KILL');
    expect(runc('kill', c.id, 'KILL')).toMatchObject({ code: 1, err: expect.stringContaining('container not running') });
    ok('delete', c.id);
    for (const d of dirs) expect(fs.existsSync(d)).toBe(false);
  });

  test('pause and resume: state reports paused, the freezer is FROZEN, errors as runc', () => {
    const c = start('pause', {});
    ok('pause', c.id);
    expect(JSON.parse(ok('state', c.id)).status).toBe('paused');
    if (c.paths.freezer) expect(read(path.join(c.paths.freezer, 'freezer.state'))).toBe('FROZEN');
    expect(runc('pause', c.id)).toMatchObject({ code: 1, err: expect.stringContaining('container not running') });
    ok('resume', c.id);
    expect(JSON.parse(ok('state', c.id)).status).toBe('running');
    expect(runc('resume', c.id)).toMatchObject({ code: 1, err: expect.stringContaining('container not paused') });
    // A created (not started) container can be paused too, and reports paused (as runc).
    const id2 = `tsrt-cmd-pausecreated-${process.pid}`;
    ids.push(id2);
    const dir2 = path.join(work, id2);
    fs.mkdirSync(dir2);
    fs.symlinkSync(path.join(bundle, 'rootfs'), path.join(dir2, 'rootfs'));
    const cfg = JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8'));
    cfg.process.terminal = false;
    cfg.linux.cgroupsPath = `/${id2}`;
    fs.writeFileSync(path.join(dir2, 'config.json'), JSON.stringify(cfg));
    const errFd = fs.openSync(path.join(dir2, 'err'), 'w');
    const cr = spawnSync(BIN, ['--root', root, 'create', '--bundle', dir2, id2], { stdio: ['ignore', 'ignore', errFd] });
    fs.closeSync(errFd);
    expect([cr.status, fs.readFileSync(path.join(dir2, 'err'), 'utf8')]).toEqual([0, '']);
    ok('pause', id2);
    expect(JSON.parse(ok('state', id2)).status).toBe('paused');
    ok('resume', id2);
    expect(JSON.parse(ok('state', id2)).status).toBe('created');
    expect(runc('pause', 'nope-' + process.pid)).toMatchObject({ code: 1, err: expect.stringContaining('container does not exist') });
  });

  test('events --stats prints one runc-shaped stats event with usage', async () => {
    const c = start('events', { memory: { limit: 64 << 20 }, pids: { limit: 50 } });
    const out = ok('events', '--stats', c.id);
    expect(out.endsWith('\n')).toBe(true);
    const ev = JSON.parse(out);
    expect(ev.type).toBe('stats');
    expect(ev.id).toBe(c.id);
    expect(Object.keys(ev.data)).toEqual(['cpu', 'cpuset', 'memory', 'pids', 'blkio', 'hugetlb', 'intel_rdt', 'network_interfaces']);
    expect(ev.data.pids.current).toBeGreaterThanOrEqual(1);
    expect(ev.data.memory.usage.limit).toBe(64 << 20);
    expect(ev.data.memory.usage.usage).toBeGreaterThan(0);
    expect(ev.data.pids.limit).toBe(50);
    expect(runc('events', '--interval', '0s', c.id)).toMatchObject({ code: 1, err: expect.stringContaining('duration interval must be greater than 0') });
    // The streaming form prints stats every interval: wait for two of them, however long the
    // command takes to start on this machine.
    const stream = eventsStream(c.id, '200ms');
    try {
      await waitFor('two stats events from events --interval 200ms', () => stream.events().length >= 2 || stream.exited(), { lastSeen: () => ({ events: stream.events().length, stderr: stream.stderr() }) });
      expect(stream.exited()).toBe(false);
      for (const e of stream.events()) expect(e).toMatchObject({ type: 'stats', id: c.id });
    } finally {
      await stream.stop();
    }
  });

  test('a tiny memory limit works (the init joins late) and an OOM kill shows up in events', async () => {
    // The container allocates only once /go-<id> exists: after `events` is watching.
    const id = `tsrt-cmd-oom-${process.pid}`;
    const go = path.join(bundle, 'rootfs', 'tmp', `go-${id}`);
    // Nothing may be swapped out, or the allocation would not end in an OOM kill on a machine
    // with swap: swappiness 0 (v1), and memory+swap = memory where the kernel accounts swap.
    const pureV2 = fs.existsSync('/sys/fs/cgroup/cgroup.controllers');
    const c = start('oom', { memory: { limit: 2 << 20, ...(pureV2 ? {} : { swappiness: 0 }) } }, ['sh', '-c', `while [ ! -e /tmp/go-${id} ]; do sleep 0.05; done; tail /dev/zero; sleep 300`]);
    try {
      expect(limitOf(c, 'memory', 'memory.limit_in_bytes', 'memory.max')).toBe(String(2 << 20));
      if (swapAccounting(c)) ok('update', '--memory', '2m', '--memory-swap', '2m', c.id);
      const stream = eventsStream(c.id, '100ms');
      try {
        await waitFor('events to be watching (its first stats line)', () => stream.events().length >= 1 || stream.exited(), { lastSeen: () => stream.stderr() });
        expect(stream.exited()).toBe(false);
        fs.writeFileSync(go, '');
        await waitFor('an oom event', () => stream.events().some((e) => e.type === 'oom') || stream.exited(), { lastSeen: () => ({ events: stream.events().map((e) => e.type), stderr: stream.stderr() }) });
        expect(stream.events().filter((e) => e.type === 'oom')).toEqual([{ type: 'oom', id: c.id }]);
      } finally {
        await stream.stop();
      }
      expect(JSON.parse(ok('state', c.id)).status).toBe('running');
    } finally {
      fs.rmSync(go, { force: true });
    }
  });

  test('update with flags and with -r, read back from the cgroup files', () => {
    const c = start('update', { memory: { limit: 64 << 20 }, pids: { limit: 20 } });
    const mem = () => limitOf(c, 'memory', 'memory.limit_in_bytes', 'memory.max');
    const pids = () => limitOf(c, 'pids', 'pids.max', 'pids.max');
    const flags = ['--memory', '128m', '--pids-limit', '30', '--cpu-quota', '20000', '--cpu-period', '100000', c.id];
    const swap = swapAccounting(c);
    if (swap) {
      ok('update', '--memory-swap', '256m', ...flags);
      // v1 keeps memory+swap, v2 swap alone.
      expect(limitOf(c, 'memory', 'memory.memsw.limit_in_bytes', 'memory.swap.max')).toBe(String(c.paths.memory ? 256 << 20 : 128 << 20));
    } else {
      // This kernel does not account swap: refused with the reason, and nothing of it is written.
      const r = runc('update', '--memory-swap', '256m', ...flags);
      expect(r.code).toBe(1);
      expect(r.err).toContain('cannot set memory swap limit:');
      expect(r.err).toContain('does not exist (swap accounting is disabled in this kernel)');
      expect([mem(), pids()]).toEqual([String(64 << 20), '20']);
      ok('update', ...flags);
    }
    expect(mem()).toBe(String(128 << 20));
    expect(pids()).toBe('30');
    expect(limitOf(c, 'cpu', 'cpu.cfs_quota_us', 'cpu.max').split(' ')[0]).toBe('20000');
    const file = path.join(work, 'res.json');
    fs.writeFileSync(file, JSON.stringify({ memory: { limit: 96 << 20 }, pids: { limit: 40 } }));
    ok('update', '-r', file, c.id);
    expect(mem()).toBe(String(96 << 20));
    if (swap && c.paths.memory) expect(read(path.join(c.paths.memory, 'memory.memsw.limit_in_bytes'))).toBe(String(256 << 20));
    expect(pids()).toBe('40');
    // podman's form: --resources=FILE with a whole LinuxResources; devices in it are not applied.
    fs.writeFileSync(file, JSON.stringify({ devices: [{ allow: false, access: 'rwm' }], memory: { limit: 80 << 20 } }));
    ok('update', `--resources=${file}`, c.id);
    expect(mem()).toBe(String(80 << 20));
    if (c.paths.devices) expect(read(path.join(c.paths.devices, 'devices.list')).split('\n')).toContain('c 1:3 rwm');
    const viaStdin = spawnSync(BIN, ['--root', root, 'update', '-r', '-', c.id], { input: JSON.stringify({ pids: { limit: 50 } }), encoding: 'utf8' });
    expect(viaStdin.status).toBe(0);
    expect(pids()).toBe('50');
    expect(runc('update', '--memory', '10x', c.id)).toMatchObject({ code: 1, err: expect.stringContaining("invalid value for memory: invalid size: '10x'") });
    expect(runc('update', '-r', '/nonexistent', c.id)).toMatchObject({ code: 1, err: expect.stringContaining('open /nonexistent: no such file or directory') });
  });

  test('kill --all reaches every process; delete -f of a paused container cleans up', () => {
    const c = start('killall', {}, ['sh', '-c', 'sleep 300 & sleep 300 & wait']);
    // The shell forks its two sleeps after start returns: wait until both are there.
    waitForSync('the init and its two sleeps', () => JSON.parse(ok('ps', '-f', 'json', c.id)).length >= 3, { lastSeen: () => ok('ps', '-f', 'json', c.id) });
    const pids: number[] = JSON.parse(ok('ps', '-f', 'json', c.id));
    expect(pids).toHaveLength(3);
    ok('pause', c.id);
    ok('delete', '-f', c.id);
    for (const p of pids) expect(fs.existsSync(`/proc/${p}`) && !read(`/proc/${p}/stat`).includes(') Z')).toBe(false);
    for (const d of Object.values(c.paths)) expect(fs.existsSync(d)).toBe(false);
  });
});
