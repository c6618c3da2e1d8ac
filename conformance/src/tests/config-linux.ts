// config-linux.md: namespaces, id mappings, devices, cgroups, sysctl, seccomp, masked and
// read-only paths, observed from inside the container (and from the host where needed).
import * as fs from 'fs';
import * as path from 'path';
import { Container, describe, mustRunWithout, running, runIn, runInOk } from '../container';
import { cgroupMounts, runtimePredates, sh, sleepMs } from '../env';
import { configTest as test, configTestSince as testSince, eq, ok, skip, TestContext } from '../harness';

const since = (major: number, minor: number, section: string, name: string, fn: (t: TestContext) => void): void =>
  testSince(major, minor, runtimePredates, section, name, fn);

const NS = 'config-linux.md#namespaces';
const MAP = 'config-linux.md#user-namespace-mappings';
const DEV = 'config-linux.md#devices';
const DDEV = 'config-linux.md#default-devices';
const CG = 'config-linux.md#control-groups';
const SYS = 'config-linux.md#sysctl';
const SEC = 'config-linux.md#seccomp';
const MASK = 'config-linux.md#masked-paths';
const RO = 'config-linux.md#readonly-paths';

type Mut = (c: Container) => void;
function inside(t: TestContext, script: string, mutate?: Mut): string {
  return runIn(t, script, mutate).out;
}
function nsOf(pid: number | 'self', type: string): string {
  return fs.readlinkSync(`/proc/${pid}/ns/${type}`);
}
function waitPid(c: Container): number {
  const s = c.mustState();
  return s.pid as number;
}
function withoutNs(c: Container, type: string): void {
  c.config.linux.namespaces = c.config.linux.namespaces.filter((n: { type: string }) => n.type !== type);
}

// ---- namespaces ---------------------------------------------------------------------------

test(NS, 'pid: the process is pid 1 and sees only the container\'s processes', (t) => {
  const out = inside(t, 'echo $$; ls -d /proc/[0-9]* | wc -l');
  const [pid, n] = out.trim().split('\n');
  eq(pid, '1', 'pid of the container process');
  ok(Number(n) <= 3, `the container sees ${n} processes`);
});

for (const [type, file] of [['pid', 'pid'], ['network', 'net'], ['ipc', 'ipc'], ['uts', 'uts'], ['mount', 'mnt']] as const) {
  test(NS, `${type}: a new namespace is created when no path is given`, (t) => {
    const c = running(t);
    eq(nsOf(waitPid(c), file) !== nsOf('self', file), true, `${file} namespace differs from the runtime's`);
  });
}

test(NS, 'cgroup: a new cgroup namespace shows the container cgroup as /', (t) => {
  const out = inside(t, 'cat /proc/self/cgroup', (c) => c.config.linux.namespaces.push({ type: 'cgroup' }));
  const lines = out.split('\n').filter(Boolean);
  ok(lines.length > 0, `no /proc/self/cgroup output: ${JSON.stringify(out)}`);
  const bad = lines.filter((l) => l.split(':')[2] !== '/');
  ok(bad.length === 0, `cgroup paths not rooted: ${bad.join(' ')}`);
});

test(NS, 'network: a new network namespace has only a loopback interface', (t) => {
  const out = inside(t, 'cat /proc/net/dev | tail -n +3 | cut -d: -f1');
  eq(out.split('\n').map((s) => s.trim()).filter(Boolean), ['lo'], 'interfaces');
});

test(NS, 'ipc: System V IPC objects of the host are not visible', (t) => {
  // Create a host message queue in the runtime's ipc namespace; the container must not see it.
  const id = sh('/bin/sh', ['-c', 'ipcmk -Q 2>/dev/null | grep -o "[0-9]*$"']).stdout.trim();
  if (!id) skip('ipcmk not available on the host');
  t.defer(() => sh('ipcrm', ['-q', id]));
  const lines = runInOk(t, 'cat /proc/sysvipc/msg').out.split('\n').filter(Boolean);
  ok(/^\s*key\s+msqid\s/.test(lines[0] ?? ''), `/proc/sysvipc/msg not readable in the container: ${JSON.stringify(lines)}`);
  eq(lines.length - 1, 0, 'message queues visible in the container');
});

