import * as fs from 'fs';
import * as path from 'path';
import { AF_UNIX, SOCK_STREAM, SOCK_CLOEXEC, O_PATH, O_DIRECTORY, O_CLOEXEC, usernsWithMaps } from '@tsrt/libc';
import type { InitPlan } from '../plan/types';
import type { Spec } from '@tsrt/oci-spec';
import { RuntimeError, messageOf } from '../errors';
import { validateId } from '../state/store';
import type { ContainerState } from '../state/container-state';
import { readProcStat, isAlive } from '../state/liveness';
import { NS_PROC_NAME, namespaceTypes } from '../plan/namespaces';
import { spawnStage2, stage2Command, stage2Script, readLastCap, callerUmask } from '../spawn/stage1';
import { SyncChannel } from '../protocol/sync';
import { consoleFdOf, stage2FdMap } from '../spawn/stage2-fds';
import type { Context } from './context';
import { readConfig, validateConfig } from './config';
import { planNamespaces, checkUserNamespace } from '../plan/namespaces';
import type { CgroupDescription } from '../cgroups/types';
import { detachHostRootfs } from './host-rootfs';
import { inProcessRefusal, planlessRefusal } from '../plan/in-process';
import { inProcessHost } from './in-process-host';
import { holdPoolThread } from './process-exit';
import { checkPreservedFds } from './preserved-fds';
import type { NamespacePlan } from '../plan/namespaces';

/**
 * Modules needed only once stage 2 is spawned: loading them afterwards lets stage 2's Node
 * start-up run on the other core meanwhile (they cost more than half of create's own start-up).
 */
function late() {
  return {
    ...(require('../plan/compile') as typeof import('../plan/compile')),
    ...(require('../cgroups/container') as typeof import('../cgroups/container')),
    ...(require('../cgroups/manager') as typeof import('../cgroups/manager')),
    ...(require('../cgroups/join-timing') as typeof import('../cgroups/join-timing')),
    ...(require('../hooks/run-hooks') as typeof import('../hooks/run-hooks')),
    ...(require('./create-dialogue') as typeof import('./create-dialogue')),
    ...(require('./init-cgroups') as typeof import('./init-cgroups')),
  };
}

export interface CreateOptions {
  id: string;
  bundle: string;
  pidFile?: string;
  consoleSocket?: string;
  /** An already connected console socket (foreground `run` with a terminal proxies it itself). */
  consoleSocketFd?: number;
  noPivot?: boolean;
  noNewKeyring?: boolean;
  preserveFds?: number;
  /** config.json as the caller already read it (run, which looked for a terminal in it). */
  config?: unknown;
}

export interface Created {
  state: ContainerState;
}

/** The directory in a container's state that holds the exec fifo, and nothing else. */
export const FIFO_DIR = 'fifo.d';

/**
 * Atomic pid file: a bare number, written beside the target and renamed over it (as runc).
 * The temporary name is created, never opened: a symlink or file planted there (the directory
 * may be writable by others) must not redirect a root write elsewhere.
 */
export function writePidFile(file: string, pid: number): void {
  const abs = path.resolve(file);
  const tmp = path.join(path.dirname(abs), `.${path.basename(abs)}.tmp`);
  const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants; // libuv adds O_CLOEXEC
  let fd = -1;
  let created = false;
  try {
    fd = fs.openSync(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o644);
    created = true;
    fs.writeSync(fd, String(pid));
    fs.closeSync(fd);
    fd = -1;
    fs.renameSync(tmp, abs);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (fd >= 0) fs.closeSync(fd);
    if (created) fs.rmSync(tmp, { force: true }); // only what we made: never a planted link
    throw new RuntimeError(`write pid file ${file}: ${code === 'EEXIST' || code === 'ELOOP' ? `${tmp} already exists` : code ?? e}`);
  }
}

/** One user namespace per idmapped mount, with that mount's mappings (libc's usernsWithMaps). */
function idmapUserns(ctx: Context, idmaps: NonNullable<InitPlan['idmaps']>, opened: number[]): number[] {
  return idmaps.map((map, i) => {
    const fd = usernsWithMaps(ctx.sys, map.uidMappings, map.gidMappings,
      (e) => new RuntimeError(`mounts: idmapped mount ${i}: cannot write its id maps: ${(e as NodeJS.ErrnoException).code ?? e}`));
    opened.push(fd);
    return fd;
  });
}

/** Where the container's cgroups will go; `created` holds those that do not exist yet. */
function pendingCgroups(id: string, spec: Spec, systemd: boolean): CgroupDescription {
  const d = late().describeCgroups({ id, cgroupsPath: spec.linux?.cgroupsPath, systemd });
  return { ...d, created: [...new Set(Object.values(d.paths))].filter((p) => !fs.existsSync(p)) };
}

