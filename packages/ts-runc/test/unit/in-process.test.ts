import { compile } from '../../src/plan/compile';
import { defaultSpec } from '../../src/lifecycle/spec';
import { inProcessRefusal, execInProcessRefusal, type InProcessHost } from '../../src/plan/in-process';
import { planProcess } from '../../src/plan/compile';
import { planSeccomp } from '../../src/plan/seccomp';
import { identityCalls } from '../../src/lifecycle/thread-identity';

function compiled(edit?: (s: any) => void) {
  const s: any = defaultSpec(false);
  s.process.terminal = false;
  edit?.(s);
  return compile(s, { bundle: '/b', noPivot: false, lastCap: 40, warn: () => undefined, isDir: () => true });
}
const host: InProcessHost = { env: { UV_THREADPOOL_SIZE: '1' }, euid: 0, exeReadOnly: true };
const refusal = (edit?: (s: any) => void, h: Partial<InProcessHost> = {}) => {
  const { plan, namespaces } = compiled(edit);
  return inProcessRefusal(plan, namespaces, { ...host, ...h });
};

describe('which creates run in one process (plan/in-process.ts)', () => {
  test('the default config does', () => {
    expect(refusal()).toBeNull();
  });

  test('the host: the switch, the pool size, root, and a read-only node (CVE-2019-5736 class)', () => {
    expect(refusal(undefined, { env: { UV_THREADPOOL_SIZE: '1', TS_RUNC_IN_PROCESS: '0' } })).toBe('TS_RUNC_IN_PROCESS=0');
    expect(refusal(undefined, { env: {} })).toMatch(/UV_THREADPOOL_SIZE/);
    expect(refusal(undefined, { euid: 1000 })).toBe('not root');
    expect(refusal(undefined, { exeReadOnly: false })).toMatch(/writable/);
  });

  test('namespaces: a new mount namespace and a pid namespace; no user or time namespace', () => {
    const without = (t: string) => (s: any) => (s.linux.namespaces = s.linux.namespaces.filter((n: any) => n.type !== t));
    expect(refusal(without('mount'))).toBe('no new mount namespace');
    expect(refusal(without('pid'))).toBe('no pid namespace');
    expect(refusal((s) => s.linux.namespaces.push({ type: 'time' }))).toMatch(/time/);
    // Joined by path is served: a pod's network, uts, ipc and pid.
    expect(refusal((s) => (s.linux.namespaces = s.linux.namespaces.map((n: any) => (n.type === 'network' || n.type === 'pid' ? { ...n, path: '/proc/1/ns/' + n.type } : n))))).toBeNull();
  });

  test('what runs from the init itself or binds the spawn: hooks before start, seccomp', () => {
    expect(refusal((s) => (s.hooks = { createContainer: [{ path: '/bin/true' }] }))).toBe('hooks before start');
    expect(refusal((s) => (s.hooks = { startContainer: [{ path: '/bin/true' }] }))).toBe('hooks before start');
    expect(refusal((s) => (s.hooks = { prestart: [{ path: '/bin/true' }] }))).toBe('hooks before start');
    expect(refusal((s) => (s.hooks = { poststart: [{ path: '/bin/true' }], poststop: [{ path: '/bin/true' }] }))).toBeNull();
    expect(refusal((s) => (s.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }] }))).toBe('seccomp');
  });

  test('a terminal is served, unless its devpts denies the process its own slave (it opens it again for its controlling terminal)', () => {
    expect(refusal((s) => (s.process.terminal = true))).toBeNull();
    const devptsMode = (mode: string) => (s: any) => {
      s.process.terminal = true;
      const pts = s.mounts.find((m: any) => m.type === 'devpts');
      pts.options = [...pts.options.filter((o: string) => !o.startsWith('mode=')), mode];
    };
    expect(refusal(devptsMode('mode=0600'))).toBeNull();
    expect(refusal(devptsMode('mode=620'))).toBeNull();
    expect(refusal(devptsMode('mode=0400'))).toBe('terminal on a devpts with mode=0400');
    expect(refusal(devptsMode('mode=0000'))).toBe('terminal on a devpts with mode=0000');
    // Without a terminal the slave is never opened.
    expect(refusal((s) => (s.mounts.find((m: any) => m.type === 'devpts').options.push('mode=0000')))).toBeNull();
  });

  test('rlimits the CLI process could not live with go to stage 2', () => {
    expect(refusal((s) => (s.process.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 1024 }, { type: 'RLIMIT_CORE', soft: 0, hard: 0 }]))).toBeNull();
    expect(refusal((s) => (s.process.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 16, hard: 16 }]))).toMatch(/NOFILE below/);
    for (const type of ['RLIMIT_AS', 'RLIMIT_CPU', 'RLIMIT_STACK', 'RLIMIT_FSIZE', 'RLIMIT_DATA']) {
      expect(refusal((s) => (s.process.rlimits = [{ type, soft: 1, hard: 1 }]))).toBe(`rlimit ${type}`);
    }
    // NPROC binds no root clone (podman sets it on every container); another uid's spawn it could fail
    const nproc = [{ type: 'RLIMIT_NPROC', soft: 4194304, hard: 4194304 }];
    expect(refusal((s) => (s.process.rlimits = nproc))).toBeNull();
    expect(refusal((s) => ((s.process.rlimits = nproc), (s.process.user = { uid: 1000, gid: 1000 })))).toBe('rlimit RLIMIT_NPROC');
  });

  test('nothing may be mounted or made below /proc before it is mounted, nor the cwd be there', () => {
    expect(refusal((s) => s.mounts.push({ destination: '/proc/x', type: 'tmpfs', source: 'tmpfs' }))).toMatch(/below \/proc/);
    expect(refusal((s) => (s.linux.devices = [{ path: '/proc/d', type: 'c', major: 1, minor: 3 }]))).toMatch(/below \/proc/);
    expect(refusal((s) => (s.process.cwd = '/proc/1'))).toBe('cwd below /proc');
    // Not a prefix match: /process is elsewhere.
    expect(refusal((s) => s.mounts.push({ destination: '/process', type: 'tmpfs', source: 'tmpfs' }))).toBeNull();
  });

  test('a cgroup mount without a cgroup namespace is made in process too (it names the container\'s cgroup dirs)', () => {
    expect(refusal((s) => (s.linux.namespaces = s.linux.namespaces.filter((n: any) => n.type !== 'cgroup')))).toBeNull();
  });
});

