import {
  CLONE_FS, CLONE_NEWCGROUP, MNT_DETACH, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_RDONLY, CLONE_NEWPID, O_CLOEXEC, O_DIRECTORY, O_PATH, O_RDONLY, PR_SET_DUMPABLE,
  startContainerThread, type Sys, type SysError,
} from '@tsrt/libc';
import type { InitPlan, PlannedMount } from '../plan/types';
import { NS_FLAGS, NS_PROC_NAME, type NamespacePlan } from '../plan/namespaces';
import type { CgroupDescription } from '../cgroups/types';
import { RuntimeError } from '../errors';
import { prepareRootfs, switchRoot, finishRootfs, applySysctl, closeRoot } from '../init/rootfs';
import { mountOne } from '../init/mounts';
import { bringLoopbackUp } from '../init/loopback';
import { applyOomScoreAdj, applyRlimits, threadSettings, lastCap, keyringRefusalTolerated } from '../init/credentials';
import { lookPath, withHome, checkNoMagicLinks } from '../init/exec-lookup';
import { isolateFifoDir } from '../init/fds';
import { openPty, onTerminal } from '../init/console';
import { openInRoot, cwdProblem, type Root } from '../paths/in-root';
import { withThreadInCgroups } from '../cgroups/thread-cgroupns';
import { childOf, initSide, spawnedFds } from './thread-child';
import { takeIdentity } from './thread-identity';

const TMPFS_MAGIC = 0x01021994;

export interface InProcessRequest {
  plan: InitPlan;
  namespaces: NamespacePlan;
  cgroup: CgroupDescription | undefined;
  /** O_PATH fd of the state's fifo directory (fifo.d), holding exec.fifo. */
  fifoDirFd: number;
  /** The console socket (process.terminal), or -1. */
  consoleFd: number;
  preserveFds: number;
  /** Called as the container thread starts the spawn, which blocks it until the init execs. */
  spawning: () => void;
  /** Called with the init's pid as soon as it exists (a failure from then on kills it). */
  spawned: (pid: number) => void;
}

/** This thread's namespaces, to come back to. */
function saveNamespaces(sys: Sys, types: string[]): Array<{ type: string; fd: number }> {
  return types.map((type) => ({ type, fd: sys.open(`/proc/thread-self/ns/${NS_PROC_NAME[type]}`, O_RDONLY | O_CLOEXEC) }));
}

function openNamespace(sys: Sys, type: string, path: string): number {
  try {
    return sys.open(path, O_RDONLY | O_CLOEXEC);
  } catch (e) {
    throw new RuntimeError(`linux.namespaces: cannot open ${type} namespace ${path}: ${(e as SysError).code}`);
  }
}

/**
 * The in-process create: stage 2's work done without a second Node (process-model.md, "One
 * Node process for create"). The main thread makes the namespaces, mounts and pivots exactly as
 * stage 2 does (the same functions); the container thread joins them, takes the container
 * process's identity and posix_spawns it, held on the exec fifo (SpawnRequest.gate) until
 * `start`. /proc needs the new pid namespace's first process, so it is mounted just after,
 * with the masks, read-only paths and sysctls that act on it.
 *
 * Returns the init's pid and the spawn, which settles only once the init execs (or fails):
 * nothing may end this process normally before (create ends it with exit_group).
 */
