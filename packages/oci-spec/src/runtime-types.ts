/**
 * TypeScript types for the OCI runtime-spec (config.json, state, features).
 * Written from the runtime-spec documents (config.md, config-linux.md, runtime.md, features.md).
 * Fields marked optional (`?`) are OPTIONAL in the spec; others are REQUIRED (on Linux).
 * Unknown fields are allowed in documents (extension), so every object is open in practice.
 */

/** Map of string to string (annotations, sysctl, unified cgroup v2 files, ...). */
export type StringMap = Record<string, string>;

// ---------------------------------------------------------------------------------------------
// Top level
// ---------------------------------------------------------------------------------------------

export interface Spec {
  /** SemVer 2.0.0 version of the runtime-spec the document follows. REQUIRED. */
  ociVersion: string;
  process?: Process;
  root?: Root;
  hostname?: string;
  domainname?: string;
  mounts?: Mount[];
  hooks?: Hooks;
  annotations?: StringMap;
  linux?: Linux;
  /** Other platforms: typed loosely, accepted but not interpreted by ts-runc. */
  solaris?: Record<string, unknown>;
  windows?: Record<string, unknown>;
  vm?: Record<string, unknown>;
  zos?: Record<string, unknown>;
  freebsd?: Record<string, unknown>;
}

/** Alias used by some callers. */
export type RuntimeConfig = Spec;

// ---------------------------------------------------------------------------------------------
// Process
// ---------------------------------------------------------------------------------------------

export interface Process {
  terminal?: boolean;
  consoleSize?: Box;
  /** Absolute path inside the container. REQUIRED. */
  cwd: string;
  /** "KEY=value" entries. */
  env?: string[];
  /** argv; at least one entry on non-Windows platforms. */
  args?: string[];
  /** Windows only. */
  commandLine?: string;
  rlimits?: POSIXRlimit[];
  apparmorProfile?: string;
  capabilities?: LinuxCapabilities;
  noNewPrivileges?: boolean;
  oomScoreAdj?: number;
  scheduler?: Scheduler;
  selinuxLabel?: string;
  ioPriority?: IOPriority;
  execCPUAffinity?: CPUAffinity;
  /** REQUIRED on POSIX platforms. */
  user: User;
}

export interface Box {
  height: number;
  width: number;
}

export interface User {
  /** uint32 */
  uid: number;
  /** uint32 */
  gid: number;
  /** uint32, e.g. 0o022 */
  umask?: number;
  /** uint32[] */
  additionalGids?: number[];
  /** Windows only. */
  username?: string;
}

export type Capability = string; // "CAP_" + name, e.g. CAP_NET_BIND_SERVICE

export interface LinuxCapabilities {
  bounding?: Capability[];
  effective?: Capability[];
  inheritable?: Capability[];
  permitted?: Capability[];
  ambient?: Capability[];
}
export type Capabilities = LinuxCapabilities;

export type RlimitType = `RLIMIT_${string}`;

export interface POSIXRlimit {
  /** e.g. RLIMIT_NOFILE */
  type: RlimitType | string;
  /** uint64 (values above 2^53 lose precision in JS) */
  hard: number;
  /** uint64 */
  soft: number;
}
export type Rlimit = POSIXRlimit;

export type SchedulerPolicy =
  | 'SCHED_OTHER'
  | 'SCHED_FIFO'
  | 'SCHED_RR'
  | 'SCHED_BATCH'
  | 'SCHED_ISO'
  | 'SCHED_IDLE'
  | 'SCHED_DEADLINE';

export type SchedulerFlag =
  | 'SCHED_FLAG_RESET_ON_FORK'
  | 'SCHED_FLAG_RECLAIM'
  | 'SCHED_FLAG_DL_OVERRUN'
  | 'SCHED_FLAG_KEEP_POLICY'
  | 'SCHED_FLAG_KEEP_PARAMS'
  | 'SCHED_FLAG_UTIL_CLAMP_MIN'
  | 'SCHED_FLAG_UTIL_CLAMP_MAX';

export interface Scheduler {
  policy: SchedulerPolicy;
  /** int32 */
  nice?: number;
  /** int32 */
  priority?: number;
  flags?: SchedulerFlag[];
  /** uint64 nanoseconds */
  runtime?: number;
  deadline?: number;
  period?: number;
}

