import * as fs from 'fs';
import * as path from 'path';
import { CLONE_FS, O_RDONLY, O_CLOEXEC, O_PATH, O_DIRECTORY, type Sys, SysError, writeIdMaps } from '@tsrt/libc';
import { NS_FLAGS, NS_PROC_NAME, type NamespacePlan } from '../plan/namespaces';
import { RuntimeError } from '../errors';
import { runtimeExe, type RuntimeExe } from './self-exe';

export interface Stage2Request {
  namespaces: NamespacePlan;
  argv: string[];
  /** Stage 2's whole environment (none by default: it needs nothing from ours). */
  env?: string[];
  fds: Array<[number, number]>;
  setsid: boolean;
  /** ID mappings written for a new user namespace before its first process goes on. */
  uidMappings?: Array<{ containerID: number; hostID: number; size: number }>;
  gidMappings?: Array<{ containerID: number; hostID: number; size: number }>;
}

/** How long the clone child of a user-namespace spawn may take to reach execve (it is retried). */
const CLONE_TIMEOUT_MS = 2000;

/**
 * A user namespace cannot be entered by a multithreaded process, so posix_spawn cannot start
 * stage 2 in one: a raw clone child does (libc cloneExec). It cannot renumber fds either, so
 * stage 2 is told where its fds are ("fdmap=target:source,...").
 */
function cloneStage2(sys: Sys, req: Stage2Request, exe: RuntimeExe, flags: number, userNsFd: number | undefined, timeNsFd: number | undefined): number {
  const fdmap = 'fdmap=' + req.fds.map(([src, dst]) => `${dst}:${src}`).join(',');
  return sys.cloneExec({
    flags,
    // The clone child keeps our fd numbers (it renumbers nothing) until its execve.
    path: exe.path,
    argv: [...req.argv, fdmap],
    env: req.env ?? [],
    keepFds: req.fds.map(([src]) => src),
    userNsFd,
    timeNsFd,
    timeoutMs: CLONE_TIMEOUT_MS,
    beforeRelease: (pid) => {
      // Id maps only for a user namespace this child creates (not one it joins, nor none).
      if (userNsFd !== undefined || !(flags & NS_FLAGS.user)) return;
      try {
        writeIdMaps(pid, req.uidMappings, req.gidMappings);
      } catch (e) {
        throw new RuntimeError(`linux.uidMappings/gidMappings: cannot write the id maps: ${(e as NodeJS.ErrnoException).code ?? e}`);
      }
    },
  });
}

let fsUnshared = false;

const NS_GET_NSTYPE = 0xb703;

/**
 * Open a user or time namespace for the clone child to join. Its type is checked here: the
 * child can only say that setns failed, not which path was wrong.
 */
function openForChild(sys: Sys, type: 'user' | 'time', nsPath: string): number {
  let fd: number;
  try {
    fd = sys.open(nsPath, O_RDONLY | O_CLOEXEC);
  } catch (e) {
    throw new RuntimeError(`linux.namespaces: cannot open ${type} namespace ${nsPath}: ${(e as SysError).code}`);
  }
  let got = -1;
  try {
    got = sys.ioctlInt(fd, NS_GET_NSTYPE, 0);
  } catch {
    /* not a namespace file at all */
  }
  if (got !== NS_FLAGS[type]) {
    sys.close(fd);
    throw new RuntimeError(`linux.namespaces: cannot join ${type} namespace ${nsPath}: not a ${type} namespace`);
  }
  return fd;
}

/**
 * Stage 1: move the calling thread into the container's namespaces, posix_spawn stage 2 so it
 * is born inside them (posix_spawn runs only libc code in the child: no JavaScript is ever
 * forked), then move the thread back. See shared/design/process-model.md.
 *
 * This runs on the main thread, synchronously, with no JavaScript callback in between: the
 * design note's dedicated worker costs a thread start plus a second koffi load (~10-20 ms) per
 * command, and a short-lived CLI has no other thread that could run JS in the window. The
 * thread-level facts still hold: CLONE_FS is unshared first so setns(mnt) is allowed, and
 * pid_for_children is restored before anything may create a thread.
 */
