/**
 * The cgroup layer against this machine's real hierarchy (v1, v2 or hybrid: whatever it has;
 * on the project machines it is hybrid). Runs as root. Every test cleans up, even on failure.
 *
 * What the host offers differs from machine to machine (I/O scheduler, swap accounting, which
 * controllers are mounted, systemd): each test looks at what is there and checks the behaviour
 * for that case, the feature working or the clear error the runtime gives without it. Nothing
 * waits for a guessed time: the tests wait for the event itself (bounded, with a clear message).
 */
import * as fs from 'fs';
import * as path from 'path';
import { spawn, spawnSync, type ChildProcess } from 'child_process';
import { cgroupManagerFor, openCgroupManager, containerResources, detectHierarchies, statsToJson, type CgroupManager } from '../../../src/cgroups';
import { cpuSharesToWeight } from '../../../src/cgroups/translate';
import { waitFor } from '../../helpers/wait';

// Waits below are bounded at 30 s: the test's own limit must leave room for them.
jest.setTimeout(120_000);

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

/** The name of the program a process runs now (changes when it execs). */
const comm = (pid: number) => read(`/proc/${pid}/comm`);
/** User CPU time of a process, in clock ticks (/proc/PID/stat field 14). */
const utime = (pid: number) => Number(read(`/proc/${pid}/stat`).split(') ')[1].split(' ')[11]);

/**
 * A shell that waits for "go" on its stdin, then burns some CPU and execs `sleep 60`: joined to
 * a cgroup before it runs, its whole usage is charged there; once it runs `sleep` it is one task.
 */
function gatedBusyLoop(): ChildProcess {
  const c = spawn('sh', ['-c', 'read go; i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done; exec sleep 60'], { stdio: ['pipe', 'ignore', 'ignore'] });
  children.push(c);
  return c;
}

