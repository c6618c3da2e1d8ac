import type { PlannedProcess, PlannedSeccomp } from './types';

/** What stage 2 of `exec` does: join the container's mount and pid namespaces, then spawn. */
export interface ExecPlan {
  mntNs: string;
  pidNs: string;
  process: PlannedProcess;
  /** The container's seccomp filter: exec'd processes are confined like the init (runc). */
  seccomp: PlannedSeccomp | null;
  /** The container's state (status running) sent with a seccomp listener fd. */
  state?: Record<string, unknown>;
  /** The parent joined the helper to the container's cgroups already (join-timing.ts). */
  cgroupJoined?: boolean;
}
