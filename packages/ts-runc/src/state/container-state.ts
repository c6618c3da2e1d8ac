/** What ts-runc keeps on disk for one container (root/ID/state.json). */
export interface ContainerState {
  ociVersion: string;
  id: string;
  /** Init pid; 0 until it is known. */
  pid: number;
  /** Field 22 of /proc/PID/stat at creation: detects pid reuse. */
  pidStartTime?: string;
  bundle: string;
  rootfs: string;
  created: string;
  annotations?: Record<string, string>;
  /** The validated config.json, kept for later operations (exec, hooks, delete). */
  config: any;
  /** Namespaces of the init, as /proc paths to join later (exec). */
  namespacePaths?: Record<string, string>;
  /** Opaque description from the cgroup layer so other processes can reopen it. */
  cgroup?: unknown;
  /** Set while create runs; a crash leaves it so delete --force can clean up. */
  creating?: boolean;
  /**
   * The init was spawned by create's own process (create-in-process.ts): held in a posix_spawn
   * file action, it writes nothing to the exec fifo; it opens and closes it, then execs.
   */
  inProcess?: boolean;
  useSystemdCgroup?: boolean;
  /**
   * Without a mount namespace of its own, the container's mounts are made in ours, all below one
   * bind of the rootfs onto itself: that mount (its path and statx mount id, as a decimal
   * string), detached with everything below it when the container is deleted.
   */
  hostRootfsMount?: { path: string; mountId: string };
}

export type Status = 'creating' | 'created' | 'running' | 'paused' | 'stopped';
