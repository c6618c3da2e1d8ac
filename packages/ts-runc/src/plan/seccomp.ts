import * as fs from 'fs';
import * as path from 'path';
import type { LinuxSeccomp } from '@tsrt/oci-spec';
import { libseccomp, mkdirAll, SCMP_FLTATR_CTL_NNP, type ScmpRule, type ScmpArgCmp } from '@tsrt/libc';
import { RuntimeError } from '../errors';
import type { PlannedSeccomp } from './types';

/**
 * linux.seccomp -> classic BPF, compiled in the parent through libseccomp (stage 2 only loads
 * the bytes with seccomp(2)). Names are checked here so a bad profile fails create with the
 * field named; syscalls libseccomp does not know are skipped, as runc does.
 */

const EPERM = 1;

/** Action base values (SCMP_ACT_*); ERRNO and TRACE carry a 16-bit data part. */
export const SECCOMP_ACTIONS: Record<string, number> = {
  SCMP_ACT_KILL: 0x00000000,
  SCMP_ACT_KILL_THREAD: 0x00000000,
  SCMP_ACT_KILL_PROCESS: 0x80000000,
  SCMP_ACT_TRAP: 0x00030000,
  SCMP_ACT_ERRNO: 0x00050000,
  SCMP_ACT_TRACE: 0x7ff00000,
  SCMP_ACT_LOG: 0x7ffc0000,
  SCMP_ACT_ALLOW: 0x7fff0000,
  SCMP_ACT_NOTIFY: 0x7fc00000,
};

export const SECCOMP_OPERATORS: Record<string, number> = {
  SCMP_CMP_NE: 1,
  SCMP_CMP_LT: 2,
  SCMP_CMP_LE: 3,
  SCMP_CMP_EQ: 4,
  SCMP_CMP_GE: 5,
  SCMP_CMP_GT: 6,
  SCMP_CMP_MASKED_EQ: 7,
};

/** Spec arch names libseccomp 2.5 knows (its token names are the lower-cased suffixes). */
export const SECCOMP_ARCHS = [
  'SCMP_ARCH_X86', 'SCMP_ARCH_X86_64', 'SCMP_ARCH_X32', 'SCMP_ARCH_ARM', 'SCMP_ARCH_AARCH64',
  'SCMP_ARCH_MIPS', 'SCMP_ARCH_MIPS64', 'SCMP_ARCH_MIPS64N32', 'SCMP_ARCH_MIPSEL', 'SCMP_ARCH_MIPSEL64',
  'SCMP_ARCH_MIPSEL64N32', 'SCMP_ARCH_PPC', 'SCMP_ARCH_PPC64', 'SCMP_ARCH_PPC64LE', 'SCMP_ARCH_S390',
  'SCMP_ARCH_S390X', 'SCMP_ARCH_PARISC', 'SCMP_ARCH_PARISC64', 'SCMP_ARCH_RISCV64',
];

export const SECCOMP_FILTER_FLAG_TSYNC = 1;
export const SECCOMP_FILTER_FLAG_LOG = 2;
export const SECCOMP_FILTER_FLAG_SPEC_ALLOW = 4;
export const SECCOMP_FILTER_FLAG_NEW_LISTENER = 8;
export const SECCOMP_FILTER_FLAG_TSYNC_ESRCH = 16;
export const SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV = 32;

export const SECCOMP_FLAGS: Record<string, number> = {
  SECCOMP_FILTER_FLAG_TSYNC,
  SECCOMP_FILTER_FLAG_LOG,
  SECCOMP_FILTER_FLAG_SPEC_ALLOW,
  SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
};

/** Stage 2 sends the listener fd with sendmsg after the filter is loaded: notifying it would hang. */
const NO_NOTIFY = new Set(['sendmsg', 'write']);

export interface SeccompContext {
  /** Unknown syscall names are reported here (runc logs them at debug level). */
  debug?: (msg: string) => void;
  /** Compiled programs by profile hash: libseccomp takes 40-70 ms for a default-sized profile. */
  cache?: BpfCache;
}

export interface BpfCache {
  get(key: string): string | null;
  put(key: string, value: string): void;
}

/**
 * The runtime's cache: /run/ts-runc-cache/seccomp (tmpfs: gone at reboot), outside any --root
 * so it never looks like a container. TS_RUNC_SECCOMP_CACHE moves it; empty disables it.
 * Only for root: the directory must not be writable by anyone else.
 */
