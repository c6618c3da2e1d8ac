/**
 * cgroup v2 device filtering: a BPF_PROG_TYPE_CGROUP_DEVICE program assembled here from the
 * emulated rule state (pure, unit-tested instruction by instruction) and attached to the
 * cgroup directory with bpf(2).
 *
 * The program reads struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; } where
 * access_type = (access << 16) | type, type 1 = block, 2 = char, access bits 1 = mknod,
 * 2 = read, 4 = write. It returns 1 to allow, 0 to deny.
 */
import type { Sys } from '@tsrt/libc';
import { SysError } from '@tsrt/libc';
import type { DeviceState } from './devices';
import { CgroupError } from './types';

export interface BpfInsn {
  code: number;
  dst: number;
  src: number;
  off: number;
  imm: number;
}

// Opcodes (classes | operations | sources) used by the device filter.
export const OP = {
  LDXW: 0x61, // BPF_LDX | BPF_MEM | BPF_W
  AND32_K: 0x54, // BPF_ALU | BPF_AND | BPF_K
  RSH32_K: 0x74, // BPF_ALU | BPF_RSH | BPF_K
  MOV32_X: 0xbc, // BPF_ALU | BPF_MOV | BPF_X
  MOV32_K: 0xb4, // BPF_ALU | BPF_MOV | BPF_K
  JNE_K: 0x55, // BPF_JMP | BPF_JNE | BPF_K
  JNE_X: 0x5d, // BPF_JMP | BPF_JNE | BPF_X
  EXIT: 0x95, // BPF_JMP | BPF_EXIT
} as const;

export const DEVCG_DEV_BLOCK = 1;
export const DEVCG_DEV_CHAR = 2;
export const DEVCG_ACC_MKNOD = 1;
export const DEVCG_ACC_READ = 2;
export const DEVCG_ACC_WRITE = 4;

const ins = (code: number, dst = 0, src = 0, off = 0, imm = 0): BpfInsn => ({ code, dst, src, off, imm });

export function accessBits(access: string): number {
  return (access.includes('m') ? DEVCG_ACC_MKNOD : 0) | (access.includes('r') ? DEVCG_ACC_READ : 0) | (access.includes('w') ? DEVCG_ACC_WRITE : 0);
}

/**
 * Assemble the filter. Registers: R2 = device type, R3 = requested access, R4 = major,
 * R5 = minor. One block per exception: any mismatch jumps to the next block; a full match
 * returns the exception's verdict (the opposite of the default). The last block returns the
 * default verdict.
 */
export function assembleDeviceFilter(st: DeviceState): BpfInsn[] {
  const prog: BpfInsn[] = [
    ins(OP.LDXW, 2, 1, 0), // r2 = ctx->access_type
    ins(OP.AND32_K, 2, 0, 0, 0xffff), // w2 &= 0xffff  (type)
    ins(OP.LDXW, 3, 1, 0), // r3 = ctx->access_type
    ins(OP.RSH32_K, 3, 0, 0, 16), // w3 >>= 16  (access)
    ins(OP.LDXW, 4, 1, 4), // r4 = ctx->major
    ins(OP.LDXW, 5, 1, 8), // r5 = ctx->minor
  ];
  const verdict = st.defaultAllow ? 0 : 1;
  for (const e of st.exceptions) {
    const block: BpfInsn[] = [];
    // Conditional jumps are filled with their distance to the block's end below.
    const jumps: number[] = [];
    if (e.type !== 'a') {
      jumps.push(block.length);
      block.push(ins(OP.JNE_K, 2, 0, 0, e.type === 'b' ? DEVCG_DEV_BLOCK : DEVCG_DEV_CHAR));
    }
    const bits = accessBits(e.access);
    if (bits !== 7) {
      // Requested access must be a subset of the rule's: (r3 & bits) == r3.
      block.push(ins(OP.MOV32_X, 1, 3));
      block.push(ins(OP.AND32_K, 1, 0, 0, bits));
      jumps.push(block.length);
      block.push(ins(OP.JNE_X, 1, 3));
    }
    if (e.major >= 0) {
      jumps.push(block.length);
      block.push(ins(OP.JNE_K, 4, 0, 0, e.major));
    }
    if (e.minor >= 0) {
      jumps.push(block.length);
      block.push(ins(OP.JNE_K, 5, 0, 0, e.minor));
    }
    block.push(ins(OP.MOV32_K, 0, 0, 0, verdict));
    block.push(ins(OP.EXIT));
    for (const j of jumps) block[j].off = block.length - (j + 1);
    prog.push(...block);
  }
  prog.push(ins(OP.MOV32_K, 0, 0, 0, st.defaultAllow ? 1 : 0));
  prog.push(ins(OP.EXIT));
  return prog;
}

