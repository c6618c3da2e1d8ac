import * as fs from 'fs';
import { O_PATH, O_DIRECTORY, O_NOFOLLOW, O_CLOEXEC, CLOSE_RANGE_CLOEXEC, type Sys } from '@tsrt/libc';
import type { stage2Fds } from '../protocol/fd-layout';

/** Close-on-exec for every runtime fd (from `base` up, and the mapped ones wherever they are). */
export function markRuntimeFds(sys: Sys, fds: ReturnType<typeof stage2Fds>): void {
  sys.closeRange(fds.base, 0xffffffff, CLOSE_RANGE_CLOEXEC);
  for (const fd of [fds.sync, fds.stateDir, fds.console]) if (fd >= 0) sys.setCloexec(fd, true);
}

/**
 * The exec fifo's directory (create made it to hold the fifo alone) as a detached bind mount:
 * ".." at the root of a detached mount stays there, so this fd leads to the fifo and nothing
 * else of the host. The fd from create belongs to the host's mount namespace, which open_tree
 * may not clone from ours: the same directory is opened again by its name (the host's /proc
 * and paths are still ours here) and checked to be it. The original fd is closed. Where no
 * clone can be made (a joined mount namespace without that path) the plain fd is kept.
 */
export function isolateFifoDir(sys: Sys, dirFd: number): number {
  if (dirFd < 0) return dirFd;
  let own = -1;
  try {
    own = sys.open(fs.readlinkSync(`/proc/self/fd/${dirFd}`), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    const a = sys.statxFd(own), b = sys.statxFd(dirFd);
    if (a.ino !== b.ino || a.dev !== b.dev) return dirFd;
    const clone = sys.cloneTreeFd(own, false);
    sys.close(dirFd);
    return clone;
  } catch {
    return dirFd;
  } finally {
    if (own >= 0) sys.close(own);
  }
}

/**
 * The fd state the container process starts with: 0-2 and the preserved fds inherited (Node
 * marks its stdio close-on-exec), everything from `base` up close-on-exec. close_range is the
 * fast way; a seccomp profile that does not list it (loaded before this when it must come
 * before the capabilities go) makes it fail with EPERM or ENOSYS, so /proc/self/fd is walked
 * instead, as runc does. `mustWork` false: this sweep already ran before the filter, and every
 * fd opened since is close-on-exec (libuv and our own opens), so a refused sweep changes nothing.
 */
export function sweepFds(sys: Sys, fds: ReturnType<typeof stage2Fds>, mustWork: boolean): void {
  for (let fd = 0; fd < fds.base; fd++) {
    try {
      sys.setCloexec(fd, false);
    } catch {
      /* not open: the caller passed fewer */
    }
  }
  try {
    sys.closeRange(fds.base, 0xffffffff, CLOSE_RANGE_CLOEXEC);
    return;
  } catch (e) {
    if (!['EPERM', 'ENOSYS', 'EINVAL'].includes((e as { code?: string }).code ?? '')) throw e;
  }
  let names: string[];
  try {
    names = fs.readdirSync('/proc/self/fd');
  } catch (e) {
    if (!mustWork) return;
    throw new Error(`cannot mark the runtime's fds close-on-exec: close_range refused and /proc/self/fd unreadable: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
  for (const n of names) {
    const fd = Number(n);
    if (fd < fds.base) continue;
    try {
      sys.setCloexec(fd, true);
    } catch {
      /* the directory's own fd, closed by now */
    }
  }
}
