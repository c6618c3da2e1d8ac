import * as fs from 'fs';
import { AF_UNIX, SOCK_STREAM, SOCK_CLOEXEC, PR_SET_CHILD_SUBREAPER, POLLIN, POLLHUP } from '@tsrt/libc';
import type { Mount, Process } from '@tsrt/oci-spec';
import { RuntimeError, messageOf, INIT_FAILED } from '../errors';
import type { ExecPlan } from '../plan/exec-types';
import { spawnStage2, stage2Command, stage2Script, readLastCap, callerUmask } from '../spawn/stage1';
import { SyncChannel } from '../protocol/sync';
import type { CgroupDescription } from '../cgroups/types';
import type { ContainerState } from '../state/container-state';
import { statusOf } from './status';
import { consoleFdOf, stage2FdMap } from '../spawn/stage2-fds';
import type { TerminalProxy } from './terminal-proxy';
import { ExecGate, admitToContainer } from './exec-gate';
import type { Context } from './context';
import { execInProcessRefusal } from '../plan/in-process';
import { inProcessHost } from './in-process-host';
import { checkPreservedFds } from './preserved-fds';

/**
 * Modules needed only once the helper is spawned: loading them afterwards lets the helper's
 * Node start-up run on the other core meanwhile.
 */
function late() {
  return {
    ...(require('../plan/compile') as typeof import('../plan/compile')),
    ...(require('../plan/seccomp') as typeof import('../plan/seccomp')),
    ...(require('../cgroups/container') as typeof import('../cgroups/container')),
    ...(require('../hooks/run-hooks') as typeof import('../hooks/run-hooks')),
    ...(require('./create') as typeof import('./create')),
    ...(require('./foreground') as typeof import('./foreground')),
  };
}

export interface ExecOptions {
  id: string;
  process: Process;
  detach: boolean;
  pidFile?: string;
  consoleSocket?: string;
  preserveFds?: number;
  ignorePaused?: boolean;
}

const STEP_TIMEOUT_MS = Number(process.env.TS_RUNC_INIT_TIMEOUT_MS ?? 30000);

function loadRunnable(ctx: Context, opts: ExecOptions): ContainerState {
  const lock = ctx.store.lock(opts.id);
  try {
    const state = ctx.store.load(opts.id);
    const status = statusOf(ctx.store, state);
    if (status === 'stopped') throw new RuntimeError('cannot exec in a stopped container');
    if (status === 'paused' && !opts.ignorePaused) throw new RuntimeError('cannot exec in a paused container (use --ignore-paused to override)');
    return state;
  } finally {
    // exec does not hold the container lock while the process runs (it may run for days).
    lock.release();
  }
}

