import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { planSeccomp, resolveProfile, fileBpfCache } from '../../src/plan/seccomp';
import { seccompBeforeCredentials } from '../../src/init/seccomp';
import { runSeccompProgram } from '../../src/plan/bpf-eval';

interface Insn {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

function decode(b64: string): Insn[] {
  const b = Buffer.from(b64, 'base64');
  const out: Insn[] = [];
  for (let off = 0; off < b.length; off += 8) {
    out.push({ code: b.readUInt16LE(off), jt: b.readUInt8(off + 2), jf: b.readUInt8(off + 3), k: b.readUInt32LE(off + 4) });
  }
  return out;
}

const BPF_LD_W_ABS = 0x20;
const BPF_JMP_JEQ_K = 0x15;
const BPF_RET_K = 0x06;
const AUDIT_ARCH_X86_64 = 0xc000003e;
const AUDIT_ARCH_I386 = 0x40000003;
const NR_MKDIR = 83;

function rets(insns: Insn[]): number[] {
  return insns.filter((i) => i.code === BPF_RET_K).map((i) => i.k >>> 0);
}

/** Runs the program as the kernel would (plan/bpf-eval.ts). */
function runFilter(b64: string, nr: number, arch: number, args: bigint[] = []): number {
  return runSeccompProgram(Buffer.from(b64, 'base64'), { nr, arch, args });
}

describe('linux.seccomp -> BPF (libseccomp)', () => {
  test('deny by default: named syscalls allowed, others EPERM, syscalls newer than the profile ENOSYS (as runc)', () => {
    const p = planSeccomp({ defaultAction: 'SCMP_ACT_ERRNO', architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'], syscalls: [{ names: ['read', 'write', 'mkdir'], action: 'SCMP_ACT_ALLOW' }] })!;
    const run = (nr: number, arch = AUDIT_ARCH_X86_64) => runFilter(p.bpf, nr, arch);
    expect(run(0)).toBe(0x7fff0000); // read
    expect(run(NR_MKDIR)).toBe(0x7fff0000);
    expect(run(39)).toBe(0x00050001); // getpid: below mkdir's number, not listed -> default
    expect(run(435)).toBe(0x00050000 | 38); // clone3: newer than the profile -> ENOSYS
    expect(run(437)).toBe(0x00050000 | 38); // openat2
    // i386: mkdir is 39 there, getpid 20; read 3
    expect(run(39, AUDIT_ARCH_I386)).toBe(0x7fff0000);
    expect(run(20, AUDIT_ARCH_I386)).toBe(0x00050001);
    expect(run(435, AUDIT_ARCH_I386)).toBe(0x00050000 | 38);
    // an allow-by-default profile gets no stub: unknown numbers stay allowed
    const allow = planSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }] })!.bpf;
    expect(runFilter(allow, 435, AUDIT_ARCH_X86_64)).toBe(0x7fff0000);
    expect(runFilter(allow, NR_MKDIR, AUDIT_ARCH_X86_64)).toBe(0x00050001);
  });

