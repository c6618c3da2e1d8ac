import { planSeccomp } from '../../src/plan/seccomp';
import { seccompInProcessRefusal } from '../../src/plan/seccomp-spawn';
import { runSeccompProgram, AUDIT_ARCH_X86_64 } from '../../src/plan/bpf-eval';
import { identityCalls } from '../../src/lifecycle/thread-identity';
import { planProcess } from '../../src/plan/compile';

const X86: any = ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'];
/** What the in-process spawn and the thread around it make under the filter (seccomp-spawn.ts). */
const SPAWN = [
  'gettid', 'futex', 'mmap', 'mprotect', 'madvise', 'write', 'read', 'rt_sigreturn', 'rt_sigprocmask', 'munmap', 'wait4', 'exit',
  'rt_sigaction', 'setsid', 'dup2', 'close', 'close_range', 'fchdir', 'openat', 'execve', 'exit_group', 'clone3',
];
/** What taking the identity makes after an early load (no no_new_privs, caps dropped). */
const IDENTITY = ['prctl', 'setgroups', 'setresgid', 'setresuid', 'capset', 'umask'];

const denyDefault = (allow: string[], extra: any[] = []) =>
  planSeccomp({ defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 1, architectures: X86, syscalls: [{ names: allow, action: 'SCMP_ACT_ALLOW' }, ...extra] })!;
const allowDefault = (rules: any[], flags?: string[]) => planSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', architectures: X86, syscalls: rules, ...(flags ? { flags } : {}) } as any)!;

function proc(edit: (p: any) => void = () => undefined) {
  const p: any = { args: ['true'], cwd: '/', env: [], user: { uid: 0, gid: 0 }, noNewPrivileges: true, capabilities: { bounding: ['CAP_KILL'], effective: ['CAP_KILL'], permitted: ['CAP_KILL'] } };
  edit(p);
  return planProcess(p, { lastCap: 40, warn: () => undefined });
}

/** The gate for a create (setsid) with the identity recorded as the container thread takes it. */
function refusal(s: ReturnType<typeof planSeccomp>, p = proc()) {
  return seccompInProcessRefusal(s!, identityCalls(p, s!), { setsid: true, arch: 'x64' });
}

describe('the BPF interpreter', () => {
  const insn = (code: number, k: number, jt = 0, jf = 0) => {
    const b = Buffer.alloc(8);
    b.writeUInt16LE(code, 0);
    b[2] = jt;
    b[3] = jf;
    b.writeUInt32LE(k >>> 0, 4);
    return b;
  };
  const prog = (...i: Buffer[]) => Buffer.concat(i);
  const call = { nr: 5, arch: AUDIT_ARCH_X86_64, args: [0x1_0000_0007n] };

  test('loads, ALU, scratch memory, TAX/TXA, jumps and RET A as the kernel runs them', () => {
    // A = args[0] low (7); A += 3; M[2] = A; X = 2; A <<= X; if A == 40 jump over; RET 1; A = M[2]; RET A (10)
    const p = prog(insn(0x20, 16), insn(0x04, 3), insn(0x02, 2), insn(0x01, 2), insn(0x6c, 0), insn(0x15, 40, 1, 0), insn(0x06, 1), insn(0x60, 2), insn(0x16, 0));
    expect(runSeccompProgram(p, call)).toBe(10);
    // the high word of an argument, JSET, JA, TXA
    const q = prog(insn(0x20, 20), insn(0x45, 1, 0, 2), insn(0x05, 1), insn(0x06, 99), insn(0x01, 77), insn(0x87, 0), insn(0x16, 0));
    expect(runSeccompProgram(q, call)).toBe(77);
  });

  test('what the kernel would refuse to load is an error, not an answer', () => {
    expect(() => runSeccompProgram(prog(insn(0x20, 64), insn(0x06, 0)), call)).toThrow('load at 64');
    expect(() => runSeccompProgram(prog(insn(0x15, 0, 5, 5), insn(0x06, 0)), call)).toThrow('jump out');
    expect(() => runSeccompProgram(prog(insn(0x20, 0)), call)).toThrow('without a return');
    expect(() => runSeccompProgram(Buffer.alloc(3), call)).toThrow('not a BPF program');
  });
});

