import * as fs from 'fs';
import koffi from './koffi';
import { SysError } from './errors';
import type { CloneExecRequest } from './sys';

const SYS = { read: 0, write: 1, close: 3, madvise: 28, clone: 56, execve: 59, kill: 62, setresuid: 117, setresgid: 119, exit_group: 231, setns: 308, pipe2: 293, poll: 7, wait4: 61 };
const SIGCHLD = 17;
const MADV_DOFORK = 11;
const O_CLOEXEC = 0o2000000;

type Lib = ReturnType<typeof koffi.load>;

/** Why a clone child gave up before execve: the byte it writes to the exec pipe, then exits. */
const WHY = ['setns into the user namespace failed', 'setns into the time namespace failed', 'execve failed'];

/** NUL-terminated strings and a NULL-terminated pointer array, in C memory. */
function cStringArray(strings: string[]): { addr: bigint; keep: unknown[] } {
  const keep: unknown[] = [];
  const ptrs = koffi.alloc('uint64', strings.length + 1);
  keep.push(ptrs);
  const pv = Buffer.from(koffi.view(ptrs, 8 * (strings.length + 1)));
  strings.forEach((s, i) => {
    const bytes = Buffer.from(s + '\0');
    const mem = koffi.alloc('uint8', bytes.length);
    keep.push(mem);
    bytes.copy(Buffer.from(koffi.view(mem, bytes.length)));
    pv.writeBigUInt64LE(koffi.address(mem), i * 8);
  });
  pv.writeBigUInt64LE(0n, strings.length * 8);
  return { addr: koffi.address(ptrs), keep };
}

/** User space's top on x86-64 (47 bits; a 57-bit one only maps above it when asked to). */
const USER_TOP = 1n << 47n;
const ENOMEM = 12;

/**
 * V8 marks its heap's mappings MADV_DONTFORK, and a fork child that runs even one line of
 * JavaScript needs them. Undone over all of user space, in a few madvise calls around the
 * kernel's special mappings (which refuse it): a mapping V8 makes after a per-mapping pass and
 * before the clone (a new heap page) stayed out of the child, which crashed on it (seen: a CLI
 * whose heap grew differently cloned a child that faulted over and over until the timeout).
 * Holes in a range only make madvise say ENOMEM. Any other refusal: mapping by mapping.
 */
export function undoDontFork(syscall: (...a: unknown[]) => number | bigint, errno: () => number, maps = fs.readFileSync('/proc/self/maps', 'utf8')): void {
  const all = maps.split('\n').filter(Boolean).map((line) => {
    const [a, b] = line.split(' ')[0].split('-').map((h) => BigInt('0x' + h));
    return { a, b, special: /\[(vvar|vvar_vclock|vdso|vsyscall)\]/.test(line) };
  });
  const specials = all.filter((m) => m.special && m.a < USER_TOP).sort((x, y) => (x.a < y.a ? -1 : 1));
  const ranges: Array<[bigint, bigint]> = [];
  let from = 0n;
  for (const m of specials) {
    if (m.a > from) ranges.push([from, m.a]);
    if (m.b > from) from = m.b;
  }
  if (from < USER_TOP) ranges.push([from, USER_TOP]);
  let refused = false;
  for (const [a, b] of ranges) {
    if (Number(syscall(SYS.madvise, a, b - a, MADV_DOFORK, 0, 0)) < 0 && errno() !== ENOMEM) refused = true;
  }
  if (!refused) return;
  for (const m of all) if (!m.special) syscall(SYS.madvise, m.a, m.b - m.a, MADV_DOFORK, 0, 0);
}

function setCloexec(lib: Lib, fds: number[], on: boolean): void {
  if (!fds.length) return;
  const fcntl = lib.func('fcntl', 'int', ['int', 'int', 'long']);
  for (const fd of fds) fcntl(fd, 2 /* F_SETFD */, on ? 1 : 0);
}