  test('argument rules evaluated: kill(pid, 0) denied, kill(pid, 15) allowed', () => {
    const prog = planSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['kill'], action: 'SCMP_ACT_ERRNO', errnoRet: 1, args: [{ index: 1, op: 'SCMP_CMP_EQ', value: 0 }] }] })!.bpf;
    expect(runFilter(prog, 62, AUDIT_ARCH_X86_64, [1n, 0n])).toBe(0x00050001);
    expect(runFilter(prog, 62, AUDIT_ARCH_X86_64, [1n, 15n])).toBe(0x7fff0000);
  });

  test('a deny-mkdir profile: checks the arch, compares the syscall number, returns ERRNO(EPERM), else ALLOW', () => {
    const debug: string[] = [];
    const p = planSeccomp(
      { defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64'], syscalls: [{ names: ['mkdir', 'no_such_syscall_xyz'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }] },
      { debug: (m) => debug.push(m) },
    )!;
    const insns = decode(p.bpf);
    expect(Buffer.from(p.bpf, 'base64').length % 8).toBe(0);
    // First: load seccomp_data.arch (offset 4) and compare with AUDIT_ARCH_X86_64.
    expect(insns[0]).toEqual({ code: BPF_LD_W_ABS, jt: 0, jf: 0, k: 4 });
    expect(insns.some((i) => i.code === BPF_JMP_JEQ_K && i.k >>> 0 === AUDIT_ARCH_X86_64)).toBe(true);
    // The syscall number (offset 0) is loaded and compared with mkdir's.
    expect(insns.some((i) => i.code === BPF_LD_W_ABS && i.k === 0)).toBe(true);
    expect(insns.some((i) => i.code === BPF_JMP_JEQ_K && i.k === NR_MKDIR)).toBe(true);
    expect(rets(insns)).toEqual(expect.arrayContaining([0x00050001, 0x7fff0000]));
    expect(debug).toEqual(['seccomp: unknown syscall "no_such_syscall_xyz" in linux.seccomp.syscalls[0], skipped']);
    expect(p.flags).toBe(0);
    expect(p.listener).toBeNull();
  });

  test('defaultErrnoRet and an extra architecture (x86) show up in the program', () => {
    const p = planSeccomp({ defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 38, architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86'], syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW' }] })!;
    const insns = decode(p.bpf);
    expect(rets(insns)).toEqual(expect.arrayContaining([0x00050000 | 38, 0x7fff0000]));
    expect(insns.some((i) => i.code === BPF_JMP_JEQ_K && i.k >>> 0 === AUDIT_ARCH_I386)).toBe(true);
  });

  test('argument comparisons: masked equality compiles to an AND with the mask', () => {
    const p = planSeccomp({
      defaultAction: 'SCMP_ACT_ALLOW',
      syscalls: [{ names: ['personality'], action: 'SCMP_ACT_KILL_PROCESS', args: [{ index: 0, op: 'SCMP_CMP_MASKED_EQ', value: 0xff, valueTwo: 8 }] }],
    })!;
    const insns = decode(p.bpf);
    expect(insns.some((i) => i.code === 0x54 /* BPF_ALU|BPF_AND|BPF_K */ && i.k === 0xff)).toBe(true);
    expect(insns.some((i) => i.code === BPF_JMP_JEQ_K && i.k === 8)).toBe(true);
    expect(rets(insns)).toContain(0x80000000);
  });

  test('two comparisons on one argument become two rules (OR), as runc', () => {
    const r = resolveProfile({
      defaultAction: 'SCMP_ACT_ALLOW',
      syscalls: [{ names: ['kill'], action: 'SCMP_ACT_ERRNO', args: [{ index: 1, op: 'SCMP_CMP_EQ', value: 9 }, { index: 1, op: 'SCMP_CMP_EQ', value: 15 }] }],
    });
    expect(r.rules[0].argSets).toEqual([[{ index: 1, op: 4, a: 9n, b: 0n }], [{ index: 1, op: 4, a: 15n, b: 0n }]]);
    const p = planSeccomp({
      defaultAction: 'SCMP_ACT_ALLOW',
      syscalls: [{ names: ['kill'], action: 'SCMP_ACT_ERRNO', args: [{ index: 1, op: 'SCMP_CMP_EQ', value: 9 }, { index: 1, op: 'SCMP_CMP_EQ', value: 15 }] }],
    })!;
    const ks = decode(p.bpf).filter((i) => i.code === BPF_JMP_JEQ_K).map((i) => i.k);
    expect(ks).toEqual(expect.arrayContaining([9, 15]));
  });

  test('flags, TRACE default errno, rules equal to the default are dropped', () => {
    const r = resolveProfile({ defaultAction: 'SCMP_ACT_TRACE', flags: ['SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW'], syscalls: [] });
    expect(r.defaultAction).toBe(0x7ff00001);
    expect(r.flags).toBe(2 | 4);
    const p = planSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['getpid'], action: 'SCMP_ACT_ALLOW' }] })!;
    expect(rets(decode(p.bpf))).not.toContain(0x00050001);
  });

  test('SCMP_ACT_NOTIFY needs a listenerPath, is refused as default and for sendmsg/write', () => {
    const notify = (extra: object) => ({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_NOTIFY' }], ...extra }) as any;
    expect(() => planSeccomp(notify({}))).toThrow('linux.seccomp.listenerPath: must be set when a rule uses SCMP_ACT_NOTIFY');
    const p = planSeccomp(notify({ listenerPath: '/run/agent.sock', listenerMetadata: 'meta' }))!;
    expect(p.listener).toEqual({ path: '/run/agent.sock', metadata: 'meta' });
    expect(rets(decode(p.bpf))).toContain(0x7fc00000);
    expect(() => planSeccomp({ defaultAction: 'SCMP_ACT_NOTIFY' } as any)).toThrow('linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be used as default action');
    expect(() => planSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', listenerPath: '/x', syscalls: [{ names: ['write'], action: 'SCMP_ACT_NOTIFY' }] } as any)).toThrow(
      'linux.seccomp.syscalls[0].action: SCMP_ACT_NOTIFY cannot be used for the write syscall',
    );
  });

  test('bad names are errors naming the field', () => {
    const bad = (s: any, msg: string) => expect(() => planSeccomp(s)).toThrow(msg);
    bad({ defaultAction: 'SCMP_ACT_FOO' }, 'linux.seccomp.defaultAction: unknown action "SCMP_ACT_FOO"');
    bad({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['a'], action: 'SCMP_ACT_ALLOW' }, { names: ['b'], action: 'SCMP_ACT_FOO' }] }, 'linux.seccomp.syscalls[1].action: unknown action "SCMP_ACT_FOO"');
    bad({ defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_Z80'] }, 'linux.seccomp.architectures[0]: unknown architecture "SCMP_ARCH_Z80"');
    bad({ defaultAction: 'SCMP_ACT_ALLOW', flags: ['SECCOMP_FILTER_FLAG_NOPE'] }, 'linux.seccomp.flags[0]: unknown flag "SECCOMP_FILTER_FLAG_NOPE"');
    bad({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['kill'], action: 'SCMP_ACT_ERRNO', args: [{ index: 6, op: 'SCMP_CMP_EQ', value: 1 }] }] }, 'linux.seccomp.syscalls[0].args[0].index: must be 0 to 5, not 6');
    bad({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['kill'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, op: 'SCMP_CMP_XX', value: 1 }] }] }, 'linux.seccomp.syscalls[0].args[0].op: unknown operator "SCMP_CMP_XX"');
    bad({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: [], action: 'SCMP_ACT_ERRNO' }] }, 'linux.seccomp.syscalls[0].names: must not be empty');
    bad({ defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 70000 }, 'linux.seccomp.defaultAction: errnoRet 70000 is out of range');
  });

  test('no profile, no filter', () => {
    expect(planSeccomp(undefined)).toBeNull();
  });

  test('when the filter must be loaded before the credentials change', () => {
    const sysAdmin = (1n << 21n).toString();
    expect(seccompBeforeCredentials(true, '0', 1000)).toBe(false);
    expect(seccompBeforeCredentials(false, '0', 0)).toBe(true);
    expect(seccompBeforeCredentials(false, sysAdmin, 0)).toBe(false);
    expect(seccompBeforeCredentials(false, null, 0)).toBe(false);
    expect(seccompBeforeCredentials(false, null, 1000)).toBe(true);
  });
});

