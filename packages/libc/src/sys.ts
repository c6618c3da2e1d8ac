/**
 * The one typed interface over the libc calls both tools need. Every method throws SysError
 * ("mount /proc: EPERM") on failure. Implementations: KoffiSys (real) and FakeSys (recording).
 */

export interface SpawnRequest {
  path: string;
  /**
   * Execute this open file (as /proc/self/fd/N) instead of `path`, which then only names it
   * in errors. It may be close-on-exec (an ELF needs no fd after execve); the fd actions never
   * overwrite it.
   */
  execFd?: number;
  argv: string[];
  env: string[];
  /** [source, target] pairs applied in order (dup2); every target is inherited by the child. */
  fds: Array<[number, number]>;
  /** Reset every catchable signal to SIG_DFL and start with an empty signal mask. */
  defaultSignals?: boolean;
  setsid?: boolean;
  /** Working directory of the child (posix_spawn_file_actions_addchdir_np). */
  cwd?: string;
  /**
   * Hold the child just before its execve: it opens `name` (a fifo) in the directory `dirFd`
   * for writing, which blocks until someone opens the fifo for reading, then fchdir()s to
   * `cwdFd`. Meanwhile its parent's caller can find it (/proc/PID/task/TID/children) and act on
   * it (move it into cgroups). Both fds must stay open until posix_spawn returns.
   */
  gate?: {
    dirFd: number;
    name: string;
    cwdFd: number;
    /** Close every other fd above the mapped ones before it waits (the child holds a copy of our fd table). */
    closeOthers?: boolean;
  };
  /**
   * Make fd 0 (a terminal, as mapped by `fds`) the child's controlling terminal: it is opened
   * again as `self/fd/0` under `procFd` (an O_PATH fd of a procfs the caller trusts, taken
   * before any namespace change), which a session leader without one acquires. Needs `setsid`
   * and a `gate` (its fchdir leaves procfs before execve).
   */
  ctty?: { procFd: number };
}

/**
 * Start `path` in new namespaces that include a user namespace: the one case posix_spawn
 * cannot do. A raw clone() child (a copy of this thread only) runs a handful of raw syscalls
 * with arguments prepared beforehand (see shared/design/process-model.md), then execve()s.
 */
export interface CloneExecRequest {
  /** CLONE_NEW* flags for clone(2) (SIGCHLD is added). */
  flags: number;
  path: string;
  argv: string[];
  env: string[];
  /** Fds the program must inherit (close-on-exec is cleared around the clone). */
  keepFds: number[];
  /** Join this user namespace (setns) instead of creating one. */
  userNsFd?: number;
  /**
   * Join this time namespace (setns, after the user namespace): only a single-threaded
   * process may, so only the clone child can (EUSERS in any Node thread).
   */
  timeNsFd?: number;
  /** Called in the parent with the child's pid before it may go on (write uid_map/gid_map). */
  beforeRelease: (pid: number) => void;
  /** How long the child may take to reach execve before it is killed and retried. */
  timeoutMs: number;
}

export interface WaitResult {
  pid: number;
  /** Exit code when the process exited, else null. */
  exitCode: number | null;
  /** Terminating signal when it was killed, else null. */
  signal: number | null;
}

export interface Rlimit {
  soft: bigint;
  hard: bigint;
}

export interface CapSets {
  effective: bigint;
  permitted: bigint;
  inheritable: bigint;
}

/**
 * A path argument of the *at() calls: a string (passed as UTF-8) or, for names that are not
 * UTF-8 (file names are bytes), a Buffer holding the bytes and a terminating NUL.
 */
export type PathArg = string | Buffer;

