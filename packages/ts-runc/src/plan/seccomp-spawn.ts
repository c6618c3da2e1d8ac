// Whether the in-process paths may load a container's seccomp filter on the container thread.
// Stage 2 loads it as its last step before execve. In process it goes on libuv's pool thread
// before the posix_spawn, so the filter also binds what that thread does afterwards and
// everything the spawn's child does before its execve. The filter is asked about each of
// those calls here; any answer other than "allow" keeps the create or exec on stage 2.
// Pure: unit-tested with programs libseccomp compiled.
import { runSeccompProgram, actionOf, AUDIT_ARCH_X86_64, SECCOMP_RET_ALLOW, SECCOMP_RET_LOG, SECCOMP_RET_ERRNO } from './bpf-eval';
import type { RecordedSyscall } from '@tsrt/libc';
import type { PlannedSeccomp } from './types';

/**
 * One syscall as a filter sees it (x86_64 numbers). What is not known in advance (a pointer, an
 * fd the call is given at run time) is 0 and listed in `unknown`; so are arguments left out.
 */
export type SyscallCall = RecordedSyscall;

const SECCOMP_FILTER_FLAG_TSYNC = 1;
const ENOSYS = 38;
const NSIG = 64;
/** An argument whose value is not known in advance. */
const X = null;
const u = (n: number) => BigInt.asUintN(64, BigInt(n));
const c = (call: string, nr: number, ...args: Array<number | null>): SyscallCall => {
  const unknown = args.flatMap((a, i) => (a === X ? [i] : []));
  return { call, nr, args: args.map((a) => (a === X ? 0n : u(a))), ...(unknown.length ? { unknown } : {}) };
};

/**
 * What the container thread does once the filter is loaded (seen with strace -f on glibc 2.36,
 * libuv 1.46, koffi 3, 2026-12-04; the child's below): libuv's pool bookkeeping around each
 * call, the spawn itself. The file actions are built on the main thread (container-thread.ts).
 */
function threadCalls(): SyscallCall[] {
  return [
    c('gettid', 186), // ContainerThread.run checks it runs on its thread
    c('futex', 202, X, 0x189), // libuv's work queue: FUTEX_WAIT_BITSET_PRIVATE|FUTEX_CLOCK_REALTIME
    c('futex', 202, X, 0x80), // FUTEX_WAIT_PRIVATE
    c('futex', 202, X, 0x81), // FUTEX_WAKE_PRIVATE
    // Not in that strace, but a malloc on this thread may grow its arena (a thread's arena is
    // reserved with mmap and grown with mprotect, never with brk) and trim it when it exits.
    c('mmap', 9, 0, 0x4000000, 0 /* PROT_NONE */, 0x4022 /* MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE */, -1, 0),
    c('mprotect', 10, X, X, 3 /* PROT_READ|PROT_WRITE */),
    c('madvise', 28),
    c('write', 1, X, X, 8), // uv_async_send (its eventfd): the call is done
    c('read', 0), // a signal handled on this thread: libuv's signal pipe
    c('rt_sigreturn', 15),
    c('mmap', 9, 0, 36864, 3 /* PROT_READ|PROT_WRITE */, 0x20022 /* MAP_PRIVATE|MAP_ANONYMOUS|MAP_STACK */, -1, 0), // the child's stack
    c('rt_sigprocmask', 14, 0 /* SIG_BLOCK */),
    c('rt_sigprocmask', 14, 2 /* SIG_SETMASK */),
    c('munmap', 11),
    // The spawn reaps a child whose execve failed (the foreground wait for the process is
    // waitpid(WNOHANG) on the main thread, lifecycle/foreground.ts, not on this one).
    c('wait4', 61, X /* its pid */, X, 0 /* no options */, X),
    // A run or exec with a terminal proxy ends through Node's exit (process-exit.ts,
    // exitThroughNode), which lets libuv's pool thread exit on its own: glibc retries an exit
    // that fails, for ever.
    c('exit', 60, 0),
  ];
}

/**
 * The posix_spawn child's calls before its execve (KoffiSys.posixSpawn's file actions). `ctty`:
 * fd 0 is a terminal the child takes as its controlling terminal (SpawnRequest.ctty) by opening
 * it again, through our /proc, after the fd mapping (glibc 2.36's spawn closes an open action's
 * fd first, and dup2()s and closes what the open returned when that is another fd). No ioctl:
 * the open makes it the session leader's controlling terminal.
 */
