process.title = 'ts-runc init'; // first: /proc/PID/cmdline (and comm) show no host path, see stage2Command
// Stage 2: a fresh Node started by posix_spawn inside the container's namespaces. It loads all
// its code first (nothing can be loaded after pivot_root), executes the plan it receives on
// the sync socket, reports "ready", waits on the exec fifo, then execve()s the container process.
import * as fs from 'fs';
import { libc, CLONE_NEWCGROUP, CLONE_NEWTIME, PR_SET_DUMPABLE, O_WRONLY, O_CLOEXEC, CLOSE_RANGE_CLOEXEC, type Sys } from '@tsrt/libc';
import { SyncChannel } from '../protocol/sync';
import type { InitPlan } from '../plan/types';
import { prepareRootfs, switchRoot, finishRootfs, applySysctl } from './rootfs';
import { applyCredentials, applyNoNewPrivileges, applyRlimits, applyOomScoreAdj, applyCpuAffinity, threadSettings, joinKeyring } from './credentials';
import { connectSeccompListener, installSeccomp, seccompBeforeCredentials } from './seccomp';
import { runHooks } from '../hooks/run-hooks';
import { lookPath, withHome, checkNoMagicLinks } from './exec-lookup';
import { setupConsole } from './console';
import { bringLoopbackUp } from './loopback';
import { stage2Fds, stage2FdsFromArgv } from '../protocol/fd-layout';
import { isolateFifoDir, markRuntimeFds, sweepFds } from './fds';
import { setIdmapFds } from './mounts';
import { enterCwd, cwdProblem } from '../paths/in-root';

interface Target {
  path: string;
  env: string[];
  /** The seccomp filter still to load right before execve, and its listener socket. */
  lateSeccomp: boolean;
  listener: number;
}

/** The createContainer/startContainer hooks, with the state the parent compiled (host pid). */
function stageHooks(plan: InitPlan, phase: 'createContainer' | 'startContainer', status: string): void {
  const hooks = plan.hooks?.[phase];
  if (!hooks?.length) return;
  const list = hooks.map((h) => ({ path: h.path, args: h.args, env: h.env, timeout: h.timeout ?? undefined }));
  runHooks(phase, list, { ...(plan.state ?? {}), status }, true);
}

/** How stage 2 is charged while parked (see cgroups/container.ts): for good, or around one step. */
interface Charging {
  toContainer(): void;
  around(step: () => void): void;
}

/** What stage 2 asks of, or tells, the runtime while it sets up. */
interface Parent {
  runtimeHooks(): void;
  charging: Charging;
  /** The rootfs bind made in the runtime's mount namespace (no mount namespace of our own). */
  hostMount(mountId: bigint): void;
}

function setup(sys: Sys, plan: InitPlan, fds: ReturnType<typeof stage2Fds>, hasConsole: boolean, parent: Parent): Target {
  if (plan.timeNs) {
    // For our children (hooks) and, at execve, for the container process: offsets go in
    // before anything enters it. This is the main thread, so /proc/self is this thread.
    sys.unshare(CLONE_NEWTIME);
    if (plan.timeNs.offsets) {
      try {
        fs.writeFileSync('/proc/self/timens_offsets', plan.timeNs.offsets);
      } catch (e) {
        throw new Error(`linux.timeOffsets: cannot set the offsets: ${(e as NodeJS.ErrnoException).code ?? e}`);
      }
    }
  }
  // A host path: connect while the host filesystem is visible.
  const listener = connectSeccompListener(sys, plan.seccomp);
  const root = prepareRootfs(sys, plan, (mount) => parent.charging.around(mount), (id) => parent.hostMount(id));
  // Hooks: prestart/createRuntime by the runtime, then createContainer here, before pivot_root.
  if (plan.hooks?.runtimeHooks) parent.runtimeHooks();
  // The container's own code runs from here on: charged to the container like everything after.
  if (plan.hooks?.createContainer.length) parent.charging.toContainer();
  stageHooks(plan, 'createContainer', 'creating');
  switchRoot(sys, plan, root);
  if (plan.newNetNs) bringLoopbackUp(sys);
  if (plan.hostname !== null) sys.sethostname(plan.hostname);
  if (plan.domainname !== null) sys.setdomainname(plan.domainname);
  applySysctl(sys, plan.sysctl);
  if (hasConsole) setupConsole(sys, fds.console, plan.process.uid, plan.process.gid, plan.process.consoleSize);
  finishRootfs(sys, plan, root);
  joinKeyring(sys, plan.sessionKeyring);
  applyOomScoreAdj(plan.process);
  applyRlimits(sys, plan.process);
  threadSettings(sys, plan);
  // Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: before the caps go if they do.
  const p = plan.process;
  const early = !!plan.seccomp && seccompBeforeCredentials(p.noNewPrivileges, p.caps ? p.caps.effective : null, p.uid);
  if (early) {
    // The filter binds this process from here on: the fds take their final state first.
    sweepFds(sys, fds, true);
    installSeccomp(sys, plan.seccomp!, listener, plan.state);
  }
  applyCredentials(sys, plan.process);
  // Opened inside the container's root, never following a magic link: a cwd such as
  // /proc/self/fd/N would otherwise lead to a runtime fd's directory on the host.
  try {
    enterCwd(sys, plan.process.cwd);
  } catch (e) {
    throw new Error(`chdir to cwd ("${plan.process.cwd}") set in config.json failed: ${cwdProblem(e)}`);
  }
  sys.umask(plan.process.umask);
  const env = withHome(plan.process.env, plan.process.uid);
  const path = lookPath(plan.process.args[0], env);
  checkNoMagicLinks(sys, path, plan.process.args[0]);
  applyNoNewPrivileges(sys, plan.process);
  return { path, env, lateSeccomp: !!plan.seccomp && !early, listener: early ? -1 : listener };
}


