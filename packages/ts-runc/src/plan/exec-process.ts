import type { Process, Spec } from '@tsrt/oci-spec';
import { RuntimeError } from '../errors';
import { findNulByte } from './nul-byte';

/** What `exec` was told on its command line (runc's flags). */
export interface ExecFlags {
  args: string[];
  env: string[];
  cwd?: string;
  user?: string;
  additionalGids: string[];
  tty: boolean;
  caps: string[];
  noNewPrivs: boolean;
}

/** Later entries win, as a shell would treat a re-exported variable. */
function mergeEnv(base: string[], extra: string[]): string[] {
  const out = new Map<string, string>();
  for (const e of [...base, ...extra]) {
    const k = e.includes('=') ? e.slice(0, e.indexOf('=')) : e;
    out.delete(k);
    out.set(k, e);
  }
  return [...out.values()];
}

function parseId(what: string, s: string): number {
  if (!/^\d+$/.test(s) || Number(s) > 0xffffffff) throw new RuntimeError(`${what}: "${s}" is not a numeric id`);
  return Number(s);
}

/** The process to exec: the container's process with the command line's overrides (runc's rules). */
export function execProcessFromFlags(config: Spec, f: ExecFlags): Process {
  const base = config.process ?? ({ cwd: '/', user: { uid: 0, gid: 0 } } as Process);
  if (f.args.length === 0) throw new RuntimeError('process args cannot be empty'); // runc's words
  const p: Process = JSON.parse(JSON.stringify(base));
  p.args = f.args;
  p.env = mergeEnv(base.env ?? [], f.env);
  if (f.cwd) p.cwd = f.cwd;
  p.terminal = f.tty;
  if (f.user) {
    const [u, g] = f.user.split(':');
    p.user = { ...p.user, uid: parseId('--user', u), gid: g === undefined ? p.user?.gid ?? 0 : parseId('--user', g) };
  }
  // Added to the config's groups, not instead of them (runc's exec appends).
  if (f.additionalGids.length) p.user = { ...p.user, additionalGids: [...(p.user?.additionalGids ?? []), ...f.additionalGids.map((g) => parseId('--additional-gids', g))] };
  if (f.caps.length) {
    const c = (p.capabilities = p.capabilities ?? {});
    // Not inheritable or ambient: those would pass the capability on across execve of any
    // program, even one without file capabilities (runc's CVE-2022-29162).
    for (const set of ['bounding', 'effective', 'permitted'] as const) c[set] = [...new Set([...(c[set] ?? []), ...f.caps])];
  }
  if (f.noNewPrivs) p.noNewPrivileges = true;
  delete p.oomScoreAdj; // inherited from the container, not set per exec
  return p;
}

/** A process.json from `exec -p`: checked for what exec needs, with the field named. */
export function checkExecProcess(doc: unknown, file: string): Process {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new RuntimeError(`${file}: must be a JSON object`);
  const p = doc as Process;
  if (!Array.isArray(p.args) || p.args.length === 0 || p.args.some((a) => typeof a !== 'string')) throw new RuntimeError(`${file}: args: must be a non-empty array of strings`);
  if (typeof p.cwd !== 'string' || !p.cwd.startsWith('/')) throw new RuntimeError(`${file}: cwd: must be an absolute path`);
  if (p.env !== undefined && (!Array.isArray(p.env) || p.env.some((e) => typeof e !== 'string'))) throw new RuntimeError(`${file}: env: must be an array of strings`);
  if (p.user !== undefined && (typeof p.user.uid !== 'number' || typeof p.user.gid !== 'number')) throw new RuntimeError(`${file}: user: uid and gid must be numbers`);
  const nul = findNulByte(p);
  if (nul) throw new RuntimeError(`${file}: ${nul}: must not contain a NUL byte`);
  return p;
}
