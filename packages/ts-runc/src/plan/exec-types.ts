import type { PlannedProcess, PlannedSeccomp } from './types';

/** What stage 2 of `exec` does: join the container's mount and pid namespaces, then spawn. */
export interface ExecPlan {
  mntNs: string;
  pidNs: string;
  /** A container without its own mount namespace: its root (/proc/INIT/root), entered with chroot. */
  root?: string;
  process: PlannedProcess;
  /** The container's seccomp filter: exec'd processes are confined like the init (runc). */
  seccomp: PlannedSeccomp | null;
  /** The container's state (status running) sent with a seccomp listener fd. */
  state?: Record<string, unknown>;
  /**
   * The fifo (its name) that holds the spawned command before execve while the runtime moves
   * it into the container's cgroups; the helper asks for the directory's fd ("gate" message).
   * See lifecycle/exec-gate.ts: the helper itself never joins them.
   */
  gate?: string;
}
