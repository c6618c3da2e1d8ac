import * as fs from 'fs';

export interface ProcStat {
  state: string;
  startTime: string;
}

/** Parse /proc/PID/stat: the command may contain spaces and parentheses, so split after the last ')'. */
export function parseProcStat(text: string): ProcStat {
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); field 22 (starttime) is rest[19].
  return { state: rest[0], startTime: rest[19] };
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
  if (pid <= 0) return false;
  const st = readProcStat(pid);
  if (!st || st.state === 'Z' || st.state === 'X') return false;
  return startTime === undefined || st.startTime === startTime;
}
