import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { validate } from '../../src';
import { clone, errorsOf, fixture, InvalidCase, Json, runInvalidCases } from '../helpers';

function runcSpec(rootless: boolean): Json | undefined {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oci-spec-test-'));
  try {
    execFileSync('runc', rootless ? ['spec', '--rootless'] : ['spec'], { cwd: dir, stdio: 'ignore' });
    return JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
  } catch {
    return undefined; // runc not installed: the stored copies below still run
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe('valid runtime configs', () => {
  test.each([
    'runtime/runc-spec.json',
    'runtime/runc-spec-rootless.json',
    'runtime/crun-spec.json',
    'runtime/umoci-unpack-rootless.json',
    'runtime/podman-like.json',
  ])('%s', (f) => {
    expect(errorsOf('config', fixture(f))).toEqual([]);
  });

  test('live `runc spec` and `runc spec --rootless` output', () => {
    for (const rootless of [false, true]) {
      const spec = runcSpec(rootless);
      if (spec === undefined) return;
      expect(validate('config', spec)).toEqual({ ok: true });
    }
  });

  test('minimal Linux config', () => {
    expect(validate('config', { ociVersion: '1.0.0', root: { path: 'rootfs' } })).toEqual({ ok: true });
  });

  test('unknown properties are allowed (extensions)', () => {
    const d = fixture('runtime/runc-spec.json');
    d.xExtension = { a: 1 };
    d.process.somethingNew = true;
    d.linux.resources.futureController = {};
    expect(errorsOf('config', d)).toEqual([]);
  });

  test('Windows config does not need root, user or args', () => {
    const d = { ociVersion: '1.1.0', process: { cwd: 'C:\\', commandLine: 'cmd.exe', user: { username: 'ContainerUser' } }, windows: { layerFolders: ['C:\\l'] } };
    expect(errorsOf('config', d)).toEqual([]);
  });

  test('full linux section with every documented field', () => {
    const d = fixture('runtime/runc-spec.json');
    d.domainname = 'example.test';
    d.process.consoleSize = { height: 25, width: 80 };
    d.process.scheduler = { policy: 'SCHED_DEADLINE', nice: -5, priority: 0, flags: ['SCHED_FLAG_RESET_ON_FORK'], runtime: 10000, deadline: 20000, period: 30000 };
    d.process.ioPriority = { class: 'IOPRIO_CLASS_IDLE', priority: 4 };
    d.process.execCPUAffinity = { initial: '7', final: '0-3,7' };
    d.process.capabilities.inheritable = ['CAP_KILL'];
    d.linux.timeOffsets = { monotonic: { secs: -10, nanosecs: 5 }, boottime: { secs: 3600 } };
    d.linux.namespaces.push({ type: 'time' }, { type: 'cgroup' }, { type: 'user' });
    d.linux.uidMappings = [{ containerID: 0, hostID: 1000, size: 1 }];
    d.linux.gidMappings = [{ containerID: 0, hostID: 1000, size: 1 }];
    d.linux.resources = {
      devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'b', major: 8, minor: 0, access: 'r' }],
      memory: { limit: -1, reservation: 1, swap: -1, kernel: -1, kernelTCP: -1, swappiness: 0, disableOOMKiller: false, useHierarchy: true, checkBeforeUpdate: true },
      cpu: { shares: 1024, quota: -1, burst: 0, period: 100000, realtimeRuntime: 950000, realtimePeriod: 1000000, cpus: '2-3', mems: '0-7', idle: 1 },
      pids: { limit: -1 },
      blockIO: {
        weight: 10, leafWeight: 10,
        weightDevice: [{ major: 8, minor: 0, weight: 500, leafWeight: 300 }, { major: 8, minor: 16, leafWeight: 500 }],
        throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 600 }],
        throttleWriteBpsDevice: [{ major: 8, minor: 0, rate: 600 }],
        throttleReadIOPSDevice: [{ major: 8, minor: 0, rate: 600 }],
        throttleWriteIOPSDevice: [{ major: 8, minor: 16, rate: 300 }],
      },
      hugepageLimits: [{ pageSize: '2MB', limit: 209715200 }, { pageSize: '64KB', limit: 1000000 }],
      network: { classID: 1048577, priorities: [{ name: 'eth0', priority: 500 }] },
      rdma: { mlx5_1: { hcaHandles: 3, hcaObjects: 10000 }, rxe3: { hcaObjects: 10000 } },
      unified: { 'io.max': '259:0 rbps=2097152', 'hugetlb.1GB.max': '1073741824' },
    };
    d.linux.cgroupsPath = '/myRuntime/myContainer';
    d.linux.rootfsPropagation = 'slave';
    d.linux.sysctl = { 'net.ipv4.ip_forward': '1' };
    d.linux.seccomp = {
      defaultAction: 'SCMP_ACT_ALLOW',
      defaultErrnoRet: 1,
      architectures: ['SCMP_ARCH_X86', 'SCMP_ARCH_X32', 'SCMP_ARCH_AARCH64', 'SCMP_ARCH_RISCV64'],
      flags: ['SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW', 'SECCOMP_FILTER_FLAG_TSYNC', 'SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV'],
      listenerPath: '/run/seccomp-agent.socket',
      listenerMetadata: 'MKNOD=/dev/null',
      syscalls: [
        { names: ['getcwd', 'chmod'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 },
        { names: ['mount'], action: 'SCMP_ACT_NOTIFY' },
        { names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 8, valueTwo: 0, op: 'SCMP_CMP_EQ' }] },
      ],
    };
    d.linux.devices = [{ path: '/dev/fuse', type: 'c', major: 10, minor: 229, fileMode: 438, uid: 0, gid: 0 }, { path: '/dev/sda', type: 'b', major: 8, minor: 0 }, { path: '/dev/fifo', type: 'p' }];
    d.linux.mountLabel = 'system_u:object_r:svirt_sandbox_file_t:s0:c715,c811';
    d.linux.intelRdt = { closID: 'guaranteed_group', l3CacheSchema: 'L3:0=7f0;1=1f', memBwSchema: 'MB:0=20;1=70', enableCMT: true, enableMBM: true };
    d.linux.personality = { domain: 'LINUX32', flags: [] };
    d.linux.netDevices = { eth1: { name: 'eth0' } };
    d.hooks = {
      prestart: [{ path: '/usr/bin/fix-mounts', args: ['fix-mounts', 'arg1'], env: ['key1=value1'] }],
      createRuntime: [{ path: '/usr/bin/setup-network' }],
      createContainer: [{ path: '/usr/bin/mount-hook', args: ['-mount', 'arg1'], timeout: 5 }],
      startContainer: [{ path: '/usr/bin/refresh-ldcache' }],
      poststart: [{ path: '/usr/bin/notify-start', timeout: 5 }],
      poststop: [{ path: '/usr/sbin/cleanup.sh', args: ['cleanup.sh', '-f'] }],
    };
    d.mounts.push({ destination: '/data', type: 'none', source: '/volumes/testing', options: ['rbind', 'rw', 'ridmap'], uidMappings: [{ containerID: 0, hostID: 1000, size: 1 }], gidMappings: [{ containerID: 0, hostID: 1000, size: 1 }] });
    d.mounts.push({ destination: 'relative/is/deprecated/but/allowed', type: 'tmpfs', source: 'tmpfs' });
    d.annotations = { 'com.example.key1': 'value1' };
    expect(errorsOf('config', d)).toEqual([]);
  });

  test('64-bit values (RLIM_INFINITY, int64 limits) are accepted', () => {
    const d = fixture('runtime/runc-spec.json');
    d.process.rlimits = [{ type: 'RLIMIT_CORE', soft: 18446744073709551615, hard: 18446744073709551615 }];
    d.linux.resources.hugepageLimits = [{ pageSize: '1GB', limit: 9223372036854772000 }];
    expect(errorsOf('config', d)).toEqual([]);
  });
});