export function defaultBpfCache(): BpfCache | undefined {
  const dir = process.env.TS_RUNC_SECCOMP_CACHE ?? '/run/ts-runc-cache/seccomp';
  if (!dir || process.getuid?.() !== 0) return undefined;
  return fileBpfCache(dir);
}

/** Bump when the compiled output for the same profile changes (stub, attributes, ...). */
const CACHE_FORMAT = 1;

/** Where libseccomp.so.2 lives, with its identity: an upgraded library must not reuse old programs. */
function libseccompIdentity(): string | null {
  for (const dir of ['/lib/x86_64-linux-gnu', '/usr/lib/x86_64-linux-gnu', '/usr/lib64', '/lib64', '/usr/lib', '/lib']) {
    try {
      const real = fs.realpathSync(path.join(dir, 'libseccomp.so.2'));
      const st = fs.statSync(real);
      return `${real}:${st.size}:${st.mtimeMs}`;
    } catch {
      /* next */
    }
  }
  return null;
}

/**
 * A directory of compiled programs (root-only: whoever can write it decides containers'
 * filters). Files are written atomically; at most `max` are kept.
 */
export function fileBpfCache(dir: string, max = 32): BpfCache {
  const safe = () => {
    const st = fs.lstatSync(dir);
    return st.isDirectory() && st.uid === process.getuid?.() && (st.mode & 0o022) === 0;
  };
  return {
    get(key) {
      try {
        if (!safe()) return null;
        return fs.readFileSync(path.join(dir, key), 'utf8');
      } catch {
        return null;
      }
    },
    put(key, value) {
      try {
        mkdirAll(dir, 0o700);
        if (!safe()) return;
        const tmp = path.join(dir, `.${key}.${process.pid}`);
        fs.writeFileSync(tmp, value, { mode: 0o600 });
        fs.renameSync(tmp, path.join(dir, key));
        const names = fs.readdirSync(dir).filter((n) => !n.startsWith('.'));
        if (names.length > max) {
          const byAge = names.map((n) => ({ n, t: fs.statSync(path.join(dir, n)).mtimeMs })).sort((a, b) => a.t - b.t);
          for (const { n } of byAge.slice(0, names.length - max)) fs.rmSync(path.join(dir, n), { force: true });
        }
      } catch {
        /* a cache: never fatal */
      }
    },
  };
}

function action(field: string, name: string, errnoRet: number | undefined): number {
  const base = SECCOMP_ACTIONS[name];
  if (base === undefined) throw new RuntimeError(`${field}: unknown action "${name}"`);
  if (name === 'SCMP_ACT_ERRNO' || name === 'SCMP_ACT_TRACE') {
    const e = errnoRet ?? EPERM;
    if (!Number.isInteger(e) || e < 0 || e > 0xffff) throw new RuntimeError(`${field}: errnoRet ${e} is out of range`);
    return (base | e) >>> 0;
  }
  return base;
}

function datum(field: string, v: unknown): bigint {
  if (typeof v === 'number' && Number.isInteger(v)) return BigInt.asUintN(64, BigInt(v));
  if (typeof v === 'bigint') return BigInt.asUintN(64, v);
  if (typeof v === 'string' && /^-?\d+$/.test(v)) return BigInt.asUintN(64, BigInt(v));
  throw new RuntimeError(`${field}: must be an integer`);
}

/** Name-level checks and the action/operator numbers, without libseccomp (unit-testable). */
export interface ResolvedSyscallRule {
  field: string;
  names: string[];
  action: number;
  isNotify: boolean;
  /** One list of comparisons per libseccomp rule (several when one argument index repeats). */
  argSets: ScmpArgCmp[][];
}