/** Run a process inside a running container; returns its exit code (0 at once when detached). */
export async function exec(ctx: Context, opts: ExecOptions): Promise<number> {
  const { sys } = ctx;
  checkPreservedFds(opts.preserveFds ?? 0);
  const state = loadRunnable(ctx, opts);
  const proc = opts.process;
  if (proc.terminal && !opts.consoleSocket && opts.detach) throw new RuntimeError('cannot allocate tty if runc will detach without setting console socket');
  if (!proc.terminal && opts.consoleSocket) throw new RuntimeError('cannot use console socket if runc will not detach or allocate tty');
  // A terminal in the foreground with nobody else to hold the pty: we proxy it, like runc.
  const proxy: TerminalProxy | null = proc.terminal && !opts.consoleSocket ? new (require('./terminal-proxy') as typeof import('./terminal-proxy')).TerminalProxy(sys) : null;
  let copying: Promise<void> = Promise.resolve();
  const nsPaths = state.namespacePaths ?? {};
  // Joined for the helper's birth (user and time by a clone child: setns into them needs a
  // single-threaded process); mount and pid are joined by the helper itself.
  const join = Object.entries(nsPaths)
    .filter(([type]) => type !== 'mount' && type !== 'pid')
    .map(([type, p]) => ({ type, path: p }));

  if (!opts.detach) sys.prctl(PR_SET_CHILD_SUBREAPER, 1); // the command is re-parented to us
  const inProcess = await tryInProcess(ctx, state, opts, proxy);
  if (inProcess !== null) {
    if (proxy) copying = proxy.start();
    if (opts.pidFile) notePid(sys, opts.pidFile, inProcess, proxy);
    return opts.detach ? 0 : late().waitForeground(sys, inProcess, proxy, copying);
  }
  const opened: number[] = [];
  let stage2 = 0;
  let pid = 0;
  let child = 0;
  let gate: ExecGate | undefined;
  let l: ReturnType<typeof late> | undefined;
  try {
    const [parentEnd, childEnd] = sys.socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC);
    opened.push(parentEnd, childEnd);
    const consoleFd = consoleFdOf(sys, opts.consoleSocket, proxy ? proxy.childEnd : -1, opened);
    const preserve = opts.preserveFds ?? 0;
    const fds = stage2FdMap(preserve, { sync: childEnd, console: consoleFd });
    // Spawned before its plan is compiled: the plan is sent when ready; any error kills it.
    stage2 = spawnStage2(sys, {
      namespaces: { create: [], join },
      ...stage2Command(stage2Script('exec-main'), 'exec', [String(preserve), consoleFd >= 0 ? '1' : '0']),
      fds,
      setsid: false,
    });
    sys.close(childEnd);
    opened.splice(opened.indexOf(childEnd), 1);
    gate = ExecGate.create(sys, ctx.store.dir(opts.id));
    l = late();
    const plan: ExecPlan = {
      mntNs: nsPaths.mount ?? `/proc/${state.pid}/ns/mnt`,
      pidNs: nsPaths.pid ?? `/proc/${state.pid}/ns/pid`,
      root: state.namespacePaths && !nsPaths.mount ? `/proc/${state.pid}/root` : undefined,
      process: l.planProcess(proc, { lastCap: readLastCap(), callerUmask: callerUmask(), warn: (m) => ctx.log.warn(m) }),
      // With a notify listener, the helper sends it a new listener fd for this process, as runc.
      seccomp: l.planSeccomp(state.config?.linux?.seccomp, { cache: state.config?.linux?.seccomp ? l.defaultBpfCache() : undefined }),
      state: { ...l.hookState(state, 'running') },
      // The helper never joins the container's cgroups: only the command does (exec-gate.ts).
      gate: ExecGate.FIFO,
    };
    const ch = new SyncChannel(sys, parentEnd);
    ch.send({ type: 'plan', plan });
    for (;;) {
      const msg = ch.recv(STEP_TIMEOUT_MS, 'the exec helper');
      if (!msg) throw new RuntimeError('exec helper exited before the process started');
      if (msg.type === 'error') throw new RuntimeError(INIT_FAILED + msg.message);
      if (msg.type === 'gate') {
        sys.sendFds(parentEnd, Buffer.from('g'), [gate.dirFd]);
      } else if (msg.type === 'spawning') {
        child = gate.waitForChild(stage2, ch, STEP_TIMEOUT_MS);
        const { joinContainerCgroups } = l;
        const cgroup = state.cgroup as CgroupDescription | undefined;
        try {
          admitToContainer(sys, child, {
            cgroup: cgroup && (() => joinContainerCgroups(cgroup, child)),
            oomScoreAdj: state.config?.process?.oomScoreAdj,
            finalAffinity: plan.process.cpuAffinity?.final,
          });
        } catch (e) {
          // A child that failed before its execve is gone: the helper's error says why.
          const why = ch.hasMessage() || sys.poll([{ fd: parentEnd, events: POLLIN | POLLHUP }], 200) ? ch.recv(0) : null;
          throw why?.type === 'error' ? new RuntimeError(INIT_FAILED + why.message) : e;
        }
        gate.release();
      } else if (msg.type === 'started') {
        pid = msg.pid;
        break;
      }
    }
    if (proxy) copying = proxy.start();
  } catch (e) {
    proxy?.stop();
    // A held child has not exec'd: it dies with nothing of the command run.
    if (child > 0 && !pid) {
      try {
        sys.kill(child, 9);
      } catch {
        /* gone */
      }
    }
    if (stage2 > 0) {
      try {
        sys.kill(stage2, 9);
      } catch {
        /* gone */
      }
    }
    throw e instanceof RuntimeError ? e : new RuntimeError(messageOf(e));
  } finally {
    for (const fd of opened) {
      try {
        sys.close(fd);
      } catch {
        /* ignore */
      }
    }
    if (stage2 > 0) await sys.waitpidAsync(stage2).catch(() => undefined);
    gate?.dispose();
  }
  if (opts.pidFile) notePid(sys, opts.pidFile, pid, proxy);
  if (opts.detach) return 0;

  return (l ?? late()).waitForeground(sys, pid, proxy, copying);
}