/** The kernel's struct bpf_insn layout: code u8, dst:4 | src:4 u8, off s16, imm s32. */
export function encodeInsns(prog: BpfInsn[]): Buffer {
  const buf = Buffer.alloc(prog.length * 8);
  prog.forEach((p, i) => {
    buf.writeUInt8(p.code, i * 8);
    buf.writeUInt8(((p.src & 0xf) << 4) | (p.dst & 0xf), i * 8 + 1);
    buf.writeInt16LE(p.off, i * 8 + 2);
    buf.writeInt32LE(p.imm | 0, i * 8 + 4);
  });
  return buf;
}

/** Run the program on one request, as the kernel would (for tests: a tiny interpreter). */
export function runDeviceFilter(prog: BpfInsn[], type: 'b' | 'c', major: number, minor: number, access: string): number {
  const ctx = [((accessBits(access) << 16) | (type === 'b' ? DEVCG_DEV_BLOCK : DEVCG_DEV_CHAR)) >>> 0, major >>> 0, minor >>> 0];
  const r = new Array<number>(11).fill(0);
  for (let pc = 0; pc < prog.length; pc++) {
    const p = prog[pc];
    switch (p.code) {
      case OP.LDXW:
        if (p.src !== 1) throw new Error(`pc ${pc}: load from r${p.src}`);
        r[p.dst] = ctx[p.off / 4];
        break;
      case OP.AND32_K:
        r[p.dst] = (r[p.dst] & p.imm) >>> 0;
        break;
      case OP.RSH32_K:
        r[p.dst] = r[p.dst] >>> p.imm;
        break;
      case OP.MOV32_X:
        r[p.dst] = r[p.src] >>> 0;
        break;
      case OP.MOV32_K:
        r[p.dst] = p.imm >>> 0;
        break;
      case OP.JNE_K:
        if (r[p.dst] !== p.imm >>> 0) pc += p.off;
        break;
      case OP.JNE_X:
        if (r[p.dst] !== r[p.src]) pc += p.off;
        break;
      case OP.EXIT:
        return r[0];
      default:
        throw new Error(`pc ${pc}: unknown opcode 0x${p.code.toString(16)}`);
    }
  }
  throw new Error('program fell off the end');
}

// bpf(2) commands and constants.
export const BPF_PROG_LOAD = 5;
export const BPF_PROG_ATTACH = 8;
export const BPF_PROG_DETACH = 9;
export const BPF_PROG_GET_FD_BY_ID = 13;
export const BPF_PROG_QUERY = 16;
export const BPF_PROG_TYPE_CGROUP_DEVICE = 15;
export const BPF_CGROUP_DEVICE = 6;
export const BPF_F_ALLOW_MULTI = 2;
const O_RDONLY = 0;
const O_DIRECTORY = 0o200000;
const O_CLOEXEC = 0o2000000;
const ATTR_SIZE = 128;

