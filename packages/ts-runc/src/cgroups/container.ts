/**
 * The cgroup calls lifecycle code makes, one function per moment of a container's life, so
 * create/delete/kill/state each need a single line. Everything here works from the stored
 * description (state.cgroup), so any later ts-runc process can use it.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { Spec } from '@tsrt/oci-spec';
import { containerResources } from './resources';
import { cgroupManagerFor, openCgroupManager, sleepSync, type CgroupManager, type CreateRequest, type ManagerDeps } from './manager';
import { CgroupError, type CgroupDescription } from './types';
import { detectHierarchies, hierarchyDir, parseProcCgroup, type Hierarchies } from './paths';
import { realFs } from './fs';

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

export interface HomeDeps extends ManagerDeps {
  /** Test hooks: the layout and our own /proc/self/cgroup. */
  hierarchies?: Hierarchies;
  ownCgroup?: Record<string, string>;
}

/** The container's directory in the hierarchy that charges memory (v1: memory's; v2: its one dir). */
function memoryChargeDir(desc: CgroupDescription): string | undefined {
  return desc.driver === 'v2' ? desc.paths[''] : desc.paths['memory'];
}

/**
 * create, stage 2 under a memory limit, once it has joined and made its cgroup namespace (rooted
 * at the container's cgroups): move it back to our own cgroup in the hierarchy that charges
 * memory, so what Node allocates while it sets up the root is charged to us, not the container
 * (v1 charges a page to the cgroup of the process that faults it in, and never moves it). Returns
 * false when it could not (it then stays in the container's cgroup: more is charged, nothing breaks).
 */
export function parkOutsideMemoryCgroup(desc: CgroupDescription, pid: number, deps: HomeDeps = {}): boolean {
  const ours = memoryChargeDir(desc);
  if (!ours) return false;
  try {
    const h = deps.hierarchies ?? detectHierarchies();
    const mount = desc.driver === 'v2' ? h.unified : h.v1['memory'];
    if (!mount) return false;
    const own = deps.ownCgroup ?? parseProcCgroup(fs.readFileSync('/proc/self/cgroup', 'utf8'));
    const home = hierarchyDir(mount, '', own[desc.driver === 'v2' ? '' : 'memory']);
    if (home === ours) return false;
    (deps.fs ?? realFs).write(path.join(home, 'cgroup.procs'), String(pid));
    return true;
  } catch {
    return false;
  }
}

/** Undo parkOutsideMemoryCgroup: before anything of the container's own runs (hooks, its process). */
export function chargeMemoryToContainer(desc: CgroupDescription, pid: number, deps: ManagerDeps = {}): void {
  const dir = memoryChargeDir(desc);
  if (!dir) return;
  try {
    (deps.fs ?? realFs).write(path.join(dir, 'cgroup.procs'), String(pid));
  } catch (e) {
    throw new CgroupError(`failed to join cgroup ${dir} with pid ${pid}: ${(e as Error).message}`);
  }
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
  // A cgroup that existed before the container (a shared cgroupsPath) is neither emptied nor removed.
  const ours = Object.values(desc.paths).some((p) => desc.created.includes(p));
  if (!ours) return;
  const m = openCgroupManager(desc, deps);
  // Usually nothing is left (the init's pid namespace took the rest with it), and the kernel
  // refuses to remove a cgroup that has tasks: removal first, and the search for processes (two
  // reads of every cgroup.procs) only after a refusal.
  if (m.removeIfEmpty()) return;
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

/**
 * The container's cgroup.procs files, opened for writing now, while their paths resolve: the
 * in-process create moves its init in through them the moment it exists, its own root then being
 * the container's (a create killed from then on leaves delete -f a process in the container's
 * cgroups to kill, not one nothing knows of).
 */
export function openCgroupJoins(desc: CgroupDescription): { join(pid: number): void; close(): void } {
  const fds = new Map<string, number>();
  const close = () => fds.forEach((fd) => fs.closeSync(fd));
  try {
    for (const dir of new Set(Object.values(desc.paths))) fds.set(dir, fs.openSync(path.join(dir, 'cgroup.procs'), 'w'));
  } catch (e) {
    close();
    throw new CgroupError(`cannot open the container's cgroup: ${(e as Error).message}`);
  }
  return {
    join(pid) {
      for (const [dir, fd] of fds) {
        try {
          fs.writeSync(fd, String(pid));
        } catch (e) {
          throw new CgroupError(`failed to join cgroup ${dir} with pid ${pid}: ${(e as Error).message}`);
        }
      }
    },
    close,
  };
}