export type IOPriorityClass = 'IOPRIO_CLASS_RT' | 'IOPRIO_CLASS_BE' | 'IOPRIO_CLASS_IDLE';

export interface IOPriority {
  class: IOPriorityClass;
  /** 0 (highest) .. 7 (lowest) */
  priority: number;
}

export interface CPUAffinity {
  /** cpu list, e.g. "0-3,7" */
  initial?: string;
  final?: string;
}

// ---------------------------------------------------------------------------------------------
// Root, mounts, hooks
// ---------------------------------------------------------------------------------------------

export interface Root {
  /** Path to the root filesystem, absolute or relative to the bundle. REQUIRED. */
  path: string;
  readonly?: boolean;
}

export interface Mount {
  /** Absolute path in the container (relative accepted for compatibility, as runc does). REQUIRED. */
  destination: string;
  source?: string;
  options?: string[];
  type?: string;
  /** idmapped mounts: requires a user namespace / idmap support. */
  uidMappings?: LinuxIDMapping[];
  gidMappings?: LinuxIDMapping[];
}

export interface Hook {
  /** Absolute path to the executable. REQUIRED. */
  path: string;
  args?: string[];
  env?: string[];
  /** seconds, > 0 */
  timeout?: number;
}

export interface Hooks {
  /** Deprecated in favour of createRuntime/createContainer/startContainer. */
  prestart?: Hook[];
  createRuntime?: Hook[];
  createContainer?: Hook[];
  startContainer?: Hook[];
  poststart?: Hook[];
  poststop?: Hook[];
}

export type HookName = keyof Hooks;

// ---------------------------------------------------------------------------------------------
// Linux
// ---------------------------------------------------------------------------------------------

export interface Linux {
  namespaces?: LinuxNamespace[];
  uidMappings?: LinuxIDMapping[];
  gidMappings?: LinuxIDMapping[];
  timeOffsets?: LinuxTimeOffsets;
  devices?: LinuxDevice[];
  netDevices?: Record<string, LinuxNetDevice>;
  cgroupsPath?: string;
  resources?: LinuxResources;
  rootfsPropagation?: RootfsPropagation;
  seccomp?: LinuxSeccomp;
  sysctl?: StringMap;
  maskedPaths?: string[];
  readonlyPaths?: string[];
  mountLabel?: string;
  intelRdt?: LinuxIntelRdt;
  memoryPolicy?: LinuxMemoryPolicy;
  personality?: LinuxPersonality;
}

export type LinuxNamespaceType = 'pid' | 'network' | 'mount' | 'ipc' | 'uts' | 'user' | 'cgroup' | 'time';

export const NAMESPACE_TYPES: readonly LinuxNamespaceType[] = [
  'pid',
  'network',
  'mount',
  'ipc',
  'uts',
  'user',
  'cgroup',
  'time',
];

export interface LinuxNamespace {
  type: LinuxNamespaceType;
  /** Namespace file to join, e.g. /proc/1234/ns/net. */
  path?: string;
}

export interface LinuxIDMapping {
  /** uint32 */
  containerID: number;
  /** uint32 */
  hostID: number;
  /** uint32 */
  size: number;
}

export interface LinuxTimeOffset {
  /** int64 */
  secs?: number;
  /** uint32 */
  nanosecs?: number;
}

export interface LinuxTimeOffsets {
  monotonic?: LinuxTimeOffset;
  boottime?: LinuxTimeOffset;
}

/** c: character (also u: unbuffered character), b: block, p: FIFO. */
export type LinuxDeviceType = 'c' | 'b' | 'u' | 'p';

export interface LinuxDevice {
  type: LinuxDeviceType;
  /** Absolute path in the container. */
  path: string;
  /** int64; required for c/b/u, not for p. */
  major?: number;
  minor?: number;
  /** uint32 mode bits (permissions), e.g. 0o666 */
  fileMode?: number;
  uid?: number;
  gid?: number;
}

export interface LinuxNetDevice {
  name?: string;
}

export type RootfsPropagation = 'private' | 'shared' | 'slave' | 'unbindable';

export interface LinuxResources {
  devices?: LinuxDeviceCgroup[];
  memory?: LinuxMemory;
  cpu?: LinuxCPU;
  pids?: LinuxPids;
  blockIO?: LinuxBlockIO;
  hugepageLimits?: LinuxHugepageLimit[];
  network?: LinuxNetwork;
  rdma?: Record<string, LinuxRdma>;
  /** cgroup v2 files: name -> value */
  unified?: StringMap;
}

