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

export function planNamespaces(namespaces: Array<{ type: string; path?: string }> | undefined): NamespacePlan {
  const plan: NamespacePlan = { create: [], join: [] };
  const seen = new Set<string>();
  (namespaces ?? []).forEach((ns, i) => {
    // Runs before the schema check (stage 2 is spawned early): the entry may be anything.
    if (!ns || typeof ns !== 'object' || Array.isArray(ns)) throw new RuntimeError(`linux.namespaces[${i}]: must be an object`);
    if (typeof ns.type !== 'string') throw new RuntimeError(`linux.namespaces[${i}].type: must be a string`);
    if (!Object.hasOwn(NS_FLAGS, ns.type)) throw new RuntimeError(`linux.namespaces[${i}].type: unknown namespace type "${ns.type}"`);
    if (ns.path !== undefined && typeof ns.path !== 'string') throw new RuntimeError(`linux.namespaces[${i}].path: must be a string`);
    if (seen.has(ns.type)) throw new RuntimeError(`linux.namespaces[${i}]: duplicate namespace "${ns.type}"`);
    seen.add(ns.type);
    if (ns.path) plan.join.push({ type: ns.type, path: ns.path });
    else plan.create.push(ns.type);
  });
  return plan;
}

/** User namespaces need a fork-based spawn that this build does not have yet: refuse them up front. */
export function assertNoUserNamespace(plan: NamespacePlan): void {
  if (plan.create.includes('user') || plan.join.some((n) => n.type === 'user')) {
    throw new RuntimeError('linux.namespaces: user namespaces are not supported by this build of ts-runc yet');
  }
}
