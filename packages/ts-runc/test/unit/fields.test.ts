import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { planSysctl, planPersonality, planScheduler, planIoPriority, checkLsm, planStageHooks, planTimeNs, parseBitList, planCpuAffinity, planMemoryPolicy, checkUnsupported } from '../../src/plan/fields';
import { runHooks, checkHooks } from '../../src/hooks/run-hooks';
import type { NamespacePlan } from '../../src/plan/namespaces';

const allNs: NamespacePlan = { create: ['pid', 'network', 'ipc', 'uts', 'mount'], join: [] };
const hostNs: NamespacePlan = { create: ['pid', 'mount'], join: [] };

describe('linux.sysctl rules (as runc)', () => {
  test('namespaced keys with their namespace pass; "/" separators are normalised', () => {
    expect(planSysctl({ 'kernel.shmmax': '1000', 'fs/mqueue/msg_max': '20', 'net.ipv4.ip_forward': '1', 'kernel.hostname': 'h' }, allNs, {})).toEqual({
      'kernel.shmmax': '1000', 'fs.mqueue.msg_max': '20', 'net.ipv4.ip_forward': '1', 'kernel.hostname': 'h',
    });
    expect(planSysctl({ 'net.core.somaxconn': '10' }, { create: ['mount'], join: [{ type: 'network', path: '/run/netns/x' }] }, {})).toEqual({ 'net.core.somaxconn': '10' });
  });

  test('keys of a shared or non-namespaced kind are refused with the key named', () => {
    expect(() => planSysctl({ 'kernel.shmmax': '1' }, hostNs, {})).toThrow('linux.sysctl["kernel.shmmax"]: sysctl "kernel.shmmax" is not allowed in the hosts ipc namespace');
    expect(() => planSysctl({ 'net.ipv4.ip_forward': '1' }, hostNs, {})).toThrow('sysctl "net.ipv4.ip_forward" not allowed in host network namespace');
    expect(() => planSysctl({ 'kernel.domainname': 'd' }, hostNs, {})).toThrow('is not allowed in the host\'s uts namespace');
    expect(() => planSysctl({ 'vm.swappiness': '1' }, allNs, {})).toThrow('linux.sysctl["vm.swappiness"]: sysctl "vm.swappiness" is not in a separate kernel namespace');
    expect(() => planSysctl({ 'kernel.hostname': 'a' }, allNs, { hostname: 'b' })).toThrow('conflicts with the hostname field');
    expect(() => planSysctl({ '../../etc': 'x' }, allNs, {})).toThrow('invalid sysctl name');
  });
});

describe('personality, scheduler, ioPriority', () => {
  test('personality domain and flags', () => {
    expect(planPersonality(undefined)).toBeNull();
    expect(planPersonality({ domain: 'LINUX32' })).toBe(8);
    expect(planPersonality({ domain: 'LINUX', flags: ['ADDR_NO_RANDOMIZE'] })).toBe(0x40000);
    expect(() => planPersonality({ domain: 'BSD' })).toThrow('linux.personality.domain: unknown domain "BSD"');
    expect(() => planPersonality({ domain: 'LINUX', flags: ['NOPE'] })).toThrow('linux.personality.flags[0]: unknown flag "NOPE"');
  });

  test('scheduler: struct sched_attr layout and range checks', () => {
    const b = Buffer.from(planScheduler({ policy: 'SCHED_BATCH', nice: 5, flags: ['SCHED_FLAG_RESET_ON_FORK'] } as any)!, 'base64');
    expect(b.length).toBe(48);
    expect([b.readUInt32LE(0), b.readUInt32LE(4), Number(b.readBigUInt64LE(8)), b.readInt32LE(16), b.readUInt32LE(20)]).toEqual([48, 3, 1, 5, 0]);
    const rr = Buffer.from(planScheduler({ policy: 'SCHED_RR', priority: 10 } as any)!, 'base64');
    expect(rr.readUInt32LE(20)).toBe(10);
    expect(() => planScheduler({ policy: 'SCHED_FOO' } as any)).toThrow('process.scheduler.policy: unknown policy "SCHED_FOO"');
    expect(() => planScheduler({ policy: 'SCHED_FIFO' } as any)).toThrow('process.scheduler.priority: must be 1 to 99 for SCHED_FIFO, not 0');
    expect(() => planScheduler({ policy: 'SCHED_OTHER', nice: 30 } as any)).toThrow('process.scheduler.nice: must be -20 to 19, not 30');
    expect(() => planScheduler({ policy: 'SCHED_OTHER', runtime: 5 } as any)).toThrow('only for SCHED_DEADLINE');
  });

  test('ioPriority value is class << 13 | level', () => {
    expect(planIoPriority({ class: 'IOPRIO_CLASS_BE', priority: 4 } as any)).toBe((2 << 13) | 4);
    expect(planIoPriority({ class: 'IOPRIO_CLASS_IDLE', priority: 0 } as any)).toBe(3 << 13);
    expect(() => planIoPriority({ class: 'IOPRIO_CLASS_X', priority: 0 } as any)).toThrow('process.ioPriority.class: unknown class "IOPRIO_CLASS_X"');
    expect(() => planIoPriority({ class: 'IOPRIO_CLASS_BE', priority: 9 } as any)).toThrow('process.ioPriority.priority: must be 0 to 7, not 9');
  });
});