export function spawnStage2(sys: Sys, req: Stage2Request): number {
  const touched = new Set([...req.namespaces.create, ...req.namespaces.join.map((j) => j.type)]);
  // With a user namespace, or a time namespace to join (setns(CLONE_NEWTIME) wants a
  // single-threaded caller), a clone child creates the new namespaces and joins those two:
  // this thread only moves for the other joins by path (and must not try to come back from
  // where it never went: EPERM rootless).
  const cloning = touched.has('user') || req.namespaces.join.some((j) => j.type === 'time');
  const moved = cloning ? new Set(req.namespaces.join.map((j) => j.type).filter((t) => t !== 'user' && t !== 'time')) : touched;
  if (moved.has('mount') && !fsUnshared) {
    sys.unshare(CLONE_FS);
    fsUnshared = true;
  }
  // Never the host's node binary itself: see self-exe.ts (CVE-2019-5736).
  const exe = runtimeExe(sys);
  const saved: Array<{ type: string; fd: number }> = [];
  let cwd = -1;
  let userNsFd: number | undefined;
  let timeNsFd: number | undefined;
  try {
    cwd = sys.open('.', O_PATH | O_DIRECTORY | O_CLOEXEC);
    for (const type of moved) {
      if (type === 'user' || type === 'time') continue; // entered only by the clone child, never by this thread
      saved.push({ type, fd: sys.open(`/proc/thread-self/ns/${NS_PROC_NAME[type]}`, O_RDONLY | O_CLOEXEC) });
    }
    for (const j of req.namespaces.join) {
      if (j.type === 'time' || j.type === 'user') {
        const fd = openForChild(sys, j.type, j.path);
        if (j.type === 'time') timeNsFd = fd;
        else userNsFd = fd;
        continue;
      }
      let fd: number;
      try {
        fd = sys.open(j.path, O_RDONLY | O_CLOEXEC);
      } catch (e) {
        throw new RuntimeError(`linux.namespaces: cannot open ${j.type} namespace ${j.path}: ${(e as SysError).code}`);
      }
      try {
        sys.setns(fd, NS_FLAGS[j.type]);
      } catch (e) {
        throw new RuntimeError(`linux.namespaces: cannot join ${j.type} namespace ${j.path}: ${(e as SysError).code}`);
      } finally {
        sys.close(fd);
      }
    }
    const flags = req.namespaces.create.reduce((f, t) => f | (NS_FLAGS[t] ?? 0), 0) & ~NS_FLAGS.cgroup;
    if (cloning) return cloneStage2(sys, req, exe, flags, userNsFd, timeNsFd);
    if (flags) sys.unshare(flags);
    return sys.posixSpawn({
      path: process.execPath,
      execFd: exe.fd >= 0 ? exe.fd : undefined,
      argv: req.argv,
      env: req.env ?? [],
      fds: req.fds,
      defaultSignals: true,
      setsid: req.setsid,
    });
  } finally {
    // Back to where we were, whatever happened; a failure here leaves the CLI in a foreign namespace.
    for (const s of saved) {
      sys.setns(s.fd, NS_FLAGS[s.type]);
      sys.close(s.fd);
    }
    if (cwd >= 0) {
      sys.fchdir(cwd);
      sys.close(cwd);
    }
    // The child has exec()ed (or failed): the executable's fd is ours alone now.
    if (exe.fd >= 0) sys.close(exe.fd);
    if (userNsFd !== undefined) sys.close(userNsFd);
    if (timeNsFd !== undefined) sys.close(timeNsFd);
  }
}

/**
 * argv and env of a stage 2 Node running `script`. argv names no host path: it is anyone's to
 * read in /proc/PID/cmdline, from inside the container too, and an exec'd command's vfork
 * child shows it until its execve. The script's path comes in the environment, which only
 * ptrace rights can read. process.argv stays [node, role, ...args].
 */
export function stage2Command(script: string, role: 'init' | 'exec', args: string[]): { argv: string[]; env: string[] } {
  return { argv: ['ts-runc', '-e', 'require(process.env.TS_RUNC_STAGE2)', role, ...args], env: [`TS_RUNC_STAGE2=${script}`] };
}

/** The stage 2 entry script (compiled JS next to this file's package). */
export function stage2Script(name: 'main' | 'exec-main' = 'main'): string {
  return path.join(__dirname, '..', 'init', `${name}.js`);
}

export function readLastCap(): number {
  try {
    return Number(fs.readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8').trim());
  } catch {
    return 40;
  }
}

/** Our umask (read by setting and restoring it: Node has no pure getter). */
export function callerUmask(): number {
  const m = process.umask(0o022);
  process.umask(m);
  return m;
}