export function cloneExec(lib: Lib, req: CloneExecRequest): number {
  const syscall = lib.func('syscall', 'long', ['long', 'long', 'long', 'long', 'long', 'long']);
  const errno = () => koffi.errno();
  const path = cStringArray([req.path]);
  const argv = cStringArray(req.argv);
  const env = cStringArray(req.env);
  const pathAddr = koffi.address(path.keep[1]); // the string itself (keep[0] is the pointer array)
  const byte = koffi.alloc('uint8', 8);
  const byteAddr = koffi.address(byte);
  const fds = koffi.alloc('int', 2);
  const fdsAddr = koffi.address(fds);
  const fdView = () => Buffer.from(koffi.view(fds, 8));
  const why = koffi.alloc('uint8', WHY.length + 1); // WHY indexes, then the byte the parent reads
  Buffer.from(koffi.view(why, WHY.length)).set(WHY.map((_, i) => i));
  const [whyUser, whyTime, whyExec, gotAddr] = [0n, 1n, 2n, 3n].map((i) => koffi.address(why) + i);
  try {
    for (let attempt = 1; ; attempt++) {
      // go: the child waits on it; exec: close-on-exec, so its EOF tells us execve happened.
      if (Number(syscall(SYS.pipe2, fdsAddr, O_CLOEXEC, 0, 0, 0)) < 0) throw new SysError('pipe2', undefined, errno());
      const [goR, goW] = [fdView().readInt32LE(0), fdView().readInt32LE(4)];
      if (Number(syscall(SYS.pipe2, fdsAddr, O_CLOEXEC, 0, 0, 0)) < 0) throw new SysError('pipe2', undefined, errno());
      const [exR, exW] = [fdView().readInt32LE(0), fdView().readInt32LE(4)];
      const userFd = req.userNsFd ?? -1;
      const timeFd = req.timeNsFd ?? -1;
      setCloexec(lib, req.keepFds, false);
      const cloneFlags = BigInt(req.flags | SIGCHLD);
      // Last before the clone: JavaScript that runs in between may map a new heap page.
      undoDontFork(syscall, errno);
      const pid = Number(syscall(SYS.clone, cloneFlags, 0, 0, 0, 0));
      if (pid === 0) {
        // The child: a copy of this one thread. Only raw syscalls with ready arguments from here.
        syscall(SYS.read, goR, byteAddr, 1, 0, 0);
        if (userFd >= 0 && Number(syscall(SYS.setns, userFd, 0x10000000, 0, 0, 0)) < 0) {
          syscall(SYS.write, exW, whyUser, 1, 0, 0);
          syscall(SYS.exit_group, 125, 0, 0, 0, 0);
        }
        if (timeFd >= 0 && Number(syscall(SYS.setns, timeFd, 0x80 /* CLONE_NEWTIME */, 0, 0, 0)) < 0) {
          syscall(SYS.write, exW, whyTime, 1, 0, 0);
          syscall(SYS.exit_group, 125, 0, 0, 0, 0);
        }
        syscall(SYS.setresgid, 0, 0, 0, 0, 0);
        syscall(SYS.setresuid, 0, 0, 0, 0, 0);
        syscall(SYS.execve, pathAddr, argv.addr, env.addr, 0, 0);
        syscall(SYS.write, exW, whyExec, 1, 0, 0);
        syscall(SYS.exit_group, 127, 0, 0, 0, 0);
      }
      const cloneErr = errno();
      setCloexec(lib, req.keepFds, true);
      syscall(SYS.close, goR, 0, 0, 0, 0);
      syscall(SYS.close, exW, 0, 0, 0, 0);
      if (pid < 0) {
        syscall(SYS.close, goW, 0, 0, 0, 0);
        syscall(SYS.close, exR, 0, 0, 0, 0);
        throw new SysError('clone', req.path, cloneErr);
      }
      let ok = false;
      try {
        req.beforeRelease(pid);
        syscall(SYS.write, goW, byteAddr, 1, 0, 0);
        // Wait for the exec pipe to close (execve done) or time out.
        const pfd = Buffer.alloc(8);
        pfd.writeInt32LE(exR, 0);
        pfd.writeInt16LE(0x1 | 0x10, 4);
        const pollFn = lib.func('poll', 'int', ['void *', 'uint64', 'int']);
        ok = pollFn(pfd, 1, req.timeoutMs) > 0;
        // EOF: execve closed the pipe. A byte: the child gave up, and says why.
        if (ok && Number(syscall(SYS.read, exR, gotAddr, 1, 0, 0)) === 1) {
          syscall(SYS.wait4, pid, 0, 0, 0, 0);
          const i = Buffer.from(koffi.view(why, WHY.length + 1))[WHY.length];
          throw new Error(`clone: ${WHY[i] ?? 'the child failed'} (${req.path})`);
        }
      } finally {
        syscall(SYS.close, goW, 0, 0, 0, 0);
        syscall(SYS.close, exR, 0, 0, 0, 0);
        if (!ok) {
          syscall(SYS.kill, pid, 9, 0, 0, 0);
          syscall(SYS.wait4, pid, 0, 0, 0, 0);
        }
      }
      if (ok) return pid;
      if (attempt >= 3) throw new Error(`clone: the child did not reach execve within ${req.timeoutMs} ms (3 attempts)`);
    }
  } finally {
    for (const m of [...path.keep, ...argv.keep, ...env.keep, byte, fds, why]) koffi.free(m);
  }
}