describe('LSM fields on a host without AppArmor and SELinux', () => {
  const off = { apparmor: () => false, selinux: () => false };
  test('apparmorProfile is an error, selinux labels are warnings', () => {
    expect(() => checkLsm({ process: { apparmorProfile: 'docker-default' } }, () => undefined, off)).toThrow(
      'process.apparmorProfile: profile "docker-default" is set but AppArmor is not enabled on this host',
    );
    const w: string[] = [];
    checkLsm({ process: { selinuxLabel: 'system_u:system_r:container_t:s0' }, linux: { mountLabel: 'system_u:object_r:container_file_t:s0' } }, (m) => w.push(m), off);
    expect(w).toEqual([
      'process.selinuxLabel: SELinux is not enabled on this host, label "system_u:system_r:container_t:s0" ignored',
      'linux.mountLabel: SELinux is not enabled on this host, label "system_u:object_r:container_file_t:s0" ignored',
    ]);
  });
});

describe('hooks', () => {
  test('validation names the hook', () => {
    expect(() => checkHooks({ prestart: [{ path: 'relative' }] })).toThrow('hooks.prestart[0].path: must be an absolute path');
    expect(() => checkHooks({ poststop: [{ path: '/bin/true', timeout: 0 }] })).toThrow('hooks.poststop[0].timeout: must be a positive integer, not 0');
    expect(planStageHooks({ createRuntime: [{ path: '/bin/true' }], startContainer: [{ path: '/bin/sh', args: ['sh', '-c', 'x'], timeout: 3 }] })).toEqual({
      createContainer: [],
      startContainer: [{ path: '/bin/sh', args: ['sh', '-c', 'x'], env: [], timeout: 3 }],
      runtimeHooks: true,
    });
  });

  test('a hook gets the state on stdin, its args and exactly its env', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hooks-'));
    try {
      const out = path.join(dir, 'out');
      runHooks('poststart', [{ path: '/bin/sh', args: ['myname', '-c', `{ echo "$0 $FOO $HOME"; cat; } > ${out}`], env: ['FOO=bar'] }], { id: 'c1', status: 'running' }, true);
      expect(fs.readFileSync(out, 'utf8')).toBe('myname bar \n{"id":"c1","status":"running"}');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('hooks start in the bundle directory when it exists', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hooks-'));
    try {
      const out = path.join(dir, 'cwd');
      runHooks('prestart', [{ path: '/bin/sh', args: ['sh', '-c', `pwd > ${out}`] }], { bundle: dir }, true);
      expect(fs.readFileSync(out, 'utf8').trim()).toBe(fs.realpathSync(dir));
      runHooks('poststop', [{ path: '/bin/sh', args: ['sh', '-c', `pwd > ${out}`] }], { bundle: path.join(dir, 'gone') }, true);
      expect(fs.readFileSync(out, 'utf8').trim()).toBe(process.cwd());
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('strict phases throw with the hook number and output; others warn and go on', () => {
    const fail = { path: '/bin/sh', args: ['sh', '-c', 'echo out; echo err >&2; exit 3'] };
    expect(() => runHooks('createRuntime', [{ path: '/bin/true' }, fail], {}, true)).toThrow('error running createRuntime hook #1: exit status 3, stdout: "out", stderr: "err"');
    const w: string[] = [];
    runHooks('poststop', [fail, { path: '/nonexistent/hook' }], {}, false, (m) => w.push(m));
    expect(w).toEqual(['error running poststop hook #0: exit status 3, stdout: "out", stderr: "err"', 'error running poststop hook #1: exec /nonexistent/hook: no such file or directory']);
  });

  test('timeout kills the hook', () => {
    const t0 = Date.now();
    expect(() => runHooks('prestart', [{ path: '/bin/sleep', args: ['sleep', '10'], timeout: 1 }], {}, true)).toThrow('error running prestart hook #0: hook ran past specified timeout of 1s');
    expect(Date.now() - t0).toBeLessThan(5000);
  });
});

describe('time namespace', () => {
  const withTime: NamespacePlan = { create: ['mount', 'time'], join: [] };
  test('offsets text for /proc/self/timens_offsets, and the errors', () => {
    expect(planTimeNs(undefined, hostNs)).toBeNull();
    expect(planTimeNs(undefined, withTime)).toEqual({ offsets: '' });
    expect(planTimeNs({ monotonic: { secs: -5, nanosecs: 7 }, boottime: { secs: 100 } }, withTime)).toEqual({ offsets: 'monotonic -5 7\nboottime 100 0' });
    expect(() => planTimeNs({ boottime: { secs: 1 } }, hostNs)).toThrow('linux.timeOffsets: time offsets need a new time namespace in linux.namespaces');
    expect(() => planTimeNs({ realtime: { secs: 1 } }, withTime)).toThrow('linux.timeOffsets.realtime: unknown clock');
    expect(() => planTimeNs({ boottime: { secs: 1, nanosecs: 1e9 } }, withTime)).toThrow('linux.timeOffsets.boottime.nanosecs: must be 0 to 999999999');
    const joined: NamespacePlan = { create: ['mount'], join: [{ type: 'time', path: '/proc/1/ns/time' }] };
    expect(planTimeNs(undefined, joined)).toBeNull(); // the clone child joins it: nothing for stage 2
    expect(() => planTimeNs({ boottime: { secs: 1 } }, joined)).toThrow('linux.timeOffsets: time offsets need a new time namespace');
  });
});

describe('execCPUAffinity, memoryPolicy, unsupported fields', () => {
  test('cpu/node lists as bitmaps', () => {
    expect([...parseBitList('0-3,9', 2)!]).toEqual([0x0f, 0x02]);
    expect([...parseBitList('', 1)!]).toEqual([0]);
    expect(parseBitList('3-1', 2)).toBeNull();
    expect(parseBitList('16', 2)).toBeNull();
    expect(parseBitList('a', 2)).toBeNull();
  });

  test('execCPUAffinity masks and errors', () => {
    const a = planCpuAffinity({ initial: '0', final: '1-2' })!;
    expect(Buffer.from(a.initial!, 'base64')[0]).toBe(1);
    expect(Buffer.from(a.final!, 'base64')[0]).toBe(6);
    expect(planCpuAffinity({ final: '3' })!.initial).toBeNull();
    expect(() => planCpuAffinity({ final: 'x' })).toThrow('process.execCPUAffinity.final: invalid cpu list "x"');
    expect(() => planCpuAffinity({ initial: '' })).toThrow('process.execCPUAffinity.initial: invalid cpu list ""');
  });

  test('memoryPolicy: mode|flags, node mask, and the rules per mode', () => {
    const p = planMemoryPolicy({ mode: 'MPOL_BIND', nodes: '0,2', flags: ['MPOL_F_STATIC_NODES'] })!;
    expect(p.mode).toBe(2 | (1 << 15));
    expect(Buffer.from(p.nodes!, 'base64')[0]).toBe(5);
    expect(p.maxnode).toBe(1025);
    expect(planMemoryPolicy({ mode: 'MPOL_LOCAL' })).toEqual({ mode: 4, nodes: null, maxnode: 0 });
    expect(() => planMemoryPolicy({ mode: 'MPOL_X' })).toThrow('linux.memoryPolicy.mode: unknown mode "MPOL_X"');
    expect(() => planMemoryPolicy({ mode: 'MPOL_BIND' })).toThrow('linux.memoryPolicy.nodes: MPOL_BIND needs at least one node');
    expect(() => planMemoryPolicy({ mode: 'MPOL_DEFAULT', nodes: '0' })).toThrow('linux.memoryPolicy.nodes: must be empty for MPOL_DEFAULT');
    expect(() => planMemoryPolicy({ mode: 'MPOL_BIND', nodes: '0', flags: ['MPOL_F_X'] })).toThrow('linux.memoryPolicy.flags[0]: unknown flag "MPOL_F_X"');
  });

  test('netDevices and intelRdt are errors, not silently ignored', () => {
    expect(() => checkUnsupported({ netDevices: { eth1: {} } })).toThrow('linux.netDevices:');
    expect(() => checkUnsupported({ intelRdt: { closID: 'x' } })).toThrow('linux.intelRdt:');
    expect(() => checkUnsupported({ netDevices: {} })).not.toThrow();
    expect(() => checkUnsupported(undefined)).not.toThrow();
  });
});
