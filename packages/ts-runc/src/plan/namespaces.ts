import {
  CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWPID, CLONE_NEWCGROUP, CLONE_NEWUSER, CLONE_NEWTIME,
} from '@tsrt/libc';
import { RuntimeError } from '../errors';

export const NS_FLAGS: Record<string, number> = {
  mount: CLONE_NEWNS,
  uts: CLONE_NEWUTS,
  ipc: CLONE_NEWIPC,
  network: CLONE_NEWNET,
  pid: CLONE_NEWPID,
  cgroup: CLONE_NEWCGROUP,
  user: CLONE_NEWUSER,
  time: CLONE_NEWTIME,
};

/** The file name under /proc/PID/ns/ for each spec namespace type. */
export const NS_PROC_NAME: Record<string, string> = {
  mount: 'mnt', uts: 'uts', ipc: 'ipc', network: 'net', pid: 'pid', cgroup: 'cgroup', user: 'user', time: 'time',
};

export interface NamespacePlan {
  /** Types to create new (spec names). */
  create: string[];
  /** Namespaces to join: spec type and path. */
  join: Array<{ type: string; path: string }>;
}

/** Every namespace type the container has, made or joined. */
export function namespaceTypes(ns: NamespacePlan): string[] {
  return [...ns.create, ...ns.join.map((j) => j.type)];
}

export function planNamespaces(namespaces: Array<{ type: string; path?: string }> | undefined): NamespacePlan {
  const plan: NamespacePlan = { create: [], join: [] };
  const seen = new Set<string>();
  (namespaces ?? []).forEach((ns, i) => {
    // Runs before the schema check (stage 2 is spawned early): the entry may be anything.
    if (!ns || typeof ns !== 'object' || Array.isArray(ns)) throw new RuntimeError(`linux.namespaces[${i}]: must be an object`);
    if (typeof ns.type !== 'string') throw new RuntimeError(`linux.namespaces[${i}].type: must be a string`);
    if (!Object.hasOwn(NS_FLAGS, ns.type)) throw new RuntimeError(`linux.namespaces[${i}].type: unknown namespace type "${ns.type}"`);
    if (ns.path !== undefined && typeof ns.path !== 'string') throw new RuntimeError(`linux.namespaces[${i}].path: must be a string`);
    // Checked here, not only with the schema: stage 2 is spawned (joining these) before that.
    if (ns.path?.includes('\0')) throw new RuntimeError(`config.json: linux.namespaces[${i}].path: must not contain a NUL byte`);
    if (seen.has(ns.type)) throw new RuntimeError(`linux.namespaces[${i}]: duplicate namespace "${ns.type}"`);
    seen.add(ns.type);
    if (ns.path) plan.join.push({ type: ns.type, path: ns.path });
    else plan.create.push(ns.type);
  });
  return plan;
}

/** A new user namespace needs its id mappings (runc's message); mappings need a user namespace. */
export function checkUserNamespace(plan: NamespacePlan, linux: { uidMappings?: unknown[]; gidMappings?: unknown[] } | undefined): void {
  const creates = plan.create.includes('user');
  const maps = (linux?.uidMappings?.length ?? 0) + (linux?.gidMappings?.length ?? 0) > 0;
  if (creates && (!linux?.uidMappings?.length || !linux?.gidMappings?.length)) {
    throw new RuntimeError('linux.uidMappings: user namespaces enabled, but no user mapping found');
  }
  if (maps && !creates) throw new RuntimeError('linux.uidMappings: user namespaces not enabled in config, but mappings are set');
}