function childCalls(setsid: boolean, ctty: boolean, preserveFds: number): SyscallCall[] {
  const calls = [c('rt_sigprocmask', 14, 0), c('rt_sigprocmask', 14, 2)];
  for (let sig = 1; sig <= NSIG; sig++) calls.push(c('rt_sigaction', 13, sig));
  if (setsid) calls.push(c('setsid', 112));
  calls.push(
    c('dup2', 33),
    c('close', 3),
  );
  if (ctty) {
    calls.push(
      c('fchdir', 81), // to our /proc's O_PATH fd
      c('close', 3),
      c('openat', 257, -100 /* AT_FDCWD */, X, 0x2 /* O_RDWR, without O_NOCTTY */, 0), // self/fd/0
      c('dup2', 33),
      c('close', 3),
    );
  }
  calls.push(
    // Above stdio, the preserved fds and the gate's two (KoffiSys.posixSpawn: closeOthers).
    c('close_range', 436, 5 + preserveFds, 0xffffffff, 0),
    c('fchdir', 81),
    c('openat', 257, -100 /* AT_FDCWD */, X, 0x80001 /* O_WRONLY|O_CLOEXEC */, 0), // the exec fifo
    c('execve', 59),
    c('exit_group', 231, 127), // a failed spawn
  );
  return calls;
}

const allowed = (ret: number) => {
  const { action } = actionOf(ret);
  return action === SECCOMP_RET_ALLOW || action === SECCOMP_RET_LOG;
};

/**
 * Why the filter must be loaded by stage 2, or null. `identity` is what the container thread
 * does to take the process's identity, the filter's load among it (recorded: see
 * libc recordSyscalls); what comes after the load runs under the filter too.
 */
export function seccompInProcessRefusal(s: PlannedSeccomp, identity: SyscallCall[], opts: { setsid: boolean; ctty?: boolean; preserveFds?: number; arch?: string }): string | null {
  if (s.listener) return 'seccomp notify (the listener needs the process state)';
  // TSYNC would put the filter on every thread of the runtime, the main one included.
  if (s.flags & SECCOMP_FILTER_FLAG_TSYNC) return 'seccomp flag SECCOMP_FILTER_FLAG_TSYNC';
  if ((opts.arch ?? process.arch) !== 'x64') return 'seccomp: the spawn\'s syscalls are known for x86_64 only';
  const load = identity.findIndex((k) => k.call === 'seccomp');
  if (load < 0) return 'seccomp: the filter is not loaded on the container thread';
  const prog = Buffer.from(s.bpf, 'base64');
  /**
   * What the filter answers to `k`, and whether it read an argument that `k` does not know. A
   * program that read none took the same path whatever they are; what varies (which fds a dup2
   * or close touches, where a pointer points) is left out or listed unknown, and a filter that
   * looks at it could answer otherwise when the call is made.
   */
  const ask = (k: SyscallCall): { ret: number; unknownArgs: boolean } => {
    const read = new Set<number>();
    const ret = runSeccompProgram(prog, { nr: k.nr, arch: AUDIT_ARCH_X86_64, args: k.args, read });
    return { ret, unknownArgs: [...read].some((i) => i < 0 || i >= k.args.length || !!k.unknown?.includes(i)) };
  };
  const argsRefusal = (k: SyscallCall) => `seccomp: the profile looks at arguments of ${k.call} that the in-process spawn cannot know in advance`;
  try {
    for (const k of [...identity.slice(load + 1), ...threadCalls(), ...childCalls(opts.setsid, !!opts.ctty, opts.preserveFds ?? 0)]) {
      const { ret, unknownArgs } = ask(k);
      if (!allowed(ret)) return `seccomp: the profile does not allow ${k.call}, which the in-process spawn makes under it`;
      if (unknownArgs) return argsRefusal(k);
    }
    // glibc's spawn tries clone3 first and takes clone only when clone3 is ENOSYS (Docker's
    // profile answers so, for this reason).
    const clone3 = c('clone3', 435);
    const a3 = ask(clone3);
    if (a3.unknownArgs) return argsRefusal(clone3);
    if (!allowed(a3.ret)) {
      const { action, data } = actionOf(a3.ret);
      if (action !== SECCOMP_RET_ERRNO || data !== ENOSYS) return 'seccomp: the profile does not allow clone3, nor makes it ENOSYS';
      const clone = c('clone', 56, 0x4111 /* CLONE_VM|CLONE_VFORK|SIGCHLD */);
      const a = ask(clone);
      if (!allowed(a.ret)) return 'seccomp: the profile does not allow clone, which the in-process spawn makes under it';
      if (a.unknownArgs) return argsRefusal(clone);
    }
  } catch (e) {
    return `seccomp: the compiled filter cannot be read (${(e as Error).message})`;
  }
  return null;
}
