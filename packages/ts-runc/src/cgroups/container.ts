/**
 * The cgroup calls lifecycle code makes, one function per moment of a container's life, so
 * create/delete/kill/state each need a single line. Everything here works from the stored
 * description (state.cgroup), so any later ts-runc process can use it.
 */
import type { Spec } from '@tsrt/oci-spec';
import { containerResources } from './resources';
import { cgroupManagerFor, openCgroupManager, sleepSync, type CgroupManager, type CreateRequest, type ManagerDeps } from './manager';
import { CgroupError, type CgroupDescription } from './types';

export interface SetupResult {
  manager: CgroupManager;
  /** Store this in the container state (state.cgroup); it is plain JSON. */
  description: CgroupDescription;
  /** Print each as a warning (runc prints e.g. the kernel memory one). */
  warnings: string[];
}

/**
 * create, before spawning the init: resolve the path, create the directories, apply every
 * resource (devices with runc's defaults). The init is not in the cgroup yet: join it late
 * with joinContainerCgroups. On failure, what was created is removed and the error rethrown.
 */
export function setupContainerCgroups(id: string, spec: Pick<Spec, 'linux'>, opts: Omit<CreateRequest, 'id' | 'cgroupsPath'> = {}): SetupResult {
  const manager = cgroupManagerFor({ ...opts, id, cgroupsPath: spec.linux?.cgroupsPath });
  try {
    manager.create();
    const warnings = manager.set(containerResources(spec));
    return { manager, description: manager.description, warnings };
  } catch (e) {
    try {
      manager.destroy();
    } catch {
      /* keep the first error */
    }
    throw e;
  }
}

/** create, when stage 2 asks (its start-up memory is charged elsewhere by then). */
export function joinContainerCgroups(desc: CgroupDescription, pid: number, deps: ManagerDeps = {}): void {
  openCgroupManager(desc, deps).join(pid);
}

/** state/list: is the container paused (frozen or freezing)? Never throws. */
export function containerPaused(desc: CgroupDescription | undefined, deps: ManagerDeps = {}): boolean {
  if (!desc) return false;
  try {
    const s = openCgroupManager(desc, deps).freezerState();
    return s === 'FROZEN' || s === 'FREEZING';
  } catch {
    return false;
  }
}

/** kill --all: signal every process in the container's cgroup. */
export function killContainerProcesses(desc: CgroupDescription, signal: number, deps: ManagerDeps = {}): void {
  openCgroupManager(desc, deps).killAll(signal);
}

/**
 * delete: after the init is gone, kill any process left in the cgroup (a container without
 * its own pid namespace can leave some), wait briefly for it to empty, remove what we created.
 */
export function removeContainerCgroups(desc: CgroupDescription | undefined, deps: ManagerDeps = {}, waitMs = 2000): void {
  if (!desc) return;
  const m = openCgroupManager(desc, deps);
  if (!m.exists()) return;
  // A cgroup that existed before the container (a shared cgroupsPath) is neither emptied nor removed.
  const ours = Object.values(desc.paths).some((p) => desc.created.includes(p));
  if (!ours) return;
  const sleep = deps.sleep ?? sleepSync;
  if (m.pids().length) {
    m.killAll(9);
    const deadline = Date.now() + waitMs;
    while (m.pids().length && Date.now() < deadline) sleep(10);
  }
  const left = m.pids();
  if (left.length) throw new CgroupError(`cannot remove cgroup: processes ${left.join(', ')} are still in it`);
  m.destroy();
}
