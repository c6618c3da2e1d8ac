import type { Sys, SysError } from '@tsrt/libc';
import { RuntimeError } from '../errors';
import { stage2Fds, inheritedFds } from '../protocol/fd-layout';

/** Connect to --console-socket (a path given by the caller), with the error naming it. */
function connectConsoleSocket(sys: Sys, socketPath: string): number {
  try {
    return sys.connectUnix(socketPath);
  } catch (e) {
    throw new RuntimeError(`--console-socket ${socketPath}: connect: ${(e as SysError).code ?? e}`);
  }
}

/**
 * The console's fd for the runtime's side: --console-socket connected (pushed onto `opened`, the
 * caller's to close) when given, else `otherwise` (a terminal proxy's end, or -1).
 */
export function consoleFdOf(sys: Sys, socketPath: string | undefined, otherwise: number, opened: number[]): number {
  if (!socketPath) return otherwise;
  const fd = connectConsoleSocket(sys, socketPath);
  opened.push(fd);
  return fd;
}

/**
 * The [source, target] fd map stage 2 is spawned with: stdio, the --preserve-fds, then the
 * runtime's own fds at the places protocol/fd-layout.ts puts them.
 */
export function stage2FdMap(preserve: number, own: { sync: number; stateDir?: number; console: number }): Array<[number, number]> {
  const at = stage2Fds(preserve);
  const fds = inheritedFds(preserve);
  fds.push([own.sync, at.sync]);
  if (own.stateDir !== undefined) fds.push([own.stateDir, at.stateDir]);
  if (own.console >= 0) fds.push([own.console, at.console]);
  return fds;
}
