import type { LinuxResources, Spec } from '@tsrt/oci-spec';
import { effectiveDeviceRules } from './devices';

/**
 * The resources a new container's cgroup gets: linux.resources with the device list completed
 * (the spec's rules, then allow rules for linux.devices, then runc's default rules).
 */
export function containerResources(spec: Pick<Spec, 'linux'>): LinuxResources {
  const r: LinuxResources = { ...(spec.linux?.resources ?? {}) };
  const rules = effectiveDeviceRules(r.devices, spec.linux?.devices ?? []);
  r.devices = rules.map((d) => ({ allow: d.allow, type: d.type, major: d.major, minor: d.minor, access: d.access }));
  return r;
}