export interface LinuxDeviceCgroup {
  allow: boolean;
  /** a (all), c, b */
  type?: 'a' | 'c' | 'b';
  /** -1 or omitted: wildcard */
  major?: number | null;
  minor?: number | null;
  /** combination of r, w, m */
  access?: string;
}

export interface LinuxMemory {
  /** int64 bytes; -1 unlimited */
  limit?: number;
  reservation?: number;
  swap?: number;
  /** deprecated */
  kernel?: number;
  kernelTCP?: number;
  /** uint64 0..100 */
  swappiness?: number;
  disableOOMKiller?: boolean;
  useHierarchy?: boolean;
  checkBeforeUpdate?: boolean;
}

export interface LinuxCPU {
  /** uint64 */
  shares?: number;
  /** int64 microseconds */
  quota?: number;
  /** uint64 microseconds */
  burst?: number;
  /** uint64 microseconds */
  period?: number;
  realtimeRuntime?: number;
  realtimePeriod?: number;
  /** cpu list */
  cpus?: string;
  /** memory node list */
  mems?: string;
  /** int64, 0 or 1 */
  idle?: number;
}

export interface LinuxPids {
  /** int64; -1 or 0 unlimited */
  limit?: number;
}

export interface LinuxBlockIODevice {
  /** int64 */
  major: number;
  minor: number;
}

export interface LinuxWeightDevice extends LinuxBlockIODevice {
  /** uint16 10..1000 */
  weight?: number;
  leafWeight?: number;
}

export interface LinuxThrottleDevice extends LinuxBlockIODevice {
  /** uint64 */
  rate: number;
}

export interface LinuxBlockIO {
  /** uint16 10..1000 */
  weight?: number;
  leafWeight?: number;
  weightDevice?: LinuxWeightDevice[];
  throttleReadBpsDevice?: LinuxThrottleDevice[];
  throttleWriteBpsDevice?: LinuxThrottleDevice[];
  throttleReadIOPSDevice?: LinuxThrottleDevice[];
  throttleWriteIOPSDevice?: LinuxThrottleDevice[];
}

export interface LinuxHugepageLimit {
  /** e.g. "2MB", "64KB", "1GB" */
  pageSize: string;
  /** uint64 bytes */
  limit: number;
}

export interface LinuxInterfacePriority {
  name: string;
  /** uint32 */
  priority: number;
}

export interface LinuxNetwork {
  /** uint32 */
  classID?: number;
  priorities?: LinuxInterfacePriority[];
}

export interface LinuxRdma {
  /** uint32 */
  hcaHandles?: number;
  hcaObjects?: number;
}

export type SeccompAction =
  | 'SCMP_ACT_KILL'
  | 'SCMP_ACT_KILL_PROCESS'
  | 'SCMP_ACT_KILL_THREAD'
  | 'SCMP_ACT_TRAP'
  | 'SCMP_ACT_ERRNO'
  | 'SCMP_ACT_TRACE'
  | 'SCMP_ACT_ALLOW'
  | 'SCMP_ACT_LOG'
  | 'SCMP_ACT_NOTIFY';

export type SeccompOperator =
  | 'SCMP_CMP_NE'
  | 'SCMP_CMP_LT'
  | 'SCMP_CMP_LE'
  | 'SCMP_CMP_EQ'
  | 'SCMP_CMP_GE'
  | 'SCMP_CMP_GT'
  | 'SCMP_CMP_MASKED_EQ';

export type SeccompArch =
  | 'SCMP_ARCH_X86'
  | 'SCMP_ARCH_X86_64'
  | 'SCMP_ARCH_X32'
  | 'SCMP_ARCH_ARM'
  | 'SCMP_ARCH_AARCH64'
  | 'SCMP_ARCH_MIPS'
  | 'SCMP_ARCH_MIPS64'
  | 'SCMP_ARCH_MIPS64N32'
  | 'SCMP_ARCH_MIPSEL'
  | 'SCMP_ARCH_MIPSEL64'
  | 'SCMP_ARCH_MIPSEL64N32'
  | 'SCMP_ARCH_PPC'
  | 'SCMP_ARCH_PPC64'
  | 'SCMP_ARCH_PPC64LE'
  | 'SCMP_ARCH_S390'
  | 'SCMP_ARCH_S390X'
  | 'SCMP_ARCH_PARISC'
  | 'SCMP_ARCH_PARISC64'
  | 'SCMP_ARCH_RISCV64'
  | 'SCMP_ARCH_LOONGARCH64'
  | 'SCMP_ARCH_M68K'
  | 'SCMP_ARCH_SH'
  | 'SCMP_ARCH_SHEB';