/** runc's words for an init that a memory limit too small ended. */
export const INIT_OOM_KILLED = 'container init was OOM-killed (memory limit too low?)';

/** Why stage 2 went away: runc's text when the memory cgroup OOM-killed it (a limit too small). */
export function initExitedMessage(desc: CgroupDescription | undefined): string {
  try {
    if (desc && late().openCgroupManager(desc).oomKillCount() > 0) return INIT_OOM_KILLED;
  } catch {
    /* no memory controller */
  }
  return 'container init exited before it was ready';
}

/**
 * Rootless (not root on the host): no cgroup we may create is not an error unless the config
 * asks for limits, as with runc; the container then runs in the caller's cgroup.
 */
function rootlessCgroups<T>(ctx: Context, setup: () => T, spec: Spec): T | null {
  if (process.geteuid?.() === 0) return setup();
  try {
    return setup();
  } catch (e) {
    const r = spec.linux?.resources ?? {};
    const limits = Object.entries(r).some(([k, v]) => k !== 'devices' && v !== undefined && v !== null);
    if (limits) throw e;
    ctx.log.debug(`rootless: running without a cgroup of its own: ${messageOf(e)}`);
    return null;
  }
}

/** runc's two refusals of a terminal setting that does not fit the console socket. */
function checkTerminal(raw: Spec, opts: CreateOptions): void {
  const terminal = raw.process?.terminal === true;
  const hasConsole = opts.consoleSocket !== undefined || opts.consoleSocketFd !== undefined;
  if (terminal && !hasConsole) throw new RuntimeError('cannot allocate tty if runc will detach without setting console socket');
  if (!terminal && hasConsole) throw new RuntimeError('cannot use console socket if runc will not detach or allocate tty');
}

/**
 * The exec fifo, alone in its own directory, which is all the init keeps of the state (see
 * isolateFifoDir); exec.fifo, where start and status look, is a symlink to it. Returns the
 * directory's path.
 */
function makeFifo(ctx: Context, id: string): string {
  const fifoDir = path.join(ctx.store.dir(id), FIFO_DIR);
  fs.mkdirSync(fifoDir, { mode: 0o711 });
  ctx.sys.mkfifo(path.join(fifoDir, 'exec.fifo'), 0o622);
  fs.chmodSync(path.join(fifoDir, 'exec.fifo'), 0o622);
  fs.symlinkSync(`${FIFO_DIR}/exec.fifo`, ctx.store.fifoPath(id));
  return fifoDir;
}

/** The rootfs the config names, which must be a directory. */
function checkRootfs(rootfs: string): void {
  try {
    if (!fs.statSync(rootfs).isDirectory()) throw new Error('not a directory');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new RuntimeError(`root.path: rootfs ${rootfs} is not a directory${code ? ': ' + code : ''}`);
  }
}

/**
 * The container's cgroups, created with every resource applied. Saved as pending before any
 * directory is made: a create killed while making them (tens of ms on a hybrid host) left
 * cgroups no state knew of; delete -f removes the ones that were new.
 */
function setUpCgroups(ctx: Context, state: ContainerState, spec: Spec): void {
  try {
    state.cgroup = pendingCgroups(state.id, spec, ctx.systemdCgroup);
    ctx.store.save(state);
  } catch {
    delete state.cgroup; // the setup below reports the problem
  }
  const cg = rootlessCgroups(ctx, () => late().setupContainerCgroups(state.id, spec, { systemd: ctx.systemdCgroup }), spec);
  if (cg) {
    state.cgroup = cg.description;
    cg.warnings.forEach((w) => ctx.log.warn(w));
  } else delete state.cgroup;
  ctx.store.save(state);
}

/** A failed create leaves nothing: the init killed, its cgroups, host mounts and state removed. */
function abandon(ctx: Context, state: ContainerState): void {
  if (state.pid > 0) {
    try {
      ctx.sys.kill(state.pid, 9);
      ctx.sys.waitpid(state.pid, 0);
    } catch {
      /* already gone */
    }
  }
  if (state.cgroup) {
    try {
      late().removeContainerCgroups(state.cgroup as CgroupDescription);
    } catch (ce) {
      ctx.log.warn(messageOf(ce));
    }
  }
  const left = detachHostRootfs(ctx.sys, state.hostRootfsMount);
  if (left) ctx.log.warn(left);
  ctx.store.remove(state.id);
}

/**
 * How the in-process init's spawn ended (null: it exec'd), once it has: its failure (the kernel
 * refused its execve, e.g. out of memory under a tiny limit) is reaped by the spawn itself.
 */
let inProcessSpawn: Promise<Error | null> | undefined;
export function inProcessSpawnOutcome(): Promise<Error | null> | undefined {
  return inProcessSpawn;
}