for (const [type, file] of [['pid', 'pid'], ['network', 'net'], ['ipc', 'ipc'], ['uts', 'uts']] as const) {
  test(NS, `${type}: not listed means the runtime namespace is inherited`, (t) => {
    const c = running(t, (c) => {
      withoutNs(c, type);
      // Without a UTS namespace, hostname/domainname would change the host's: leave them unset.
      if (type === 'uts') delete c.config.hostname;
    });
    eq(nsOf(waitPid(c), file), nsOf('self', file), `${file} namespace`);
  });
}

for (const [type, file] of [['network', 'net'], ['uts', 'uts'], ['ipc', 'ipc'], ['pid', 'pid']] as const) {
  test(NS, `${type}: path joins an existing namespace`, (t) => {
    const a = running(t);
    const pa = waitPid(a);
    const b = running(t, (c) => {
      c.config.linux.namespaces = c.config.linux.namespaces.map((n: { type: string }) => (n.type === type ? { type, path: `/proc/${pa}/ns/${file}` } : n));
      if (type === 'uts') delete c.config.hostname;
    });
    eq(nsOf(waitPid(b), file), nsOf(pa, file), `${file} namespace of the second container`);
  });
}

test(NS, 'uts: joined by path, the hostname is the one of the joined namespace', (t) => {
  const a = running(t, (c) => (c.config.hostname = 'first-container'));
  const pa = waitPid(a);
  const out = inside(t, 'hostname', (c) => {
    c.config.linux.namespaces = c.config.linux.namespaces.map((n: { type: string }) => (n.type === 'uts' ? { type: 'uts', path: `/proc/${pa}/ns/uts` } : n));
    delete c.config.hostname;
  });
  eq(out.trim(), 'first-container', 'hostname');
});

test(NS, 'a path of the wrong namespace type is an error', (t) => {
  const c = new Container(t, ['true']);
  c.config.linux.namespaces = c.config.linux.namespaces.map((n: { type: string }) => (n.type === 'network' ? { type: 'network', path: '/proc/self/ns/uts' } : n));
  const r = c.create();
  ok(r.code !== 0, 'create accepted a uts namespace file as a network namespace path');
  ok(c.stateCmd().code !== 0, 'container exists after the failed create');
  mustRunWithout(t, 'the namespace path');
});

test(NS, 'duplicated namespace types are an error', (t) => {
  const c = new Container(t, ['true']);
  c.config.linux.namespaces.push({ type: 'uts' });
  const r = c.create();
  ok(r.code !== 0, 'create accepted two uts namespaces');
  mustRunWithout(t, 'the second uts namespace');
});

// ---- user namespace and id mappings -------------------------------------------------------

function userns(c: Container): void {
  c.config.linux.namespaces.push({ type: 'user' });
  c.config.linux.uidMappings = [{ containerID: 0, hostID: 200000, size: 65536 }];
  c.config.linux.gidMappings = [{ containerID: 0, hostID: 300000, size: 65536 }];
  // sysfs needs a network namespace owned by the user namespace: keep it, but read-only paths are fine.
  sh('chown', ['-R', '200000:300000', c.rootfs]);
}

test(MAP, 'uidMappings and gidMappings are written to uid_map/gid_map', (t) => {
  const out = inside(t, 'cat /proc/self/uid_map /proc/self/gid_map', userns);
  const lines = out.trim().split('\n').map((l) => l.trim().split(/\s+/).join(' '));
  eq(lines, ['0 200000 65536', '0 300000 65536'], 'uid_map and gid_map');
});

