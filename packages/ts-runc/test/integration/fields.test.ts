import * as fs from 'fs';
import { containerSuite, uniqueId } from '../helpers/runtime';

// What this host has decides what the tests below expect (each case is checked, none skipped).
/** Time namespaces (Linux 5.6+). */
const HAS_TIME_NS = fs.existsSync('/proc/self/ns/time');
/** The LSMs as the runtime probes them. */
const APPARMOR = fs.existsSync('/sys/module/apparmor/parameters/enabled') && fs.readFileSync('/sys/module/apparmor/parameters/enabled', 'utf8').trim() === 'Y';
const SELINUX = fs.existsSync('/sys/fs/selinux/enforce');

jest.setTimeout(60000);

const suite = containerSuite('f');
const { bundle } = suite;

const { runIn } = suite;

/** stderr with the log format's \" escapes undone. */
function err(r: { stderr: string }): string {
  return r.stderr.replace(/\\"/g, '"');
}

/** create must fail with `msg`, print no stack, and leave no container, mount or cgroup behind. */
function createFails(edit: (c: any) => void, msg: string): void {
  const b = bundle(['true'], edit);
  const id = uniqueId('bad');
  const r = suite.rt.run(['create', '-b', b.dir, id]);
  expect(err(r)).toContain(msg);
  expect(r.status).not.toBe(0);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(suite.rt.ids()).toEqual([]);
  expect(suite.rt.run(['list', '-q']).stdout.trim()).toBe('');
  expect(fs.readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(b.dir);
  for (const ctl of ['memory', 'pids', 'cpu', 'unified']) expect(fs.existsSync(`/sys/fs/cgroup/${ctl}/${id}`)).toBe(false);
}

describe('linux.sysctl', () => {
  test('namespaced sysctls are set inside the container', () => {
    const r = runIn(['sh', '-c', 'cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni /proc/sys/fs/mqueue/msg_max'], (c) => {
      c.linux.sysctl = { 'net.ipv4.ip_forward': '1', 'kernel.shmmni': '1234', 'fs/mqueue/msg_max': '17' };
    });
    expect(r.stdout).toBe('1\n1234\n17\n');
    expect(r.status).toBe(0);
  });

  test('sysctls outside the container\'s namespaces are refused at create', () => {
    createFails((c) => (c.linux.sysctl = { 'vm.swappiness': '10' }), 'linux.sysctl["vm.swappiness"]: sysctl "vm.swappiness" is not in a separate kernel namespace');
    createFails((c) => {
      c.linux.namespaces = c.linux.namespaces.filter((n: any) => n.type !== 'network');
      c.linux.sysctl = { 'net.ipv4.ip_forward': '1' };
    }, 'sysctl "net.ipv4.ip_forward" not allowed in host network namespace');
    createFails((c) => {
      c.linux.namespaces = c.linux.namespaces.filter((n: any) => n.type !== 'uts');
      delete c.hostname;
      c.linux.sysctl = { 'kernel.domainname': 'x' };
    }, 'sysctl "kernel.domainname" is not allowed in the host\'s uts namespace');
  });
});

describe('time namespace', () => {
  /** A kernel without time namespaces refuses to make one (unshare: EINVAL): create fails cleanly. */
  function noTimeNamespaces(): void {
    const b = suite.bundle(['true'], (c) => {
      c.linux.namespaces.push({ type: 'time' });
      c.linux.timeOffsets = { boottime: { secs: 864000 } };
    });
    const id = uniqueId('notime');
    const r = suite.rt.run(['create', '-b', b.dir, id]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/invalid argument/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(suite.rt.ids()).toEqual([]);
    expect(fs.readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(b.dir);
  }

  test(`linux.timeOffsets shift CLOCK_BOOTTIME/MONOTONIC inside a new time namespace${HAS_TIME_NS ? '' : ' (no time namespaces here: create fails)'}`, () => {
    if (!HAS_TIME_NS) return noTimeNamespaces();
    const hostUptime = Number(fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
    const hostNs = fs.readlinkSync('/proc/self/ns/time');
    const r = runIn(['sh', '-c', 'cut -d" " -f1 /proc/uptime; readlink /proc/self/ns/time'], (c) => {
      c.linux.namespaces.push({ type: 'time' });
      c.linux.timeOffsets = { boottime: { secs: 864000, nanosecs: 0 }, monotonic: { secs: 3600 } };
    });
    const [uptime, ns] = r.stdout.trim().split('\n');
    expect(Number(uptime) - hostUptime).toBeGreaterThan(864000 - 60);
    expect(Number(uptime) - hostUptime).toBeLessThan(864000 + 60);
    expect(ns).not.toBe(hostNs);
    // a time namespace without offsets is just new
    const plain = runIn(['readlink', '/proc/self/ns/time'], (c) => c.linux.namespaces.push({ type: 'time' }));
    expect(plain.stdout.trim()).not.toBe(hostNs);
    createFails((c) => (c.linux.timeOffsets = { boottime: { secs: 10 } }), 'linux.timeOffsets: time offsets need a new time namespace in linux.namespaces');
  });

  test(`a time namespace joined by path (create) and the container's own one (exec)${HAS_TIME_NS ? '' : ' (no time namespaces here: create fails)'}`, () => {
    if (!HAS_TIME_NS) return noTimeNamespaces();
    const hostNs = fs.readlinkSync('/proc/self/ns/time');
    const holder = suite.bundle(['sleep', '1000'], (c) => {
      c.linux.namespaces.push({ type: 'time' });
      c.linux.timeOffsets = { boottime: { secs: 864000 } };
    });
    const hid = uniqueId('time');
    expect(suite.rt.run(['run', '-d', '-b', holder.dir, hid]).status).toBe(0);
    const pid = JSON.parse(suite.rt.run(['state', hid]).stdout).pid;
    const ns = fs.readlinkSync(`/proc/${pid}/ns/time`);
    expect(ns).not.toBe(hostNs);
    const uptime = () => Number(fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0]);

    // exec'd processes enter the container's time namespace (setns by stage 2's clone child)
    const host0 = uptime();
    const e = suite.rt.run(['exec', hid, 'sh', '-c', 'readlink /proc/self/ns/time; cut -d" " -f1 /proc/uptime']);
    expect(e.status).toBe(0);
    const [ens, eup] = e.stdout.trim().split('\n');
    expect(ens).toBe(ns);
    expect(Number(eup) - host0).toBeGreaterThan(864000 - 60);

    // another container joins it by path
    const r = suite.runIn(['sh', '-c', 'readlink /proc/self/ns/time; cut -d" " -f1 /proc/uptime'], (c) => c.linux.namespaces.push({ type: 'time', path: `/proc/${pid}/ns/time` }));
    expect(r.status).toBe(0);
    const [jns, jup] = r.stdout.trim().split('\n');
    expect(jns).toBe(ns);
    expect(Number(jup) - host0).toBeGreaterThan(864000 - 60);
    expect(suite.rt.run(['delete', '-f', hid]).status).toBe(0);

    // a path that is no time namespace: one clear line, nothing left behind
    createFails((c) => c.linux.namespaces.push({ type: 'time', path: '/proc/self/ns/net' }), 'linux.namespaces: cannot join time namespace /proc/self/ns/net: not a time namespace');
    createFails((c) => c.linux.namespaces.push({ type: 'time', path: '/nonexistent/ns' }), 'linux.namespaces: cannot open time namespace /nonexistent/ns: no such file or directory');
  });
});

describe('process fields', () => {
  test('linux.personality LINUX32 makes uname report i686', () => {
    const r = runIn(['uname', '-m'], (c) => (c.linux.personality = { domain: 'LINUX32' }));
    expect(r.stdout.trim()).toBe('i686');
    expect(runIn(['uname', '-m']).stdout.trim()).toBe('x86_64');
    createFails((c) => (c.linux.personality = { domain: 'BSD' }), 'linux.personality.domain: must be one of LINUX, LINUX32');
  });

  test('process.scheduler sets the policy and nice value (sched_setattr)', () => {
    const r = runIn(['sh', '-c', 'grep -E "^(policy|prio) " /proc/self/sched'], (c) => (c.process.scheduler = { policy: 'SCHED_BATCH', nice: 7 }));
    expect(r.stdout.replace(/[ \t]+/g, ' ')).toBe('policy : 3\nprio : 127\n');
    createFails((c) => (c.process.scheduler = { policy: 'SCHED_FIFO', priority: 0 }), 'process.scheduler.priority: must be 1 to 99 for SCHED_FIFO, not 0');
  });

  test('process.ioPriority (ioprio_set)', () => {
    const r = runIn(['ionice'], (c) => (c.process.ioPriority = { class: 'IOPRIO_CLASS_IDLE', priority: 0 }));
    expect(r.stdout.trim()).toBe('idle');
    const be = runIn(['ionice'], (c) => (c.process.ioPriority = { class: 'IOPRIO_CLASS_BE', priority: 6 }));
    expect(be.stdout.trim()).toBe('best-effort: prio 6');
    createFails((c) => (c.process.ioPriority = { class: 'IOPRIO_CLASS_BE', priority: 8 }), 'process.ioPriority.priority: must be <= 7');
  });

  test('process.execCPUAffinity final is the container process\'s affinity', () => {
    // The last CPU we may run on (a cpuset can leave out some of the machine's CPUs).
    const allowed = /^Cpus_allowed_list:\s*(\S+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))![1];
    const last = String(Math.max(...allowed.split(',').map((r) => Number(r.split('-').pop()))));
    const r = runIn(['grep', 'Cpus_allowed_list', '/proc/self/status'], (c) => (c.process.execCPUAffinity = { initial: '0', final: last }));
    expect(r.stdout.replace(/\s+/g, ' ').trim()).toBe(`Cpus_allowed_list: ${last}`);
    createFails((c) => (c.process.execCPUAffinity = { final: '0-x' }), 'process.execCPUAffinity');
  });

  test('linux.memoryPolicy (set_mempolicy) shows in numa_maps', () => {
    const r = runIn(['head', '-1', '/proc/self/numa_maps'], (c) => (c.linux.memoryPolicy = { mode: 'MPOL_BIND', nodes: '0', flags: ['MPOL_F_STATIC_NODES'] }));
    expect(r.stdout).toContain('bind=static:0');
    createFails((c) => (c.linux.memoryPolicy = { mode: 'MPOL_INTERLEAVE' }), 'linux.memoryPolicy');
  });

  test('linux.netDevices and linux.intelRdt fail create instead of being ignored', () => {
    createFails((c) => (c.linux.netDevices = { eth9: {} }), 'linux.netDevices: moving network devices into the container is not supported by ts-runc');
    createFails((c) => (c.linux.intelRdt = { closID: 'x' }), 'linux.intelRdt:');
  });

  test('process.oomScoreAdj', () => {
    const r = runIn(['cat', '/proc/self/oom_score_adj'], (c) => (c.process.oomScoreAdj = 345));
    expect(r.stdout.trim()).toBe('345');
  });

  test('rlimits: set inside; a hard limit above the runtime\'s (no CAP_SYS_RESOURCE) fails create clearly', () => {
    const r = runIn(['sh', '-c', 'ulimit -n; ulimit -Hn'], (c) => (c.process.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 123, hard: 456 }]));
    expect(r.stdout).toBe('123\n456\n');
    const cur = Number(fs.readFileSync('/proc/self/limits', 'utf8').match(/Max open files\s+\d+\s+(\d+)/)![1]);
    const hard = cur * 4;
    // Raising a hard limit takes CAP_SYS_RESOURCE (the runtime runs with our bounding set), and
    // even with it RLIMIT_NOFILE cannot go above fs.nr_open.
    const capBnd = /^CapBnd:\s*([0-9a-f]+)/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))!;
    const sysResource = ((BigInt('0x' + capBnd[1]) >> 24n) & 1n) === 1n;
    const nrOpen = Number(fs.readFileSync('/proc/sys/fs/nr_open', 'utf8'));
    const rlimits = [{ type: 'RLIMIT_NOFILE', soft: 1024, hard }];
    if (sysResource && hard <= nrOpen) {
      const up = runIn(['sh', '-c', 'ulimit -n; ulimit -Hn'], (c) => (c.process.rlimits = rlimits));
      expect(up.stdout).toBe(`1024\n${hard}\n`);
    } else {
      createFails((c) => (c.process.rlimits = rlimits), `process.rlimits: setrlimit RLIMIT_NOFILE (soft 1024, hard ${hard}): operation not permitted (raising a hard limit above the runtime\x27s own needs CAP_SYS_RESOURCE)`);
    }
  });

  test(`apparmorProfile is an error (AppArmor ${APPARMOR ? 'on' : 'off'} here)`, () => {
    createFails(
      (c) => (c.process.apparmorProfile = 'docker-default'),
      APPARMOR
        ? 'process.apparmorProfile: profile "docker-default": AppArmor profiles are not supported by ts-runc yet'
        : 'process.apparmorProfile: profile "docker-default" is set but AppArmor is not enabled on this host',
    );
  });

  test(`SELinux labels: ignored with a warning when SELinux is off, an error when it is on (${SELINUX ? 'on' : 'off'} here)`, () => {
    const labels = (c: any) => {
      c.process.selinuxLabel = 'system_u:system_r:container_t:s0';
      c.linux.mountLabel = 'system_u:object_r:container_file_t:s0';
    };
    if (SELINUX) {
      createFails(labels, 'process.selinuxLabel: SELinux labels are not supported by ts-runc yet');
      createFails((c) => (c.linux.mountLabel = 'system_u:object_r:container_file_t:s0'), 'linux.mountLabel: SELinux labels are not supported by ts-runc yet');
      return;
    }
    const r = runIn(['echo', 'ran'], labels);
    expect(r.stdout).toBe('ran\n');
    expect(err(r)).toContain('process.selinuxLabel: SELinux is not enabled on this host, label "system_u:system_r:container_t:s0" ignored');
    expect(err(r)).toContain('linux.mountLabel: SELinux is not enabled on this host');
  });
});
