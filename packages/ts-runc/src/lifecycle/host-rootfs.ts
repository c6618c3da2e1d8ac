import { O_PATH, O_DIRECTORY, O_CLOEXEC, MNT_DETACH, type Sys } from '@tsrt/libc';
import type { ContainerState } from '../state/container-state';

/**
 * A container without a mount namespace of its own has its mounts in ours, all below the bind
 * of its rootfs that stage 2 made (see plan/types.ts hostMountNs). Detach that bind, and with it
 * every mount below it, if it is still the one on top of the path: by its fd, so the mount id
 * checked is the mount detached. Returns an error text for a warning, or null.
 */
export function detachHostRootfs(sys: Sys, rec: ContainerState['hostRootfsMount']): string | null {
  if (!rec) return null;
  let fd: number;
  try {
    fd = sys.open(rec.path, O_PATH | O_DIRECTORY | O_CLOEXEC);
  } catch {
    return null; // the bundle is gone, and its mounts with it
  }
  try {
    if (String(sys.statxFd(fd).mountId) !== rec.mountId) return null; // detached already
    sys.umount2(`/proc/self/fd/${fd}`, MNT_DETACH);
    return null;
  } catch (e) {
    return `cannot unmount the container's rootfs ${rec.path}: ${(e as Error).message}`;
  } finally {
    sys.close(fd);
  }
}