test(MAP, 'the container process runs as the mapped host ids', (t) => {
  const c = running(t, userns);
  const st = fs.readFileSync(`/proc/${waitPid(c)}/status`, 'utf8');
  ok(/^Uid:\s+200000\s/m.test(st), `host uid of container root: ${/^Uid:.*$/m.exec(st)?.[0]}`);
  ok(/^Gid:\s+300000\s/m.test(st), `host gid of container root: ${/^Gid:.*$/m.exec(st)?.[0]}`);
});

test(MAP, 'process.user is interpreted in the container (mapped) namespace', (t) => {
  const c = running(t, (c) => {
    userns(c);
    c.config.process.user = { uid: 1000, gid: 1000 };
  });
  const st = fs.readFileSync(`/proc/${waitPid(c)}/status`, 'utf8');
  ok(/^Uid:\s+201000\s/m.test(st), `host uid of container uid 1000: ${/^Uid:.*$/m.exec(st)?.[0]}`);
});

test(MAP, 'the runtime does not chown the rootfs to realise the mapping (should not)', (t) => {
  const c = running(t, (c) => {
    userns(c);
    fs.writeFileSync(path.join(c.rootfs, 'owned-by-host-root'), '');
    fs.chownSync(path.join(c.rootfs, 'owned-by-host-root'), 0, 0);
  });
  const st = fs.statSync(path.join(c.rootfs, 'owned-by-host-root'));
  eq([st.uid, st.gid], [0, 0], 'ownership of a rootfs file after create/start');
});

// ---- devices ------------------------------------------------------------------------------

function statDev(out: string, p: string): string | undefined {
  return out.split('\n').find((l) => l.startsWith(p + ' '));
}

test(DDEV, 'default devices exist with the right type and numbers', (t) => {
  const want: [string, string][] = [['/dev/null', '1:3'], ['/dev/zero', '1:5'], ['/dev/full', '1:7'], ['/dev/random', '1:8'], ['/dev/urandom', '1:9'], ['/dev/tty', '5:0']];
  const out = inside(t, want.map(([p]) => `stat -L -c "%n %F %t:%T" ${p}`).join('; '));
  const bad: string[] = [];
  for (const [p, mm] of want) {
    const l = statDev(out, p);
    const [maj, min] = mm.split(':').map(Number);
    if (!l || !l.includes('character special file') || !l.endsWith(` ${maj.toString(16)}:${min.toString(16)}`)) bad.push(`${p}: ${l ?? 'missing'}`);
  }
  ok(bad.length === 0, bad.join('; '));
});

test(DDEV, 'default devices are usable (read /dev/zero, write /dev/null, /dev/full gives ENOSPC)', (t) => {
  const out = inside(t, 'head -c 4 /dev/zero | od -An -tx1; echo x > /dev/null && echo null-ok; { echo x > /dev/full; } 2>&1 && echo full-ok; head -c 8 /dev/urandom | wc -c');
  ok(/00 00 00 00/.test(out), `/dev/zero: ${out}`);
  ok(out.includes('null-ok'), `/dev/null: ${out}`);
  ok(out.includes('No space left on device') && !out.includes('full-ok'), `/dev/full: ${out}`);
  ok(/^\s*8\s*$/m.test(out), `/dev/urandom: ${out}`);
});

test(DDEV, '/dev/ptmx is a bind mount or symlink of /dev/pts/ptmx', (t) => {
  const out = inside(t, 'readlink /dev/ptmx; stat -L -c "%t:%T" /dev/ptmx /dev/pts/ptmx');
  const lines = out.trim().split('\n');
  const isLink = lines[0] === 'pts/ptmx' || lines[0] === '/dev/pts/ptmx';
  const sameDev = lines.length >= 2 && lines[lines.length - 1] === lines[lines.length - 2];
  ok(isLink || sameDev, `/dev/ptmx: ${out}`);
});