export function resolveProfile(s: LinuxSeccomp): { defaultAction: number; archs: string[]; flags: number; rules: ResolvedSyscallRule[]; notify: boolean } {
  if (s.defaultAction === undefined) throw new RuntimeError('linux.seccomp.defaultAction: must be set');
  if (s.defaultAction === 'SCMP_ACT_NOTIFY') throw new RuntimeError('linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be used as default action');
  const defaultAction = action('linux.seccomp.defaultAction', s.defaultAction, s.defaultErrnoRet);
  const archs = (s.architectures ?? []).map((a, i) => {
    if (!SECCOMP_ARCHS.includes(a)) throw new RuntimeError(`linux.seccomp.architectures[${i}]: unknown architecture "${a}"`);
    return a.slice('SCMP_ARCH_'.length).toLowerCase();
  });
  let flags = 0;
  (s.flags ?? []).forEach((f, i) => {
    const bit = SECCOMP_FLAGS[f];
    if (bit === undefined) throw new RuntimeError(`linux.seccomp.flags[${i}]: unknown flag "${f}"`);
    flags |= bit;
  });
  let notify = false;
  const rules = (s.syscalls ?? []).map((sc, i): ResolvedSyscallRule => {
    const field = `linux.seccomp.syscalls[${i}]`;
    if (!Array.isArray(sc.names) || sc.names.length === 0) throw new RuntimeError(`${field}.names: must not be empty`);
    const act = action(`${field}.action`, sc.action, sc.errnoRet);
    const isNotify = sc.action === 'SCMP_ACT_NOTIFY';
    if (isNotify) {
      notify = true;
      const bad = sc.names.find((n) => NO_NOTIFY.has(n));
      if (bad) throw new RuntimeError(`${field}.action: SCMP_ACT_NOTIFY cannot be used for the ${bad} syscall`);
    }
    const args = (sc.args ?? []).map((a, j): ScmpArgCmp => {
      const af = `${field}.args[${j}]`;
      if (!Number.isInteger(a.index) || a.index < 0 || a.index > 5) throw new RuntimeError(`${af}.index: must be 0 to 5, not ${a.index}`);
      const op = SECCOMP_OPERATORS[a.op];
      if (op === undefined) throw new RuntimeError(`${af}.op: unknown operator "${a.op}"`);
      return { index: a.index, op, a: datum(`${af}.value`, a.value), b: a.valueTwo === undefined ? 0n : datum(`${af}.valueTwo`, a.valueTwo) };
    });
    // libseccomp ANDs the comparisons of one rule and refuses two on the same argument: as
    // runc, a repeated index turns each comparison into its own rule (an OR).
    const repeated = new Set(args.map((a) => a.index)).size !== args.length;
    const argSets = repeated ? args.map((a) => [a]) : [args];
    return { field, names: sc.names, action: act, isNotify, argSets };
  });
  return { defaultAction, archs, flags, rules, notify };
}

const ENOSYS = 38;
const X32_SYSCALL_BIT = 0x40000000;
const SCMP_ARCH_X86_64 = 0xc000003e;
const SCMP_ARCH_X32 = 0x4000003e;

function insn(code: number, jt: number, jf: number, k: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt16LE(code, 0);
  b.writeUInt8(jt, 2);
  b.writeUInt8(jf, 3);
  b.writeUInt32LE(k >>> 0, 4);
  return b;
}
const LD_W_ABS = 0x20, JEQ_K = 0x15, JGT_K = 0x25, JSET_K = 0x45, RET_K = 0x06;

/**
 * As runc: a deny-by-default profile must not turn syscalls newer than it into EPERM (libc
 * falls back from clone3, openat2, ... only on ENOSYS). Prepended to the program: for each
 * arch, a syscall number above the highest one the profile names returns ENOSYS. Classic BPF
 * jumps are relative, so the original program is untouched behind it.
 */
export function enosysStub(maxByArch: Array<[number, number]>): Buffer {
  const parts: Buffer[] = [];
  for (const [arch, max] of maxByArch) {
    if (arch === SCMP_ARCH_X86_64) {
      // x32 syscalls come as x86_64 with bit 30 set: leave them to the filter.
      parts.push(insn(LD_W_ABS, 0, 0, 4), insn(JEQ_K, 0, 4, arch), insn(LD_W_ABS, 0, 0, 0), insn(JSET_K, 2, 0, X32_SYSCALL_BIT));
    } else {
      parts.push(insn(LD_W_ABS, 0, 0, 4), insn(JEQ_K, 0, 3, arch), insn(LD_W_ABS, 0, 0, 0));
    }
    parts.push(insn(JGT_K, 0, 1, max), insn(RET_K, 0, 0, (SECCOMP_ACTIONS.SCMP_ACT_ERRNO | ENOSYS) >>> 0));
  }
  return Buffer.concat(parts);
}

