import fs from 'fs';
import path from 'path';
// Not paths.ts: this runs outside the bundle, where each module costs its load (hierarchies.ts).
import { findHierarchies, hierarchyDir, mountShows, parseProcCgroup, type Hierarchies } from './hierarchies';

export interface WarmupDeps {
  /** Starts the write and returns at once. */
  write: (file: string, text: string) => void;
  hierarchies?: Hierarchies;
  /** This process's /proc/self/cgroup, parsed. */
  own?: Record<string, string>;
  pid?: number;
}

/**
 * Start now the kernel's wait that create's and exec's first cgroup migration would meet ~20 ms
 * later.
 *
 * The first migration after a quiet spell waits for an RCU grace period (cgroup_threadgroup_rwsem
 * leaves its readers' fast path: 7-15 ms measured on a 2-CPU VM) while holding cgroup_mutex, so a
 * cgroup mkdir meanwhile waits as well; migrations within about one more grace period after it
 * take ~0.1 ms. So this process is moved into the cgroup it is already in, off the main thread:
 * the wait passes while Node compiles the CLI. A move to where a process already is changes
 * nothing. Best effort: a failure only leaves the wait where it was.
 */
export function warmUpMigration(deps: WarmupDeps): void {
  try {
    const h = deps.hierarchies ?? findHierarchies(fs.readFileSync('/proc/self/mountinfo', 'utf8'));
    if (!h) return;
    const own = deps.own ?? parseProcCgroup(fs.readFileSync('/proc/self/cgroup', 'utf8'));
    // A v1 move has nothing to vet; a v2 one may be refused, but only after the wait.
    const key = Object.keys(h.v1)[0] ?? '';
    const mount = key === '' ? h.unified : h.v1[key];
    const mine = own[key];
    // Only where our own cgroup is certainly under this mount: anywhere else would move us.
    if (!mount || mine === undefined || !mountShows(mount, mine)) return;
    deps.write(path.posix.join(hierarchyDir(mount, '', mine), 'cgroup.procs'), String(deps.pid ?? process.pid));
  } catch {
    /* no cgroup filesystem here: the commands that need one say so */
  }
}

/**
 * Open now and write on libuv's pool thread: only before anything else uses the pool (the
 * container thread of create and exec is that thread, and is first needed well after the wait).
 * The fd stays open until the write is done: were it one that --preserve-fds passes on (below
 * `lowestFd`, in a gap the caller left), the container could get our cgroup.procs, so then nothing.
 */
export function writeOnPool(file: string, text: string, lowestFd = 0): void {
  const fd = fs.openSync(file, 'w');
  if (fd < lowestFd) {
    fs.closeSync(fd);
    return;
  }
  fs.write(fd, text, () => fs.closeSync(fd));
}

/**
 * --preserve-fds N in a command line (fds 3..3+N-1 go to the container as they are); Infinity when
 * unreadable. Given more than once, the largest counts, as in bin/ts-runc: the CLI's parser keeps
 * the last, which is never more.
 */
export function preservedFds(argv: string[]): number {
  let most = 0;
  for (let i = 0; i < argv.length; i++) {
    const m = /^--?preserve-fds(?:=(.*))?$/.exec(argv[i]);
    if (!m) continue;
    const n = Number(m[1] ?? argv[i + 1]);
    most = Math.max(most, Number.isInteger(n) && n >= 0 ? n : Infinity);
  }
  return most;
}