/**
 * The pid file of a command that has started. When it cannot be written, exec fails, and the
 * command is killed first, as runc does: a caller told that exec failed knows of no process, and
 * nothing of the failed exec may go on running in the container.
 */
function notePid(sys: Context['sys'], file: string, pid: number, proxy: TerminalProxy | null): void {
  try {
    late().writePidFile(file, pid);
  } catch (e) {
    try {
      sys.kill(pid, 9);
    } catch {
      /* gone */
    }
    proxy?.stop();
    throw e;
  }
}

/**
 * exec by this process's own container thread (exec-in-process.ts) when the process allows it:
 * the command's pid once it has exec'd, or null (nothing done) for the helper Node path.
 */
async function tryInProcess(ctx: Context, state: ContainerState, opts: ExecOptions, proxy: TerminalProxy | null): Promise<number | null> {
  const nsPaths = state.namespacePaths ?? {};
  const host = inProcessHost(ctx.sys);
  // Refused before anything is compiled where the answer cannot change.
  if (execInProcessRefusal(null, null, nsPaths, host)) return null;
  const l = late();
  const p = l.planProcess(opts.process, { lastCap: readLastCap(), callerUmask: callerUmask(), warn: (m) => ctx.log.warn(m) });
  const devpts = ((state.config?.mounts ?? []) as Mount[]).filter((m) => m.type === 'devpts').map((m) => m.options ?? []);
  const raw = state.config?.linux?.seccomp;
  const seccomp = raw ? l.planSeccomp(raw, { cache: l.defaultBpfCache() }) : null;
  const identity = seccomp ? () => (require('./thread-identity') as typeof import('./thread-identity')).identityCalls(p, seccomp) : undefined;
  const refusal = execInProcessRefusal(p, seccomp, nsPaths, host, devpts, identity, opts.preserveFds ?? 0);
  if (refusal) {
    ctx.log.debug(`exec through a helper: ${refusal}`);
    return null;
  }
  ctx.log.debug('exec in process');
  const gate = ExecGate.create(ctx.sys, ctx.store.dir(opts.id));
  const opened: number[] = [];
  try {
    const consoleFd = consoleFdOf(ctx.sys, opts.consoleSocket, proxy ? proxy.childEnd : -1, opened);
    const { execInProcess } = require('./exec-in-process') as typeof import('./exec-in-process');
    const cgroup = state.cgroup as CgroupDescription | undefined;
    return await execInProcess(ctx.sys, {
      process: p,
      seccomp,
      namespaces: nsPaths,
      preserveFds: opts.preserveFds ?? 0,
      consoleFd,
      gate: { dirFd: gate.dirFd, name: ExecGate.FIFO },
      admit: (child) =>
        admitToContainer(ctx.sys, child, {
          cgroup: cgroup && (() => l.joinContainerCgroups(cgroup, child)),
          oomScoreAdj: state.config?.process?.oomScoreAdj,
          finalAffinity: p.cpuAffinity?.final,
        }),
      release: () => gate.release(),
    });
  } catch (e) {
    proxy?.stop();
    throw e instanceof RuntimeError ? e : new RuntimeError(messageOf(e));
  } finally {
    for (const fd of opened) ctx.sys.close(fd);
    gate.dispose();
  }
}

/** `exec -p FILE` (or "-" for stdin). */
export function readProcessFile(file: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(file === '-' ? 0 : file, 'utf8'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new RuntimeError(code ? `open ${file}: ${code}` : `${file}: invalid JSON: ${(e as Error).message}`);
  }
}
