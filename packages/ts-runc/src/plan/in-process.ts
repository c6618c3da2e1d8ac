// Which configs the in-process create (lifecycle/create-in-process.ts) serves: everything else
// takes the stage 2 path, which serves every config. Pure: unit-tested without a kernel.
import type { InitPlan, PlannedProcess, PlannedSeccomp } from './types';
import { namespaceTypes, type NamespacePlan } from './namespaces';
import { seccompInProcessRefusal, type SyscallCall } from './seccomp-spawn';

/**
 * rlimits are per process: set on the CLI itself just before the spawn, the child inherits
 * them. Only those the CLI can live with for its last milliseconds qualify (AS, DATA, STACK,
 * CPU, FSIZE or NPROC could end or break it; NPROC not for root, see rlimitRefusal).
 */
const SAFE_RLIMITS = new Set(['RLIMIT_NOFILE', 'RLIMIT_CORE', 'RLIMIT_MEMLOCK', 'RLIMIT_LOCKS', 'RLIMIT_SIGPENDING', 'RLIMIT_MSGQUEUE', 'RLIMIT_NICE', 'RLIMIT_RTPRIO', 'RLIMIT_RTTIME']);
/** The CLI keeps a few dozen fds open: a lower NOFILE limit could refuse its own last opens. */
const MIN_NOFILE = 256n;

export interface InProcessHost {
  /** TS_RUNC_IN_PROCESS=0 forces stage 2 (CI runs the integration suite both ways). */
  env: Record<string, string | undefined>;
  euid: number;
  /** The CLI's own executable is on a read-only mount (see create-in-process.ts: CVE-2019-5736). */
  exeReadOnly: boolean;
}

const under = (p: string, dir: string) => p === dir || p.startsWith(dir.endsWith('/') ? dir : dir + '/');

/** What the host must give either in-process path. */
export function hostRefusal(host: InProcessHost): string | null {
  if (host.env.TS_RUNC_IN_PROCESS === '0') return 'TS_RUNC_IN_PROCESS=0';
  // Every async call must run on one and the same pool thread.
  if (host.env.UV_THREADPOOL_SIZE !== '1') return 'UV_THREADPOOL_SIZE is not 1';
  if (host.euid !== 0) return 'not root';
  if (!host.exeReadOnly) return 'the runtime\'s executable is writable (no read-only node: see scripts/setup)';
  return null;
}

/**
 * A terminal: the spawned process takes the slave as its controlling terminal by opening it
 * again (SpawnRequest.ctty), as itself, where stage 2 uses TIOCSCTTY, which needs no access.
 * The slave is the process's own (fchown), so only a devpts whose mode= denies the owner read
 * or write could tell the two apart. `devpts`: each devpts mount's options.
 */
function terminalRefusal(devpts: string[][]): string | null {
  for (const options of devpts) {
    const mode = options.filter((o) => o.startsWith('mode=')).pop();
    if (mode && (parseInt(mode.slice(5), 8) & 0o600) !== 0o600) return `terminal on a devpts with ${mode}`;
  }
  return null;
}

/** rlimits are set on the CLI itself, which must survive them. */
function rlimitRefusal(p: PlannedProcess): string | null {
  for (const r of p.rlimits) {
    // The spawn's clone counts against the process's uid, but never against root's (the kernel
    // exempts the init user), as nothing counts against runc's init, which execs without a fork:
    // podman sets NPROC on every container.
    if (r.name === 'RLIMIT_NPROC' && p.uid === 0) continue;
    if (!SAFE_RLIMITS.has(r.name)) return `rlimit ${r.name}`;
    if (r.name === 'RLIMIT_NOFILE' && BigInt(r.soft) < MIN_NOFILE) return 'rlimit RLIMIT_NOFILE below 256';
  }
  return null;
}

/**
 * The container's filter goes on the container thread before the spawn: it must allow what
 * that thread and the spawn's child do after it (seccomp-spawn.ts). `identity` records what the
 * thread does to take the process's identity, the load among it (thread-identity.ts); it is
 * called only when every cheaper check has passed.
 */
export type IdentityCalls = () => SyscallCall[];