/** Swap accounting (memory.memsw.*) is a kernel option: without it a swap limit is a clear error. */
const NO_SWAP_ACCOUNTING = 'cannot set memory swap limit: memory.memsw.limit_in_bytes does not exist (swap accounting is disabled in this kernel)';

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
    // Killed processes leave their cgroups once the kernel has torn them down: wait for that.
    await waitFor(`cgroup ${m.description.path} to be empty`, () => m.pids().length === 0).catch((e) => console.warn(`cleanup: ${(e as Error).message}`));
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

      if (fs.existsSync(`${p.memory}/memory.memsw.limit_in_bytes`)) {
        // update: raise memory with swap (write order matters), change pids and quota only.
        expect(m.set({ memory: { limit: 128 << 20, swap: 256 << 20 }, pids: { limit: 40 }, cpu: { quota: 30000 } })).toEqual([]);
        expect(read(`${p.memory}/memory.limit_in_bytes`)).toBe(String(128 << 20));
        expect(read(`${p.memory}/memory.memsw.limit_in_bytes`)).toBe(String(256 << 20));
        // ...and lower it again below the old swap.
        m.set({ memory: { limit: 16 << 20, swap: 32 << 20 } });
        expect(read(`${p.memory}/memory.limit_in_bytes`)).toBe(String(16 << 20));
        expect(read(`${p.memory}/memory.memsw.limit_in_bytes`)).toBe(String(32 << 20));
      } else {
        // No swap accounting in this kernel: a swap limit is refused before anything is written.
        expect(() => m.set({ memory: { limit: 128 << 20, swap: 256 << 20 }, pids: { limit: 40 }, cpu: { quota: 30000 } })).toThrow(new Error(NO_SWAP_ACCOUNTING));
        expect(read(`${p.memory}/memory.limit_in_bytes`)).toBe(String(64 << 20));
        expect(read(`${p.pids}/pids.max`)).toBe('20');
        expect(m.set({ memory: { limit: 128 << 20 }, pids: { limit: 40 }, cpu: { quota: 30000 } })).toEqual([]);
        expect(read(`${p.memory}/memory.limit_in_bytes`)).toBe(String(128 << 20));
      }
      expect(read(`${p.pids}/pids.max`)).toBe('40');
      expect(read(`${p.cpu}/cpu.cfs_quota_us`)).toBe('30000');
      expect(read(`${p.cpu}/cpu.shares`)).toBe('512');
    } else {
      // cgroup v2 proper: the same limits in the unified files.
      const dir = d.paths[''];
      expect(read(`${dir}/cgroup.procs`).split('\n')).toContain(String(c.pid));
      expect(read(`${dir}/memory.max`)).toBe(String(64 << 20));
      expect(read(`${dir}/memory.low`)).toBe(String(32 << 20));
      expect(read(`${dir}/pids.max`)).toBe('20');
      expect(read(`${dir}/cpu.max`)).toBe('20000 100000');
      expect(read(`${dir}/cpu.weight`)).toBe(String(cpuSharesToWeight(512)));
      expect(read(`${dir}/cpuset.cpus`)).toBe('0');
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
    expect(m.description.path).toMatch(/^tsrt-it-rel-/);
    expect(m.exists()).toBe(true);
    // Our own cgroup in every hierarchy this machine has ("ID:controllers:path" lines).
    const own: Record<string, string> = {};
    for (const line of read('/proc/self/cgroup').split('\n')) {
      const [, ctrls, ...rest] = line.split(':');
      for (const c of ctrls ? ctrls.split(',') : ['']) own[c] = rest.join(':');
    }
    // Seen from a mount of a sub-tree (a container's view), the part above the mount's root is hidden.
    const below = (root: string, p: string) => (root !== '/' && (p === root || p.startsWith(root + '/')) ? p.slice(root.length) || '/' : p);
    const paths = Object.entries(m.description.paths);
    expect(paths.length).toBeGreaterThan(0);
    for (const [ctrl, dir] of paths) {
      if (ctrl === '') {
        // cgroup v2 proper: beside our own cgroup (it has processes, so no children with controllers).
        const ownV2 = below(h.unified!.root, own['']);
        expect([ctrl, dir]).toEqual([ctrl, path.join(h.unified!.mountPoint, h.mode === 'v2' ? path.dirname(ownV2) : ownV2, m.description.path)]);
      } else {
        expect([ctrl, dir]).toEqual([ctrl, path.join(h.v1[ctrl].mountPoint, below(h.v1[ctrl].root, own[ctrl]), m.description.path)]);
      }
    }
  });

  test('freeze and thaw a running process, state read from the kernel', async () => {
    const m = make('freeze');
    const c = spawn('sh', ['-c', 'while :; do :; done'], { stdio: 'ignore' });
    children.push(c);
    m.join(c.pid!);
    // Running first (a loop that has had the CPU), so that the thaw below has something to resume.
    await waitFor('the busy loop to use some CPU time', () => utime(c.pid!) > 0);
    m.freeze();
    expect(m.freezerState()).toBe('FROZEN');
    if (v1) expect(read(`${m.description.paths.freezer}/freezer.state`)).toBe('FROZEN');
    const state = () => read(`/proc/${c.pid}/stat`).split(') ')[1][0];
    const t0 = utime(c.pid!);
    // "Nothing runs while frozen" has no event to wait for: look again after a while (a slower
    // machine only makes this check stricter, never makes it fail wrongly).
    await new Promise((r) => setTimeout(r, 100));
    const t1 = utime(c.pid!);
    expect(t1).toBe(t0); // no user time while frozen
    expect(['S', 'D']).toContain(state());
    m.thaw();
    expect(m.freezerState()).toBe('THAWED');
    await waitFor('the thawed busy loop to use CPU time again', () => utime(c.pid!) > t1, { lastSeen: () => ({ utime: utime(c.pid!), before: t1, state: state() }) });
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
    await waitFor('the cgroups to be empty', () => m.pids().length === 0, { lastSeen: () => m.pids() });
    m.destroy(); // removes sub too
    expect(m.exists()).toBe(false);
  });

  test('stats: runc-shaped JSON with real usage', async () => {
    const m = make('stats');
    m.set({ memory: { limit: 64 << 20 }, pids: { limit: 10 } });
    // Joined before it runs its loop, so all of its CPU time is the cgroup's; then it is one task.
    const c = gatedBusyLoop();
    m.join(c.pid!);
    c.stdin!.end('go\n');
    await waitFor('the busy loop to finish and exec sleep', () => comm(c.pid!) === 'sleep', { lastSeen: () => comm(c.pid!) });
    const json = JSON.parse(statsToJson(m.stats()));
    expect(Object.keys(json)).toEqual(['cpu', 'cpuset', 'memory', 'pids', 'blkio', 'hugetlb', 'intel_rdt', 'network_interfaces']);
    expect(json.pids).toEqual({ current: 1, limit: 10 });
    expect(json.cpu.usage.total).toBeGreaterThan(0);
    expect(json.memory.usage.limit).toBe(64 << 20);
    if (v1) {
      expect(json.memory.usage.failcnt).toBe(0);
      expect(json.memory.raw).toHaveProperty('total_rss');
    } else {
      expect(json.memory.usage.failcnt).toBeUndefined(); // no "max" event: left out, as runc
      expect(json.memory.raw).toHaveProperty('anon');
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

  (v1 ? test : test.skip)('blkio: weight (CFQ or BFQ file, else a clear error), per-device throttles; a refused write names file, value and errno', () => {
    const m = make('blkio');
    const dir = m.description.paths.blkio;
    if (!dir) {
      // No blkio hierarchy on this machine: every blkio limit is refused, naming the controller.
      expect(() => m.set({ blockIO: { weight: 300 } })).toThrow(
        new Error('cannot set blkio weight limit: the blkio cgroup controller is not mounted (container could not join or create cgroup)'),
      );
      return;
    }
    const blocks = fs.readdirSync('/sys/block');
    expect(blocks.length).toBeGreaterThan(0);
    const [maj, min] = read(`/sys/block/${blocks[0]}/dev`).split(':').map(Number);
    // The active scheduler is the bracketed one ("none [mq-deadline] kyber"); some devices have none.
    const schedFile = `/sys/block/${blocks[0]}/queue/scheduler`;
    const sched = /\[(\S+)\]/.exec(fs.existsSync(schedFile) ? read(schedFile) : '')?.[1] ?? 'none';

    // Throttles belong to the blkio controller itself: they work whatever the I/O scheduler.
    m.set({ blockIO: { throttleReadBpsDevice: [{ major: maj, minor: min, rate: 1 << 20 }], throttleWriteIOPSDevice: [{ major: maj, minor: min, rate: 100 }] } });
    expect(read(`${dir}/blkio.throttle.read_bps_device`)).toBe(`${maj}:${min} ${1 << 20}`);
    expect(read(`${dir}/blkio.throttle.write_iops_device`)).toBe(`${maj}:${min} 100`);

    // Weights belong to a proportional scheduler, CFQ (blkio.weight, kernels before 5.0) or BFQ
    // (blkio.bfq.weight, while the bfq module is loaded): whichever file this machine has.
    const cfq = fs.existsSync(`${dir}/blkio.weight`);
    const bfq = fs.existsSync(`${dir}/blkio.bfq.weight`);
    const weightDevice = { blockIO: { weightDevice: [{ major: maj, minor: min, weight: 200 }] } };
    if (!cfq && !bfq) {
      // Neither scheduler (none, mq-deadline, kyber): a clear error before anything is written.
      expect(() => m.set({ blockIO: { weight: 300, throttleReadBpsDevice: [{ major: maj, minor: min, rate: 2 << 20 }] } })).toThrow(
        new Error('cannot set blkio weight limit: neither blkio.weight nor blkio.bfq.weight exists (no CFQ or BFQ I/O scheduler)'),
      );
      expect(read(`${dir}/blkio.throttle.read_bps_device`)).toBe(`${maj}:${min} ${1 << 20}`);
      expect(() => m.set(weightDevice)).toThrow(
        new Error('cannot set blkio weight_device limit: neither blkio.weight_device nor blkio.bfq.weight exists (no CFQ or BFQ I/O scheduler)'),
      );
      return;
    }
    const weightFile = cfq ? 'blkio.weight' : 'blkio.bfq.weight';
    m.set({ blockIO: { weight: 300 } });
    expect(read(`${dir}/${weightFile}`)).toMatch(/(^|\s)300$/);
    // Per device: the kernel takes it only for a device that runs that scheduler.
    const deviceFile = cfq ? 'blkio.weight_device' : fs.existsSync(`${dir}/blkio.bfq.weight_device`) ? 'blkio.bfq.weight_device' : 'blkio.bfq.weight';
    if (sched === (cfq ? 'cfq' : 'bfq')) {
      m.set(weightDevice);
      expect(read(`${dir}/${deviceFile}`).split('\n')).toContain(`${maj}:${min} 200`);
    } else {
      expect(() => m.set(weightDevice)).toThrow(new RegExp(`failed to write "${maj}:${min} 200" to ${dir}/${deviceFile.replace(/\./g, '\\.')}: (EOPNOTSUPP|ENOTSUP)`));
    }
  });

  (v1 ? test : test.skip)('OOM kills are counted (tiny memory limit, process joined before it allocates)', async () => {
    const m = make('oom');
    const memDir = m.description.paths.memory;
    if (!memDir) {
      expect(() => m.set({ memory: { limit: 8 << 20 } })).toThrow(
        new Error('cannot set memory limit: the memory cgroup controller is not mounted (container could not join or create cgroup)'),
      );
      return;
    }
    if (fs.existsSync(`${memDir}/memory.memsw.limit_in_bytes`)) {
      m.set({ memory: { limit: 8 << 20, swap: 8 << 20 } }); // memory+swap = memory: no swap
    } else {
      expect(() => m.set({ memory: { limit: 8 << 20, swap: 8 << 20 } })).toThrow(new Error(NO_SWAP_ACCOUNTING));
      m.set({ memory: { limit: 8 << 20, swappiness: 0 } }); // no swap for this cgroup either way
    }
    expect(m.oomKillCount()).toBe(0);
    const c = spawn('sh', ['-c', `echo $$ > ${m.description.paths.memory}/cgroup.procs; exec tail /dev/zero`], { stdio: 'ignore' });
    children.push(c);
    await exited(c);
    expect(c.signalCode).toBe('SIGKILL');
    expect(m.oomKillCount()).toBeGreaterThanOrEqual(1);
  });

  (v1 ? test : test.skip)('a controller this machine mounts is used; asking for one it does not mount is an error', () => {
    const m = make('missing');
    const dir = (c: string) => m.description.paths[c];
    const notMounted = (c: string) => new Error(`cannot set ${c} limit: the ${c} cgroup controller is not mounted (container could not join or create cgroup)`);
    if (dir('net_cls')) {
      m.set({ network: { classID: 0x100001 } });
      expect(read(`${dir('net_cls')}/net_cls.classid`)).toBe(String(0x100001));
    } else {
      expect(() => m.set({ network: { classID: 0x100001 } })).toThrow(notMounted('net_cls'));
    }
    const huge2M = { hugepageLimits: [{ pageSize: '2MB', limit: 1 << 21 }] };
    if (!dir('hugetlb')) {
      expect(() => m.set(huge2M)).toThrow(notMounted('hugetlb'));
    } else if (fs.existsSync(`${dir('hugetlb')}/hugetlb.2MB.limit_in_bytes`)) {
      m.set(huge2M);
      expect(read(`${dir('hugetlb')}/hugetlb.2MB.limit_in_bytes`)).toBe(String(1 << 21));
    } else {
      // A machine without 2 MB huge pages (another base page size).
      expect(() => m.set(huge2M)).toThrow(new Error('cannot set hugetlb limit: invalid hugepage size "2MB" (hugetlb.2MB.limit_in_bytes does not exist)'));
    }
    expect(() => m.set({ unified: { 'memory.high': '1' } })).toThrow('invalid configuration: cannot use unified on cgroup v1');
  });

  test('--systemd-cgroup: a clear error, with or without systemd on this machine', () => {
    const req = { id: 'x', cgroupsPath: 'system.slice:tsrt:x', systemd: true };
    let systemd = false;
    try {
      systemd = fs.statSync('/run/systemd/system').isDirectory(); // sd_booted()
    } catch {
      /* no systemd */
    }
    if (systemd) {
      expect(() => cgroupManagerFor(req)).toThrow(new Error('the systemd cgroup driver is not supported by ts-runc yet: run without --systemd-cgroup'));
    } else {
      expect(() => cgroupManagerFor(req)).toThrow(
        new Error('systemd cgroup flag passed, but systemd support for managing cgroups is not available (systemd is not running as PID 1 on this machine)'),
      );
    }
  });
});