export type SeccompFlag =
  | 'SECCOMP_FILTER_FLAG_TSYNC'
  | 'SECCOMP_FILTER_FLAG_LOG'
  | 'SECCOMP_FILTER_FLAG_SPEC_ALLOW'
  | 'SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV';

export interface LinuxSeccompArg {
  /** uint, syscall argument index 0..5 */
  index: number;
  /** uint64 */
  value: number;
  valueTwo?: number;
  op: SeccompOperator;
}

export interface LinuxSyscall {
  names: string[];
  action: SeccompAction;
  /** uint */
  errnoRet?: number;
  args?: LinuxSeccompArg[];
}

export interface LinuxSeccomp {
  defaultAction: SeccompAction;
  defaultErrnoRet?: number;
  architectures?: SeccompArch[];
  flags?: SeccompFlag[];
  /** Absolute path of a UNIX socket the runtime sends the notify fd to. */
  listenerPath?: string;
  listenerMetadata?: string;
  syscalls?: LinuxSyscall[];
}

export interface LinuxIntelRdt {
  closID?: string;
  l3CacheSchema?: string;
  memBwSchema?: string;
  schemata?: string[];
  enableCMT?: boolean;
  enableMBM?: boolean;
  enableMonitoring?: boolean;
}

export type MemoryPolicyMode =
  | 'MPOL_DEFAULT'
  | 'MPOL_BIND'
  | 'MPOL_INTERLEAVE'
  | 'MPOL_WEIGHTED_INTERLEAVE'
  | 'MPOL_PREFERRED'
  | 'MPOL_PREFERRED_MANY'
  | 'MPOL_LOCAL';

export interface LinuxMemoryPolicy {
  mode: MemoryPolicyMode;
  nodes?: string;
  flags?: string[];
}

export type PersonalityDomain = 'LINUX' | 'LINUX32';

export interface LinuxPersonality {
  domain: PersonalityDomain;
  flags?: string[];
}

// ---------------------------------------------------------------------------------------------
// State (runtime.md)
// ---------------------------------------------------------------------------------------------

export type ContainerStatus = 'creating' | 'created' | 'running' | 'stopped';

export interface State {
  ociVersion: string;
  id: string;
  status: ContainerStatus | string;
  /** REQUIRED when status is created or running (on Linux). */
  pid?: number;
  /** Absolute path to the bundle directory. */
  bundle: string;
  annotations?: StringMap;
}

/**
 * `runc state` output: runc's own shape (not the OCI state), which ts-runc prints for compatibility.
 * Status may also be "paused".
 */
export interface RuncState {
  ociVersion: string;
  id: string;
  pid: number;
  status: ContainerStatus | 'paused';
  bundle: string;
  rootfs: string;
  /** RFC 3339 with nanoseconds */
  created: string;
  annotations?: StringMap;
  owner: string;
}

// ---------------------------------------------------------------------------------------------
// Features (features.md / `runc features`)
// ---------------------------------------------------------------------------------------------

export interface Features {
  ociVersionMin: string;
  ociVersionMax: string;
  hooks?: HookName[] | string[];
  mountOptions?: string[];
  linux?: LinuxFeatures;
  annotations?: StringMap;
  potentiallyUnsafeConfigAnnotations?: string[];
}

export interface LinuxFeatures {
  namespaces?: LinuxNamespaceType[] | string[];
  capabilities?: string[];
  cgroup?: {
    v1?: boolean;
    v2?: boolean;
    systemd?: boolean;
    systemdUser?: boolean;
    rdma?: boolean;
  };
  seccomp?: {
    enabled?: boolean;
    actions?: string[];
    operators?: string[];
    archs?: string[];
    knownFlags?: string[];
    supportedFlags?: string[];
  };
  apparmor?: { enabled?: boolean };
  selinux?: { enabled?: boolean };
  intelRdt?: { enabled?: boolean; schemata?: boolean };
  mountExtensions?: { idmap?: { enabled?: boolean } };
  netDevices?: { enabled?: boolean };
  memoryPolicy?: { modes?: string[]; flags?: string[] };
}
