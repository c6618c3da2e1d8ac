import type { LinuxResources, Spec } from '@tsrt/oci-spec';
import { effectiveDeviceRules } from './devices';

/**
 * The resources a new container's cgroup gets: linux.resources with the device list completed
 * (the spec's rules, then runc's default rules; linux.devices adds no rule, as in runc).
 */
export function containerResources(spec: Pick<Spec, 'linux'>): LinuxResources {
  const r: LinuxResources = { ...(spec.linux?.resources ?? {}) };
  const rules = effectiveDeviceRules(r.devices);
  r.devices = rules.map((d) => ({ allow: d.allow, type: d.type, major: d.major, minor: d.minor, access: d.access }));
  return r;
}