/** Compile linux.seccomp into the plan's filter (BPF bytes, base64). */
export function planSeccomp(s: LinuxSeccomp | undefined, ctx: SeccompContext = {}): PlannedSeccomp | null {
  if (!s) return null;
  const p = resolveProfile(s);
  if (p.notify && !s.listenerPath) throw new RuntimeError('linux.seccomp.listenerPath: must be set when a rule uses SCMP_ACT_NOTIFY');
  if (s.listenerPath && !s.listenerPath.startsWith('/')) throw new RuntimeError(`linux.seccomp.listenerPath: must be an absolute path, not "${s.listenerPath}"`);
  if (p.flags & SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV && !p.notify) {
    throw new RuntimeError('linux.seccomp.flags: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV needs a rule with SCMP_ACT_NOTIFY');
  }
  let key = '';
  const identity = ctx.cache ? libseccompIdentity() : null;
  if (ctx.cache && identity) {
    // crypto costs ~9 ms to load: only configs with seccomp pay for it.
    const { createHash } = require('crypto') as typeof import('crypto');
    key = createHash('sha256').update(JSON.stringify({ f: CACHE_FORMAT, lib: identity, s })).digest('hex');
    const hit = ctx.cache.get(key);
    if (hit) {
      try {
        const c = JSON.parse(hit) as { bpf: string; notes: string[] };
        if (typeof c.bpf === 'string' && Array.isArray(c.notes)) {
          c.notes.forEach((n) => ctx.debug?.(n));
          return { bpf: c.bpf, flags: p.flags, listener: s.listenerPath ? { path: s.listenerPath, metadata: s.listenerMetadata ?? '' } : null };
        }
      } catch {
        /* corrupt entry: compile again */
      }
    }
  }
  const notes: string[] = [];
  const note = (m: string) => {
    notes.push(m);
    ctx.debug?.(m);
  };
  let lib;
  try {
    lib = libseccomp();
  } catch (e) {
    throw new RuntimeError(`linux.seccomp: ${(e as Error).message}`);
  }
  const archs = p.archs.map((a, i) => {
    const t = lib.resolveArch(a);
    if (t === null) throw new RuntimeError(`linux.seccomp.architectures[${i}]: libseccomp does not know "${s.architectures![i]}"`);
    return t;
  });
  const rules: ScmpRule[] = [];
  const owner: string[] = [];
  for (const r of p.rules) {
    // A rule that does what the default does is redundant, and libseccomp refuses it.
    if (r.action === p.defaultAction) continue;
    for (const name of r.names) {
      const nr = lib.resolveSyscall(name);
      if (nr === null) {
        note(`seccomp: unknown syscall "${name}" in ${r.field}, skipped`);
        continue;
      }
      for (const args of r.argSets) {
        rules.push({ action: r.action, syscall: nr, args });
        owner.push(`${r.field} (${name})`);
      }
    }
  }
  let bpf: Buffer;
  try {
    bpf = lib.compile({ defaultAction: p.defaultAction, archs, rules, attrs: [[SCMP_FLTATR_CTL_NNP, 0]] }, (i) => owner[i]);
  } catch (e) {
    throw new RuntimeError(`linux.seccomp: ${(e as Error).message}`);
  }
  const allowing = [SECCOMP_ACTIONS.SCMP_ACT_ALLOW, SECCOMP_ACTIONS.SCMP_ACT_LOG, (SECCOMP_ACTIONS.SCMP_ACT_ERRNO | ENOSYS) >>> 0];
  if (!allowing.includes(p.defaultAction)) {
    const tokens = [...new Set([lib.nativeArch(), ...archs])].filter((t) => t !== SCMP_ARCH_X32);
    const names = [...new Set(p.rules.flatMap((r) => r.names))];
    const maxByArch: Array<[number, number]> = [];
    for (const t of tokens) {
      const nrs = names.map((n) => lib.resolveSyscallArch(t, n)).filter((n): n is number => n !== null);
      if (nrs.length) maxByArch.push([t, Math.max(...nrs)]);
    }
    bpf = Buffer.concat([enosysStub(maxByArch), bpf]);
  }
  if (key) ctx.cache!.put(key, JSON.stringify({ bpf: bpf.toString('base64'), notes }));
  return {
    bpf: bpf.toString('base64'),
    flags: p.flags,
    listener: s.listenerPath ? { path: s.listenerPath, metadata: s.listenerMetadata ?? '' } : null,
  };
}
