import * as fs from 'fs';
import { CLOSE_RANGE_CLOEXEC, O_CLOEXEC, O_RDONLY, type ContainerThread, type Sys } from '@tsrt/libc';
import { inheritedFds } from '../protocol/fd-layout';
import { RuntimeError, INIT_FAILED, messageOf } from '../errors';
import { CgroupError } from '../cgroups/types';

/** How long a spawn may take to show up as the container thread's child. */
const CHILD_TIMEOUT_MS = 5000;
/** Looks without a timer before falling back to 1 ms ones: ~3 ms of reads of /proc. */
const QUICK_POLLS = 100;

/**
 * The child that the container thread's posix_spawn made (its only one), found while the spawn
 * blocks that thread (held at a gate); or the spawn's error. `what` names it in errors.
 */
export async function childOf(sys: Sys, thread: ContainerThread, spawn: Promise<void>, what: string, hostProc = -1): Promise<number> {
  let failed: unknown;
  let done = false;
  spawn.then(
    () => (done = true),
    (e) => (failed = e),
  );
  const deadline = Date.now() + CHILD_TIMEOUT_MS;
  let polls = 0;
  for (;;) {
    let children = '';
    let fd = -1;
    try {
      // Through the host's /proc when given: the caller's root may be a container's.
      fd = hostProc >= 0 ? sys.openat(hostProc, `self/task/${thread.tid}/children`, O_RDONLY | O_CLOEXEC) : sys.open(`/proc/self/task/${thread.tid}/children`, O_RDONLY | O_CLOEXEC);
      children = fs.readFileSync(fd, 'utf8');
    } catch {
      /* read again */
    } finally {
      if (fd >= 0) sys.close(fd);
    }
    const pid = Number(children.trim().split(' ')[0]);
    if (pid > 0) return pid;
    if (failed) throw new RuntimeError(`${what}: ${(failed as Error).message}`);
    if (done) throw new RuntimeError(`${what} exited before it was ready`);
    if (Date.now() > deadline) throw new RuntimeError(`timed out after ${CHILD_TIMEOUT_MS} ms waiting for the ${what} to be spawned`);
    // The spawn is usually under way on the other thread and takes well under a ms: look again
    // at once for a while (a timer's 1 ms granularity cost ~1.5 ms of every create and exec),
    // then by the ms.
    await new Promise((r) => (polls++ < QUICK_POLLS ? setImmediate(r) : setTimeout(r, 1)));
  }
}

/** What stage 2 would report of its own failure, as create reports it (runc's prefix). */
export async function initSide<T>(step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (e) {
    throw e instanceof RuntimeError || e instanceof CgroupError ? e : new RuntimeError(INIT_FAILED + messageOf(e));
  }
}

/**
 * The fds a posix_spawn from the container thread maps (0-2 and the preserved ones), with every
 * other fd of ours marked close-on-exec first: the child gets a copy of our fd table.
 */
export function spawnedFds(sys: Sys, preserveFds: number): Array<[number, number]> {
  sys.closeRange(3 + preserveFds, 0xffffffff, CLOSE_RANGE_CLOEXEC);
  return inheritedFds(preserveFds);
}