function main(): void {
  const sys = libc();
  // Nobody in the container may open /proc/1/exe (the node binary) before execve.
  sys.prctl(PR_SET_DUMPABLE, 0);
  sys.umask(0);
  const fds = stage2FdsFromArgv(process.argv);
  const hasConsole = process.argv[3] === '1';
  try {
    sys.setsid(); // posix_spawn made us a session leader already; a clone spawn did not
  } catch {
    /* EPERM: already one */
  }
  const ch = new SyncChannel(sys, fds.sync);
  let target: Target;
  let plan: InitPlan;
  let fifoDir = -1;
  try {
    // Before anything runs in the container (hooks, then the process): our fds are not
    // inherited, and the state directory is not held: only the exec fifo's own directory, as
    // a detached mount whose ".." leads nowhere (a ptrace-capable process in the container can
    // reach /proc/1/fd/N).
    markRuntimeFds(sys, fds);
    fifoDir = isolateFifoDir(sys, fds.stateDir);
    const msg = ch.recv();
    if (!msg || msg.type !== 'plan') process.exit(1);
    plan = msg.plan as InitPlan;
    // With limits, the parent moves us into the container's cgroups only now that Node's
    // start-up memory is charged elsewhere (without, it did so at once).
    // execCPUAffinity.initial: the affinity we have when we join the container's cgroup.
    if (!plan.cgroupJoined) {
      applyCpuAffinity(sys, plan.process, 'initial');
      if (!ch.ask('cgroup', 'cgroup-done')) process.exit(1);
    }
    // Rooted at the cgroups we are in: after the join.
    if (plan.newCgroupNs) sys.unshare(CLONE_NEWCGROUP);
    // Under a memory limit, what Node allocates while it sets up is charged outside it.
    if (plan.parkMemory && !ch.ask('park-memory', 'park-memory-done')) process.exit(1);
    let parked = !!plan.parkMemory;
    const charging: Charging = {
      toContainer() {
        if (parked && !ch.ask('charge-memory', 'charge-memory-done')) process.exit(1);
        parked = false;
      },
      around(step) {
        if (!parked) return step();
        this.toContainer();
        step();
        if (!ch.ask('park-memory', 'park-memory-done')) process.exit(1);
        parked = true;
      },
    };
    if (plan.idmaps?.length) {
      // The parent made one user namespace per idmapped mount; their fds come with SCM_RIGHTS.
      ch.send({ type: 'idmap' });
      setIdmapFds(sys.recvFds(fds.sync, 64, plan.idmaps.length).fds);
    }
    target = setup(sys, plan, fds, hasConsole, {
      runtimeHooks() {
        // prestart and createRuntime run in the runtime's namespaces: the parent runs them now.
        if (!ch.ask('hooks', 'hooks-done')) process.exit(1);
      },
      charging,
      // Before anything is mounted below it: a create killed from here on leaves delete the id.
      hostMount: (mountId) => {
        if (!ch.ask('host-mount', 'host-mount-done', { mountId: String(mountId) })) process.exit(1);
      },
    });
    // The parent charges us to the container again (if parked) before create returns.
    ch.send({ type: 'ready' });
  } catch (e) {
    try {
      ch.send({ type: 'error', message: (e as Error).message });
    } catch {
      /* parent gone */
    }
    process.exit(1);
  }
  // Block until `start` opens the fifo for reading.
  const fifo = sys.openat(fifoDir, 'exec.fifo', O_WRONLY | O_CLOEXEC);
  // Released: remove the fifo ourselves, so a `start` killed after its read cannot leave the
  // container looking "created" with a fifo nobody will ever write again.
  try {
    sys.unlinkat(fifoDir, 'exec.fifo', 0);
  } catch {
    /* start removed it already */
  }
  sys.close(fifoDir);
  // startContainer hooks run now, inside the container; `start` reads "0", or "1" and the error.
  try {
    stageHooks(plan, 'startContainer', 'created');
  } catch (e) {
    fs.writeSync(fifo, '1' + (e as Error).message);
    process.exit(1);
  }
  fs.writeSync(fifo, '0');
  sys.close(fifo);
  // Again, for what was opened since; under an early filter a refused sweep is no failure.
  try {
    sweepFds(sys, fds, target.lateSeccomp || !plan.seccomp);
  } catch (e) {
    fs.writeSync(2, `ts-runc init: ${(e as Error).message}\n`);
    process.exit(1);
  }
  if (target.lateSeccomp) {
    // The last step before execve: as few syscalls as possible run under the filter.
    try {
      installSeccomp(sys, plan.seccomp!, target.listener, plan.state);
    } catch (e) {
      fs.writeSync(2, `ts-runc init: ${(e as Error).message}\n`);
      process.exit(1);
    }
  }
  sys.resetSignals();
  try {
    sys.execve(target.path, plan.process.args, target.env);
  } catch (e) {
    fs.writeSync(2, `exec failed: ${(e as Error).message}\n`);
    process.exit(127);
  }
}

try {
  main();
} catch (e) {
  // Only a failure before the sync channel exists gets here: one line, never a stack.
  fs.writeSync(2, `ts-runc init: ${(e as Error).message}\n`);
  process.exit(1);
}
