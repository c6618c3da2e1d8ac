import type { PlannedProcess } from './types';

/** What stage 2 of `exec` does: join the container's mount and pid namespaces, then spawn. */
export interface ExecPlan {
  mntNs: string;
  pidNs: string;
  process: PlannedProcess;
}
