/**
 * The cgroup layer of ts-runc. See README.md in this directory for how lifecycle code calls it.
 */
import type { CgroupManager } from './manager';

export * from './types';
export * from './manager';
export { detectHierarchies, resolveInnerPath, cleanPath, parseProcCgroup, isSystemdRunning } from './paths';
export type { Hierarchies, CgroupMount } from './paths';
export { effectiveDeviceRules, DEFAULT_DEVICE_RULES, emulateDeviceRules, deviceAllowed } from './devices';
export type { DeviceRule, DeviceState } from './devices';
export { translateV1, translateV2, cpuSharesToWeight, blkioWeightToIoWeight, memorySwapToV2 } from './translate';
export { statsToJson, type RuncStats } from './stats';
export { assembleDeviceFilter, encodeInsns } from './bpf';

export { containerResources } from './resources';
export * from './container';

/**
 * Watch for OOM kills by polling the kill counter; calls `onOom` once per new kill.
 * Returns a function that stops the watch. (Polling, not eventfd/inotify: one small read per
 * interval, works the same on v1 and v2 and in every process that reopens the description.)
 */
export function watchOom(mgr: CgroupManager, onOom: () => void, intervalMs = 200): () => void {
  let last = safeCount(mgr);
  const t = setInterval(() => {
    const n = safeCount(mgr);
    for (; last < n; last++) onOom();
  }, intervalMs);
  return () => clearInterval(t);
}

function safeCount(mgr: CgroupManager): number {
  try {
    return mgr.oomKillCount();
  } catch {
    return 0;
  }
}