describe('a seccomp filter loaded in process (before the posix_spawn)', () => {
  test('allow-by-default profiles that deny what containers should not do are loaded in process', () => {
    expect(refusal(allowDefault([{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }]))).toBeNull();
    // Docker's and podman's answer to clone3: ENOSYS, so that glibc takes clone, allowed without namespace flags
    const docker = denyDefault([...SPAWN.filter((n) => n !== 'clone3'), ...IDENTITY], [
      { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 },
      { names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 0x7e020000, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }] },
    ]);
    expect(refusal(docker)).toBeNull();
  });

  test('each call the spawn makes under the filter is needed: a profile without it takes stage 2', () => {
    for (const name of SPAWN) {
      const r = refusal(denyDefault([...SPAWN, ...IDENTITY].filter((n) => n !== name)));
      expect([name, r]).toEqual([name, expect.stringContaining(name)]);
    }
  });

  test('the pool thread exits under the filter at the end of a run or exec with a terminal proxy', () => {
    expect(refusal(allowDefault([{ names: ['exit'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }]))).toMatch(/allow exit,/);
  });

  test('clone3 refused with EPERM (not ENOSYS), or clone refused after an ENOSYS clone3: stage 2', () => {
    expect(refusal(allowDefault([{ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }]))).toMatch(/clone3/);
    expect(refusal(allowDefault([{ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 }, { names: ['clone'], action: 'SCMP_ACT_ERRNO' }]))).toMatch(/not allow clone,/);
  });

  test('an answer that is not "allow" counts as a refusal: KILL, TRAP, TRACE; LOG allows', () => {
    for (const action of ['SCMP_ACT_KILL', 'SCMP_ACT_KILL_PROCESS', 'SCMP_ACT_TRAP', 'SCMP_ACT_TRACE']) {
      expect(refusal(allowDefault([{ names: ['futex'], action }]))).toMatch(/futex/);
    }
    expect(refusal(allowDefault([{ names: ['futex', 'wait4'], action: 'SCMP_ACT_LOG' }]))).toBeNull();
  });

  test('close_range is asked about as made: from above stdio, the preserved fds and the gate\'s two', () => {
    // closed only from fd 5 on: what a create without --preserve-fds makes
    const from5 = allowDefault([{ names: ['close_range'], action: 'SCMP_ACT_ERRNO', errnoRet: 1, args: [{ index: 0, value: 5, op: 'SCMP_CMP_NE' }] }]);
    expect(refusal(from5)).toBeNull();
    const gate = (s: ReturnType<typeof planSeccomp>, preserveFds: number) => seccompInProcessRefusal(s!, identityCalls(proc(), s!), { setsid: true, preserveFds, arch: 'x64' });
    expect(gate(from5, 2)).toMatch(/allow close_range,/);
    const from7 = allowDefault([{ names: ['close_range'], action: 'SCMP_ACT_ERRNO', errnoRet: 1, args: [{ index: 0, value: 7, op: 'SCMP_CMP_NE' }] }]);
    expect(gate(from7, 2)).toBeNull();
    expect(gate(from7, 0)).toMatch(/allow close_range,/);
  });

  test('a filter that looks at arguments the spawn cannot know in advance (which fds a dup2 touches) takes stage 2', () => {
    // The spawn dup2()s onto 0-2 and onto the gate's fds 3 and 4, and from fds that depend on what is open.
    const noDup2Onto3 = allowDefault([{ names: ['dup2'], action: 'SCMP_ACT_ERRNO', errnoRet: 1, args: [{ index: 1, value: 3, op: 'SCMP_CMP_EQ' }] }]);
    expect(refusal(noDup2Onto3)).toMatch(/looks at arguments of dup2/);
    const noCloseOf40 = allowDefault([{ names: ['close'], action: 'SCMP_ACT_ERRNO', errnoRet: 1, args: [{ index: 0, value: 40, op: 'SCMP_CMP_EQ' }] }]);
    expect(refusal(noCloseOf40)).toMatch(/looks at arguments of close/);
    // a pointer (the exec fifo's name) is where malloc put it
    const openatName = allowDefault([{ names: ['openat'], action: 'SCMP_ACT_ERRNO', errnoRet: 1, args: [{ index: 1, value: 0x1000, op: 'SCMP_CMP_EQ' }] }]);
    expect(refusal(openatName)).toMatch(/looks at arguments of openat /);
    // clone after an ENOSYS clone3: its flags are known, its stack is not
    const cloneStack = allowDefault([{ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 }, { names: ['clone'], action: 'SCMP_ACT_ERRNO', errnoRet: 1, args: [{ index: 1, value: 0x1000, op: 'SCMP_CMP_EQ' }] }]);
    expect(refusal(cloneStack)).toMatch(/looks at arguments of clone /);
    // Arguments of calls the spawn does not make, and those it knows (clone's flags), do not count.
    expect(refusal(allowDefault([{ names: ['personality'], action: 'SCMP_ACT_ERRNO', errnoRet: 1, args: [{ index: 0, value: 8, op: 'SCMP_CMP_NE' }] }]))).toBeNull();
  });

  test('calls made on the main thread before the load are not asked about: prlimit64 and brk (the file actions)', () => {
    expect(refusal(allowDefault([{ names: ['prlimit64', 'brk'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }]))).toBeNull();
  });

  test('arguments count: the spawn\'s own fifo open must be allowed as it is made', () => {
    // O_WRONLY|O_CLOEXEC denied, other opens allowed
    expect(refusal(allowDefault([{ names: ['openat'], action: 'SCMP_ACT_ERRNO', args: [{ index: 2, value: 1, valueTwo: 1, op: 'SCMP_CMP_MASKED_EQ' }] }]))).toMatch(/openat/);
    expect(refusal(allowDefault([{ names: ['openat'], action: 'SCMP_ACT_ERRNO', args: [{ index: 2, value: 0o100, valueTwo: 0o100, op: 'SCMP_CMP_MASKED_EQ' }] }]))).toBeNull();
  });

  test('the credentials are asked about only when they change under the filter (an early load)', () => {
    const noSetresuid = denyDefault([...SPAWN, ...IDENTITY].filter((n) => n !== 'setresuid'));
    // no_new_privs: the filter goes last, after setresuid
    expect(refusal(noSetresuid, proc())).toBeNull();
    // without no_new_privs and without CAP_SYS_ADMIN it goes first, and setresuid runs under it
    expect(refusal(noSetresuid, proc((p) => (p.noNewPrivileges = false)))).toMatch(/setresuid/);
    const calls = identityCalls(proc((p) => (p.noNewPrivileges = false)), noSetresuid);
    expect(calls[0]).toMatchObject({ call: 'seccomp', nr: 317 });
    expect(calls.map((c) => c.nr)).not.toContain(-1);
    expect(calls.find((c) => c.call === 'setresuid')).toMatchObject({ nr: 117, args: [0n, 0n, 0n] });
    expect(calls.find((c) => c.call === 'setresuid')?.unknown).toBeUndefined();
    // setgroups(n, list) and capset(header, data) pass pointers: recorded as not known in advance
    expect(calls.find((c) => c.call === 'setgroups')).toMatchObject({ nr: 116, unknown: [1] });
    expect(calls.find((c) => c.call === 'capset')).toMatchObject({ nr: 126, unknown: [0, 1] });
    expect(identityCalls(proc(), noSetresuid).pop()).toMatchObject({ call: 'seccomp' });
  });

  test('what binds more than the container thread or needs stage 2\'s state stays there', () => {
    expect(refusal(allowDefault([{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }], ['SECCOMP_FILTER_FLAG_TSYNC']))).toMatch(/TSYNC/);
    const notify = planSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', listenerPath: '/run/agent.sock', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_NOTIFY' }] } as any)!;
    expect(refusal(notify)).toMatch(/notify/);
    const s = allowDefault([{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }]);
    expect(seccompInProcessRefusal(s, identityCalls(proc(), s), { setsid: true, arch: 'arm64' })).toMatch(/x86_64/);
    expect(seccompInProcessRefusal(s, [], { setsid: true, arch: 'x64' })).toMatch(/not loaded/);
  });
});