export async function createInProcess(sys: Sys, req: InProcessRequest): Promise<{ pid: number; spawn: Promise<void> }> {
  const { plan, namespaces } = req;
  const p = plan.process;
  const thread = await startContainerThread();
  // The held child shares this process's memory: nothing in the container may read it (or
  // /proc/PID/exe) through ptrace rights before its execve.
  sys.prctl(PR_SET_DUMPABLE, 0);
  lastCap(); // read while /proc is ours: applyCredentials is recorded later
  // Process-wide: the child inherits them.
  applyOomScoreAdj(p);
  const gateDir = isolateFifoDir(sys, sys.open(`/proc/self/fd/${req.fifoDirFd}`, O_PATH | O_DIRECTORY | O_CLOEXEC));
  const hostProc = sys.open('/proc', O_PATH | O_DIRECTORY | O_CLOEXEC);
  const shared = ['mount', 'uts', 'ipc', 'network', 'cgroup'];
  const types = shared.filter((t) => namespaces.create.includes(t) || namespaces.join.some((j) => j.type === t));
  sys.unshare(CLONE_FS);
  const saved = saveNamespaces(sys, types);
  const cwd = sys.open('.', O_PATH | O_DIRECTORY | O_CLOEXEC);
  const opened: number[] = [gateDir, hostProc, cwd];
  let root: Root | undefined;
  try {
    // Joined first (a pod's network), then the new ones; the cgroup namespace is made by the
    // container thread inside the container's cgroups, so that it is rooted there.
    for (const j of namespaces.join) {
      if (j.type === 'pid') continue;
      const fd = openNamespace(sys, j.type, j.path);
      opened.push(fd);
      try {
        sys.setns(fd, NS_FLAGS[j.type]);
      } catch (e) {
        throw new RuntimeError(`linux.namespaces: cannot join ${j.type} namespace ${j.path}: ${(e as SysError).code}`);
      }
    }
    sys.unshare(namespaces.create.filter((t) => t !== 'pid' && t !== 'cgroup').reduce((f, t) => f | NS_FLAGS[t], 0));
    if (namespaces.create.includes('cgroup')) {
      await withThreadInCgroups(req.cgroup, thread.tid, () => thread.run((s) => s.unshare(CLONE_NEWCGROUP)));
      const fd = sys.open(`/proc/self/task/${thread.tid}/ns/cgroup`, O_RDONLY | O_CLOEXEC);
      opened.push(fd);
      sys.setns(fd, CLONE_NEWCGROUP);
    }
    const nsFds = saveNamespaces(sys, types);
    opened.push(...nsFds.map((n) => n.fd));
    const pidJoin = namespaces.join.find((j) => j.type === 'pid');
    const pidFd = pidJoin ? openNamespace(sys, 'pid', pidJoin.path) : -1;
    if (pidFd >= 0) opened.push(pidFd);

    return await initSide(async () => {
      // Everything of stage 2's setup up to the root switch, by the same code, with an empty
      // read-only placeholder where /proc goes: nothing is made in, nor resolved into, the image's
      // own /proc directory meanwhile (stage 2 would find procfs there).
      const procMounts = plan.mounts.filter((m) => m.fstype === 'proc');
      root = prepareRootfs(sys, { ...plan, mounts: plan.mounts.map((m) => (m.fstype === 'proc' ? placeholder(m) : cgroupView(m, plan, req.cgroup))) });
      switchRoot(sys, plan, root);
      if (plan.newNetNs) bringLoopbackUp(sys);
      if (plan.hostname !== null) sys.sethostname(plan.hostname);
      if (plan.domainname !== null) sys.setdomainname(plan.domainname);
      // What stage 2 checks after its switch, before the fifo: found in the container's root.
      const env = withHome(p.env, p.uid);
      const exe = lookPath(p.args[0], env);
      checkNoMagicLinks(sys, exe, p.args[0]);
      let cwdFd: number;
      try {
        cwdFd = openInRoot(sys, root.fd, p.cwd, O_PATH | O_DIRECTORY);
      } catch (e) {
        throw new Error(`chdir to cwd ("${p.cwd}") set in config.json failed: ${cwdProblem(e)}`);
      }
      opened.push(cwdFd);
      // Stage 2's console, opened in the container's devpts as there (after the root switch);
      // our copies are closed once the init holds its own (the spawn's child has our fd table).
      const pty = p.terminal ? openPty(sys, req.consoleFd, p.uid, p.gid, p.consoleSize) : null;
      if (pty) opened.push(pty.master, pty.slave);

      // The container thread: into the namespaces (the mount namespace now has the container's
      // root as its own), then the container process's identity, in stage 2's order.
      await thread.run((s) => {
        for (const n of nsFds) s.setns(n.fd, NS_FLAGS[n.type]);
        if (pidFd >= 0) s.setns(pidFd, CLONE_NEWPID);
        else s.unshare(CLONE_NEWPID);
        s.setThreadName('ts-runc init');
      });
      if (plan.sessionKeyring) {
        try {
          await thread.run((s) => s.joinSessionKeyring(plan.sessionKeyring!));
        } catch (e) {
          if (!keyringRefusalTolerated(e)) throw e;
        }
      }
      await thread.run((s) => {
        threadSettings(s, plan);
        takeIdentity(s, p, plan.seccomp);
      });
      // Per process: ours too from here on (plan/in-process.ts keeps out those that could hurt us).
      applyRlimits(sys, p);
      // The child gets a copy of our fd table: only 0-2 and the preserved fds may reach its execve.
      const inherited = spawnedFds(sys, req.preserveFds);
      const fds = pty ? onTerminal(inherited, pty.slave) : inherited;
      // The held init shows our argv (/proc/PID/cmdline, anyone's to read) until its execve:
      // no host path in it, as for stage 2 (spawn/stage1.ts stage2Command).
      const title = process.title;
      process.title = 'ts-runc init';
      // From here on libuv's pool thread is blocked until the init execs: no process.exit.
      req.spawning();
      const spawn = thread.run((s) => {
        // With a terminal, the slave becomes its controlling terminal through our /proc (ctty),
        // before it waits at the gate, as stage 2's TIOCSCTTY does before its fifo.
        s.posixSpawn({ path: exe, argv: p.args, env, fds, defaultSignals: true, setsid: true, ctty: pty ? { procFd: hostProc } : undefined, gate: { dirFd: gateDir, name: 'exec.fifo', cwdFd, closeOthers: true } });
      });
      // A foreground run lives on: it is no init once that has exec'd.
      spawn.then(() => (process.title = title), () => (process.title = title));
      const pid = await childOf(sys, thread, spawn, 'container init', hostProc);
      req.spawned(pid);

      // /proc of the new pid namespace (pidns= names it: we are not in it), then what acts on it.
      const pidns = sys.openat(hostProc, `${pid}/ns/pid`, O_RDONLY | O_CLOEXEC);
      opened.push(pidns);
      for (const m of procMounts) {
        removePlaceholder(sys, root, m.destination);
        mountOne(sys, root, withPidns(m, pidns));
      }
      applySysctl(sys, plan.sysctl);
      finishRootfs(sys, plan, root);
      root = undefined;
      return { pid, spawn };
    });
  } finally {
    if (root) closeRoot(sys, root);
    // Back where we were, whatever happened: a failure here leaves the CLI in a foreign namespace.
    for (const s of saved) {
      sys.setns(s.fd, NS_FLAGS[s.type]);
      sys.close(s.fd);
    }
    sys.fchdir(cwd);
    for (const fd of opened) {
      try {
        sys.close(fd);
      } catch {
        /* closed */
      }
    }
  }
}