interface Compiled {
  spec: Spec;
  plan: InitPlan;
}

/** The schema check and the plan, with what the state keeps of them. */
function compilePlan(ctx: Context, state: ContainerState, raw: Spec, opts: CreateOptions): Compiled {
  const l = late();
  const spec = validateConfig(raw);
  const { plan, rootfs } = l.compile(spec, { bundle: state.bundle, noPivot: !!opts.noPivot, lastCap: readLastCap(), callerUmask: callerUmask(), warn: (m) => ctx.log.warn(m), debug: (m) => ctx.log.debug(m) });
  checkRootfs(rootfs);
  Object.assign(state, { rootfs, config: spec, annotations: spec.annotations });
  plan.sessionKeyring = opts.noNewKeyring ? null : `_ses.${state.id}`;
  return { spec, plan };
}

/** The init's namespaces as /proc/PID/ns paths (state.namespacePaths), made or joined. */
function namespacePathsOf(ns: NamespacePlan, pid: number): Record<string, string> {
  return Object.fromEntries(namespaceTypes(ns).map((t) => [t, `/proc/${pid}/ns/${NS_PROC_NAME[t]}`]));
}

/**
 * The in-process create (create-in-process.ts) when the plan allows it: false (nothing done)
 * when it does not. Its init is held by libuv's pool thread until start.
 */