export interface Sys {
  // namespaces and mounts
  unshare(flags: number): void;
  setns(fd: number, nstype: number): void;
  mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null): void;
  umount2(target: string, flags: number): void;
  /** mount_setattr(2) on `path` (AT_RECURSIVE when recursive): MOUNT_ATTR_* to set and to clear. */
  mountSetattr(path: string, set: number, clr: number, recursive: boolean): void;
  /** open_tree(OPEN_TREE_CLONE): a detached copy of the mount at `path` (of its subtree when recursive). */
  openTree(path: string, recursive: boolean): number;
  /** mount_setattr(2) on the mount `fd` refers to (AT_EMPTY_PATH), such as a detached tree. */
  mountSetattrFd(fd: number, set: number, clr: number, recursive: boolean): void;
  /** mount_setattr on a detached tree: MOUNT_ATTR_IDMAP with the user namespace `usernsFd`. */
  idmapTree(treeFd: number, usernsFd: number, recursive: boolean): void;
  /** move_mount of a detached tree onto `target`. */
  moveMount(treeFd: number, target: string): void;
  /** fsopen(2): a filesystem context for `fsname` (new mount API); flags FSOPEN_CLOEXEC. */
  fsopen(fsname: string, flags: number): number;
  /**
   * fsconfig(2) on a filesystem context: FSCONFIG_SET_STRING (key, value), FSCONFIG_SET_FLAG
   * (key), FSCONFIG_CMD_CREATE (neither). The kernel's reason for a failure can be read from the fd.
   */
  fsconfig(fd: number, cmd: number, key: string | null, value: string | null, aux: number): void;
  /**
   * fsconfig(FSCONFIG_SET_FD): `key` set to the file `valueFd` refers to; the kernel takes that
   * very file, so a path swapped meanwhile cannot redirect it (EINVAL where the key takes no fd).
   */
  fsconfigFd(fd: number, key: string, valueFd: number): void;
  /** fsmount(2): a detached mount of a created context (FSMOUNT_CLOEXEC), MOUNT_ATTR_* applied. */
  fsmount(fd: number, flags: number, attrFlags: number): number;
  /** move_mount of a detached tree onto what the fd `targetFd` (O_PATH is enough) refers to. */
  moveMountToFd(treeFd: number, targetFd: number): void;
  /** open_tree(OPEN_TREE_CLONE) of what `dirfd` refers to (AT_EMPTY_PATH): a detached bind of it. */
  cloneTreeFd(dirfd: number, recursive: boolean): number;
  pivotRoot(newRoot: string, putOld: string): void;
  chroot(path: string): void;
  chdir(path: string): void;
  fchdir(fd: number): void;
  sethostname(name: string): void;
  setdomainname(name: string): void;

  // files
  open(path: string, flags: number, mode?: number): number;
  openat(dirfd: number, path: PathArg, flags: number, mode?: number): number;
  /** openat2 with a resolve mask (RESOLVE_IN_ROOT, ...). */
  openat2(dirfd: number, path: PathArg, flags: number, mode: number, resolve: number): number;
  close(fd: number): void;
  dup(fd: number): number;
  dup3(oldfd: number, newfd: number, flags: number): number;
  mknod(path: string, mode: number, dev: bigint): void;
  mknodat(dirfd: number, path: PathArg, mode: number, dev: bigint): void;
  mkfifo(path: string, mode: number): void;
  lchown(path: string, uid: number, gid: number): void;
  fchownat(dirfd: number, path: PathArg, uid: number, gid: number, flags: number): void;
  umask(mask: number): number;
  closeRange(first: number, last: number, flags: number): void;
  /** memfd_create(2). */
  memfdCreate(name: string, flags: number): number;
  /** fcntl(F_ADD_SEALS): F_SEAL_* bits on a memfd. */
  addSeals(fd: number, seals: number): void;
  /** fcntl(F_SETFD): set or clear FD_CLOEXEC. */
  setCloexec(fd: number, on: boolean): void;
  /** fcntl(F_SETFL): set or clear O_NONBLOCK (of the open file, which every dup shares). */
  setNonblock(fd: number, on: boolean): void;
  ioctlInt(fd: number, request: number, arg: number): number;
  ioctlPtr(fd: number, request: number, buf: Buffer): number;
  socketpair(domain: number, type: number): [number, number];
  /** A connected AF_UNIX stream socket (close-on-exec). */
  connectUnix(path: string): number;
  sendFds(sock: number, data: Buffer, fds: number[]): void;
  recvFds(sock: number, maxData: number, maxFds: number): { data: Buffer; fds: number[] };
  /** Open the pseudoterminal master (posix_openpt + grantpt + unlockpt) and return [master, slavePath]. */
  openpt(): [number, string];
  /** flock(2): LOCK_EX=2, LOCK_SH=1, LOCK_NB=4, LOCK_UN=8. */
  flock(fd: number, op: number): void;
  /** poll(2) on fds for `events`; returns the revents of each, or null on timeout. */
  poll(fds: Array<{ fd: number; events: number }>, timeoutMs: number): number[] | null;

  // processes
  getpid(): number;
  gettid(): number;
  posixSpawn(req: SpawnRequest): number;
  cloneExec(req: CloneExecRequest): number;
  /** statfs(2) f_flags (ST_* = MS_* values for rdonly/nosuid/nodev/noexec/atime). */
  statfsFlags(path: string): number;
  /** fstatfs(2) of an fd (O_PATH is enough): the filesystem's magic and its f_flags. */
  fstatfs(fd: number): { type: number; flags: number };
  /** statx(2) of what `fd` refers to (AT_EMPTY_PATH, no symlink following). */
  statxFd(fd: number): StatxResult;
  execve(path: string, argv: string[], env: string[]): never;
  waitpid(pid: number, options: number): WaitResult | null;
  /** waitpid on a libuv pool thread so the event loop keeps running (signal forwarding). */
  waitpidAsync(pid: number): Promise<WaitResult>;
  kill(pid: number, sig: number): void;
  pidfdOpen(pid: number): number;
  pidfdSendSignal(pidfd: number, sig: number): void;
  /** prctl(PR_SET_NAME): this thread's comm (what a child it spawns is named until its execve). */
  setThreadName(name: string): void;
  /** exit_group(2): ends every thread at once, running nothing of Node's teardown. */
  exitGroup(code: number): never;
  setsid(): number;
  /** keyctl(KEYCTL_JOIN_SESSION_KEYRING, name): a new session keyring of that name. */
  joinSessionKeyring(name: string): void;
  prctl(option: number, arg2: number | bigint, arg3?: number | bigint, arg4?: number, arg5?: number): number;
  /** Set every signal 1..64 (except KILL/STOP) to SIG_DFL, with raw rt_sigaction; unblock all. */
  resetSignals(): void;
  /**
   * seccomp(2). For SECCOMP_SET_MODE_FILTER `filter` is the BPF program (struct sock_filter[]
   * bytes); returns the result (a listener fd with SECCOMP_FILTER_FLAG_NEW_LISTENER).
   */
  seccomp(op: number, flags: number, filter: Buffer | null): number;
  /** personality(2): set the execution domain; returns the previous one. */
  personality(persona: number): number;
  /** ioprio_set(2). */
  ioprioSet(which: number, who: number, ioprio: number): void;
  /** sched_setattr(2) with a struct sched_attr buffer. */
  schedSetattr(pid: number, attr: Buffer, flags: number): void;
  /** sched_setaffinity(2): `mask` is a cpu_set_t bitmap (any multiple of 8 bytes). */
  schedSetaffinity(pid: number, mask: Buffer): void;
  /** set_mempolicy(2): `nodemask` holds maxnode-1 bits (null for none). */
  setMempolicy(mode: number, nodemask: Buffer | null, maxnode: number): void;

  // credentials and limits
  setresuid(r: number, e: number, s: number): void;
  setresgid(r: number, e: number, s: number): void;
  setgroups(gids: number[]): void;
  capget(): CapSets;
  capset(sets: CapSets): void;
  prlimit(resource: number, limit: Rlimit): void;
  getrlimit(resource: number): Rlimit;

  // *at() file calls (ts-img's root-confined layer applier). Paths are relative to dirfd.
  mkdirat(dirfd: number, path: PathArg, mode: number): void;
  symlinkat(target: PathArg, dirfd: number, path: PathArg): void;
  linkat(olddirfd: number, oldpath: PathArg, newdirfd: number, newpath: PathArg, flags: number): void;
  unlinkat(dirfd: number, path: PathArg, flags: number): void;
  renameat2(olddirfd: number, oldpath: PathArg, newdirfd: number, newpath: PathArg, flags: number): void;
  fchmodat(dirfd: number, path: PathArg, mode: number, flags: number): void;
  fchmod(fd: number, mode: number): void;
  fchown(fd: number, uid: number, gid: number): void;
  /** Times in nanoseconds since the epoch; path null operates on dirfd itself. */
  utimensat(dirfd: number, path: PathArg | null, atimeNs: bigint, mtimeNs: bigint, flags: number): void;
  fstatat(dirfd: number, path: PathArg, flags: number): StatResult;
  /** The link's target decoded with `encoding` ('latin1' keeps the bytes, one char each). */
  readlinkat(dirfd: number, path: PathArg, encoding?: BufferEncoding): string;
  fsetxattr(fd: number, name: string, value: Buffer, flags: number): void;
  lsetxattr(path: PathArg, name: string, value: Buffer, flags: number): void;
  llistxattr(path: PathArg): string[];
  lgetxattr(path: PathArg, name: string): Buffer;
  flistxattr(fd: number): string[];
  fremovexattr(fd: number, name: string): void;

  /**
   * The bpf(2) syscall: `attr` is the union bpf_attr (passed by pointer, its length as the size
   * argument; the kernel may write into it). Each entry of `pointers` is copied into C memory,
   * its address written as a u64 at `offset` in `attr`, and copied back after the call (log
   * buffers and id arrays come back filled). Returns the result (an fd for BPF_PROG_LOAD).
   */
  bpf(cmd: number, attr: Buffer, pointers?: BpfPointer[]): number;
}

/** A buffer the kernel reads or fills through a pointer field of bpf_attr (see Sys.bpf). */
export interface BpfPointer {
  offset: number;
  data: Buffer;
}

export interface StatxResult {
  mode: number;
  uid: number;
  gid: number;
  ino: bigint;
  dev: bigint;
  rdev: bigint;
  /** The mount's unique id (STATX_MNT_ID). */
  mountId: bigint;
  /** The fd names the root of a mount (STATX_ATTR_MOUNT_ROOT). */
  mountRoot: boolean;
}

export interface StatResult {
  dev: bigint;
  ino: bigint;
  nlink: number;
  mode: number;
  uid: number;
  gid: number;
  rdev: bigint;
  size: number;
  mtimeNs: bigint;
}