describe('invalid runtime configs name the JSON path', () => {
  const base = (): Json => fixture('runtime/runc-spec.json');
  const cases: InvalidCase[] = [
    { name: 'missing ociVersion', mutate: (d) => delete d.ociVersion, error: 'ociVersion: is required' },
    { name: 'ociVersion not semver', mutate: (d) => (d.ociVersion = '1.0'), error: 'ociVersion: must be a SemVer 2.0.0 version such as 1.0.2' },
    { name: 'ociVersion a number', mutate: (d) => (d.ociVersion = 1), error: 'ociVersion: must be string' },
    { name: 'missing root on Linux', mutate: (d) => delete d.root, error: 'root: is required' },
    { name: 'missing root.path', mutate: (d) => delete d.root.path, error: 'root.path: is required' },
    { name: 'root.readonly not boolean', mutate: (d) => (d.root.readonly = 'yes'), error: 'root.readonly: must be boolean' },
    { name: 'process.args a string', mutate: (d) => (d.process.args = 'sh'), error: 'process.args: must be array' },
    { name: 'process.args empty', mutate: (d) => (d.process.args = []), error: 'process.args: must have at least 1 item' },
    { name: 'process.args missing', mutate: (d) => delete d.process.args, error: 'process.args: is required' },
    { name: 'process.args item not string', mutate: (d) => (d.process.args = ['sh', 1]), error: 'process.args[1]: must be string' },
    { name: 'process.cwd missing', mutate: (d) => delete d.process.cwd, error: 'process.cwd: is required' },
    { name: 'process.cwd relative', mutate: (d) => (d.process.cwd = 'home'), error: 'process.cwd: must be an absolute path' },
    { name: 'process.user missing', mutate: (d) => delete d.process.user, error: 'process.user: is required' },
    { name: 'process.user.uid missing', mutate: (d) => delete d.process.user.uid, error: 'process.user.uid: is required' },
    { name: 'uid negative', mutate: (d) => (d.process.user.uid = -1), error: 'process.user.uid: must be >= 0' },
    { name: 'uid above uint32', mutate: (d) => (d.process.user.uid = 4294967296), error: 'process.user.uid: must be <= 4294967295' },
    { name: 'gid fractional', mutate: (d) => (d.process.user.gid = 1.5), error: 'process.user.gid: must be integer' },
    { name: 'additionalGids item', mutate: (d) => (d.process.user.additionalGids = [1, 'x']), error: 'process.user.additionalGids[1]: must be integer' },
    { name: 'env not strings', mutate: (d) => (d.process.env = [{ A: 1 }]), error: 'process.env[0]: must be string' },
    { name: 'terminal not boolean', mutate: (d) => (d.process.terminal = 1), error: 'process.terminal: must be boolean' },
    { name: 'consoleSize without width', mutate: (d) => (d.process.consoleSize = { height: 1 }), error: 'process.consoleSize.width: is required' },
    { name: 'capability name', mutate: (d) => (d.process.capabilities.bounding[1] = 'KILL'), error: 'process.capabilities.bounding[1]: must be a capability name such as CAP_CHOWN' },
    { name: 'capabilities as array (old format)', mutate: (d) => (d.process.capabilities = ['CAP_KILL']), error: 'process.capabilities: must be object' },
    { name: 'rlimit type', mutate: (d) => (d.process.rlimits[0].type = 'NOFILE'), error: 'process.rlimits[0].type: must be an RLIMIT_* resource name such as RLIMIT_NOFILE' },
    { name: 'rlimit soft missing', mutate: (d) => delete d.process.rlimits[0].soft, error: 'process.rlimits[0].soft: is required' },
    { name: 'rlimit negative', mutate: (d) => (d.process.rlimits[0].hard = -1), error: 'process.rlimits[0].hard: must be >= 0' },
    { name: 'duplicate rlimit', mutate: (d) => d.process.rlimits.push({ type: 'RLIMIT_NOFILE', soft: 1, hard: 1 }), error: "process.rlimits[1].type: duplicate rlimit 'RLIMIT_NOFILE' (also at process.rlimits[0])" },
    { name: 'scheduler policy', mutate: (d) => (d.process.scheduler = { policy: 'SCHED_FAST' }), error: 'process.scheduler.policy: must be one of SCHED_OTHER, SCHED_FIFO, SCHED_RR, SCHED_BATCH, SCHED_ISO, SCHED_IDLE, SCHED_DEADLINE' },
    { name: 'scheduler flag', mutate: (d) => (d.process.scheduler = { policy: 'SCHED_RR', flags: ['X'] }), error: 'process.scheduler.flags[0]: must be one of SCHED_FLAG_RESET_ON_FORK, SCHED_FLAG_RECLAIM, SCHED_FLAG_DL_OVERRUN, SCHED_FLAG_KEEP_POLICY, SCHED_FLAG_KEEP_PARAMS, SCHED_FLAG_UTIL_CLAMP_MIN, SCHED_FLAG_UTIL_CLAMP_MAX' },
    { name: 'ioPriority range', mutate: (d) => (d.process.ioPriority = { class: 'IOPRIO_CLASS_BE', priority: 8 }), error: 'process.ioPriority.priority: must be <= 7' },
    { name: 'ioPriority class', mutate: (d) => (d.process.ioPriority = { class: 'BE', priority: 1 }), error: 'process.ioPriority.class: must be one of IOPRIO_CLASS_RT, IOPRIO_CLASS_BE, IOPRIO_CLASS_IDLE' },
    { name: 'execCPUAffinity format', mutate: (d) => (d.process.execCPUAffinity = { final: 'all' }), error: 'process.execCPUAffinity.final: must be a CPU list such as 0-3,7' },
    { name: 'oomScoreAdj type', mutate: (d) => (d.process.oomScoreAdj = '100'), error: 'process.oomScoreAdj: must be integer' },
    { name: 'mount without destination', mutate: (d) => delete d.mounts[2].destination, error: 'mounts[2].destination: is required' },
    { name: 'mount options not array', mutate: (d) => (d.mounts[1].options = 'nosuid'), error: 'mounts[1].options: must be array' },
    { name: 'mount uidMappings without gidMappings', mutate: (d) => (d.mounts[0].uidMappings = [{ containerID: 0, hostID: 1, size: 1 }]), error: 'mounts[0].gidMappings: is required when uidMappings is set' },
    { name: 'mount idmapping size missing', mutate: (d) => { d.mounts[0].uidMappings = [{ containerID: 0, hostID: 1 }]; d.mounts[0].gidMappings = []; }, error: 'mounts[0].uidMappings[0].size: is required' },
    { name: 'hostname type', mutate: (d) => (d.hostname = 5), error: 'hostname: must be string' },
    { name: 'annotations value', mutate: (d) => (d.annotations = { 'org.example.x': 1 }), error: 'annotations["org.example.x"]: must be string' },
    { name: 'annotations empty key', mutate: (d) => (d.annotations = { '': 'x' }), error: 'annotations[""]: key must not be empty' },
    { name: 'hook path relative', mutate: (d) => (d.hooks = { poststart: [{ path: 'bin/hook' }] }), error: 'hooks.poststart[0].path: must be an absolute path' },
    { name: 'hook path missing', mutate: (d) => (d.hooks = { createRuntime: [{ args: [] }] }), error: 'hooks.createRuntime[0].path: is required' },
    { name: 'hook timeout zero', mutate: (d) => (d.hooks = { prestart: [{ path: '/x', timeout: 0 }] }), error: 'hooks.prestart[0].timeout: must be >= 1' },
    { name: 'hooks not array', mutate: (d) => (d.hooks = { poststop: { path: '/x' } }), error: 'hooks.poststop: must be array' },
    { name: 'namespace type', mutate: (d) => (d.linux.namespaces[2].type = 'net'), error: 'linux.namespaces[2].type: must be one of pid, network, mount, ipc, uts, user, cgroup, time' },
    { name: 'namespace type missing', mutate: (d) => (d.linux.namespaces[0] = { path: '/proc/1/ns/pid' }), error: 'linux.namespaces[0].type: is required' },
    { name: 'namespace path relative', mutate: (d) => (d.linux.namespaces[1].path = 'run/netns/x'), error: 'linux.namespaces[1].path: must be an absolute path' },
    { name: 'duplicate namespace', mutate: (d) => d.linux.namespaces.push({ type: 'pid' }), error: "linux.namespaces[5].type: duplicate namespace 'pid' (also at linux.namespaces[0])" },
    { name: 'uidMappings hostID', mutate: (d) => (d.linux.uidMappings = [{ containerID: 0, hostID: -5, size: 1 }]), error: 'linux.uidMappings[0].hostID: must be >= 0' },
    { name: 'gidMappings not array', mutate: (d) => (d.linux.gidMappings = { containerID: 0 }), error: 'linux.gidMappings: must be array' },
    { name: 'timeOffsets nanosecs', mutate: (d) => (d.linux.timeOffsets = { monotonic: { nanosecs: -1 } }), error: 'linux.timeOffsets.monotonic.nanosecs: must be >= 0' },
    { name: 'device type', mutate: (d) => (d.linux.devices = [{ type: 'x', path: '/dev/x' }]), error: 'linux.devices[0].type: must be one of c, b, u, p' },
    { name: 'char device without major', mutate: (d) => (d.linux.devices = [{ type: 'c', path: '/dev/x', minor: 1 }]), error: 'linux.devices[0].major: is required' },
    { name: 'device path relative', mutate: (d) => (d.linux.devices = [{ type: 'p', path: 'dev/x' }]), error: 'linux.devices[0].path: must be an absolute path' },
    { name: 'device cgroup allow missing', mutate: (d) => delete d.linux.resources.devices[0].allow, error: 'linux.resources.devices[0].allow: is required' },
    { name: 'device cgroup access', mutate: (d) => (d.linux.resources.devices[0].access = 'rwx'), error: 'linux.resources.devices[0].access: must be a combination of r, w and m' },
    { name: 'device cgroup type', mutate: (d) => (d.linux.resources.devices[0].type = 'p'), error: 'linux.resources.devices[0].type: must be one of a, c, b' },
    { name: 'memory limit string', mutate: (d) => (d.linux.resources.memory = { limit: '1G' }), error: 'linux.resources.memory.limit: must be integer' },
    { name: 'swappiness > 100', mutate: (d) => (d.linux.resources.memory = { swappiness: 101 }), error: 'linux.resources.memory.swappiness: must be <= 100' },
    { name: 'cpu shares negative', mutate: (d) => (d.linux.resources.cpu = { shares: -2 }), error: 'linux.resources.cpu.shares: must be >= 0' },
    { name: 'pids without limit', mutate: (d) => (d.linux.resources.pids = {}), error: 'linux.resources.pids.limit: is required' },
    { name: 'blkio weight uint16', mutate: (d) => (d.linux.resources.blockIO = { weight: 70000 }), error: 'linux.resources.blockIO.weight: must be <= 65535' },
    { name: 'weightDevice needs weight or leafWeight', mutate: (d) => (d.linux.resources.blockIO = { weightDevice: [{ major: 8, minor: 0 }] }), error: 'linux.resources.blockIO.weightDevice[0]: must have at least one of weight, leafWeight' },
    { name: 'throttle device rate missing', mutate: (d) => (d.linux.resources.blockIO = { throttleReadBpsDevice: [{ major: 8, minor: 0 }] }), error: 'linux.resources.blockIO.throttleReadBpsDevice[0].rate: is required' },
    { name: 'throttle device minor missing', mutate: (d) => (d.linux.resources.blockIO = { throttleWriteIOPSDevice: [{ major: 8, rate: 1 }] }), error: 'linux.resources.blockIO.throttleWriteIOPSDevice[0].minor: is required' },
    { name: 'hugepage pageSize', mutate: (d) => (d.linux.resources.hugepageLimits = [{ pageSize: '2M', limit: 1 }]), error: 'linux.resources.hugepageLimits[0].pageSize: must be a page size such as 64KB, 2MB or 1GB' },
    { name: 'network priority', mutate: (d) => (d.linux.resources.network = { priorities: [{ name: 'eth0' }] }), error: 'linux.resources.network.priorities[0].priority: is required' },
    { name: 'rdma entry empty', mutate: (d) => (d.linux.resources.rdma = { mlx4_0: {} }), error: 'linux.resources.rdma.mlx4_0: must have at least one of hcaHandles, hcaObjects' },
    { name: 'unified value', mutate: (d) => (d.linux.resources.unified = { 'memory.max': 1024 }), error: 'linux.resources.unified["memory.max"]: must be string' },
    { name: 'rootfsPropagation', mutate: (d) => (d.linux.rootfsPropagation = 'public'), error: 'linux.rootfsPropagation: must be one of private, shared, slave, unbindable, rprivate, rshared, rslave, runbindable' },
    { name: 'seccomp defaultAction missing', mutate: (d) => (d.linux.seccomp = {}), error: 'linux.seccomp.defaultAction: is required' },
    { name: 'seccomp action', mutate: (d) => (d.linux.seccomp = { defaultAction: 'SCMP_ACT_DENY' }), error: 'linux.seccomp.defaultAction: must be one of SCMP_ACT_KILL, SCMP_ACT_KILL_PROCESS, SCMP_ACT_KILL_THREAD, SCMP_ACT_TRAP, SCMP_ACT_ERRNO, SCMP_ACT_TRACE, SCMP_ACT_ALLOW, SCMP_ACT_LOG, SCMP_ACT_NOTIFY' },
    { name: 'seccomp arch', mutate: (d) => (d.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', architectures: ['x86_64'] }), error: 'linux.seccomp.architectures[0]: must be one of SCMP_ARCH_X86, SCMP_ARCH_X86_64, SCMP_ARCH_X32, SCMP_ARCH_ARM, SCMP_ARCH_AARCH64, SCMP_ARCH_MIPS, SCMP_ARCH_MIPS64, SCMP_ARCH_MIPS64N32, SCMP_ARCH_MIPSEL, SCMP_ARCH_MIPSEL64, SCMP_ARCH_MIPSEL64N32, SCMP_ARCH_PPC, SCMP_ARCH_PPC64, SCMP_ARCH_PPC64LE, SCMP_ARCH_S390, SCMP_ARCH_S390X, SCMP_ARCH_PARISC, SCMP_ARCH_PARISC64, SCMP_ARCH_RISCV64, SCMP_ARCH_LOONGARCH64, SCMP_ARCH_M68K, SCMP_ARCH_SH, SCMP_ARCH_SHEB' },
    { name: 'seccomp flag', mutate: (d) => (d.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', flags: ['SECCOMP_FILTER_FLAG_NEW_LISTENER'] }), error: 'linux.seccomp.flags[0]: must be one of SECCOMP_FILTER_FLAG_TSYNC, SECCOMP_FILTER_FLAG_LOG, SECCOMP_FILTER_FLAG_SPEC_ALLOW, SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV' },
    { name: 'seccomp syscall names empty', mutate: (d) => (d.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: [], action: 'SCMP_ACT_ERRNO' }] }), error: 'linux.seccomp.syscalls[0].names: must have at least 1 item' },
    { name: 'seccomp syscall action missing', mutate: (d) => (d.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['read'] }] }), error: 'linux.seccomp.syscalls[0].action: is required' },
    { name: 'seccomp arg op', mutate: (d) => (d.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['x'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 1, op: 'EQ' }] }] }), error: 'linux.seccomp.syscalls[0].args[0].op: must be one of SCMP_CMP_NE, SCMP_CMP_LT, SCMP_CMP_LE, SCMP_CMP_EQ, SCMP_CMP_GE, SCMP_CMP_GT, SCMP_CMP_MASKED_EQ' },
    { name: 'seccomp arg index', mutate: (d) => (d.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['x'], action: 'SCMP_ACT_ALLOW', args: [{ index: 6, value: 1, op: 'SCMP_CMP_EQ' }] }] }), error: 'linux.seccomp.syscalls[0].args[0].index: must be <= 5' },
    { name: 'seccomp listenerMetadata without listenerPath', mutate: (d) => (d.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', listenerMetadata: 'x' }), error: 'linux.seccomp.listenerPath: is required when listenerMetadata is set' },
    { name: 'sysctl value', mutate: (d) => (d.linux.sysctl = { 'net.ipv4.ip_forward': 1 }), error: 'linux.sysctl["net.ipv4.ip_forward"]: must be string' },
    { name: 'maskedPaths relative', mutate: (d) => (d.linux.maskedPaths[3] = 'proc/keys'), error: 'linux.maskedPaths[3]: must be an absolute path' },
    { name: 'readonlyPaths not array', mutate: (d) => (d.linux.readonlyPaths = '/proc/sys'), error: 'linux.readonlyPaths: must be array' },
    { name: 'intelRdt memBwSchema', mutate: (d) => (d.linux.intelRdt = { memBwSchema: 'L3:0=1' }), error: 'linux.intelRdt.memBwSchema: must start with MB: and be a single line' },
    { name: 'personality domain', mutate: (d) => (d.linux.personality = { domain: 'LINUX64' }), error: 'linux.personality.domain: must be one of LINUX, LINUX32' },
    { name: 'linux not object', mutate: (d) => (d.linux = []), error: 'linux: must be object' },
  ];
  runInvalidCases('config', base, cases);

  test('a non-object document', () => {
    expect(errorsOf('config', 'x')).toEqual(['(root): must be object']);
    expect(errorsOf('config', null)).toEqual(['(root): must be object']);
    expect(errorsOf('config', [])).toEqual(['(root): must be object']);
  });

  test('several problems are all reported, one line each, without if/then noise', () => {
    const d = fixture('runtime/runc-spec.json');
    d.process.args = 'sh';
    delete d.process.cwd;
    d.linux.namespaces[2].type = 'net';
    const errors = errorsOf('config', d);
    expect(errors).toEqual([
      'process.cwd: is required',
      'process.args: must be array',
      'linux.namespaces[2].type: must be one of pid, network, mount, ipc, uts, user, cgroup, time',
    ]);
    for (const e of errors) expect(e).not.toMatch(/\n|"then"|"else"|"if"/);
  });

  test('the input document is not modified', () => {
    const d = fixture('runtime/podman-like.json');
    const copy = clone(d);
    validate('config', d);
    expect(d).toEqual(copy);
  });
});
