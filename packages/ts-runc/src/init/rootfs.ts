import * as fs from 'fs';
import { MS_BIND, MS_REC, MS_MOVE, MS_SLAVE, MS_RDONLY, MS_REMOUNT, MNT_DETACH, type Sys } from '@tsrt/libc';
import type { InitPlan } from '../plan/types';
import { mountOne, remountReadonly, keepLocked } from './mounts';
import { createDevices, createDevSymlinks } from './devices';
import { mkdirInRoot } from './resolve';

/** Everything before the root switch: propagation, the rootfs bind, mounts, devices, cwd. */
export function prepareRootfs(sys: Sys, plan: InitPlan): void {
  sys.mount(null, '/', null, plan.rootPropagation, null);
  // pivot_root needs the new root to be a mount point.
  sys.mount(plan.rootfs, plan.rootfs, null, MS_BIND | MS_REC, null);
  for (const m of plan.mounts) mountOne(sys, plan.rootfs, m, plan.userns);
  createDevices(sys, plan.rootfs, plan.devices, plan.userns);
  if (plan.defaultDevices) createDevSymlinks(plan.rootfs);
  mkdirInRoot(plan.rootfs, plan.process.cwd);
}

export function switchRoot(sys: Sys, plan: InitPlan): void {
  sys.chdir(plan.rootfs);
  if (plan.noPivot) {
    sys.mount(plan.rootfs, '/', null, MS_MOVE, null);
    sys.chroot('.');
  } else {
    sys.pivotRoot('.', '.');
    // The old root sits under the new one: detach it without telling the host's mounts.
    sys.mount(null, '.', null, MS_SLAVE | MS_REC, null);
    sys.umount2('.', MNT_DETACH);
  }
  sys.chdir('/');
}

/** After the switch: masked and read-only paths, then the read-only root. */
export function finishRootfs(sys: Sys, plan: InitPlan): void {
  for (const p of plan.maskedPaths) {
    let st: fs.Stats;
    try {
      st = fs.statSync(p);
    } catch {
      continue; // nothing to hide
    }
    if (st.isDirectory()) sys.mount('tmpfs', p, 'tmpfs', MS_RDONLY, null);
    else sys.mount('/dev/null', p, null, MS_BIND, null);
  }
  for (const p of plan.readonlyPaths) {
    if (!fs.existsSync(p)) continue;
    remountReadonly(sys, p, plan.userns);
  }
  if (plan.readonlyRoot) sys.mount(null, '/', null, MS_BIND | MS_REMOUNT | MS_RDONLY | keepLocked(sys, '/', plan.userns), null);
}

export function applySysctl(sysctl: Record<string, string>): void {
  for (const [key, value] of Object.entries(sysctl)) {
    if (!/^[A-Za-z0-9_.\-/]+$/.test(key) || key.includes('..')) throw new Error(`linux.sysctl: invalid key "${key}"`);
    try {
      fs.writeFileSync('/proc/sys/' + key.replace(/\./g, '/'), value);
    } catch (e) {
      throw new Error(`linux.sysctl: cannot set ${key}: ${(e as NodeJS.ErrnoException).code ?? e}`);
    }
  }
}
