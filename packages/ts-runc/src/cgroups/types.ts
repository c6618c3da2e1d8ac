/**
 * Shared types of the cgroup layer. Resource types come from @tsrt/oci-spec; this file holds
 * what the layer itself adds: the write list that translation produces, the serialisable
 * description stored in the container state, and the errors.
 */
import type { LinuxResources } from '@tsrt/oci-spec';

export type { LinuxResources };

/** One cgroup file write: `value` goes to `<dir of controller>/<file>`. */
export interface CgroupWrite {
  /** v1: the controller (hierarchy) name, e.g. "memory"; v2: always "" (the one unified dir). */
  controller: string;
  file: string;
  value: string;
  /**
   * An errno name the write may fail with without failing the whole set: used for the v1 CFS
   * period that the kernel can reject before the quota is lowered (runc writes it again after).
   */
  tolerate?: string;
  /** After writing, read the file back and check it (cpu.shares clamps silently). */
  verify?: 'cpu.shares';
}

/** The output of a translation: writes in order, warnings to print, nothing silent. */
export interface Translation {
  writes: CgroupWrite[];
  warnings: string[];
}

export type CgroupMode = 'v1' | 'v2' | 'hybrid';

export type FreezerState = 'THAWED' | 'FROZEN' | 'FREEZING' | 'UNSUPPORTED';

/**
 * Everything a later command (delete, pause, ps, update, events, kill --all) needs to reopen a
 * container's cgroups in another process. Plain JSON: store it in state.json as is.
 */
export interface CgroupDescription {
  /** Which driver manages it. Hybrid machines use the v1 driver plus a unified dir. */
  driver: 'v1' | 'v2';
  mode: CgroupMode;
  /** The inner path after resolution (absolute within each hierarchy), e.g. "/mycontainer". */
  path: string;
  /**
   * Directory per controller (v1: "memory" -> "/sys/fs/cgroup/memory/mycontainer"; the unified
   * dir of a hybrid or v2 setup is under the key "").
   */
  paths: Record<string, string>;
  /** Directories this runtime created, parents first: destroy removes only these. */
  created: string[];
  /** The v2 root (mount point) the paths live under: /sys/fs/cgroup normally. */
  root?: string;
}

/** A cgroup failure that should reach the user as one line ("cannot set memory limit: ..."). */
export class CgroupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CgroupError';
  }
}
