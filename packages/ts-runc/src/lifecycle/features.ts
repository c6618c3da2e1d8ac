import { CAPABILITIES } from '../plan/capabilities';
import { MOUNT_OPTION_NAMES } from '../plan/mount-options';
import { SPEC_VERSION } from './spec';

/** `features`: what this runtime implements, in the runtime-spec features.md shape runc prints. */
export function features(version: string): object {
  return {
    ociVersionMin: '1.0.0',
    ociVersionMax: SPEC_VERSION,
    hooks: ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'],
    mountOptions: MOUNT_OPTION_NAMES,
    linux: {
      namespaces: ['cgroup', 'ipc', 'mount', 'network', 'pid', 'uts'],
      capabilities: CAPABILITIES,
      cgroup: { v1: true, v2: true, systemd: false, systemdUser: false },
      apparmor: { enabled: false },
      selinux: { enabled: false },
    },
    annotations: { 'org.opencontainers.runtime.ts-runc.version': version },
  };
}