async function tryInProcess(ctx: Context, state: ContainerState, c: Compiled, ns: NamespacePlan, opts: CreateOptions, fifoDir: string, opened: number[]): Promise<boolean> {
  const seccomp = c.plan.seccomp;
  const identity = seccomp ? () => (require('./thread-identity') as typeof import('./thread-identity')).identityCalls(c.plan.process, seccomp) : undefined;
  const refusal = inProcessRefusal(c.plan, ns, inProcessHost(ctx.sys), identity, opts.preserveFds ?? 0);
  if (refusal) {
    ctx.log.debug(`create through stage 2: ${refusal}`);
    return false;
  }
  ctx.log.debug('create in process');
  const { sys, store } = ctx;
  setUpCgroups(ctx, state, c.spec);
  const dirFd = sys.open(fifoDir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  opened.push(dirFd);
  const consoleFd = consoleFdOf(sys, opts.consoleSocket, opts.consoleSocketFd ?? -1, opened);
  const desc = state.cgroup as CgroupDescription | undefined;
  state.inProcess = true;
  const { createInProcess } = require('./create-in-process') as typeof import('./create-in-process');
  const joins = desc ? late().openCgroupJoins(desc) : undefined;
  let spawn: Promise<void>;
  try {
    ({ spawn } = await createInProcess(sys, {
      plan: c.plan,
      namespaces: ns,
      cgroup: desc,
      fifoDirFd: dirFd,
      consoleFd,
      preserveFds: opts.preserveFds ?? 0,
      spawning: () => holdPoolThread(true),
      // Our root is the container's until createInProcess returns: the state is saved then. A
      // kill before that leaves the init in the container's cgroups, where delete -f finds it;
      // only the container's process is ever in them (it has not exec'd yet).
      spawned: (pid) => {
        state.pid = pid;
        joins?.join(pid);
      },
    }));
  } finally {
    joins?.close();
  }
  const pid = state.pid;
  state.pidStartTime = readProcStat(pid)?.startTime;
  state.namespacePaths = namespacePathsOf(ns, pid);
  store.save(state);
  inProcessSpawn = spawn.then(
    () => {
      holdPoolThread(false);
      return null;
    },
    (e) => {
      holdPoolThread(false);
      ctx.log.debug(`container init: ${messageOf(e)}`);
      return e as Error;
    },
  );
  return true;
}

/**
 * The stage 2 path, which serves every config: spawn stage 2 (init/main.ts, a second Node in the
 * new namespaces) at once, as only the namespaces are needed: its start-up overlaps with the
 * schema check, plan compilation and cgroup set-up here. Then answer it over the socket
 * (create-dialogue.ts) until it is ready, blocked on the exec fifo. The init's pid goes into `state`.
 */
function createThroughStage2(ctx: Context, state: ContainerState, raw: Spec, opts: CreateOptions, namespaces: NamespacePlan, fifoDir: string, compiled: Compiled | undefined, opened: number[]): void {
  const { sys, store } = ctx;
  const [parentEnd, childEnd] = sys.socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC);
  opened.push(parentEnd, childEnd);
  const dirFd = sys.open(fifoDir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  opened.push(dirFd);
  const consoleFd = consoleFdOf(sys, opts.consoleSocket, opts.consoleSocketFd ?? -1, opened);
  const preserve = opts.preserveFds ?? 0;
  const pid = spawnStage2(sys, {
    // A new time namespace is unshared by stage 2 itself (setns back into ours would need a
    // single-threaded process); one joined by path is joined by stage 2's clone child.
    namespaces: { create: namespaces.create.filter((t) => t !== 'time'), join: namespaces.join },
    ...stage2Command(stage2Script(), 'init', [String(preserve), consoleFd >= 0 ? '1' : '0']),
    fds: stage2FdMap(preserve, { sync: childEnd, stateDir: dirFd, console: consoleFd }),
    setsid: true,
    uidMappings: raw.linux?.uidMappings,
    gidMappings: raw.linux?.gidMappings,
  });
  sys.close(childEnd);
  opened.splice(opened.indexOf(childEnd), 1);
  state.pid = pid;
  state.pidStartTime = readProcStat(pid)?.startTime;
  state.namespacePaths = namespacePathsOf(namespaces, pid);
  store.save(state);

  const l = late();
  const { spec, plan } = compiled ?? compilePlan(ctx, state, raw, opts);
  // What hooks and the seccomp listener read (runtime.md "State"), with the init's pid, which
  // exists only now when the plan was compiled first; stage 2 sets the status.
  plan.state = { ...l.hookState(state, 'creating') };
  setUpCgroups(ctx, state, spec);

  const desc = state.cgroup as CgroupDescription | undefined;
  const cgroups = new l.InitCgroups(desc, pid);
  // Without limits a start-up could trip over, stage 2 joins now, while it is still starting.
  plan.cgroupJoined = l.helperJoinsEarly(desc, spec.linux?.resources, spec.process?.execCPUAffinity, 'new');
  // Parked only inside a cgroup namespace: its cgroup mounts then show the container's cgroups
  // wherever stage 2 sits; without one they are bound from stage 2's own cgroup paths.
  plan.parkMemory = !plan.cgroupJoined && plan.newCgroupNs && !!desc && l.effectiveMemoryLimit(desc) !== Infinity;
  if (plan.cgroupJoined) {
    try {
      cgroups.join();
    } catch (e) {
      if (!isAlive(pid, state.pidStartTime)) throw new RuntimeError(initExitedMessage(desc));
      throw e;
    }
  }
  l.converse({
    ctx,
    ch: new SyncChannel(sys, parentEnd),
    state,
    spec,
    plan,
    cgroups,
    exited: () => initExitedMessage(desc),
    sendIdmapFds: () => sys.sendFds(parentEnd, Buffer.from('{"type":"idmap-fds"}\n'), idmapUserns(ctx, plan.idmaps ?? [], opened)),
  });
}

/**
 * create: the init made in process when the config allows it (tryInProcess), else through stage 2,
 * and held on the exec fifo until start. Any error kills it and removes everything (abandon).
 */
export async function create(ctx: Context, opts: CreateOptions): Promise<Created> {
  const { sys, store } = ctx;
  const id = validateId(opts.id);
  checkPreservedFds(opts.preserveFds ?? 0);
  const bundle = path.resolve(opts.bundle);
  const raw = (opts.config ?? readConfig(bundle)) as Spec;
  checkTerminal(raw, opts);
  const namespaces = planNamespaces(Array.isArray(raw.linux?.namespaces) ? raw.linux?.namespaces : undefined);
  checkUserNamespace(namespaces, raw.linux);

  const state: ContainerState = {
    // Not String(): a fuzzed ociVersion nested 10,000 arrays deep overflows the stack, and
    // the schema check that rejects it comes later.
    ociVersion: typeof raw.ociVersion === 'string' ? raw.ociVersion : '',
    id,
    pid: 0,
    bundle,
    rootfs: '',
    created: new Date().toISOString(),
    config: null,
    creating: true,
  };
  // Nothing may throw between taking this lock and the try below: its finally releases it.
  const lock = store.reserve(id);
  const opened: number[] = [];
  try {
    store.save(state);
    const fifoDir = makeFifo(ctx, id);
    // What refuses the in-process path before a plan is compiled sends stage 2 off at once.
    const compiled = planlessRefusal(namespaces, inProcessHost(ctx.sys)) === null ? compilePlan(ctx, state, raw, opts) : undefined;
    const inProcess = compiled && (await tryInProcess(ctx, state, compiled, namespaces, opts, fifoDir, opened));
    if (!inProcess) createThroughStage2(ctx, state, raw, opts, namespaces, fifoDir, compiled, opened);
    if (opts.pidFile) writePidFile(opts.pidFile, state.pid);
    delete state.creating;
    store.save(state);
    return { state };
  } catch (e) {
    abandon(ctx, state);
    throw e instanceof RuntimeError ? e : new RuntimeError(messageOf(e));
  } finally {
    for (const fd of opened) {
      try {
        sys.close(fd);
      } catch {
        /* ignore */
      }
    }
    lock.release();
  }
}
