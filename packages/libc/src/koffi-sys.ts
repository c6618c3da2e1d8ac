import koffi from './koffi';
import { SysError } from './errors';
import type { PathArg, BpfPointer, CapSets, CloneExecRequest, Rlimit, SpawnRequest, StatResult, StatxResult, Sys, WaitResult } from './sys';
import { POSIX_SPAWN_SETSIGDEF, POSIX_SPAWN_SETSIGMASK, POSIX_SPAWN_SETSID, NSIG, SOL_SOCKET, SCM_RIGHTS, O_NONBLOCK, FSCONFIG_SET_FD } from './constants';

// x86_64 syscall numbers for calls glibc has no wrapper for (or wraps with policy we do not want).
const NR = {
  rt_sigaction: 13,
  rt_sigprocmask: 14,
  capget: 125,
  capset: 126,
  pivot_root: 155,
  gettid: 186,
  prlimit64: 302,
  pidfd_send_signal: 424,
  pidfd_open: 434,
  close_range: 436,
  openat2: 437,
  fsopen: 430,
  fsconfig: 431,
  fsmount: 432,
  bpf: 321,
  seccomp: 317,
  ioprio_set: 251,
  sched_setattr: 314,
  set_mempolicy: 238,
};

const SPAWN_FILE_ACTIONS_SIZE = 80;
const SPAWN_ATTR_SIZE = 336;
const SIGSET_SIZE = 128;
const LINUX_CAPABILITY_VERSION_3 = 0x20080522;

type Fn = (...args: any[]) => any;

/** A path for messages: byte paths (NUL-terminated Buffers) shown as UTF-8. */
function showPath(p: PathArg): string {
  return typeof p === 'string' ? p : p.toString('utf8', 0, p[p.length - 1] === 0 ? p.length - 1 : p.length);
}
export type KoffiFunction = ReturnType<ReturnType<typeof koffi.load>["func"]>;

/**
 * The real syscall layer. Prototypes are declared on first use: stage 2 of ts-runc must start
 * fast and uses only a few of them.
 */
export class KoffiSys implements Sys {
  protected lib = koffi.load('libc.so.6');
  private cache = new Map<string, KoffiFunction>();

  protected fn(key: string, name: string, ret: string, params: string[]): KoffiFunction {
    let f = this.cache.get(key);
    if (!f) {
      f = this.lib.func(name, ret, params);
      this.cache.set(key, f);
    }
    return f;
  }

  /** Call and throw SysError when the C function reports -1 (errno set). */
  protected check(call: string, what: string | Buffer | undefined, r: number | bigint): number {
    const n = Number(r);
    if (n === -1) throw new SysError(call, typeof what === 'string' || what === undefined ? what : showPath(what), koffi.errno());
    return n;
  }

  /** C memory a call read: freed once the call is made (a recording makes it later). */
  protected releaseAfterCall(mem: unknown): void {
    koffi.free(mem);
  }

  private sc(name: string, nr: number, types: string[], ...args: unknown[]): Fn {
    const f = this.fn(`syscall:${name}`, 'syscall', 'long', ['long', ...types]);
    return () => f(nr, ...args);
  }

