/**
 * The cgroup layer against this machine's real hierarchy (v1, v2 or hybrid: whatever it has;
 * on the project machines it is hybrid). Runs as root. Every test cleans up, even on failure.
 */
import * as fs from 'fs';
import * as path from 'path';
import { spawn, spawnSync, type ChildProcess } from 'child_process';
import { cgroupManagerFor, openCgroupManager, containerResources, detectHierarchies, statsToJson, type CgroupManager } from '../../../src/cgroups';

const isRoot = process.getuid?.() === 0;
const maybe = isRoot ? describe : describe.skip;
const h = detectHierarchies();
const v1 = h.mode !== 'v2';

const children: ChildProcess[] = [];
const managers: CgroupManager[] = [];

function name(tag: string): string {
  return `tsrt-it-${tag}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}

function sleeper(): ChildProcess {
  const c = spawn('sleep', ['60'], { stdio: 'ignore' });
  children.push(c);
  return c;
}

function read(p: string): string {
  return fs.readFileSync(p, 'utf8').trim();
}

function exited(c: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (c.exitCode !== null || c.signalCode !== null) return resolve();
    c.once('exit', () => resolve());
  });
}

function make(tag: string, cgroupsPath?: string): CgroupManager {
  const id = name(tag);
  const m = cgroupManagerFor({ id, cgroupsPath: cgroupsPath === undefined ? `/${id}` : cgroupsPath });
  managers.push(m);
  m.create();
  return m;
}

afterEach(async () => {
  for (const c of children.splice(0)) {
    c.kill('SIGKILL');
    await exited(c);
  }
  for (const m of managers.splice(0)) {
    try {
      if (m.freezerState() === 'FROZEN') m.thaw();
    } catch {
      /* best effort */
    }
    try {
      m.killAll(9);
    } catch {
      /* best effort */
    }
    for (let i = 0; i < 50 && m.pids().length; i++) await new Promise((r) => setTimeout(r, 20));
    try {
      m.destroy();
    } catch {
      for (const d of [...m.description.created].reverse()) fs.rmSync(d, { recursive: false, force: true });
    }
  }
});

maybe(`cgroups on this host (${h.mode})`, () => {
  test('create, join late, set, read back, update, destroy leaves nothing', async () => {
    const m = make('basic');
    const d = m.description;
    expect(d.mode).toBe(h.mode);
    for (const dir of Object.values(d.paths)) expect(fs.existsSync(dir)).toBe(true);

    const warnings = m.set(
      containerResources({
        linux: {
          resources: {
            memory: { limit: 64 << 20, reservation: 32 << 20 },
            pids: { limit: 20 },
            cpu: { shares: 512, quota: 20000, period: 100000, cpus: '0' },
          },
        },
      }),
    );
    expect(warnings).toEqual([]);
    const c = sleeper();
    m.join(c.pid!);
    if (v1) {
      const p = d.paths;
      expect(read(`${p.memory}/memory.limit_in_bytes`)).toBe(String(64 << 20));
      expect(read(`${p.memory}/memory.soft_limit_in_bytes`)).toBe(String(32 << 20));
      expect(read(`${p.pids}/pids.max`)).toBe('20');
      expect(read(`${p.cpu}/cpu.shares`)).toBe('512');
      expect(read(`${p.cpu}/cpu.cfs_quota_us`)).toBe('20000');
      expect(read(`${p.cpuset}/cpuset.cpus`)).toBe('0');
      for (const ctrl of ['memory', 'pids', 'cpu', 'freezer', 'devices']) {
        expect(read(`${p[ctrl]}/cgroup.procs`).split('\n')).toContain(String(c.pid));
      }
      if (p['']) expect(read(`${p['']}/cgroup.procs`).split('\n')).toContain(String(c.pid));
      // The process really is there, as /proc sees it.
      expect(read(`/proc/${c.pid}/cgroup`)).toContain(`memory:${p.memory.replace('/sys/fs/cgroup/memory', '')}`);

      // update: raise memory with swap (write order matters), change pids and quota only.
      expect(m.set({ memory: { limit: 128 << 20, swap: 256 << 20 }, pids: { limit: 40 }, cpu: { quota: 30000 } })).toEqual([]);
      expect(read(`${p.memory}/memory.limit_in_bytes`)).toBe(String(128 << 20));
      expect(read(`${p.memory}/memory.memsw.limit_in_bytes`)).toBe(String(256 << 20));
      expect(read(`${p.pids}/pids.max`)).toBe('40');
      expect(read(`${p.cpu}/cpu.cfs_quota_us`)).toBe('30000');
      expect(read(`${p.cpu}/cpu.shares`)).toBe('512');
      // ...and lower it again below the old swap.
      m.set({ memory: { limit: 16 << 20, swap: 32 << 20 } });
      expect(read(`${p.memory}/memory.limit_in_bytes`)).toBe(String(16 << 20));
      expect(read(`${p.memory}/memory.memsw.limit_in_bytes`)).toBe(String(32 << 20));
    }

    c.kill('SIGKILL');
    await exited(c);
    m.destroy();
    for (const dir of [...Object.values(d.paths), ...d.created]) expect(fs.existsSync(dir)).toBe(false);
  });

  test('a reopened description (as another command would) manages the same cgroups', () => {
    const m = make('reopen');
    const c = sleeper();
    m.join(c.pid!);
    const again = openCgroupManager(JSON.parse(JSON.stringify(m.description)));
    expect(again.pids()).toEqual([c.pid]);
    expect(again.description.created).toEqual(m.description.created);
  });

  test('relative and default cgroupsPath land under our own cgroup, as runc', () => {
    const m = make('rel', '');
    const own = fs.readFileSync('/proc/self/cgroup', 'utf8');
    const memLine = own.split('\n').find((l) => /^\d+:memory:/.test(l));
    if (v1 && memLine) {
      const ownMem = memLine.split(':')[2];
      expect(m.description.paths.memory).toBe(path.join('/sys/fs/cgroup/memory', ownMem, m.description.path));
    }
    expect(m.description.path).toMatch(/^tsrt-it-rel-/);
    expect(m.exists()).toBe(true);
  });

  test('freeze and thaw a running process, state read from the kernel', async () => {
    const m = make('freeze');
    const c = spawn('sh', ['-c', 'while :; do :; done'], { stdio: 'ignore' });
    children.push(c);
    m.join(c.pid!);
    m.freeze();
    expect(m.freezerState()).toBe('FROZEN');
    if (v1) expect(read(`${m.description.paths.freezer}/freezer.state`)).toBe('FROZEN');
    const state = () => read(`/proc/${c.pid}/stat`).split(') ')[1][0];
    const t0 = read(`/proc/${c.pid}/stat`).split(') ')[1].split(' ')[11];
    await new Promise((r) => setTimeout(r, 100));
    const t1 = read(`/proc/${c.pid}/stat`).split(') ')[1].split(' ')[11];
    expect(t1).toBe(t0); // no user time while frozen
    expect(['S', 'D']).toContain(state());
    m.thaw();
    expect(m.freezerState()).toBe('THAWED');
    await new Promise((r) => setTimeout(r, 100));
    const t2 = read(`/proc/${c.pid}/stat`).split(') ')[1].split(' ')[11];
    expect(Number(t2)).toBeGreaterThan(Number(t1));
  });

  test('pids lists the whole subtree; killAll signals everything', async () => {
    const m = make('pids');
    const a = sleeper();
    const b = sleeper();
    m.join(a.pid!);
    m.join(b.pid!);
    if (v1) {
      // A child cgroup made inside (as a container with its own sub-cgroups would).
      const sub = path.join(m.description.paths.pids, 'sub');
      fs.mkdirSync(sub);
      fs.writeFileSync(path.join(sub, 'cgroup.procs'), String(b.pid));
    }
    expect(m.pids().sort()).toEqual([a.pid, b.pid].sort());
    m.killAll(15);
    await Promise.all([exited(a), exited(b)]);
    expect(a.signalCode).toBe('SIGTERM');
    expect(b.signalCode).toBe('SIGTERM');
    for (let i = 0; i < 50 && m.pids().length; i++) await new Promise((r) => setTimeout(r, 10));
    m.destroy(); // removes sub too
    expect(m.exists()).toBe(false);
  });

  test('stats: runc-shaped JSON with real usage', async () => {
    const m = make('stats');
    m.set({ memory: { limit: 64 << 20 }, pids: { limit: 10 } });
    const c = spawn('sh', ['-c', 'i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done; exec sleep 60'], { stdio: 'ignore' });
    children.push(c);
    m.join(c.pid!);
    await new Promise((r) => setTimeout(r, 300));
    const json = JSON.parse(statsToJson(m.stats()));
    expect(Object.keys(json)).toEqual(['cpu', 'cpuset', 'memory', 'pids', 'blkio', 'hugetlb', 'intel_rdt', 'network_interfaces']);
    if (v1) {
      expect(json.memory.usage.limit).toBe(64 << 20);
      expect(json.memory.usage.failcnt).toBe(0);
      expect(json.pids).toEqual({ current: 1, limit: 10 });
      expect(json.cpu.usage.total).toBeGreaterThan(0);
      expect(json.memory.raw).toHaveProperty('total_rss');
    }
  });

  (v1 ? test : test.skip)('v1 device rules: defaults allowed, others denied, exceptions by access', () => {
    const m = make('dev');
    const devDir = m.description.paths.devices;
    const sh = (script: string) => spawnSync('sh', ['-c', `echo $$ > ${devDir}/cgroup.procs; ${script}`], { encoding: 'utf8' }).stdout.trim().split('\n');
    // /dev/kmsg is c 1:11: not among runc's default devices.
    m.set(containerResources({ linux: { resources: { devices: [{ allow: false, access: 'rwm' }] } } }));
    const list = read(`${devDir}/devices.list`).split('\n');
    expect(list).toContain('c 1:3 rwm');
    expect(list).not.toContain('a *:* rwm');
    expect(sh('true < /dev/null && echo null-ok; true < /dev/kmsg && echo kmsg-ok || echo kmsg-denied')).toEqual(['null-ok', 'kmsg-denied']);
    // update: allow reading it only
    m.set(containerResources({ linux: { resources: { devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 11, access: 'r' }] } } }));
    expect(sh('true < /dev/kmsg && echo kmsg-read-ok; true >> /dev/kmsg && echo kmsg-write-ok || echo kmsg-write-denied')).toEqual(['kmsg-read-ok', 'kmsg-write-denied']);
  });

  (v1 ? test : test.skip)('blkio: weight (CFQ or BFQ file), per-device throttles; a refused write names file, value and errno', () => {
    const m = make('blkio');
    const dir = m.description.paths.blkio;
    if (!dir) return;
    const devs = fs.readdirSync('/sys/block').map((b) => read(`/sys/block/${b}/dev`));
    const [maj, min] = devs[0].split(':').map(Number);
    m.set({ blockIO: { weight: 300, throttleReadBpsDevice: [{ major: maj, minor: min, rate: 1 << 20 }], throttleWriteIOPSDevice: [{ major: maj, minor: min, rate: 100 }] } });
    const weightFile = fs.existsSync(`${dir}/blkio.weight`) ? 'blkio.weight' : 'blkio.bfq.weight';
    expect(read(`${dir}/${weightFile}`)).toMatch(/(^|\s)300$/);
    expect(read(`${dir}/blkio.throttle.read_bps_device`)).toBe(`${maj}:${min} ${1 << 20}`);
    expect(read(`${dir}/blkio.throttle.write_iops_device`)).toBe(`${maj}:${min} 100`);
    const sched = read(`/sys/block/${fs.readdirSync('/sys/block')[0]}/queue/scheduler`);
    if (weightFile === 'blkio.bfq.weight' && !sched.includes('[bfq]')) {
      expect(() => m.set({ blockIO: { weightDevice: [{ major: maj, minor: min, weight: 200 }] } })).toThrow(
        new RegExp(`failed to write "${maj}:${min} 200" to ${dir}/blkio.bfq.weight_device: (EOPNOTSUPP|ENOTSUP)`),
      );
    }
  });

  (v1 ? test : test.skip)('OOM kills are counted (tiny memory limit, process joined before it allocates)', async () => {
    const m = make('oom');
    m.set({ memory: { limit: 8 << 20, swap: 8 << 20 } });
    expect(m.oomKillCount()).toBe(0);
    const c = spawn('sh', ['-c', `echo $$ > ${m.description.paths.memory}/cgroup.procs; exec tail /dev/zero`], { stdio: 'ignore' });
    children.push(c);
    await exited(c);
    expect(c.signalCode).toBe('SIGKILL');
    expect(m.oomKillCount()).toBeGreaterThanOrEqual(1);
  });

  (v1 ? test : test.skip)('asking for a controller this machine does not mount is an error', () => {
    const m = make('missing');
    const mounted = (c: string) => !!m.description.paths[c];
    if (!mounted('net_cls')) expect(() => m.set({ network: { classID: 0x100001 } })).toThrow(/cannot set net_cls limit: the net_cls cgroup controller is not mounted/);
    if (!mounted('hugetlb')) expect(() => m.set({ hugepageLimits: [{ pageSize: '2MB', limit: 1 << 21 }] })).toThrow(/cannot set hugetlb limit/);
    expect(() => m.set({ unified: { 'memory.high': '1' } })).toThrow('invalid configuration: cannot use unified on cgroup v1');
  });

  test('--systemd-cgroup without systemd is a clear error', () => {
    if (fs.existsSync('/run/systemd/system')) return;
    expect(() => cgroupManagerFor({ id: 'x', cgroupsPath: 'system.slice:tsrt:x', systemd: true })).toThrow(/systemd cgroup flag passed, but systemd support for managing cgroups is not available/);
  });
});
