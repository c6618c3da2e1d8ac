import * as fs from 'fs';
import type { LinuxResources } from '@tsrt/oci-spec';
import type { Command } from '../command';
import type { FlagValues } from '../args';
import { RuntimeError } from '../../errors';
import { update, parseIntFlag, parseRamBytes, parseUintFlag } from '../../lifecycle/cgroup-ops';
import { findNulByte } from '../../plan/nul-byte';

const FLAGS = [
  { name: 'resources', alias: ['r'], kind: 'string' as const, help: "path to the file containing the resources to update or '-' to read from the standard input" },
  { name: 'blkio-weight', kind: 'string' as const, help: 'Specifies per cgroup weight, range is from 10 to 1000 (default: 0)' },
  { name: 'cpu-period', kind: 'string' as const, help: 'CPU CFS period to be used for hardcapping (in usecs). 0 to use system default' },
  { name: 'cpu-quota', kind: 'string' as const, help: 'CPU CFS hardcap limit (in usecs). Allowed cpu time in a given period' },
  { name: 'cpu-share', kind: 'string' as const, help: 'CPU shares (relative weight vs. other containers)' },
  { name: 'cpu-rt-period', kind: 'string' as const, help: 'CPU realtime period to be used for hardcapping (in usecs). 0 to use system default' },
  { name: 'cpu-rt-runtime', kind: 'string' as const, help: 'CPU realtime hardcap limit (in usecs). Allowed cpu time in a given period' },
  { name: 'cpuset-cpus', kind: 'string' as const, help: 'CPU(s) to use' },
  { name: 'cpuset-mems', kind: 'string' as const, help: 'Memory node(s) to use' },
  { name: 'memory', kind: 'string' as const, help: 'Memory limit (in bytes)' },
  { name: 'memory-reservation', kind: 'string' as const, help: 'Memory reservation or soft_limit (in bytes)' },
  { name: 'memory-swap', kind: 'string' as const, help: "Total memory usage (memory + swap); set '-1' to enable unlimited swap" },
  { name: 'pids-limit', kind: 'string' as const, help: 'Maximum number of pids allowed in the container (default: 0)' },
  { name: 'l3-cache-schema', kind: 'string' as const, help: 'The string of Intel RDT/CAT L3 cache schema' },
  { name: 'mem-bw-schema', kind: 'string' as const, help: 'The string of Intel RDT/MBA memory bandwidth schema' },
];

/** Resources from -r FILE|- (JSON, as runc: every other option is then ignored). */
function fromFile(file: string): LinuxResources {
  let text: string;
  try {
    text = fs.readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (e) {
    throw new RuntimeError(`open ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (e as Error).message}`);
  }
  let r: unknown;
  try {
    r = JSON.parse(text);
  } catch (e) {
    throw new RuntimeError(`invalid resources JSON: ${(e as Error).message}`);
  }
  if (!r || typeof r !== 'object' || Array.isArray(r)) throw new RuntimeError('invalid resources JSON: not an object');
  checkTypes(r as Record<string, unknown>);
  const nul = findNulByte(r);
  if (nul) throw new RuntimeError(`invalid resources JSON: ${nul}: must not contain a NUL byte`);
  return r as LinuxResources;
}

/** The number fields of the sections update accepts must be numbers (runc's json decoding). */
function checkTypes(r: Record<string, unknown>): void {
  const nums: Record<string, string[]> = {
    memory: ['limit', 'reservation', 'swap', 'kernel', 'kernelTCP', 'swappiness'],
    cpu: ['shares', 'quota', 'burst', 'period', 'realtimeRuntime', 'realtimePeriod', 'idle'],
    pids: ['limit'],
    blockIO: ['weight', 'leafWeight'],
  };
  for (const [sec, fields] of Object.entries(nums)) {
    const s = r[sec] as Record<string, unknown> | undefined;
    if (!s) continue;
    for (const f of fields) {
      if (s[f] !== undefined && s[f] !== null && typeof s[f] !== 'number') {
        throw new RuntimeError(`json: cannot unmarshal ${typeof s[f]} into Go struct field ${sec}.${f} of type int64`);
      }
    }
  }
}

/** Resources from the individual flags. */
export function fromFlags(f: FlagValues): LinuxResources {
  const s = (k: string) => (f[k] === undefined ? undefined : String(f[k]));
  const r: LinuxResources = {};
  const mem = (k: string) => (s(k) === undefined ? undefined : parseRamBytes(s(k)!, k));
  const memory = { limit: mem('memory'), reservation: mem('memory-reservation'), swap: mem('memory-swap') };
  if (Object.values(memory).some((v) => v !== undefined)) r.memory = strip(memory);
  const u = (k: string) => (s(k) === undefined ? undefined : parseUintFlag(s(k)!, k));
  const i = (k: string) => (s(k) === undefined ? undefined : parseIntFlag(s(k)!, k));
  const cpu = {
    shares: u('cpu-share'),
    quota: i('cpu-quota'),
    period: u('cpu-period'),
    realtimeRuntime: i('cpu-rt-runtime'),
    realtimePeriod: u('cpu-rt-period'),
    cpus: s('cpuset-cpus'),
    mems: s('cpuset-mems'),
  };
  if (Object.values(cpu).some((v) => v !== undefined)) r.cpu = strip(cpu);
  if (s('blkio-weight') !== undefined) r.blockIO = { weight: u('blkio-weight') };
  if (s('pids-limit') !== undefined) r.pids = { limit: i('pids-limit') };
  if (s('l3-cache-schema') !== undefined || s('mem-bw-schema') !== undefined) {
    throw new RuntimeError('Intel RDT is not supported by ts-runc');
  }
  return r;
}

function strip<T extends Record<string, unknown>>(o: T): T {
  for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
  return o;
}

export const command: Command = {
  name: 'update',
  usage: 'update [command options] <container-id>',
  description: 'update container resource constraints',
  flags: FLAGS,
  args: { exact: 1 },
  run(ctx, p) {
    const res = p.flags.resources !== undefined ? fromFile(String(p.flags.resources)) : fromFlags(p.flags);
    for (const w of update(ctx, p.positionals[0], res)) ctx.log.warn(w);
  },
};
