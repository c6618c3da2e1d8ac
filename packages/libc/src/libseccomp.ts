import * as fs from 'fs';
import { SysError, errnoName } from './errors';

/**
 * A thin binding to libseccomp.so.2 (loaded on first use, parent process only): resolve names,
 * build a filter and export it as classic BPF. No policy here: ts-runc's plan/seccomp.ts maps
 * config.json onto these numbers.
 */

/** One argument comparison (struct scmp_arg_cmp). op: SCMP_CMP_NE=1 .. SCMP_CMP_MASKED_EQ=7. */
export interface ScmpArgCmp {
  index: number;
  op: number;
  a: bigint;
  b: bigint;
}

export interface ScmpRule {
  action: number;
  /** Syscall number as libseccomp resolved it for the native arch. */
  syscall: number;
  args: ScmpArgCmp[];
}

export interface ScmpFilter {
  defaultAction: number;
  /** Arch tokens (from resolveArch); the native one is always included by libseccomp. */
  archs: number[];
  rules: ScmpRule[];
  /** scmp_filter_attr values to set (attribute number -> value). */
  attrs?: Array<[number, number]>;
}

/** __NR_SCMP_ERROR: what seccomp_syscall_resolve_name returns for an unknown name. */
const NR_SCMP_ERROR = -1;
/** SCMP_FLTATR_CTL_NNP: let libseccomp set no_new_privs on load (we load the BPF ourselves). */
export const SCMP_FLTATR_CTL_NNP = 3;
const MFD_CLOEXEC = 1;

type F = (...args: any[]) => any;

export class Libseccomp {
  private koffi: any;
  private lib: any;
  private libc: any;
  private cache = new Map<string, F>();

  constructor() {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    this.koffi = (require('./koffi') as typeof import('./koffi')).default;
    try {
      this.lib = this.koffi.load('libseccomp.so.2');
    } catch (e) {
      throw new Error(`seccomp: cannot load libseccomp.so.2 (is libseccomp2 installed?): ${(e as Error).message}`);
    }
    this.libc = this.koffi.load('libc.so.6');
  }

  private fn(name: string, ret: string, params: string[], lib = this.lib): F {
    let f = this.cache.get(name);
    if (!f) {
      f = lib.func(name, ret, params) as F;
      this.cache.set(name, f);
    }
    return f;
  }

  /** Library version "major.minor.micro". */
  version(): string {
    const f = this.fn('seccomp_version', 'void *', []);
    const p = f();
    const v = this.koffi.decode(p, 'uint32', 3) as number[];
    return v.join('.');
  }

  /** Syscall number for the native arch, or null when libseccomp does not know the name. */
  resolveSyscall(name: string): number | null {
    const n = this.fn('seccomp_syscall_resolve_name', 'int', ['const char *'])(name) as number;
    return n === NR_SCMP_ERROR ? null : n;
  }

  /** Syscall number for a given arch token, or null when unknown there. */
  resolveSyscallArch(arch: number, name: string): number | null {
    const n = this.fn('seccomp_syscall_resolve_name_arch', 'int', ['uint32', 'const char *'])(arch >>> 0, name) as number;
    return n < 0 ? null : n;
  }

  /** Arch token for a libseccomp arch name ("x86_64", "aarch64", ...), or null. */
  resolveArch(name: string): number | null {
    const t = this.fn('seccomp_arch_resolve_name', 'uint32', ['const char *'])(name) as number;
    return t === 0 ? null : t;
  }

  nativeArch(): number {
    return this.fn('seccomp_arch_native', 'uint32', [])() as number;
  }

  /** Build the filter and return its BPF program (struct sock_filter[] bytes, 8 per instruction). */
  compile(filter: ScmpFilter, describeRule: (i: number) => string = (i) => `rule ${i}`): Buffer {
    const ctx = this.fn('seccomp_init', 'void *', ['uint32'])(filter.defaultAction >>> 0);
    if (!ctx) throw new Error(`seccomp_init: invalid default action 0x${(filter.defaultAction >>> 0).toString(16)}`);
    try {
      const fail = (call: string, what: string, rc: number) => {
        throw new SysError(call, what, -rc);
      };
      for (const arch of filter.archs) {
        const rc = this.fn('seccomp_arch_add', 'int', ['void *', 'uint32'])(ctx, arch >>> 0) as number;
        if (rc < 0 && rc !== -17 /* EEXIST: native or listed twice */) fail('seccomp_arch_add', `0x${arch.toString(16)}`, rc);
      }
      for (const [attr, value] of filter.attrs ?? []) {
        const rc = this.fn('seccomp_attr_set', 'int', ['void *', 'int', 'uint32'])(ctx, attr, value >>> 0) as number;
        if (rc < 0) fail('seccomp_attr_set', String(attr), rc);
      }
      const add = this.fn('seccomp_rule_add_array', 'int', ['void *', 'uint32', 'int', 'uint', 'void *']);
      filter.rules.forEach((r, i) => {
        const buf = Buffer.alloc(Math.max(24 * r.args.length, 24));
        r.args.forEach((c, j) => {
          buf.writeUInt32LE(c.index, j * 24);
          buf.writeUInt32LE(c.op, j * 24 + 4);
          buf.writeBigUInt64LE(BigInt.asUintN(64, c.a), j * 24 + 8);
          buf.writeBigUInt64LE(BigInt.asUintN(64, c.b), j * 24 + 16);
        });
        const rc = add(ctx, r.action >>> 0, r.syscall, r.args.length, r.args.length ? buf : null) as number;
        if (rc < 0) throw new Error(`${describeRule(i)}: seccomp_rule_add: ${errnoName(-rc)}`);
      });
      const memfd = this.fn('memfd_create', 'int', ['const char *', 'uint'], this.libc)('seccomp-bpf', MFD_CLOEXEC) as number;
      if (memfd < 0) throw new SysError('memfd_create', 'seccomp-bpf', this.koffi.errno());
      try {
        const rc = this.fn('seccomp_export_bpf', 'int', ['void *', 'int'])(ctx, memfd) as number;
        if (rc < 0) fail('seccomp_export_bpf', '', rc);
        const size = fs.fstatSync(memfd).size;
        const out = Buffer.alloc(size);
        let off = 0;
        while (off < size) {
          const n = fs.readSync(memfd, out, off, size - off, off);
          if (n === 0) break;
          off += n;
        }
        return out;
      } finally {
        fs.closeSync(memfd);
      }
    } finally {
      this.fn('seccomp_release', 'void', ['void *'])(ctx);
    }
  }
}

let instance: Libseccomp | undefined;
/** The process-wide binding, loaded on first use. */
export function libseccomp(): Libseccomp {
  if (!instance) instance = new Libseccomp();
  return instance;
}