describe('which execs run in one process', () => {
  const ns = { mount: '/proc/9/ns/mnt', pid: '/proc/9/ns/pid', network: '/proc/9/ns/net' };
  const p = (edit: (p: any) => void = () => undefined) => {
    const proc: any = { args: ['true'], cwd: '/', env: [], user: { uid: 0, gid: 0 } };
    edit(proc);
    return planProcess(proc, { lastCap: 40, warn: () => undefined });
  };
  test('a plain process does, with a terminal too; seccomp, user or time namespaces, unsafe rlimits do not', () => {
    expect(execInProcessRefusal(p(), null, ns, host)).toBeNull();
    expect(execInProcessRefusal(null, null, ns, host)).toBeNull();
    // A filter without the identity calls to check it against (see seccomp-spawn.test.ts).
    expect(execInProcessRefusal(p(), { bpf: '', flags: 0, listener: null }, ns, host)).toBe('seccomp');
    const tty = p((x) => (x.terminal = true));
    expect(execInProcessRefusal(tty, null, ns, host, [['nosuid', 'newinstance', 'mode=0620']])).toBeNull();
    expect(execInProcessRefusal(tty, null, ns, host, [['mode=0200']])).toBe('terminal on a devpts with mode=0200');
    expect(execInProcessRefusal(p(), null, ns, host, [['mode=0200']])).toBeNull();
    // With a terminal and a filter, its spawn (setsid, ctty) is what the filter is asked about.
    const noSetsid = planSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64'], syscalls: [{ names: ['setsid'], action: 'SCMP_ACT_ERRNO' }] } as any)!;
    expect(execInProcessRefusal(p(), noSetsid, ns, host, [], () => identityCalls(p(), noSetsid))).toBeNull();
    expect(execInProcessRefusal(tty, noSetsid, ns, host, [], () => identityCalls(tty, noSetsid))).toMatch(/allow setsid,/);
    expect(execInProcessRefusal(null, null, { ...ns, user: '/proc/9/ns/user' }, host)).toMatch(/user/);
    expect(execInProcessRefusal(null, null, { pid: ns.pid }, host)).toMatch(/mount/);
    expect(execInProcessRefusal(p((x) => (x.rlimits = [{ type: 'RLIMIT_AS', soft: 1, hard: 1 }])), null, ns, host)).toBe('rlimit RLIMIT_AS');
  });
});
