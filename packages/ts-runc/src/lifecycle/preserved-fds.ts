import { RuntimeError } from '../errors';

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