  unshare(flags: number): void {
    this.check('unshare', '0x' + flags.toString(16), this.fn('unshare', 'unshare', 'int', ['int'])(flags));
  }
  setns(fd: number, nstype: number): void {
    this.check('setns', `fd ${fd}`, this.fn('setns', 'setns', 'int', ['int', 'int'])(fd, nstype));
  }
  mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null): void {
    const f = this.fn('mount', 'mount', 'int', ['const char *', 'const char *', 'const char *', 'unsigned long', 'const char *']);
    this.check('mount', target, f(source, target, fstype, flags, data));
  }
  umount2(target: string, flags: number): void {
    this.check('umount2', target, this.fn('umount2', 'umount2', 'int', ['const char *', 'int'])(target, flags));
  }
  mountSetattr(path: string, set: number, clr: number, recursive: boolean): void {
    const attr = Buffer.alloc(32); // struct mount_attr { u64 attr_set, attr_clr, propagation, userns_fd }
    attr.writeBigUInt64LE(BigInt(set), 0);
    attr.writeBigUInt64LE(BigInt(clr), 8);
    const f = this.fn('syscall:mount_setattr', 'syscall', 'long', ['long', 'int', 'const char *', 'uint32', 'void *', 'size_t']);
    this.check('mount_setattr', path, f(442, -100 /* AT_FDCWD */, path, recursive ? 0x8000 /* AT_RECURSIVE */ : 0, attr, 32));
  }
  openTree(path: string, recursive: boolean): number {
    const f = this.fn('syscall:open_tree', 'syscall', 'long', ['long', 'int', 'const char *', 'uint32']);
    const flags = 1 /* OPEN_TREE_CLONE */ | 0o2000000 /* O_CLOEXEC */ | (recursive ? 0x8000 : 0);
    return this.check('open_tree', path, f(428, -100, path, flags));
  }
  mountSetattrFd(fd: number, set: number, clr: number, recursive: boolean): void {
    const attr = Buffer.alloc(32);
    attr.writeBigUInt64LE(BigInt(set), 0);
    attr.writeBigUInt64LE(BigInt(clr), 8);
    const f = this.fn('syscall:mount_setattr', 'syscall', 'long', ['long', 'int', 'const char *', 'uint32', 'void *', 'size_t']);
    this.check('mount_setattr', `fd ${fd}`, f(442, fd, '', 0x1000 /* AT_EMPTY_PATH */ | (recursive ? 0x8000 : 0), attr, 32));
  }
  idmapTree(treeFd: number, usernsFd: number, recursive: boolean): void {
    const attr = Buffer.alloc(32);
    attr.writeBigUInt64LE(0x100000n /* MOUNT_ATTR_IDMAP */, 0);
    attr.writeBigUInt64LE(BigInt(usernsFd), 24);
    const f = this.fn('syscall:mount_setattr', 'syscall', 'long', ['long', 'int', 'const char *', 'uint32', 'void *', 'size_t']);
    this.check('mount_setattr idmap', `fd ${treeFd}`, f(442, treeFd, '', 0x1000 /* AT_EMPTY_PATH */ | (recursive ? 0x8000 : 0), attr, 32));
  }
  moveMount(treeFd: number, target: string): void {
    const f = this.fn('syscall:move_mount', 'syscall', 'long', ['long', 'int', 'const char *', 'int', 'const char *', 'uint32']);
    this.check('move_mount', target, f(429, treeFd, '', -100, target, 0x4 /* MOVE_MOUNT_F_EMPTY_PATH */));
  }
  fsopen(fsname: string, flags: number): number {
    return this.check('fsopen', fsname, this.sc('fsopen', NR.fsopen, ['const char *', 'uint32'], fsname, flags)());
  }
  fsconfig(fd: number, cmd: number, key: string | null, value: string | null, aux: number): void {
    const f = this.sc('fsconfig', NR.fsconfig, ['int', 'uint32', 'const char *', 'const char *', 'int'], fd, cmd, key, value, aux);
    this.check('fsconfig', key === null ? `fd ${fd}` : `${key}${value === null ? '' : `=${value}`}`, f());
  }
  fsconfigFd(fd: number, key: string, valueFd: number): void {
    const f = this.sc('fsconfig', NR.fsconfig, ['int', 'uint32', 'const char *', 'const char *', 'int'], fd, FSCONFIG_SET_FD, key, null, valueFd);
    this.check('fsconfig', `${key}=fd ${valueFd}`, f());
  }
  fsmount(fd: number, flags: number, attrFlags: number): number {
    return this.check('fsmount', `fd ${fd}`, this.sc('fsmount', NR.fsmount, ['int', 'uint32', 'uint32'], fd, flags, attrFlags)());
  }
  moveMountToFd(treeFd: number, targetFd: number): void {
    const f = this.fn('syscall:move_mount', 'syscall', 'long', ['long', 'int', 'const char *', 'int', 'const char *', 'uint32']);
    // MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH
    this.check('move_mount', `fd ${targetFd}`, f(429, treeFd, '', targetFd, '', 0x4 | 0x40));
  }
  cloneTreeFd(dirfd: number, recursive: boolean): number {
    const f = this.fn('syscall:open_tree', 'syscall', 'long', ['long', 'int', 'const char *', 'uint32']);
    const flags = 1 /* OPEN_TREE_CLONE */ | 0o2000000 /* O_CLOEXEC */ | 0x1000 /* AT_EMPTY_PATH */ | (recursive ? 0x8000 : 0);
    return this.check('open_tree', `fd ${dirfd}`, f(428, dirfd, '', flags));
  }
  pivotRoot(newRoot: string, putOld: string): void {
    this.check('pivot_root', newRoot, this.sc('pivot_root', NR.pivot_root, ['const char *', 'const char *'], newRoot, putOld)());
  }
  chroot(path: string): void {
    this.check('chroot', path, this.fn('chroot', 'chroot', 'int', ['const char *'])(path));
  }
  chdir(path: string): void {
    this.check('chdir', path, this.fn('chdir', 'chdir', 'int', ['const char *'])(path));
  }
  fchdir(fd: number): void {
    this.check('fchdir', `fd ${fd}`, this.fn('fchdir', 'fchdir', 'int', ['int'])(fd));
  }
  sethostname(name: string): void {
    const len = Buffer.byteLength(name);
    this.check('sethostname', name, this.fn('sethostname', 'sethostname', 'int', ['const char *', 'size_t'])(name, len));
  }
  setdomainname(name: string): void {
    const len = Buffer.byteLength(name);
    this.check('setdomainname', name, this.fn('setdomainname', 'setdomainname', 'int', ['const char *', 'size_t'])(name, len));
  }

  open(path: string, flags: number, mode = 0): number {
    return this.check('open', path, this.fn('open', 'open', 'int', ['const char *', 'int', 'uint32'])(path, flags, mode));
  }
  openat(dirfd: number, path: PathArg, flags: number, mode = 0): number {
    const f = this.fn('openat', 'openat', 'int', ['int', 'const char *', 'int', 'uint32']);
    return this.check('openat', path, f(dirfd, path, flags, mode));
  }
  openat2(dirfd: number, path: PathArg, flags: number, mode: number, resolve: number): number {
    const how = Buffer.alloc(24);
    how.writeBigUInt64LE(BigInt(flags), 0);
    how.writeBigUInt64LE(BigInt(mode), 8);
    how.writeBigUInt64LE(BigInt(resolve), 16);
    return this.check('openat2', path, this.sc('openat2', NR.openat2, ['int', 'const char *', 'void *', 'size_t'], dirfd, path, how, 24)());
  }
  close(fd: number): void {
    this.check('close', `fd ${fd}`, this.fn('close', 'close', 'int', ['int'])(fd));
  }
  dup(fd: number): number {
    return this.check('dup', `fd ${fd}`, this.fn('dup', 'dup', 'int', ['int'])(fd));
  }
  dup3(oldfd: number, newfd: number, flags: number): number {
    return this.check('dup3', `fd ${oldfd}`, this.fn('dup3', 'dup3', 'int', ['int', 'int', 'int'])(oldfd, newfd, flags));
  }
  mknod(path: string, mode: number, dev: bigint): void {
    this.check('mknod', path, this.fn('mknod', 'mknod', 'int', ['const char *', 'uint32', 'uint64'])(path, mode, dev));
  }
  mknodat(dirfd: number, path: PathArg, mode: number, dev: bigint): void {
    const f = this.fn('mknodat', 'mknodat', 'int', ['int', 'const char *', 'uint32', 'uint64']);
    this.check('mknodat', path, f(dirfd, path, mode, dev));
  }
  mkfifo(path: string, mode: number): void {
    this.check('mkfifo', path, this.fn('mkfifo', 'mkfifo', 'int', ['const char *', 'uint32'])(path, mode));
  }
  lchown(path: string, uid: number, gid: number): void {
    this.check('lchown', path, this.fn('lchown', 'lchown', 'int', ['const char *', 'uint32', 'uint32'])(path, uid, gid));
  }
  fchownat(dirfd: number, path: PathArg, uid: number, gid: number, flags: number): void {
    const f = this.fn('fchownat', 'fchownat', 'int', ['int', 'const char *', 'uint32', 'uint32', 'int']);
    this.check('fchownat', path, f(dirfd, path, uid, gid, flags));
  }
  umask(mask: number): number {
    return this.fn('umask', 'umask', 'uint32', ['uint32'])(mask);
  }
  closeRange(first: number, last: number, flags: number): void {
    const f = this.sc('close_range', NR.close_range, ['uint32', 'uint32', 'uint32'], first, last >>> 0, flags);
    this.check('close_range', undefined, f());
  }
  memfdCreate(name: string, flags: number): number {
    return this.check('memfd_create', name, this.fn('memfd_create', 'memfd_create', 'int', ['const char *', 'uint32'])(name, flags));
  }
  addSeals(fd: number, seals: number): void {
    const f = this.fn('fcntl:int', 'fcntl', 'int', ['int', 'int', 'long']);
    this.check('fcntl F_ADD_SEALS', `fd ${fd}`, f(fd, 1033 /* F_ADD_SEALS */, seals));
  }
  setCloexec(fd: number, on: boolean): void {
    const f = this.fn('fcntl:int', 'fcntl', 'int', ['int', 'int', 'long']);
    this.check('fcntl F_SETFD', `fd ${fd}`, f(fd, 2 /* F_SETFD */, on ? 1 : 0));
  }
  setNonblock(fd: number, on: boolean): void {
    const f = this.fn('fcntl:int', 'fcntl', 'int', ['int', 'int', 'long']);
    const flags = this.check('fcntl F_GETFL', `fd ${fd}`, f(fd, 3 /* F_GETFL */, 0));
    this.check('fcntl F_SETFL', `fd ${fd}`, f(fd, 4 /* F_SETFL */, on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK));
  }
  ioctlInt(fd: number, request: number, arg: number): number {
    const f = this.fn('ioctl:int', 'ioctl', 'int', ['int', 'unsigned long', 'long']);
    return this.check('ioctl', `fd ${fd}`, f(fd, request, arg));
  }
  ioctlPtr(fd: number, request: number, buf: Buffer): number {
    const f = this.fn('ioctl:ptr', 'ioctl', 'int', ['int', 'unsigned long', 'void *']);
    return this.check('ioctl', `fd ${fd}`, f(fd, request, buf));
  }
  socketpair(domain: number, type: number): [number, number] {
    const sv = Buffer.alloc(8);
    this.check('socketpair', undefined, this.fn('socketpair', 'socketpair', 'int', ['int', 'int', 'int', 'void *'])(domain, type, 0, sv));
    return [sv.readInt32LE(0), sv.readInt32LE(4)];
  }

  connectUnix(path: string): number {
    const addr = Buffer.alloc(110);
    addr.writeUInt16LE(1 /* AF_UNIX */, 0);
    if (Buffer.byteLength(path) > 107) throw new SysError('connect', path, 36 /* ENAMETOOLONG */);
    addr.write(path, 2);
    const fd = this.check('socket', path, this.fn('socket', 'socket', 'int', ['int', 'int', 'int'])(1, 1 | 0o2000000, 0));
    const r = this.fn('connect', 'connect', 'int', ['int', 'void *', 'uint32'])(fd, addr, 2 + Buffer.byteLength(path) + 1);
    if (r === -1) {
      const errno = koffi.errno();
      this.close(fd);
      throw new SysError('connect', path, errno);
    }
    return fd;
  }

  /** Build a msghdr in C memory: koffi cannot take Buffer addresses, so everything lives in koffi.alloc memory. */
  private withMsg<T>(dataLen: number, nfds: number, body: (msg: unknown, iovBase: Buffer, ctl: Buffer, ctlLen: number) => T): T {
    const ctlLen = nfds > 0 ? 16 + ((nfds * 4 + 7) & ~7) : 0;
    const mem = koffi.alloc('uint8', 56 + 16 + Math.max(dataLen, 1) + ctlLen);
    try {
      const base = koffi.address(mem);
      const view = Buffer.from(koffi.view(mem, 56 + 16 + Math.max(dataLen, 1) + ctlLen));
      view.fill(0);
      const iov = base + 56n, data = iov + 16n, ctl = data + BigInt(Math.max(dataLen, 1));
      view.writeBigUInt64LE(iov, 16); // msg_iov
      view.writeBigUInt64LE(1n, 24); // msg_iovlen
      view.writeBigUInt64LE(ctlLen ? ctl : 0n, 32); // msg_control
      view.writeBigUInt64LE(BigInt(ctlLen), 40); // msg_controllen
      view.writeBigUInt64LE(data, 56); // iov_base
      view.writeBigUInt64LE(BigInt(dataLen), 64); // iov_len
      const dataOff = 72, ctlOff = 72 + Math.max(dataLen, 1);
      return body(mem, view.subarray(dataOff, dataOff + dataLen), view.subarray(ctlOff, ctlOff + ctlLen), ctlLen);
    } finally {
      koffi.free(mem);
    }
  }

  sendFds(sock: number, data: Buffer, fds: number[]): void {
    this.withMsg(data.length, fds.length, (msg, dataBuf, ctl) => {
      data.copy(dataBuf);
      if (fds.length) {
        ctl.writeBigUInt64LE(BigInt(16 + fds.length * 4), 0); // cmsg_len
        ctl.writeInt32LE(SOL_SOCKET, 8);
        ctl.writeInt32LE(SCM_RIGHTS, 12);
        fds.forEach((fd, i) => ctl.writeInt32LE(fd, 16 + i * 4));
      }
      const f = this.fn('sendmsg', 'sendmsg', 'long', ['int', 'void *', 'int']);
      this.check('sendmsg', `fd ${sock}`, f(sock, msg, 0));
    });
  }

  recvFds(sock: number, maxData: number, maxFds: number): { data: Buffer; fds: number[] } {
    return this.withMsg(maxData, maxFds, (msg, dataBuf, ctl) => {
      const f = this.fn('recvmsg', 'recvmsg', 'long', ['int', 'void *', 'int']);
      const n = this.check('recvmsg', `fd ${sock}`, f(sock, msg, 0x40000000 /* MSG_CMSG_CLOEXEC */));
      const fds: number[] = [];
      if (ctl.length >= 16) {
        const len = Number(ctl.readBigUInt64LE(0));
        if (ctl.readInt32LE(8) === SOL_SOCKET && ctl.readInt32LE(12) === SCM_RIGHTS) {
          for (let off = 16; off + 4 <= len; off += 4) fds.push(ctl.readInt32LE(off));
        }
      }
      return { data: Buffer.from(dataBuf.subarray(0, n)), fds };
    });
  }

  openpt(): [number, string] {
    const fd = this.check('posix_openpt', undefined, this.fn('posix_openpt', 'posix_openpt', 'int', ['int'])(0o2 | 0o400 | 0o2000000));
    try {
      this.check('grantpt', undefined, this.fn('grantpt', 'grantpt', 'int', ['int'])(fd));
      this.check('unlockpt', undefined, this.fn('unlockpt', 'unlockpt', 'int', ['int'])(fd));
      const buf = Buffer.alloc(128);
      const r = this.fn('ptsname_r', 'ptsname_r', 'int', ['int', 'void *', 'size_t'])(fd, buf, buf.length);
      if (r !== 0) throw new SysError('ptsname_r', undefined, r);
      return [fd, buf.toString('utf8', 0, buf.indexOf(0))];
    } catch (e) {
      this.close(fd);
      throw e;
    }
  }

  flock(fd: number, op: number): void {
    const f = this.fn('flock', 'flock', 'int', ['int', 'int']);
    for (;;) {
      const r = f(fd, op);
      if (r === -1 && koffi.errno() === 4 /* EINTR */) continue;
      this.check('flock', `fd ${fd}`, r);
      return;
    }
  }
  poll(fds: Array<{ fd: number; events: number }>, timeoutMs: number): number[] | null {
    const buf = Buffer.alloc(8 * fds.length);
    fds.forEach((p, i) => {
      buf.writeInt32LE(p.fd, i * 8);
      buf.writeInt16LE(p.events, i * 8 + 4);
    });
    const f = this.fn('poll', 'poll', 'int', ['void *', 'uint64', 'int']);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const wait = timeoutMs < 0 ? -1 : Math.max(0, deadline - Date.now());
      const r = f(buf, fds.length, wait);
      if (r === -1 && koffi.errno() === 4 /* EINTR */) continue;
      if (this.check('poll', undefined, r) === 0) return null;
      return fds.map((_, i) => buf.readInt16LE(i * 8 + 6));
    }
  }

  getpid(): number {
    return this.fn('getpid', 'getpid', 'int', [])();
  }
  gettid(): number {
    return Number(this.sc('gettid', NR.gettid, [])());
  }

  posixSpawn(req: SpawnRequest): number {
    const fa = Buffer.alloc(SPAWN_FILE_ACTIONS_SIZE);
    const attr = Buffer.alloc(SPAWN_ATTR_SIZE);
    const faInit = this.fn('psfa_init', 'posix_spawn_file_actions_init', 'int', ['void *']);
    const faDestroy = this.fn('psfa_destroy', 'posix_spawn_file_actions_destroy', 'int', ['void *']);
    const attrInit = this.fn('psa_init', 'posix_spawnattr_init', 'int', ['void *']);
    const attrDestroy = this.fn('psa_destroy', 'posix_spawnattr_destroy', 'int', ['void *']);
    const posixErr = (call: string, r: number) => {
      if (r !== 0) throw new SysError(call, req.path, r);
    };
    posixErr('posix_spawn_file_actions_init', faInit(fa));
    posixErr('posix_spawnattr_init', attrInit(attr));
    let execCopy = -1;
    try {
      const top = Math.max(...req.fds.map(([s, t]) => Math.max(s, t)), 2);
      let execFd = req.execFd;
      if (execFd !== undefined && req.fds.some(([, t]) => t === execFd)) {
        // An fd action would replace it before execve: run a copy above every fd they touch.
        const fcntl = this.fn('fcntl:int', 'fcntl', 'int', ['int', 'int', 'long']);
        execCopy = this.check('fcntl F_DUPFD_CLOEXEC', `fd ${execFd}`, fcntl(execFd, 1030 /* F_DUPFD_CLOEXEC */, top + 1));
        execFd = execCopy;
      }
      const path = execFd === undefined ? req.path : `/proc/self/fd/${execFd}`;
      const dup2 = this.fn('psfa_dup2', 'posix_spawn_file_actions_adddup2', 'int', ['void *', 'int', 'int']);
      const open = this.fn('psfa_open', 'posix_spawn_file_actions_addopen', 'int', ['void *', 'int', 'const char *', 'int', 'uint32']);
      const fchdir = this.fn('psfa_fchdir', 'posix_spawn_file_actions_addfchdir_np', 'int', ['void *', 'int']);
      // Targets may collide with sources of later pairs: stage every source above all targets
      // first, and above every fd a later action uses (the fd to execute, the gate's, procfs),
      // which the staging must not overwrite.
      const used = [top, execFd, req.gate?.dirFd, req.gate?.cwdFd, req.ctty?.procFd].filter((fd): fd is number => fd !== undefined);
      const high = Math.max(...used) + 1;
      req.fds.forEach(([src], i) => posixErr('posix_spawn_file_actions_adddup2', dup2(fa, src, high + i)));
      req.fds.forEach(([, dst], i) => posixErr('posix_spawn_file_actions_adddup2', dup2(fa, high + i, dst)));
      const close = this.fn('psfa_close', 'posix_spawn_file_actions_addclose', 'int', ['void *', 'int']);
      req.fds.forEach((_, i) => posixErr('posix_spawn_file_actions_addclose', close(fa, high + i)));
      if (req.ctty) {
        // No file action does TIOCSCTTY; but a session leader without a controlling terminal
        // that opens a tty without O_NOCTTY acquires it. So fd 0 (mapped above) is opened again
        // through the caller's procfs, never by a path of the child's mount namespace, into a
        // free fd (the staging range is closed by now) that is closed again: 0-2 stay the very
        // file the caller mapped. The gate's fchdir()s follow, which leave procfs again.
        if (!req.setsid || !req.gate) throw new Error('posixSpawn: ctty needs setsid and a gate');
        posixErr('posix_spawn_file_actions_addfchdir_np', fchdir(fa, req.ctty.procFd));
        posixErr('posix_spawn_file_actions_addopen', open(fa, high, 'self/fd/0', 0o2 /* O_RDWR */, 0));
        posixErr('posix_spawn_file_actions_addclose', close(fa, high));
      }
      if (req.cwd) {
        const chdir = this.fn('psfa_chdir', 'posix_spawn_file_actions_addchdir_np', 'int', ['void *', 'const char *']);
        posixErr('posix_spawn_file_actions_addchdir_np', chdir(fa, req.cwd));
      }
      if (req.gate) {
        // Last action before execve: the child blocks opening the fifo until a reader opens it.
        // Looked up from the directory fd, so no path of the child's mount namespace is involved.
        let { dirFd, cwdFd } = req.gate;
        let gateFd = high + req.fds.length;
        if (req.gate.closeOthers) {
          // Nothing else of ours stays open while it waits (a held flock would keep a lock),
          // so the two fds the gate needs go right above the mapped ones first.
          const base = Math.max(...req.fds.map(([, t]) => t), 2) + 1;
          posixErr('posix_spawn_file_actions_adddup2', dup2(fa, dirFd, high + req.fds.length));
          posixErr('posix_spawn_file_actions_adddup2', dup2(fa, cwdFd, high + req.fds.length + 1));
          posixErr('posix_spawn_file_actions_adddup2', dup2(fa, high + req.fds.length, base));
          posixErr('posix_spawn_file_actions_adddup2', dup2(fa, high + req.fds.length + 1, base + 1));
          const closefrom = this.fn('psfa_closefrom', 'posix_spawn_file_actions_addclosefrom_np', 'int', ['void *', 'int']);
          posixErr('posix_spawn_file_actions_addclosefrom_np', closefrom(fa, base + 2));
          [dirFd, cwdFd, gateFd] = [base, base + 1, base + 2];
        }
        posixErr('posix_spawn_file_actions_addfchdir_np', fchdir(fa, dirFd));
        posixErr('posix_spawn_file_actions_addopen', open(fa, gateFd, req.gate.name, 0o1 /* O_WRONLY */ | 0o2000000 /* O_CLOEXEC */, 0));
        posixErr('posix_spawn_file_actions_addfchdir_np', fchdir(fa, cwdFd));
        // glibc dup2()s the opened fd onto gateFd, which drops O_CLOEXEC: close it ourselves.
        posixErr('posix_spawn_file_actions_addclose', close(fa, gateFd));
        if (req.gate.closeOthers) {
          posixErr('posix_spawn_file_actions_addclose', close(fa, dirFd));
          posixErr('posix_spawn_file_actions_addclose', close(fa, cwdFd));
        }
      }
      let flags = 0;
      if (req.defaultSignals) {
        // Workers and Node block or ignore signals; the child must start with a clean slate.
        // Every bit, glibc's internal signals 32 and 33 included (its sigfillset leaves them out,
        // and its spawn child then sets them to SIG_IGN, which survives execve: SigIgn
        // 0x180000000). Built here, not by libc calls: a recorded spawn (container-thread.ts)
        // makes its calls later, after any change made to their buffers meanwhile.
        const all = Buffer.alloc(SIGSET_SIZE, 0xff), none = Buffer.alloc(SIGSET_SIZE);
        posixErr('posix_spawnattr_setsigdefault', this.fn('psa_sigdef', 'posix_spawnattr_setsigdefault', 'int', ['void *', 'void *'])(attr, all));
        posixErr('posix_spawnattr_setsigmask', this.fn('psa_sigmask', 'posix_spawnattr_setsigmask', 'int', ['void *', 'void *'])(attr, none));
        flags |= POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK;
      }
      if (req.setsid) flags |= POSIX_SPAWN_SETSID;
      posixErr('posix_spawnattr_setflags', this.fn('psa_flags', 'posix_spawnattr_setflags', 'int', ['void *', 'short'])(attr, flags));
      const spawn = this.fn('posix_spawn', 'posix_spawn', 'int', ['void *', 'const char *', 'void *', 'void *', 'const char **', 'const char **']);
      const pid = Buffer.alloc(4);
      posixErr('posix_spawn', spawn(pid, path, fa, attr, [...req.argv, null], [...req.env, null]));
      return pid.readInt32LE(0);
    } finally {
      faDestroy(fa);
      attrDestroy(attr);
      if (execCopy >= 0) this.close(execCopy);
    }
  }

  cloneExec(req: CloneExecRequest): number {
    const { cloneExec } = require('./clone-exec') as typeof import('./clone-exec');
    return cloneExec(this.lib, req);
  }

  statfsFlags(path: string): number {
    const buf = Buffer.alloc(120);
    this.check('statfs', path, this.fn('statfs', 'statfs', 'int', ['const char *', 'void *'])(path, buf));
    return Number(buf.readBigUInt64LE(80));
  }

  fstatfs(fd: number): { type: number; flags: number } {
    const buf = Buffer.alloc(120);
    this.check('fstatfs', `fd ${fd}`, this.fn('fstatfs', 'fstatfs', 'int', ['int', 'void *'])(fd, buf));
    return { type: Number(buf.readBigInt64LE(0)), flags: Number(buf.readBigUInt64LE(80)) };
  }

  statxFd(fd: number): StatxResult {
    const buf = Buffer.alloc(256); // struct statx
    const f = this.fn('statx', 'statx', 'int', ['int', 'const char *', 'int', 'uint32', 'void *']);
    // AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW; STATX_BASIC_STATS | STATX_MNT_ID
    this.check('statx', `fd ${fd}`, f(fd, '', 0x1000 | 0x100, 0x7ff | 0x1000, buf));
    const mask = buf.readUInt32LE(0);
    if (!(mask & 0x1000)) throw new SysError('statx', `fd ${fd}: no mount id`, 95 /* EOPNOTSUPP */);
    const dev = (major: number, minor: number) => (BigInt(major) << 32n) | BigInt(minor);
    return {
      mode: buf.readUInt16LE(28),
      uid: buf.readUInt32LE(20),
      gid: buf.readUInt32LE(24),
      ino: buf.readBigUInt64LE(32),
      rdev: dev(buf.readUInt32LE(128), buf.readUInt32LE(132)),
      dev: dev(buf.readUInt32LE(136), buf.readUInt32LE(140)),
      mountId: buf.readBigUInt64LE(144),
      mountRoot: (buf.readBigUInt64LE(8) & 0x2000n) !== 0n, // STATX_ATTR_MOUNT_ROOT
    };
  }

  execve(path: string, argv: string[], env: string[]): never {
    const f = this.fn('execve', 'execve', 'int', ['const char *', 'const char **', 'const char **']);
    f(path, [...argv, null], [...env, null]);
    throw new SysError('execve', path, koffi.errno());
  }

  private decodeStatus(pid: number, status: number): WaitResult {
    const sig = status & 0x7f;
    if (sig === 0) return { pid, exitCode: (status >> 8) & 0xff, signal: null };
    return { pid, exitCode: null, signal: sig };
  }

  waitpid(pid: number, options: number): WaitResult | null {
    const st = Buffer.alloc(4);
    const f = this.fn('waitpid', 'waitpid', 'int', ['int', 'void *', 'int']);
    for (;;) {
      const r = f(pid, st, options);
      if (r === -1 && koffi.errno() === 4 /* EINTR */) continue;
      const got = this.check('waitpid', String(pid), r);
      return got === 0 ? null : this.decodeStatus(got, st.readInt32LE(0));
    }
  }

  waitpidAsync(pid: number): Promise<WaitResult> {
    const f = this.fn('waitpid', 'waitpid', 'int', ['int', 'void *', 'int']);
    const st = Buffer.alloc(4);
    return new Promise((resolve, reject) => {
      const once = () =>
        f.async(pid, st, 0, (err: unknown, r: number) => {
          if (err) return reject(err);
          if (r === -1) {
            // errno is per-thread and lost on the pool thread; ECHILD is the only expected case.
            return reject(new SysError('waitpid', String(pid), 10));
          }
          resolve(this.decodeStatus(r, st.readInt32LE(0)));
        });
      once();
    });
  }

  kill(pid: number, sig: number): void {
    this.check('kill', String(pid), this.fn('kill', 'kill', 'int', ['int', 'int'])(pid, sig));
  }
  pidfdOpen(pid: number): number {
    return this.check('pidfd_open', String(pid), this.sc('pidfd_open', NR.pidfd_open, ['int', 'uint32'], pid, 0)());
  }
  pidfdSendSignal(pidfd: number, sig: number): void {
    const f = this.sc('pidfd_send_signal', NR.pidfd_send_signal, ['int', 'int', 'void *', 'uint32'], pidfd, sig, null, 0);
    this.check('pidfd_send_signal', `fd ${pidfd}`, f());
  }
  joinSessionKeyring(name: string): void {
    const f = this.fn('syscall:keyctl-join', 'syscall', 'long', ['long', 'int', 'const char *']);
    this.check('keyctl join session keyring', name, f(250 /* keyctl */, 1 /* KEYCTL_JOIN_SESSION_KEYRING */, name));
  }
  exitGroup(code: number): never {
    // Raw exit_group: no atexit handlers, no join of libuv's pool (whose thread may be blocked
    // in a posix_spawn that only `start` ends).
    this.fn('syscall:exit_group', 'syscall', 'long', ['long', 'int'])(231, code);
    throw new Error('exit_group returned');
  }
  setsid(): number {
    return this.check('setsid', undefined, this.fn('setsid', 'setsid', 'int', [])());
  }
  prctl(option: number, arg2: number | bigint, arg3: number | bigint = 0, arg4 = 0, arg5 = 0): number {
    const f = this.fn('prctl', 'prctl', 'int', ['int', 'unsigned long', 'unsigned long', 'unsigned long', 'unsigned long']);
    return this.check('prctl', String(option), f(option, arg2, arg3, arg4, arg5));
  }
  setThreadName(name: string): void {
    this.check('prctl PR_SET_NAME', name, this.fn('prctl:name', 'prctl', 'int', ['int', 'const char *'])(15 /* PR_SET_NAME */, name));
  }
  seccomp(op: number, flags: number, filter: Buffer | null): number {
    if (!filter) return this.check('seccomp', `op ${op}`, this.sc('seccomp0', NR.seccomp, ['uint', 'uint', 'void *'], op, flags, null)());
    // struct sock_fprog { unsigned short len; struct sock_filter *filter; }: the program must
    // sit in C memory (a Buffer's address cannot be written into a struct).
    const n = filter.length / 8;
    const mem = koffi.alloc('uint8', Math.max(filter.length, 8));
    try {
      Buffer.from(koffi.view(mem, filter.length)).set(filter);
      const prog = Buffer.alloc(16);
      prog.writeUInt16LE(n, 0);
      prog.writeBigUInt64LE(BigInt(koffi.address(mem)), 8);
      const f = this.fn('syscall:seccomp', 'syscall', 'long', ['long', 'uint', 'uint', 'void *']);
      return this.check('seccomp', `op ${op}`, f(NR.seccomp, op, flags, prog));
    } finally {
      this.releaseAfterCall(mem);
    }
  }
  personality(persona: number): number {
    return this.check('personality', '0x' + persona.toString(16), this.fn('personality', 'personality', 'int', ['ulong'])(persona));
  }
  ioprioSet(which: number, who: number, ioprio: number): void {
    this.check('ioprio_set', String(ioprio), this.sc('ioprio_set', NR.ioprio_set, ['int', 'int', 'int'], which, who, ioprio)());
  }
  schedSetattr(pid: number, attr: Buffer, flags: number): void {
    this.check('sched_setattr', `pid ${pid}`, this.sc('sched_setattr', NR.sched_setattr, ['int', 'void *', 'uint'], pid, attr, flags)());
  }
  schedSetaffinity(pid: number, mask: Buffer): void {
    const f = this.fn('sched_setaffinity', 'sched_setaffinity', 'int', ['int', 'size_t', 'void *']);
    this.check('sched_setaffinity', `pid ${pid}`, f(pid, mask.length, mask));
  }
  setMempolicy(mode: number, nodemask: Buffer | null, maxnode: number): void {
    this.check('set_mempolicy', `mode ${mode}`, this.sc('set_mempolicy', NR.set_mempolicy, ['int', 'void *', 'ulong'], mode, nodemask, maxnode)());
  }
  resetSignals(): void {
    const act = Buffer.alloc(32); // kernel struct sigaction: handler=SIG_DFL, flags 0, restorer 0, mask 0
    const f = this.fn('syscall:rt_sigaction', 'syscall', 'long', ['long', 'int', 'void *', 'void *', 'size_t']);
    for (let sig = 1; sig <= NSIG; sig++) {
      if (sig === 9 || sig === 19) continue;
      this.check('rt_sigaction', String(sig), f(NR.rt_sigaction, sig, act, null, 8));
    }
    const empty = Buffer.alloc(8);
    const mask = this.fn('syscall:rt_sigprocmask', 'syscall', 'long', ['long', 'int', 'void *', 'void *', 'size_t']);
    this.check('rt_sigprocmask', undefined, mask(NR.rt_sigprocmask, 2 /* SIG_SETMASK */, empty, null, 8));
  }

  setresuid(r: number, e: number, s: number): void {
    // Raw syscalls: glibc's wrappers broadcast to every thread (setxid), which must not run here.
    const f = this.fn('syscall:setresuid', 'syscall', 'long', ['long', 'uint32', 'uint32', 'uint32']);
    this.check('setresuid', String(e), f(117, r, e, s));
  }
  setresgid(r: number, e: number, s: number): void {
    const f = this.fn('syscall:setresgid', 'syscall', 'long', ['long', 'uint32', 'uint32', 'uint32']);
    this.check('setresgid', String(e), f(119, r, e, s));
  }
  setgroups(gids: number[]): void {
    const buf = Buffer.alloc(Math.max(gids.length, 1) * 4);
    gids.forEach((g, i) => buf.writeUInt32LE(g, i * 4));
    const f = this.fn('syscall:setgroups', 'syscall', 'long', ['long', 'size_t', 'void *']);
    this.check('setgroups', gids.join(','), f(116, gids.length, buf));
  }
  capget(): CapSets {
    const hdr = Buffer.alloc(8);
    hdr.writeUInt32LE(LINUX_CAPABILITY_VERSION_3, 0);
    const data = Buffer.alloc(24);
    this.check('capget', undefined, this.sc('capget', NR.capget, ['void *', 'void *'], hdr, data)());
    const pick = (off: number) => BigInt(data.readUInt32LE(off)) | (BigInt(data.readUInt32LE(12 + off)) << 32n);
    return { effective: pick(0), permitted: pick(4), inheritable: pick(8) };
  }
  capset(sets: CapSets): void {
    const hdr = Buffer.alloc(8);
    hdr.writeUInt32LE(LINUX_CAPABILITY_VERSION_3, 0);
    const data = Buffer.alloc(24);
    const put = (off: number, v: bigint) => {
      data.writeUInt32LE(Number(v & 0xffffffffn), off);
      data.writeUInt32LE(Number((v >> 32n) & 0xffffffffn), 12 + off);
    };
    put(0, sets.effective);
    put(4, sets.permitted);
    put(8, sets.inheritable);
    this.check('capset', undefined, this.sc('capset', NR.capset, ['void *', 'void *'], hdr, data)());
  }
  prlimit(resource: number, limit: Rlimit): void {
    const buf = Buffer.alloc(16);
    buf.writeBigUInt64LE(limit.soft, 0);
    buf.writeBigUInt64LE(limit.hard, 8);
    const f = this.fn('syscall:prlimit', 'syscall', 'long', ['long', 'int', 'int', 'void *', 'void *']);
    this.check('prlimit', String(resource), f(NR.prlimit64, 0, resource, buf, null));
  }
  bpf(cmd: number, attr: Buffer, pointers: BpfPointer[] = []): number {
    // Addresses inside attr must point at C memory (koffi cannot hand out Buffer addresses).
    const mems = pointers.map((p) => {
      const size = Math.max(p.data.length, 1);
      const mem = koffi.alloc('uint8', size);
      const view = Buffer.from(koffi.view(mem, size));
      p.data.copy(view);
      attr.writeBigUInt64LE(BigInt(koffi.address(mem)), p.offset);
      return { mem, view, data: p.data };
    });
    try {
      const f = this.fn('syscall:bpf', 'syscall', 'long', ['long', 'int', 'void *', 'uint32']);
      return this.check('bpf', `cmd ${cmd}`, f(NR.bpf, cmd, attr, attr.length));
    } finally {
      for (const { mem, view, data } of mems) {
        view.copy(data, 0, 0, data.length);
        koffi.free(mem);
      }
    }
  }
  getrlimit(resource: number): Rlimit {
    const buf = Buffer.alloc(16);
    const f = this.fn('syscall:prlimit', 'syscall', 'long', ['long', 'int', 'int', 'void *', 'void *']);
    this.check('prlimit', String(resource), f(NR.prlimit64, 0, resource, null, buf));
    return { soft: buf.readBigUInt64LE(0), hard: buf.readBigUInt64LE(8) };
  }

  mkdirat(dirfd: number, path: PathArg, mode: number): void {
    this.check('mkdirat', path, this.fn('mkdirat', 'mkdirat', 'int', ['int', 'const char *', 'uint32'])(dirfd, path, mode));
  }
  symlinkat(target: PathArg, dirfd: number, path: PathArg): void {
    const f = this.fn('symlinkat', 'symlinkat', 'int', ['const char *', 'int', 'const char *']);
    this.check('symlinkat', path, f(target, dirfd, path));
  }
  linkat(olddirfd: number, oldpath: PathArg, newdirfd: number, newpath: PathArg, flags: number): void {
    const f = this.fn('linkat', 'linkat', 'int', ['int', 'const char *', 'int', 'const char *', 'int']);
    this.check('linkat', newpath, f(olddirfd, oldpath, newdirfd, newpath, flags));
  }
  unlinkat(dirfd: number, path: PathArg, flags: number): void {
    this.check('unlinkat', path, this.fn('unlinkat', 'unlinkat', 'int', ['int', 'const char *', 'int'])(dirfd, path, flags));
  }
  renameat2(olddirfd: number, oldpath: PathArg, newdirfd: number, newpath: PathArg, flags: number): void {
    const f = this.fn('renameat2', 'renameat2', 'int', ['int', 'const char *', 'int', 'const char *', 'uint32']);
    this.check('renameat2', oldpath, f(olddirfd, oldpath, newdirfd, newpath, flags));
  }
  fchmodat(dirfd: number, path: PathArg, mode: number, flags: number): void {
    const f = this.fn('fchmodat', 'fchmodat', 'int', ['int', 'const char *', 'uint32', 'int']);
    this.check('fchmodat', path, f(dirfd, path, mode, flags));
  }
  fchmod(fd: number, mode: number): void {
    this.check('fchmod', `fd ${fd}`, this.fn('fchmod', 'fchmod', 'int', ['int', 'uint32'])(fd, mode));
  }
  fchown(fd: number, uid: number, gid: number): void {
    this.check('fchown', `fd ${fd}`, this.fn('fchown', 'fchown', 'int', ['int', 'uint32', 'uint32'])(fd, uid, gid));
  }
  private tsBuf: Buffer | undefined;
  utimensat(dirfd: number, path: PathArg | null, atimeNs: bigint, mtimeNs: bigint, flags: number): void {
    const ts = (this.tsBuf ??= Buffer.alloc(32)); // calls are synchronous: one buffer serves all
    const G = 1000000000n;
    ts.writeBigInt64LE(atimeNs / G, 0);
    ts.writeBigInt64LE(atimeNs % G, 8);
    ts.writeBigInt64LE(mtimeNs / G, 16);
    ts.writeBigInt64LE(mtimeNs % G, 24);
    if (path === null) {
      // glibc's utimensat rejects a NULL path; futimens is its fd form
      this.check('futimens', `fd ${dirfd}`, this.fn('futimens', 'futimens', 'int', ['int', 'void *'])(dirfd, ts));
      return;
    }
    const f = this.fn('utimensat', 'utimensat', 'int', ['int', 'const char *', 'void *', 'int']);
    this.check('utimensat', path, f(dirfd, path, ts, flags));
  }
  fstatat(dirfd: number, path: PathArg, flags: number): StatResult {
    // struct stat, x86_64 layout (144 bytes).
    const st = Buffer.alloc(144);
    const f = this.fn('fstatat', 'fstatat', 'int', ['int', 'const char *', 'void *', 'int']);
    this.check('fstatat', path, f(dirfd, path, st, flags));
    return {
      dev: st.readBigUInt64LE(0),
      ino: st.readBigUInt64LE(8),
      nlink: Number(st.readBigUInt64LE(16)),
      mode: st.readUInt32LE(24),
      uid: st.readUInt32LE(28),
      gid: st.readUInt32LE(32),
      rdev: st.readBigUInt64LE(40),
      size: Number(st.readBigInt64LE(48)),
      mtimeNs: st.readBigInt64LE(88) * 1000000000n + st.readBigInt64LE(96),
    };
  }
  readlinkat(dirfd: number, path: PathArg, encoding: BufferEncoding = 'utf8'): string {
    const buf = Buffer.alloc(4096);
    const f = this.fn('readlinkat', 'readlinkat', 'long', ['int', 'const char *', 'void *', 'size_t']);
    const n = this.check('readlinkat', path, f(dirfd, path, buf, buf.length));
    return buf.subarray(0, n).toString(encoding);
  }
  fsetxattr(fd: number, name: string, value: Buffer, flags: number): void {
    const f = this.fn('fsetxattr', 'fsetxattr', 'int', ['int', 'const char *', 'void *', 'size_t', 'int']);
    this.check('fsetxattr', name, f(fd, name, value, value.length, flags));
  }
  lsetxattr(path: PathArg, name: string, value: Buffer, flags: number): void {
    const f = this.fn('lsetxattr', 'lsetxattr', 'int', ['const char *', 'const char *', 'void *', 'size_t', 'int']);
    this.check('lsetxattr', `${showPath(path)} ${name}`, f(path, name, value, value.length, flags));
  }
  llistxattr(path: PathArg): string[] {
    const buf = Buffer.alloc(65536);
    const f = this.fn('llistxattr', 'llistxattr', 'long', ['const char *', 'void *', 'size_t']);
    const n = this.check('llistxattr', path, f(path, buf, buf.length));
    return buf.subarray(0, n).toString('latin1').split('\0').filter((x) => x.length > 0);
  }
  flistxattr(fd: number): string[] {
    const buf = Buffer.alloc(65536);
    const f = this.fn('flistxattr', 'flistxattr', 'long', ['int', 'void *', 'size_t']);
    const n = this.check('flistxattr', `fd ${fd}`, f(fd, buf, buf.length));
    return buf.subarray(0, n).toString('latin1').split('\0').filter((x) => x.length > 0);
  }
  fremovexattr(fd: number, name: string): void {
    const f = this.fn('fremovexattr', 'fremovexattr', 'int', ['int', 'const char *']);
    this.check('fremovexattr', name, f(fd, name));
  }
  lgetxattr(path: PathArg, name: string): Buffer {
    const buf = Buffer.alloc(65536);
    const f = this.fn('lgetxattr', 'lgetxattr', 'long', ['const char *', 'const char *', 'void *', 'size_t']);
    const n = this.check('lgetxattr', `${showPath(path)} ${name}`, f(path, name, buf, buf.length));
    return Buffer.from(buf.subarray(0, n));
  }
}
