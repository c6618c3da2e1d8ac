import fs from 'fs';
import { RuntimeError } from '../errors';

/**
 * Add the fds of 3..3+n-1 that are closed now to TS_RUNC_CLOSED_FDS: cli/launch.ts, once Node has
 * opened its own and before the CLI opens any (its state dir, the container's cgroup.procs, a root
 * fd would fill such a gap). Also where bin/ts-runc did not run first (node launch.js).
 */
export function noteClosedFds(n: number, env: NodeJS.ProcessEnv = process.env): void {
  const closed = new Set((env.TS_RUNC_CLOSED_FDS ?? '').split(',').filter(Boolean));
  for (let fd = 3; fd < 3 + Math.min(n, 65536) && closed.size < 8; fd++) {
    try {
      fs.fstatSync(fd);
    } catch {
      closed.add(String(fd));
    }
  }
  if (closed.size) env.TS_RUNC_CLOSED_FDS = [...closed].join(',');
}

/**
 * --preserve-fds N hands fds 3..3+N-1 of ours to the container as they are. One the caller left
 * closed holds whatever we opened first (Node's event loop: its epoll, a signal pipe a container
 * process could write to), where runc's exec fails with EBADF. bin/ts-runc lists those it found
 * closed before Node started (TS_RUNC_CLOSED_FDS); create and exec refuse them, before anything
 * is made.
 */
export function checkPreservedFds(n: number, env: NodeJS.ProcessEnv = process.env): void {
  const closed = (env.TS_RUNC_CLOSED_FDS ?? '')
    .split(',')
    .map(Number)
    .filter((fd) => Number.isInteger(fd) && fd >= 3 && fd < 3 + n);
  if (closed.length) throw new RuntimeError(`--preserve-fds ${n}: fd ${closed.join(', ')} ${closed.length > 1 ? 'are' : 'is'} not open (bad file descriptor)`);
}
