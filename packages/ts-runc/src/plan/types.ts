/**
 * The init plan: everything stage 2 must do, compiled from config.json by the parent.
 * Plain JSON (bigints as decimal strings) so it crosses the sync socket as one line.
 */
export interface PlannedMount {
  /** Host path for binds, or the fs source ("proc", "tmpfs", ...). */
  source: string;
  /** Absolute path inside the container; resolved under the rootfs at mount time. */
  destination: string;
  fstype: string;
  /** MS_* flags for the first mount(2). */
  flags: number;
  /** Comma-joined fs-specific options. */
  data: string;
  /** Propagation flags applied with separate mount(2) calls, in order. */
  propagation: number[];
  /** Bind mounts with flags beyond MS_BIND|MS_REC need a remount to take them. */
  remountFlags: number | null;
  /** Create the destination as a file (bind of a non-directory) rather than a directory. */
  isFile: boolean;
  /** rro, rnosuid, ...: mount_setattr(AT_RECURSIVE) masks applied after the mount. */
  recursive?: { set: number; clr: number } | null;
  /** tmpcopyup: the tmpfs starts with a copy of what the directory held. */
  tmpcopyup?: boolean;
  /** An idmapped bind: the user namespace is InitPlan.idmaps[index] (its fd comes from the parent). */
  idmap?: { index: number; recursive: boolean } | null;
  /**
   * A cgroup mount made by a process outside the container's cgroups (the in-process create):
   * the container's directory per v1 controller (CgroupDescription.paths). Without it the
   * mounting process shows its own cgroups (stage 2 is in the container's).
   */
  containerCgroupDirs?: Record<string, string>;
}

export interface PlannedDevice {
  path: string;
  /** From linux.devices: an existing file there must already be this very device (spec). */
  strict?: boolean;
  /** S_IFCHR / S_IFBLK / S_IFIFO | permission bits */
  mode: number;
  major: number;
  minor: number;
  uid: number;
  gid: number;
}

export interface PlannedRlimit {
  resource: number;
  name: string;
  soft: string;
  hard: string;
}

export interface PlannedCaps {
  bounding: string;
  effective: string;
  permitted: string;
  inheritable: string;
  ambient: string;
}

export interface PlannedProcess {
  args: string[];
  env: string[];
  cwd: string;
  uid: number;
  gid: number;
  additionalGids: number[];
  umask: number;
  noNewPrivileges: boolean;
  caps: PlannedCaps | null;
  rlimits: PlannedRlimit[];
  oomScoreAdj: number | null;
  terminal: boolean;
  consoleSize: { height: number; width: number } | null;
  /** process.scheduler as a struct sched_attr (base64), for sched_setattr. */
  scheduler?: string | null;
  /** process.ioPriority as an ioprio value (class << 13 | level). */
  ioPriority?: number | null;
  /** process.execCPUAffinity as cpu_set_t masks (base64). */
  cpuAffinity?: { initial: string | null; final: string | null } | null;
}

export interface PlannedSeccomp {
  /** Classic BPF program (struct sock_filter[]), base64. */
  bpf: string;
  /** SECCOMP_FILTER_FLAG_* from linux.seccomp.flags (NEW_LISTENER is added by stage 2). */
  flags: number;
  /** SCMP_ACT_NOTIFY: where stage 2 sends the listener fd with the container process state. */
  listener: { path: string; metadata: string } | null;
}

export interface PlannedHook {
  path: string;
  args: string[];
  env: string[];
  /** Seconds; null for none. */
  timeout: number | null;
}

export interface InitPlan {
  rootfs: string;
  /** MS_* propagation for "/" before anything is mounted (default rslave, as runc). */
  rootPropagation: number;
  mounts: PlannedMount[];
  /** Make the default devices and /dev symlinks (when /dev is not bound from the host). */
  defaultDevices: boolean;
  devices: PlannedDevice[];
  noPivot: boolean;
  /**
   * No mount namespace (none created, none joined): the mounts are made in the runtime's own,
   * below a private bind of the rootfs, and the root is entered with chroot (pivot_root would
   * move the host's root). Stage 2 reports that bind's mount id ("host-mount").
   */
  hostMountNs?: boolean;
  readonlyRoot: boolean;
  maskedPaths: string[];
  readonlyPaths: string[];
  hostname: string | null;
  domainname: string | null;
  sysctl: Record<string, string>;
  newCgroupNs: boolean;
  /** A new network namespace: its loopback interface is brought up, as runc does. */
  newNetNs?: boolean;
  /** Id mappings of the idmapped mounts; the parent makes a user namespace for each. */
  idmaps?: Array<{ uidMappings: IdMapping[]; gidMappings: IdMapping[] }>;
  /** A fresh session keyring ("_ses.ID") so the container cannot reach the caller's keys; null with --no-new-keyring. */
  sessionKeyring?: string | null;
  /** In a user namespace: no mknod (devices are bound from the host), locked mount flags kept. */
  userns?: boolean;
  process: PlannedProcess;
  /** linux.seccomp compiled by the parent; loaded right before execve. */
  seccomp?: PlannedSeccomp | null;
  /** Hooks stage 2 runs itself (createContainer before pivot_root, startContainer after the fifo). */
  hooks?: { createContainer: PlannedHook[]; startContainer: PlannedHook[]; runtimeHooks: boolean };
  /** The parent joined stage 2 to the container's cgroups already (no limit its start-up could trip). */
  cgroupJoined?: boolean;
  /**
   * Under a memory limit: once joined and in its cgroup namespace, stage 2 asks to be charged to
   * the runtime's memory cgroup again while it sets up (see cgroups/container.ts).
   */
  parkMemory?: boolean;
  /** The state JSON (status "creating", host pid) for hooks and the seccomp listener. */
  state?: Record<string, unknown>;
  /** A new time namespace (stage 2 unshares it) and its /proc/self/timens_offsets text. */
  timeNs?: { offsets: string } | null;
  /** linux.memoryPolicy for set_mempolicy(2) (mode includes the MPOL_F_* flags). */
  memoryPolicy?: { mode: number; nodes: string | null; maxnode: number } | null;
  /** linux.personality: the persona for personality(2). */
  personality?: number | null;
}

export interface IdMapping {
  containerID: number;
  hostID: number;
  size: number;
}
