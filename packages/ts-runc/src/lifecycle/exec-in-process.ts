import {
  CLONE_FS, CLONE_NEWNS, CLONE_NEWPID, O_CLOEXEC, O_DIRECTORY, O_PATH, O_RDONLY, PR_SET_DUMPABLE,
  startContainerThread, type Sys, type SysError,
} from '@tsrt/libc';
import type { PlannedProcess, PlannedSeccomp } from '../plan/types';
import { NS_FLAGS } from '../plan/namespaces';
import { RuntimeError } from '../errors';
import { applyRlimits, applySchedIo, applyCpuAffinity, lastCap } from '../init/credentials';
import { lookPath, withHome, checkNoMagicLinks } from '../init/exec-lookup';
import { openInRoot, cwdProblem } from '../paths/in-root';
import { openPty, onTerminal, type Pty } from '../init/console';
import { childOf, initSide, spawnedFds } from './thread-child';
import { takeIdentity } from './thread-identity';

export interface InProcessExec {
  process: PlannedProcess;
  /** The container's filter, which plan/in-process.ts found fit to load before the spawn. */
  seccomp: PlannedSeccomp | null;
  /** The container's namespaces by type (state.namespacePaths); mount and pid among them. */
  namespaces: Record<string, string>;
  preserveFds: number;
  /** The console socket (process.terminal), or -1. */
  consoleFd: number;
  /** The exec gate (exec-gate.ts): its directory's fd and its fifo's name. */
  gate: { dirFd: number; name: string };
  /** Put the held child into the container (cgroups, oom_score_adj, final affinity). */
  admit: (child: number) => void;
  /** Open the gate: the child goes on to its execve. */
  release: () => void;
}

/**
 * exec without a helper Node: what init/exec-main.ts does in its own process, done by the
 * container thread (namespaces, identity, posix_spawn held at the exec gate) while the main
 * thread looks the command and its cwd up in the container's root. The command joins the
 * container's cgroups held at the gate; no thread of ours ever does. Returns its pid once it
 * has exec'd (or fails).
 */
export async function execInProcess(sys: Sys, req: InProcessExec): Promise<number> {
  const p = req.process;
  const ns = req.namespaces;
  const thread = await startContainerThread();
  // The held child shares our memory until its execve, inside the container's pid namespace.
  sys.prctl(PR_SET_DUMPABLE, 0);
  lastCap(); // applyCredentials is recorded after our root is the container's
  const opened: number[] = [];
  const open = (type: string, p: string) => {
    try {
      const fd = sys.open(p, O_RDONLY | O_CLOEXEC);
      opened.push(fd);
      return fd;
    } catch (e) {
      throw new RuntimeError(`cannot open the container's ${type} namespace ${p}: ${(e as SysError).code}`);
    }
  };
  try {
    return await initSide(async () => {
      const joins = Object.entries(ns).map(([type, path]) => ({ type, fd: open(type, path) }));
      const mnt = joins.find((j) => j.type === 'mount')!.fd;
      // Ours to come back to: the main thread only looks the command up in the container's root.
      sys.unshare(CLONE_FS);
      const home = sys.open('/proc/thread-self/ns/mnt', O_RDONLY | O_CLOEXEC);
      opened.push(home);
      // Our /proc, through which the command takes its terminal (SpawnRequest.ctty).
      const proc = p.terminal ? sys.open('/proc', O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
      if (proc >= 0) opened.push(proc);
      const cwd = sys.open('.', O_PATH | O_DIRECTORY | O_CLOEXEC);
      opened.push(cwd);
      let exe: string;
      let env: string[];
      let cwdFd: number;
      let pty: Pty | null = null;
      sys.setns(mnt, CLONE_NEWNS);
      try {
        env = withHome(p.env, p.uid);
        exe = lookPath(p.args[0], env);
        checkNoMagicLinks(sys, exe, p.args[0]);
        const root = sys.open('/', O_PATH | O_DIRECTORY | O_CLOEXEC);
        opened.push(root);
        try {
          cwdFd = openInRoot(sys, root, p.cwd, O_PATH | O_DIRECTORY);
        } catch (e) {
          throw new Error(`chdir to cwd ("${p.cwd}") set in the process failed: ${cwdProblem(e)}`);
        }
        opened.push(cwdFd);
        // In the container's devpts, as the helper opens it; our copies are closed once the
        // command holds its own.
        if (p.terminal) {
          pty = openPty(sys, req.consoleFd, p.uid, p.gid, p.consoleSize);
          opened.push(pty.master, pty.slave);
        }
      } finally {
        sys.setns(home, CLONE_NEWNS);
        sys.fchdir(cwd);
      }
      await thread.run((s) => {
        // The pid namespace last: nothing after it may make a thread, and this one never does.
        for (const j of joins) if (j.type !== 'pid') s.setns(j.fd, NS_FLAGS[j.type]);
        s.setns(joins.find((j) => j.type === 'pid')!.fd, CLONE_NEWPID);
        s.setThreadName('ts-runc exec');
        applySchedIo(s, p);
        // Held at the gate, the command joins the container's cpuset, which resets its affinity:
        // the final one is set after that (admit).
        applyCpuAffinity(s, p, 'initial');
        takeIdentity(s, p, req.seccomp);
      });
      applyRlimits(sys, p); // per process: ours too (plan/in-process.ts keeps those that could hurt us out)
      const inherited = spawnedFds(sys, req.preserveFds);
      const fds = pty ? onTerminal(inherited, pty.slave) : inherited;
      const title = process.title;
      process.title = 'ts-runc exec'; // the held child shows our argv until its execve
      const spawn = thread.run((s) => {
        // A terminal makes it a session leader with the slave as its controlling terminal.
        s.posixSpawn({ path: exe, argv: p.args, env, fds, defaultSignals: true, setsid: !!pty, ctty: pty ? { procFd: proc } : undefined, gate: { dirFd: req.gate.dirFd, name: req.gate.name, cwdFd, closeOthers: true } });
      });
      let child = 0;
      try {
        child = await childOf(sys, thread, spawn, 'container process');
        req.admit(child);
        req.release();
        await spawn;
        process.title = title;
      } catch (e) {
        // A held child has run nothing of the command: it dies (and so the spawn returns).
        if (child > 0) {
          try {
            sys.kill(child, 9);
          } catch {
            /* gone */
          }
          await spawn.catch(() => undefined);
        }
        throw e;
      }
      return child;
    });
  } finally {
    for (const fd of opened) {
      try {
        sys.close(fd);
      } catch {
        /* closed */
      }
    }
  }
}
