import * as fs from 'fs';

export interface ProcStat {
  state: string;
  startTime: string;
  /** The kernel's task flags (field 9). */
  flags: number;
}

/** PF_EXITING: the task is in exit(); for a pid namespace's init, its processes were all killed. */
const PF_EXITING = 0x4;

/** Parse /proc/PID/stat: the command may contain spaces and parentheses, so split after the last ')'. */
export function parseProcStat(text: string): ProcStat {
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); field 9 (flags) is rest[6]; field 22 (starttime) is rest[19].
  return { state: rest[0], startTime: rest[19], flags: Number(rest[6]) };
}

export function readProcStat(pid: number): ProcStat | null {
  try {
    return parseProcStat(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return null;
  }
}

/**
 * Is `pid` still the process we started? The start time guards against pid reuse; a zombie
 * counts as gone (it has exited, only its parent has not reaped it yet).
 */
export function isAlive(pid: number, startTime: string | undefined): boolean {
  return lifeOf(pid, startTime) !== 'gone';
}

/**
 * One read of /proc/PID/stat: "gone" (no such process, a zombie, or pid reused), "exiting" or
 * "running". Exiting: in exit(). A pid namespace's init stays there until every process of its
 * namespace is reaped, and those whose parent is outside it (detached exec processes adopted by
 * the host's init) wait for that parent: seconds, with a slow host init.
 */
export function lifeOf(pid: number, startTime: string | undefined): 'gone' | 'exiting' | 'running' {
  const st = pid > 0 ? readProcStat(pid) : null;
  if (!st || st.state === 'Z' || st.state === 'X') return 'gone';
  if (startTime !== undefined && st.startTime !== startTime) return 'gone';
  return (st.flags & PF_EXITING) !== 0 ? 'exiting' : 'running';
}
