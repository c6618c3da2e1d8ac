import type { CgroupDescription } from '../cgroups/types';
import { joinContainerCgroups, parkOutsideMemoryCgroup, chargeMemoryToContainer } from '../cgroups/container';

/**
 * Where create puts stage 2 in the container's cgroups, and when (see cgroups/README.md): at
 * once or when it asks; under a memory limit, parked in our memory cgroup while it sets up and
 * charged to the container again before any of the container's own code runs.
 */
export class InitCgroups {
  private parked = false;

  constructor(
    private readonly desc: CgroupDescription | undefined,
    private readonly pid: number,
  ) {}

  join(): void {
    if (this.desc) joinContainerCgroups(this.desc, this.pid);
  }

  /** False when it stays charged to the container (nothing breaks, more is charged). */
  park(): boolean {
    this.parked = !!this.desc && parkOutsideMemoryCgroup(this.desc, this.pid);
    return this.parked;
  }

  chargeContainer(): void {
    if (this.parked) chargeMemoryToContainer(this.desc!, this.pid);
    this.parked = false;
  }
}
