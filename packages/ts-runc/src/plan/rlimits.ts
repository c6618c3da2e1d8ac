import { RuntimeError } from '../errors';
import type { PlannedRlimit } from './types';

const RESOURCES: Record<string, number> = {
  RLIMIT_CPU: 0, RLIMIT_FSIZE: 1, RLIMIT_DATA: 2, RLIMIT_STACK: 3, RLIMIT_CORE: 4, RLIMIT_RSS: 5,
  RLIMIT_NPROC: 6, RLIMIT_NOFILE: 7, RLIMIT_MEMLOCK: 8, RLIMIT_AS: 9, RLIMIT_LOCKS: 10,
  RLIMIT_SIGPENDING: 11, RLIMIT_MSGQUEUE: 12, RLIMIT_NICE: 13, RLIMIT_RTPRIO: 14, RLIMIT_RTTIME: 15,
};

export function planRlimits(rlimits: Array<{ type: string; soft: number; hard: number }> | undefined): PlannedRlimit[] {
  const seen = new Set<string>();
  return (rlimits ?? []).map((r, i) => {
    const resource = RESOURCES[r.type];
    if (resource === undefined) throw new RuntimeError(`process.rlimits[${i}].type: unknown rlimit type "${r.type}"`);
    if (seen.has(r.type)) throw new RuntimeError(`process.rlimits[${i}].type: duplicate rlimit "${r.type}"`);
    seen.add(r.type);
    if (BigInt(r.soft) > BigInt(r.hard)) throw new RuntimeError(`process.rlimits[${i}]: soft limit ${r.soft} is above hard limit ${r.hard}`);
    return { resource, name: r.type, soft: String(r.soft), hard: String(r.hard) };
  });
}