describe('compiled-program cache', () => {
  test('a second compile of the same profile comes from the cache, with the same notes; a bad entry or an unsafe dir is ignored', () => {
    const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'bpfcache-')), 'c');
    try {
      const prof: any = { defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['read', 'write', 'exit_group', 'no_such_call_q'], action: 'SCMP_ACT_ALLOW' }] };
      const notes1: string[] = [], notes2: string[] = [];
      const a = planSeccomp(prof, { cache: fileBpfCache(dir), debug: (m) => notes1.push(m) })!;
      const files = fs.readdirSync(dir);
      expect(files).toHaveLength(1);
      expect((fs.statSync(dir).mode & 0o777)).toBe(0o700);
      const b = planSeccomp(prof, { cache: fileBpfCache(dir), debug: (m) => notes2.push(m) })!;
      expect(b).toEqual(a);
      expect(notes2).toEqual(notes1);
      expect(notes1).toHaveLength(1);
      // a different profile is a different entry
      planSeccomp({ ...prof, defaultErrnoRet: 13 }, { cache: fileBpfCache(dir) });
      expect(fs.readdirSync(dir)).toHaveLength(2);
      // a corrupt entry is recompiled
      fs.writeFileSync(path.join(dir, files[0]), '{not json');
      expect(planSeccomp(prof, { cache: fileBpfCache(dir) })).toEqual(a);
      // a group/world-writable cache directory is not trusted
      fs.writeFileSync(path.join(dir, files[0]), JSON.stringify({ bpf: 'AAAA', notes: [] }));
      fs.chmodSync(dir, 0o777);
      expect(planSeccomp(prof, { cache: fileBpfCache(dir) })).toEqual(a);
      // at most `max` entries
      fs.chmodSync(dir, 0o700);
      for (let i = 0; i < 4; i++) planSeccomp({ ...prof, defaultErrnoRet: 20 + i }, { cache: fileBpfCache(dir, 3) });
      expect(fs.readdirSync(dir).length).toBeLessThanOrEqual(3);
    } finally {
      fs.rmSync(path.dirname(dir), { recursive: true, force: true });
    }
  });
});
