import { CAPABILITIES } from '../plan/capabilities';
import { MOUNT_OPTION_NAMES } from '../plan/mount-options';
import { SPEC_VERSION } from './spec';
import { SECCOMP_ACTIONS, SECCOMP_OPERATORS, SECCOMP_ARCHS, SECCOMP_FLAGS } from '../plan/seccomp';
import { MEMORY_POLICY_MODES, MEMORY_POLICY_FLAGS } from '../plan/fields';

/** libseccomp's version, or null when it cannot be loaded (then seccomp is reported off). */
function libseccompVersion(): string | null {
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    return (require('@tsrt/libc') as typeof import('@tsrt/libc')).libseccomp().version();
  } catch {
    return null;
  }
}

/** `features`: what this runtime implements, in the runtime-spec features.md shape runc prints. */
export function features(version: string): object {
  const seccompVersion = libseccompVersion();
  return {
    ociVersionMin: '1.0.0',
    ociVersionMax: SPEC_VERSION,
    hooks: ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'],
    mountOptions: MOUNT_OPTION_NAMES,
    linux: {
      namespaces: ['cgroup', 'ipc', 'mount', 'network', 'pid', 'user', 'uts', 'time'],
      capabilities: CAPABILITIES,
      cgroup: { v1: true, v2: true, systemd: false, systemdUser: false },
      seccomp: {
        enabled: seccompVersion !== null,
        actions: Object.keys(SECCOMP_ACTIONS),
        operators: Object.keys(SECCOMP_OPERATORS),
        archs: SECCOMP_ARCHS,
        knownFlags: Object.keys(SECCOMP_FLAGS),
        supportedFlags: Object.keys(SECCOMP_FLAGS),
      },
      apparmor: { enabled: false },
      intelRdt: { enabled: false },
      netDevices: { enabled: false },
      memoryPolicy: { modes: MEMORY_POLICY_MODES, flags: MEMORY_POLICY_FLAGS },
      selinux: { enabled: false },
    },
    annotations: {
      'org.opencontainers.runtime.ts-runc.version': version,
      ...(seccompVersion ? { 'io.github.seccomp.libseccomp.version': seccompVersion } : {}),
    },
  };
}
