// A classic-BPF interpreter for seccomp programs (struct sock_filter[], as the kernel runs them
// on struct seccomp_data): lets plan/seccomp-spawn.ts ask what a compiled filter answers to a
// given call without loading it. Pure: unit-tested against libseccomp's output.

/** The call a filter sees: struct seccomp_data. */
export interface SeccompCall {
  nr: number;
  /** AUDIT_ARCH_* of the calling convention. */
  arch: number;
  args: readonly bigint[];
  ip?: bigint;
  /** Filled, when given, with the index of each argument the program read (-1: the ip). */
  read?: Set<number>;
}

export const AUDIT_ARCH_X86_64 = 0xc000003e;

const BPF_LD = 0x00, BPF_LDX = 0x01, BPF_ST = 0x02, BPF_STX = 0x03, BPF_ALU = 0x04, BPF_JMP = 0x05, BPF_RET = 0x06, BPF_MISC = 0x07;
const BPF_W = 0x00;
const BPF_IMM = 0x00, BPF_ABS = 0x20, BPF_MEM = 0x60, BPF_LEN = 0x80;
const BPF_K = 0x00, BPF_X = 0x08, BPF_A = 0x10;
const SECCOMP_DATA_LEN = 64;

/** The 32-bit word at `off` of struct seccomp_data (little-endian, as on x86_64 and aarch64). */
function word(c: SeccompCall, off: number): number {
  if (off === 0) return c.nr >>> 0;
  if (off === 4) return c.arch >>> 0;
  c.read?.add(off < 16 ? -1 : (off - 16) >> 3);
  const v = off < 16 ? (c.ip ?? 0n) : (c.args[(off - 16) >> 3] ?? 0n);
  return Number((off & 4 ? v >> 32n : v) & 0xffffffffn);
}

function alu(op: number, a: number, v: number): number {
  switch (op) {
    case 0x00: return (a + v) >>> 0;
    case 0x10: return (a - v) >>> 0;
    case 0x20: return Math.imul(a, v) >>> 0;
    case 0x30: if (v === 0) throw new Error('division by zero'); return Math.floor(a / v) >>> 0;
    case 0x40: return (a | v) >>> 0;
    case 0x50: return (a & v) >>> 0;
    case 0x60: return v >= 32 ? 0 : (a << v) >>> 0;
    case 0x70: return v >= 32 ? 0 : a >>> v;
    case 0x80: return -a >>> 0;
    case 0x90: if (v === 0) throw new Error('division by zero'); return (a % v) >>> 0;
    case 0xa0: return (a ^ v) >>> 0;
    default: throw new Error(`unknown ALU op 0x${op.toString(16)}`);
  }
}

/**
 * What `prog` returns for `call` (SECCOMP_RET_* with its data). Throws on what the kernel
 * would have refused to load (unknown opcodes, out-of-range loads or jumps).
 */
export function runSeccompProgram(prog: Buffer, call: SeccompCall): number {
  const n = prog.length / 8;
  if (!Number.isInteger(n) || n === 0) throw new Error('not a BPF program');
  const mem = new Uint32Array(16);
  let a = 0, x = 0;
  for (let pc = 0; pc < n; pc++) {
    const code = prog.readUInt16LE(pc * 8), jt = prog[pc * 8 + 2], jf = prog[pc * 8 + 3], k = prog.readUInt32LE(pc * 8 + 4);
    switch (code & 0x07) {
      case BPF_LD:
        if ((code & 0x18) !== BPF_W) throw new Error('only word loads');
        if ((code & 0xe0) === BPF_ABS) {
          if (k >= SECCOMP_DATA_LEN || k & 3) throw new Error(`load at ${k}`);
          a = word(call, k);
        } else if ((code & 0xe0) === BPF_IMM) a = k;
        else if ((code & 0xe0) === BPF_MEM) a = mem[k & 15];
        else if ((code & 0xe0) === BPF_LEN) a = SECCOMP_DATA_LEN;
        else throw new Error(`unknown load 0x${code.toString(16)}`);
        break;
      case BPF_LDX:
        if ((code & 0xe0) === BPF_IMM) x = k;
        else if ((code & 0xe0) === BPF_MEM) x = mem[k & 15];
        else if ((code & 0xe0) === BPF_LEN) x = SECCOMP_DATA_LEN;
        else throw new Error(`unknown load 0x${code.toString(16)}`);
        break;
      case BPF_ST: mem[k & 15] = a; break;
      case BPF_STX: mem[k & 15] = x; break;
      case BPF_ALU: a = alu(code & 0xf0, a, code & BPF_X ? x : k); break;
      case BPF_JMP: {
        const op = code & 0xf0;
        if (op === 0x00) {
          pc += k;
        } else {
          const v = code & BPF_X ? x : k;
          const taken = op === 0x10 ? a === v : op === 0x20 ? a > v : op === 0x30 ? a >= v : op === 0x40 ? (a & v) !== 0 : null;
          if (taken === null) throw new Error(`unknown jump 0x${code.toString(16)}`);
          pc += taken ? jt : jf;
        }
        if (pc + 1 >= n) throw new Error('jump out of the program');
        break;
      }
      case BPF_RET: return ((code & 0x18) === BPF_A ? a : k) >>> 0;
      case BPF_MISC: if (code & 0x80) a = x; else x = a; break;
    }
  }
  throw new Error('the program ends without a return');
}

const SECCOMP_RET_ACTION_FULL = 0xffff0000;
export const SECCOMP_RET_ALLOW = 0x7fff0000;
export const SECCOMP_RET_LOG = 0x7ffc0000;
export const SECCOMP_RET_ERRNO = 0x00050000;

/** The action part of a filter's answer, and its data (the errno of SECCOMP_RET_ERRNO). */
export function actionOf(ret: number): { action: number; data: number } {
  return { action: (ret & SECCOMP_RET_ACTION_FULL) >>> 0, data: ret & 0xffff };
}
