import { constants } from 'os';

const byNumber = new Map<number, string>();
for (const [name, num] of Object.entries(constants.errno)) {
  // Prefer the canonical name when two share a number (EAGAIN/EWOULDBLOCK, ENOTSUP/EOPNOTSUPP).
  if (!byNumber.has(num) || name === 'EAGAIN' || name === 'EOPNOTSUPP') byNumber.set(num, name);
}

export function errnoName(errno: number): string {
  return byNumber.get(errno) ?? `errno ${errno}`;
}

export function errnoNumber(name: string): number {
  const n = (constants.errno as Record<string, number>)[name];
  if (n === undefined) throw new Error(`unknown errno name ${name}`);
  return n;
}

/** A failed libc call. The message reads like "mount /proc: EPERM" so users can act on it. */
export class SysError extends Error {
  readonly errno: number;
  readonly code: string;
  readonly call: string;
  constructor(call: string, what: string | undefined, errno: number) {
    const code = errnoName(errno);
    super(`${call}${what ? ' ' + what : ''}: ${code}`);
    this.name = 'SysError';
    this.errno = errno;
    this.code = code;
    this.call = call;
  }
}

export function isSysError(e: unknown, code?: string): e is SysError {
  return e instanceof SysError && (code === undefined || e.code === code);
}