describe('with a terminal: the spawn\'s child takes fd 0 as its controlling terminal (through our /proc) under the filter', () => {
  /** A create with a terminal (setsid and ctty), or without one. */
  const gate = (s: ReturnType<typeof planSeccomp>, ctty: boolean) => seccompInProcessRefusal(s!, identityCalls(proc(), s!), { setsid: true, ctty, arch: 'x64' });
  /** openat allowed only as the exec fifo's is made (O_WRONLY|O_CLOEXEC). */
  const fifoOpenOnly = { names: ['openat'], action: 'SCMP_ACT_ALLOW', args: [{ index: 2, value: 0x80001, op: 'SCMP_CMP_EQ' }] };

  test('what the spawn makes without a terminal is enough for the profile to be asked about the terminal\'s calls; no ioctl (TIOCSCTTY) is made', () => {
    expect(gate(denyDefault([...SPAWN, ...IDENTITY]), true)).toBeNull();
    expect(gate(allowDefault([{ names: ['ioctl'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }]), true)).toBeNull();
  });

  test('each call of the terminal\'s file actions is needed: a profile without it takes stage 2', () => {
    // fchdir to /proc, close of the target fd, openat of self/fd/0, and the dup2 and close of a
    // returned fd that is not the target: fchdir, close and dup2 are the fd mapping's and the
    // gate's calls too; the re-open is told apart by its flags.
    for (const name of ['fchdir', 'close', 'openat', 'dup2']) {
      const prof = denyDefault([...SPAWN, ...IDENTITY].filter((n) => n !== name), name === 'openat' ? [fifoOpenOnly] : []);
      expect([name, gate(prof, true)]).toEqual([name, expect.stringContaining(`allow ${name},`)]);
      if (name === 'openat') expect(gate(prof, false)).toBeNull();
    }
  });

  test('the re-open is asked about as made: O_RDWR, without O_NOCTTY', () => {
    const rdwr = allowDefault([{ names: ['openat'], action: 'SCMP_ACT_ERRNO', errnoRet: 1, args: [{ index: 2, value: 3, valueTwo: 2, op: 'SCMP_CMP_MASKED_EQ' }] }]);
    expect(gate(rdwr, true)).toMatch(/allow openat,/);
    expect(gate(rdwr, false)).toBeNull();
    // O_NOCTTY (0o400) would keep it from becoming the controlling terminal: the open is made without it
    const noctty = allowDefault([{ names: ['openat'], action: 'SCMP_ACT_ERRNO', errnoRet: 1, args: [{ index: 2, value: 0o400, valueTwo: 0o400, op: 'SCMP_CMP_MASKED_EQ' }] }]);
    expect(gate(noctty, true)).toBeNull();
  });

  test('an exec spawn makes a session only with a terminal', () => {
    const noSetsid = denyDefault([...SPAWN, ...IDENTITY].filter((n) => n !== 'setsid'));
    const exec = (ctty: boolean) => seccompInProcessRefusal(noSetsid, identityCalls(proc(), noSetsid), { setsid: ctty, ctty, arch: 'x64' });
    expect(exec(false)).toBeNull();
    expect(exec(true)).toMatch(/allow setsid,/);
  });
});