/**
 * `spawn`: whether the spawn makes a session (setsid), takes fd 0 as its terminal (ctty), and
 * how many fds it passes on above stdio (--preserve-fds).
 */
function seccompRefusal(seccomp: PlannedSeccomp | null | undefined, identity: IdentityCalls | undefined, spawn: { setsid: boolean; ctty: boolean; preserveFds: number }): string | null {
  if (!seccomp) return null;
  if (!identity) return 'seccomp';
  return seccompInProcessRefusal(seccomp, identity(), spawn);
}

/**
 * Why this exec needs the helper Node, or null when lifecycle/exec-in-process.ts can run it.
 * Without the planned process (null), only what is known before it is compiled is checked.
 * `devpts`: the options of the container's devpts mounts (its config's).
 */
export function execInProcessRefusal(p: PlannedProcess | null, seccomp: PlannedSeccomp | null | undefined, namespaces: Record<string, string>, host: InProcessHost, devpts: string[][] = [], identity?: IdentityCalls, preserveFds = 0): string | null {
  const h = hostRefusal(host);
  if (h) return h;
  if (!namespaces.mount || !namespaces.pid) return 'no mount or pid namespace';
  if (namespaces.user || namespaces.time) return 'user or time namespace';
  if (!p) return null;
  // With a terminal the command leads a session of its own (setsid) and takes it as its
  // controlling terminal (ctty), as the init does.
  return (p.terminal ? terminalRefusal(devpts) : null) ?? rlimitRefusal(p) ?? seccompRefusal(seccomp, identity, { setsid: p.terminal, ctty: p.terminal, preserveFds });
}

/** What inProcessRefusal says before a plan is compiled: the host, and a user or time namespace. */
export function planlessRefusal(ns: NamespacePlan, host: InProcessHost): string | null {
  const h = hostRefusal(host);
  if (h) return h;
  const types = namespaceTypes(ns);
  // A user namespace needs a single-threaded caller; a time namespace's offsets go in before
  // its first process, from that process.
  if (types.includes('user') || types.includes('time')) return 'user or time namespace';
  return null;
}

/**
 * Why this create needs stage 2, or null when the in-process path can make it. `identity`:
 * see seccompRefusal (needed only with a filter).
 */
export function inProcessRefusal(plan: InitPlan, ns: NamespacePlan, host: InProcessHost, identity?: IdentityCalls, preserveFds = 0): string | null {
  const early = planlessRefusal(ns, host);
  if (early) return early;
  const types = namespaceTypes(ns);
  if (!ns.create.includes('mount')) return 'no new mount namespace';
  if (!types.includes('pid')) return 'no pid namespace';
  if (plan.hostMountNs || plan.noPivot || plan.idmaps?.length || plan.timeNs) return 'host mount namespace, --no-pivot, idmapped mounts or time offsets';
  // createContainer and startContainer hooks run inside the container from the init process.
  if (plan.hooks && (plan.hooks.runtimeHooks || plan.hooks.createContainer.length || plan.hooks.startContainer.length)) return 'hooks before start';
  if (plan.process.terminal) {
    const t = terminalRefusal(plan.mounts.filter((m) => m.fstype === 'devpts').map((m) => m.data.split(',')));
    if (t) return t;
  }
  const r = rlimitRefusal(plan.process) ?? seccompRefusal(plan.seccomp, identity, { setsid: true, ctty: plan.process.terminal, preserveFds });
  if (r) return r;
  // /proc needs the pid namespace's first process: it is mounted after the spawn, so nothing
  // may be mounted or made on or below it before, nor the cwd be there.
  const procs = plan.mounts.filter((m) => m.fstype === 'proc').map((m) => m.destination);
  for (const m of plan.mounts) {
    if (m.fstype !== 'proc' && procs.some((p) => under(m.destination, p))) return `mount on ${m.destination} below /proc`;
  }
  if (procs.some((p) => under(plan.process.cwd, p))) return 'cwd below /proc';
  for (const d of plan.devices) if (procs.some((p) => under(d.path, p))) return `device ${d.path} below /proc`;
  return null;
}