/** Load the program; on a verifier rejection the error carries the verifier's log. */
export function loadDeviceProgram(sys: Sys, prog: BpfInsn[]): number {
  const insns = encodeInsns(prog);
  const license = Buffer.from('Apache\0');
  const load = (log: Buffer | null): number => {
    const attr = Buffer.alloc(ATTR_SIZE);
    attr.writeUInt32LE(BPF_PROG_TYPE_CGROUP_DEVICE, 0);
    attr.writeUInt32LE(prog.length, 4);
    const ptrs = [
      { offset: 8, data: insns },
      { offset: 16, data: license },
    ];
    if (log) {
      attr.writeUInt32LE(1, 24); // log_level
      attr.writeUInt32LE(log.length, 28);
      ptrs.push({ offset: 32, data: log });
    }
    Buffer.from('tsrt_devices').copy(attr, 48); // prog_name (15 chars max)
    return sys.bpf(BPF_PROG_LOAD, attr, ptrs);
  };
  try {
    return load(null);
  } catch (e) {
    if (!(e instanceof SysError) || (e.code !== 'EINVAL' && e.code !== 'EACCES')) throw e;
    // Load again with the verifier log on, only to say why.
    const log = Buffer.alloc(1 << 16);
    try {
      sys.close(load(log));
    } catch {
      /* expected */
    }
    const text = log.toString('utf8', 0, Math.max(0, log.indexOf(0))).trim().split('\n').slice(-3).join('; ');
    throw new CgroupError(`loading the device cgroup eBPF program: ${e.message}${text ? ' (' + text + ')' : ''}`);
  }
}

/** Ids of the device programs attached to a cgroup dir and the attach flags they use. */
export function queryDevicePrograms(sys: Sys, dirFd: number): { ids: number[]; flags: number } {
  const attr = Buffer.alloc(ATTR_SIZE);
  attr.writeUInt32LE(dirFd, 0);
  attr.writeUInt32LE(BPF_CGROUP_DEVICE, 4);
  const ids = Buffer.alloc(64 * 4);
  attr.writeUInt32LE(64, 24); // prog_cnt: capacity in, count out
  sys.bpf(BPF_PROG_QUERY, attr, [{ offset: 16, data: ids }]);
  const n = attr.readUInt32LE(24);
  return { ids: Array.from({ length: n }, (_, i) => ids.readUInt32LE(i * 4)), flags: attr.readUInt32LE(12) };
}

/**
 * Attach `prog` to the cgroup directory, replacing whatever device programs were there before
 * without a window with no filter: attach the new one (multi mode) first, then detach the old.
 */
export function attachDeviceFilter(sys: Sys, dir: string, prog: BpfInsn[]): void {
  const progFd = loadDeviceProgram(sys, prog);
  let dirFd = -1;
  try {
    dirFd = sys.open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    const old = queryDevicePrograms(sys, dirFd);
    const attach = (flags: number) => {
      const attr = Buffer.alloc(ATTR_SIZE);
      attr.writeUInt32LE(dirFd, 0);
      attr.writeUInt32LE(progFd, 4);
      attr.writeUInt32LE(BPF_CGROUP_DEVICE, 8);
      attr.writeUInt32LE(flags, 12);
      sys.bpf(BPF_PROG_ATTACH, attr);
    };
    if (old.ids.length > 0 && old.flags !== BPF_F_ALLOW_MULTI) {
      // Someone attached in exclusive mode: attaching with the same flags replaces it.
      attach(old.flags);
      return;
    }
    attach(BPF_F_ALLOW_MULTI);
    for (const id of old.ids) {
      const a = Buffer.alloc(ATTR_SIZE);
      a.writeUInt32LE(id, 0);
      let oldFd: number;
      try {
        oldFd = sys.bpf(BPF_PROG_GET_FD_BY_ID, a);
      } catch (e) {
        if (e instanceof SysError && e.code === 'ENOENT') continue;
        throw e;
      }
      try {
        const d = Buffer.alloc(ATTR_SIZE);
        d.writeUInt32LE(dirFd, 0);
        d.writeUInt32LE(oldFd, 4);
        d.writeUInt32LE(BPF_CGROUP_DEVICE, 8);
        sys.bpf(BPF_PROG_DETACH, d);
      } finally {
        sys.close(oldFd);
      }
    }
  } finally {
    if (dirFd >= 0) sys.close(dirFd);
    sys.close(progFd);
  }
}