/** An empty read-only tmpfs where a proc mount goes, until the pid namespace has its init. */
function placeholder(m: PlannedMount): PlannedMount {
  return { ...m, fstype: 'tmpfs', source: 'tmpfs', data: 'mode=555,size=4k', flags: MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, propagation: [], remountFlags: null, recursive: null, tmpcopyup: false };
}

/**
 * A cgroup mount without a cgroup namespace binds each hierarchy from the mounter's own cgroup:
 * made here, by the CLI outside the container's cgroups, it must name the container's instead.
 */
function cgroupView(m: PlannedMount, plan: InitPlan, cgroup: CgroupDescription | undefined): PlannedMount {
  if ((m.fstype !== 'cgroup' && m.fstype !== 'cgroup2') || plan.newCgroupNs || !cgroup) return m;
  return { ...m, containerCgroupDirs: Object.fromEntries(Object.entries(cgroup.paths).filter(([c]) => c !== '')) };
}

function removePlaceholder(sys: Sys, root: Root, destination: string): void {
  const fd = openInRoot(sys, root.fd, destination, O_PATH | O_DIRECTORY);
  try {
    if (sys.fstatfs(fd).type !== TMPFS_MAGIC || !sys.statxFd(fd).mountRoot) throw new Error(`${destination}: the placeholder for /proc is gone`);
    root.names.run((name) => sys.umount2(name(fd), MNT_DETACH));
  } finally {
    sys.close(fd);
  }
}

/**
 * A proc mount for a pid namespace we are not in: `pidns=` with the namespace's fd, named as
 * mountOne's mount(2) sees it (relative to /proc/self/fd, its working directory for the call).
 */
function withPidns(m: PlannedMount, pidnsFd: number): PlannedMount {
  return { ...m, data: [m.data, `pidns=${pidnsFd}`].filter(Boolean).join(',') };
}
