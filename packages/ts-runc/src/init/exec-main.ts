process.title = 'ts-runc exec'; // first: /proc/PID/cmdline (and comm) show no host path, see stage2Command
import * as fs from 'fs';
// Stage 2 of `exec`: a fresh Node spawned in the container's uts/ipc/net/cgroup namespaces but
// NOT in its pid namespace, so no container process can see it (or open its /proc/PID/exe).
// It becomes non-dumpable, joins the mount and pid namespaces on its own thread, takes the
// process's credentials, and posix_spawns the command: the vfork child shares this
// non-dumpable memory until its execve, so the runtime is never reachable from inside.
import { libc, CLONE_FS, CLONE_NEWNS, CLONE_NEWPID, PR_SET_DUMPABLE, O_RDONLY, O_CLOEXEC, O_PATH, O_DIRECTORY, CLOSE_RANGE_CLOEXEC, type Sys } from '@tsrt/libc';
import { SyncChannel } from '../protocol/sync';
import type { ExecPlan } from '../plan/exec-types';
import { applyCredentials, applyNoNewPrivileges, applyRlimits, applySchedIo, applyCpuAffinity } from './credentials';
import { lookPath, withHome, checkNoMagicLinks } from './exec-lookup';
import { openPty, closePty, onTerminal, type Pty } from './console';
import { connectSeccompListener, installSeccomp, seccompBeforeCredentials } from './seccomp';
import { stage2Fds, stage2FdsFromArgv, inheritedFds } from '../protocol/fd-layout';
import { enterCwd, cwdProblem } from '../paths/in-root';

/** The exec gate (see lifecycle/exec-gate.ts): its directory's fd, and the call made right before spawning. */
interface Gate {
  dirFd: number;
  spawning: () => void;
}

function execInContainer(sys: Sys, plan: ExecPlan, fds: ReturnType<typeof stage2Fds>, preserve: number, hasConsole: boolean, gate: Gate | null): number {
  // Our own fds must not reach the command (spawned fds 0-2 and preserved ones are dup2'd fresh).
  sys.closeRange(fds.base, 0xffffffff, CLOSE_RANGE_CLOEXEC);
  // The listener socket is a host path: connect before joining the container's mount namespace.
  const listener = connectSeccompListener(sys, plan.seccomp);
  // Ours (the host's) procfs, through which the command takes its terminal (SpawnRequest.ctty).
  const proc = hasConsole ? sys.open('/proc', O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
  const mnt = sys.open(plan.mntNs, O_RDONLY | O_CLOEXEC);
  const pidNs = sys.open(plan.pidNs, O_RDONLY | O_CLOEXEC);
  sys.unshare(CLONE_FS);
  sys.setns(mnt, CLONE_NEWNS);
  sys.setns(pidNs, CLONE_NEWPID);
  sys.close(mnt);
  sys.close(pidNs);
  if (plan.root) {
    // Our namespace is the host's: the container's root is a chroot there (a host path, opened
    // before anything of the container's is trusted). Only this thread moves (CLONE_FS above).
    const r = sys.open(plan.root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    try {
      sys.fchdir(r);
      sys.chroot('.');
    } finally {
      sys.close(r);
    }
  }
  const p = plan.process;
  // Kept open until the command is spawned: it opens the slave again for its controlling
  // terminal, which fails once no master is open (the console's reader may have closed its own).
  const pty: Pty | null = hasConsole ? openPty(sys, fds.console, p.uid, p.gid, p.consoleSize) : null;
  applyRlimits(sys, p);
  // Per-thread settings the spawned command inherits (process.scheduler, ioPriority, execCPUAffinity).
  applySchedIo(sys, p);
  // Held at the gate, the command joins the container's cpuset, which resets its affinity: the
  // runtime sets the final one after that; ours is the one it has when it joins.
  applyCpuAffinity(sys, p, gate ? 'initial' : 'final');
  const early = !!plan.seccomp && seccompBeforeCredentials(p.noNewPrivileges, p.caps ? p.caps.effective : null, p.uid);
  if (early) installSeccomp(sys, plan.seccomp!, listener, plan.state);
  applyCredentials(sys, p);
  // Inside the container's root only (we are in its mount namespace, our other threads are
  // not): a magic link such as /proc/self/task/TID/root or /proc/1/fd/N is refused.
  try {
    enterCwd(sys, p.cwd);
  } catch (e) {
    throw new Error(`chdir to cwd ("${p.cwd}") set in the process failed: ${cwdProblem(e)}`);
  }
  sys.umask(p.umask);
  const env = withHome(p.env, p.uid);
  const path = lookPath(p.args[0], env);
  checkNoMagicLinks(sys, path, p.args[0]);
  applyNoNewPrivileges(sys, p);
  // The child goes back to this cwd after opening the gate's fifo in the gate's directory.
  const cwdFd = gate ? sys.open('.', O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
  // From now on the runtime watches for our child; the filter below would see the message.
  gate?.spawning();
  // On this thread only: the spawned command inherits it; we make just a few more syscalls.
  if (plan.seccomp && !early) installSeccomp(sys, plan.seccomp, listener, plan.state);
  const pid = sys.posixSpawn({
    path,
    argv: p.args,
    env,
    fds: pty ? onTerminal(inheritedFds(preserve), pty.slave) : inheritedFds(preserve),
    defaultSignals: true,
    setsid: hasConsole,
    ctty: pty ? { procFd: proc } : undefined,
    gate: gate && plan.gate ? { dirFd: gate.dirFd, name: plan.gate, cwdFd } : undefined,
  });
  if (pty) closePty(sys, pty);
  return pid;
}

function main(): void {
  const sys = libc();
  sys.prctl(PR_SET_DUMPABLE, 0);
  const preserve = Number(process.argv[2] ?? 0);
  const hasConsole = process.argv[3] === '1';
  const fds = stage2FdsFromArgv(process.argv);
  const ch = new SyncChannel(sys, fds.sync);
  try {
    const msg = ch.recv();
    if (!msg || msg.type !== 'plan') process.exit(1);
    const plan = msg.plan as ExecPlan;
    let gate: Gate | null = null;
    if (plan.gate) {
      // The gate's directory is the runtime's: its fd comes over the socket (close-on-exec).
      ch.send({ type: 'gate' });
      const dirFd = sys.recvFds(fds.sync, 16, 1).fds[0];
      if (dirFd === undefined) throw new Error('exec: the runtime sent no gate directory');
      gate = { dirFd, spawning: () => ch.send({ type: 'spawning' }) };
    }
    const pid = execInContainer(sys, plan, fds, preserve, hasConsole, gate);
    ch.send({ type: 'started', pid });
  } catch (e) {
    try {
      ch.send({ type: 'error', message: (e as Error).message });
    } catch {
      /* parent gone */
    }
    process.exit(1);
  }
  process.exit(0);
}

try {
  main();
} catch (e) {
  // Only a failure before the sync channel exists gets here: one line, never a stack.
  fs.writeSync(2, `ts-runc exec: ${(e as Error).message}\n`);
  process.exit(1);
}