test(DDEV, '/dev/console is not set up when terminal is false', (t) => {
  const out = inside(t, '[ -c /dev/console ] && stat -c "%t:%T" /dev/console || echo none');
  ok(/^(none|[0-9a-f]+:[0-9a-f]+)$/.test(out.trim()), `no answer from the container: ${JSON.stringify(out)}`);
  ok(out.trim() === 'none' || !out.trim().startsWith('5:1'), `/dev/console exists without a terminal: ${out.trim()}`);
});

test(DEV, 'a configured character device exists with type, numbers, mode and owner', (t) => {
  const out = inside(t, 'stat -c "%F %t:%T %a %u %g" /dev/conformance-null', (c) => {
    c.config.linux.devices = [{ path: '/dev/conformance-null', type: 'c', major: 1, minor: 3, fileMode: 0o640, uid: 1000, gid: 100 }];
    c.config.linux.resources.devices.push({ allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' });
  });
  eq(out.trim(), 'character special file 1:3 640 1000 100', 'stat of the device');
});

test(DEV, 'a configured device may be outside /dev', (t) => {
  const out = inside(t, 'stat -c "%F %t:%T" /opt/devnull; echo x > /opt/devnull && echo write-ok', (c) => {
    c.config.linux.devices = [{ path: '/opt/devnull', type: 'c', major: 1, minor: 3, fileMode: 0o666 }];
    c.config.linux.resources.devices.push({ allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' });
  });
  eq(out.trim().split('\n'), ['character special file 1:3', 'write-ok'], 'device outside /dev');
});

test(DEV, 'a file at a device path that does not match is an error', (t) => {
  const c = new Container(t, ['true']);
  fs.writeFileSync(path.join(c.rootfs, 'opt/regular'), 'not a device');
  c.config.linux.devices = [{ path: '/opt/regular', type: 'c', major: 1, minor: 3, fileMode: 0o666 }];
  c.config.process.args = ['/bin/sh', '-c', 'stat -c "%F %t:%T" /opt/regular'];
  const r = c.create();
  let seen = '';
  if (r.code === 0 && c.start().code === 0) {
    c.waitStatus('stopped', 5000);
    seen = ` (in the container /opt/regular is: ${c.stdout().trim() || c.stderr().trim()})`;
  }
  ok(r.code !== 0, `create accepted a device path occupied by a regular file${seen}`);
  mustRunWithout(t, 'the device');
});

test('config-linux.md#allowed-device-list', 'device cgroup: a denied device cannot be opened', (t) => {
  const out = inside(t, 'stat -c %F /dev/kmsg-denied; { echo x > /dev/kmsg-denied; } 2>&1 && echo opened', (c) => {
    c.config.linux.devices = [{ path: '/dev/kmsg-denied', type: 'c', major: 1, minor: 11, fileMode: 0o666 }];
    c.config.linux.resources.devices = [{ allow: false, access: 'rwm' }];
  });
  ok(/^character special file\n(\/bin\/)?sh: can't create \/dev\/kmsg-denied: Operation not permitted$/.test(out.trim()), `writing to a device not in the allowed list: ${JSON.stringify(out)}`);
});

test('config-linux.md#allowed-device-list', 'device cgroup: entries apply in order (allow after deny-all)', (t) => {
  const out = inside(t, 'echo conformance > /dev/kmsg-allowed 2>/dev/null && echo opened || echo denied', (c) => {
    c.config.linux.devices = [{ path: '/dev/kmsg-allowed', type: 'c', major: 1, minor: 11, fileMode: 0o666 }];
    c.config.linux.resources.devices = [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 11, access: 'w' }];
  });
  eq(out.trim(), 'opened', 'writing to an allowed device');
});

// ---- cgroups ------------------------------------------------------------------------------

function v2(): boolean {
  return cgroupMounts().some((m) => m.type === 'cgroup2' && m.dir === '/sys/fs/cgroup');
}
function withCgroupMount(c: Container): void {
  c.config.mounts.push({ destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] });
}
/** The container's own cgroup file as seen inside (v1: /sys/fs/cgroup/<ctrl>/<file>; v2: unified). */
function cgFile(ctrl: string, v1file: string, v2file: string): string {
  return v2() ? `/sys/fs/cgroup/${v2file}` : `/sys/fs/cgroup/${ctrl}/${v1file}`;
}

test(CG, 'cgroupsPath (absolute) is where the container process is placed', (t) => {
  const c = running(t, (c) => (c.config.linux.resources.pids = { limit: 100 }));
  const lines = fs.readFileSync(`/proc/${waitPid(c)}/cgroup`, 'utf8').split('\n').filter(Boolean);
  const want = c.config.linux.cgroupsPath;
  const pidsLine = lines.find((l) => l.split(':')[1].split(',').includes('pids')) ?? lines.find((l) => l.startsWith('0::'));
  ok(pidsLine, `no pids cgroup line: ${lines.join(' ')}`);
  eq(pidsLine.split(':')[2], want, 'cgroup of the container process');
});

test(CG, 'memory.limit is visible in the container\'s cgroup', (t) => {
  const f = cgFile('memory', 'memory.limit_in_bytes', 'memory.max');
  const out = inside(t, `cat ${f}`, (c) => {
    c.config.linux.namespaces.push({ type: 'cgroup' });
    withCgroupMount(c);
    c.config.linux.resources.memory = { limit: 64 * 1024 * 1024 };
  });
  eq(out.trim(), String(64 * 1024 * 1024), f);
});

test(CG, 'memory.limit is enforced (allocating past it kills or fails)', (t) => {
  // The allocating subshell asks to be the OOM killer's first choice, so that the shell survives to report it.
  const out = inside(t, '(echo 1000 > /proc/self/oom_score_adj && head -c 200m /dev/zero | tail > /dev/null); echo rc=$?', (c) => {
    c.config.linux.resources.memory = { limit: 32 * 1024 * 1024, swap: 32 * 1024 * 1024 };
  });
  ok(/^rc=[1-9][0-9]*$/m.test(out), `200 MiB buffered under a 32 MiB limit: ${JSON.stringify(out.trim())}`);
});

test(CG, 'pids.limit is visible in the container\'s cgroup', (t) => {
  const f = cgFile('pids', 'pids.max', 'pids.max');
  const out = inside(t, `cat ${f}`, (c) => {
    c.config.linux.namespaces.push({ type: 'cgroup' });
    withCgroupMount(c);
    c.config.linux.resources.pids = { limit: 42 };
  });
  eq(out.trim(), '42', f);
});

test(CG, 'pids.limit is enforced', (t) => {
  // A failed fork ends a busybox shell: fork in a subshell, count with builtins (no fork needed).
  const out = inside(t, '(for i in 1 2 3 4 5 6 7 8; do sleep 2 & done) 2>/dev/null; set -- /proc/[0-9]*; echo $#', (c) => {
    c.config.linux.resources.pids = { limit: 4 };
  });
  ok(/^[0-9]+$/.test(out.trim()) && Number(out.trim()) >= 1, `no process count from the container: ${JSON.stringify(out)}`);
  ok(Number(out.trim()) <= 4, `${out.trim()} processes under a pids limit of 4`);
});

test(CG, 'cpu.shares (v1) / cpu.weight (v2) is applied', (t) => {
  const f = cgFile('cpu', 'cpu.shares', 'cpu.weight');
  const out = inside(t, `cat ${f}`, (c) => {
    c.config.linux.namespaces.push({ type: 'cgroup' });
    withCgroupMount(c);
    c.config.linux.resources.cpu = { shares: 512 };
  });
  ok(v2() ? Number(out.trim()) > 0 : out.trim() === '512', `${f}: ${out.trim()}`);
});

test(CG, 'cpu quota and period are applied', (t) => {
  const f = v2() ? '/sys/fs/cgroup/cpu.max' : '/sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us';
  const out = inside(t, `cat ${f}`, (c) => {
    c.config.linux.namespaces.push({ type: 'cgroup' });
    withCgroupMount(c);
    c.config.linux.resources.cpu = { quota: 50000, period: 100000 };
  });
  eq(out.trim().split(/\s+/), ['50000', '100000'], f);
});

test(CG, 'the same cgroupsPath attaches to the same cgroup (second container joins)', (t) => {
  const a = running(t, (c) => (c.config.linux.resources.pids = { limit: 50 }));
  const cg = a.config.linux.cgroupsPath;
  const b = running(t, (c) => {
    c.config.linux.cgroupsPath = cg;
    delete c.config.linux.resources.pids;
  });
  const pidsOf = (pid: number): string | undefined =>
    fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => /(^|,|:)pids(,|:)/.test(l) || l.startsWith('0::'))?.split(':')[2];
  eq(pidsOf(waitPid(b)), pidsOf(waitPid(a)), 'pids cgroup of the second container');
  // Keep b's cleanup from removing a's cgroup before a is deleted: both share it, a's cleanup runs later.
  void b;
});

// ---- sysctl -------------------------------------------------------------------------------

test(SYS, 'net.* sysctl is set in the container network namespace', (t) => {
  const host = fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim();
  const want = host === '1' ? '0' : '1';
  eq(inside(t, 'cat /proc/sys/net/ipv4/ip_forward', (c) => (c.config.linux.sysctl = { 'net.ipv4.ip_forward': want })).trim(), want, 'ip_forward');
  eq(fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim(), host, 'host ip_forward changed');
});

test(SYS, 'kernel.* ipc sysctl (kernel.msgmax) is set in the container ipc namespace', (t) => {
  eq(inside(t, 'cat /proc/sys/kernel/msgmax', (c) => (c.config.linux.sysctl = { 'kernel.msgmax': '12345' })).trim(), '12345', 'kernel.msgmax');
});

test(SYS, 'a sysctl that does not exist is an error', (t) => {
  const c = new Container(t, ['true']);
  c.config.linux.sysctl = { 'net.conformance.no_such_key': '1' };
  const r = c.create();
  ok(r.code !== 0 || c.start().code !== 0, 'an unknown sysctl was accepted');
  mustRunWithout(t, 'the sysctl');
});

// ---- seccomp ------------------------------------------------------------------------------

function seccomp(names: string[], action: string, errnoRet?: number): Record<string, unknown> {
  const rule: Record<string, unknown> = { names, action };
  if (errnoRet !== undefined) rule.errnoRet = errnoRet;
  return { defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'], syscalls: [rule] };
}

test(SEC, 'a rule with SCMP_ACT_ERRNO and errnoRet fails the syscall with that errno', (t) => {
  // EXDEV (18) is not an errno mkdir would return by itself.
  const out = inside(t, 'mkdir /tmp/blocked 2>&1; [ -d /tmp/blocked ] && echo exists || echo absent', (c) => {
    c.config.linux.seccomp = seccomp(['mkdir', 'mkdirat'], 'SCMP_ACT_ERRNO', 18);
  });
  ok(/cross-device/i.test(out), `mkdir did not fail with EXDEV: ${out.trim()}`);
  ok(out.includes('absent'), 'the directory was created');
});

test(SEC, 'SCMP_ACT_ERRNO without errnoRet returns EPERM', (t) => {
  const out = inside(t, 'mkdir /tmp/blocked 2>&1', (c) => (c.config.linux.seccomp = seccomp(['mkdir', 'mkdirat'], 'SCMP_ACT_ERRNO')));
  ok(/not permitted/i.test(out), `mkdir did not fail with EPERM: ${out.trim()}`);
});

test(SEC, 'syscalls not matched use defaultAction (allowed)', (t) => {
  const out = inside(t, 'touch /tmp/ok && echo touched', (c) => (c.config.linux.seccomp = seccomp(['mkdir', 'mkdirat'], 'SCMP_ACT_ERRNO', 18)));
  eq(out.trim(), 'touched', 'output');
});

test(SEC, 'the filter is in place (Seccomp: 2 in /proc/self/status)', (t) => {
  const out = inside(t, 'grep "^Seccomp:" /proc/self/status', (c) => (c.config.linux.seccomp = seccomp(['mkdir'], 'SCMP_ACT_ERRNO')));
  eq(out.trim(), 'Seccomp:\t2', 'Seccomp mode');
});

// ---- masked / readonly paths --------------------------------------------------------------

test(MASK, 'a masked file reads as empty', (t) => {
  const out = inside(t, 'content=$(cat /etc/secret-file) && echo "content=[$content]"', (c) => {
    fs.writeFileSync(path.join(c.rootfs, 'etc/secret-file'), 'secret\n');
    c.config.linux.maskedPaths = ['/etc/secret-file'];
  });
  eq(out.trim(), 'content=[]', 'what the masked file reads');
});

test(MASK, 'a masked directory appears empty', (t) => {
  const out = inside(t, 'entries=$(ls -A /opt/secret-dir) && echo "entries=[$entries]"', (c) => {
    fs.mkdirSync(path.join(c.rootfs, 'opt/secret-dir'));
    fs.writeFileSync(path.join(c.rootfs, 'opt/secret-dir/f'), 'secret\n');
    c.config.linux.maskedPaths = ['/opt/secret-dir'];
  });
  eq(out.trim(), 'entries=[]', 'entries in the masked directory');
});

test(MASK, 'masked /proc paths (/proc/kcore) read nothing', (t) => {
  const out = runInOk(t, 'head -c 16 /proc/kcore 2>/dev/null | wc -c', (c) => (c.config.linux.maskedPaths = ['/proc/kcore'])).out;
  eq(out.trim(), '0', 'bytes from /proc/kcore');
});

test(MASK, 'a masked path that does not exist is not an error', (t) => {
  eq(inside(t, 'echo ok', (c) => (c.config.linux.maskedPaths = ['/no/such/path'])).trim(), 'ok', 'output');
});

test(RO, 'a readonly path cannot be written, other paths can', (t) => {
  const out = inside(t, 'touch /opt/ro-dir/x 2>&1 && echo ro-writable; touch /opt/x && echo other-ok', (c) => {
    fs.mkdirSync(path.join(c.rootfs, 'opt/ro-dir'));
    c.config.linux.readonlyPaths = ['/opt/ro-dir'];
  });
  eq(out.trim().split('\n'), ['touch: /opt/ro-dir/x: Read-only file system', 'other-ok'], 'output');
});

test(RO, 'readonly /proc/sys: writes fail', (t) => {
  const out = inside(t, '{ echo 1 > /proc/sys/kernel/ns_last_pid; } 2>&1 && echo writable; grep " /proc/sys " /proc/self/mountinfo', (c) =>
    (c.config.linux.readonlyPaths = ['/proc/sys']),
  );
  ok(/^(\/bin\/)?sh: can't create \/proc\/sys\/kernel\/ns_last_pid: Read-only file system\n/.test(out), `write to /proc/sys: ${out}`);
  const mi = out.split('\n').find((l) => l.split(' ')[4] === '/proc/sys');
  ok(mi && mi.split(' ')[5].split(',').includes('ro'), `/proc/sys is not a read-only mount: ${mi}`);
});

// ---- misc ---------------------------------------------------------------------------------

test('config-linux.md#rootfs-mount-propagation', 'rootfsPropagation private: host mounts made later do not appear', (t) => {
  const c = running(t, (c) => (c.config.linux.rootfsPropagation = 'private'));
  const pid = waitPid(c);
  const mp = path.join(c.rootfs, 'mnt');
  const r = sh('mount', ['-t', 'tmpfs', 'late', mp]);
  if (r.code !== 0) skip(`cannot mount on the host: ${r.stderr.trim()}`);
  t.defer(() => sh('umount', ['-l', mp]));
  sleepMs(50);
  const mi = fs.readFileSync(`/proc/${pid}/mountinfo`, 'utf8');
  ok(!mi.split('\n').some((l) => l.split(' ')[4] === '/mnt'), 'a host mount made after start propagated into the container');
});

void describe;

// ---- fields a runtime may not support: applied, or create/start MUST generate an error ------

/** runtime.md#create: "If the runtime cannot apply a property as specified in the configuration,
 *  it MUST generate an error". Passes when rejected; otherwise the property must be in effect. */
function appliedOrRejected(t: TestContext, script: string, mutate: Mut, check: (out: string) => void): void {
  const c = new Container(t, ['/bin/sh', '-c', script]);
  mutate(c);
  const r = c.create();
  if (r.code !== 0) {
    t.note(`rejected at create: ${describe(r)}`);
    mustRunWithout(t, 'the property');
    return;
  }
  const s = c.start();
  if (s.code !== 0) {
    t.note(`rejected at start: ${describe(s)}`);
    mustRunWithout(t, 'the property');
    return;
  }
  c.mustWaitStopped();
  check(c.stdout());
}

test('config-linux.md#personality', 'personality LINUX32: uname -m reports a 32-bit machine (or an error)', (t) => {
  if (process.arch !== 'x64') skip('x86_64 host needed');
  appliedOrRejected(t, 'uname -m', (c) => (c.config.linux.personality = { domain: 'LINUX32' }), (out) => eq(out.trim(), 'i686', 'uname -m'));
});

since(1, 2, 'config-linux.md#offset-for-time-namespace', 'time namespace with timeOffsets (or an error)', (t) => {
  // A kernel without time namespaces (before 5.6) is checked too: the runtime must then reject it.
  if (!fs.existsSync('/proc/self/ns/time')) t.note('kernel without time namespaces: create or start must fail');
  appliedOrRejected(t, 'cat /proc/self/timens_offsets', (c) => {
    c.config.linux.namespaces.push({ type: 'time' });
    c.config.linux.timeOffsets = { monotonic: { secs: 31536000, nanosecs: 0 }, boottime: { secs: 7200, nanosecs: 0 } };
  }, (out) => {
    const lines = out.trim().split('\n').map((l) => l.trim().split(/\s+/).join(' '));
    ok(lines.includes('monotonic 31536000 0') && lines.includes('boottime 7200 0'), `timens_offsets: ${JSON.stringify(lines)}`);
  });
});

since(1, 2, 'config.md#linux-process', 'ioPriority best-effort 6 (or an error)', (t) => {
  appliedOrRejected(t, 'ionice', (c) => (c.config.process.ioPriority = { class: 'IOPRIO_CLASS_BE', priority: 6 }), (out) =>
    eq(out.trim(), 'best-effort: prio 6', 'ionice'));
});

since(1, 2, 'config.md#linux-process', 'scheduler SCHED_BATCH with nice 7 (or an error)', (t) => {
  appliedOrRejected(t, 'cat /proc/self/stat', (c) => (c.config.process.scheduler = { policy: 'SCHED_BATCH', nice: 7 }), (out) => {
    const f = out.slice(out.lastIndexOf(')') + 2).trim().split(/\s+/);
    // Fields after "comm": state is field 3, so field N is f[N - 3]; nice = 19, policy = 41 (SCHED_BATCH = 3).
    eq([f[19 - 3], f[41 - 3]], ['7', '3'], 'nice and policy');
  });
});

test(CG, 'cpuset cpus limits the CPUs the process may run on', (t) => {
  const out = inside(t, 'grep Cpus_allowed_list /proc/self/status', (c) => (c.config.linux.resources.cpu = { cpus: '0' }));
  eq(out.trim().split(/\s+/).pop(), '0', 'Cpus_allowed_list');
});
