/**
 * User namespaces made to carry an id mapping, for idmapped mounts (mount_setattr
 * MOUNT_ATTR_IDMAP takes a user namespace fd): ts-runc for a config's idmapped mounts, ts-img for
 * the layers of an overlay bundle unpacked with --uid-map/--gid-map.
 */
import * as fs from 'fs';
import type { Sys } from './sys';
import { CLONE_NEWUSER, O_RDONLY, O_CLOEXEC } from './constants';

/** One range of an id mapping (runtime-spec linux.uidMappings). */
export interface IdMapRange {
  containerID: number;
  hostID: number;
  size: number;
}

function mapLines(m: IdMapRange[] | undefined): string {
  return (m ?? []).map((e) => `${e.containerID} ${e.hostID} ${e.size}\n`).join('');
}

/** Write a new user namespace's id maps (its first process waits for them). Throws ErrnoException. */
export function writeIdMaps(pid: number, uidMappings: IdMapRange[] | undefined, gidMappings: IdMapRange[] | undefined): void {
  fs.writeFileSync(`/proc/${pid}/uid_map`, mapLines(uidMappings));
  // Unprivileged callers may write gid_map only after giving up setgroups (user_namespaces(7)).
  if (process.geteuid?.() !== 0) fs.writeFileSync(`/proc/${pid}/setgroups`, 'deny');
  fs.writeFileSync(`/proc/${pid}/gid_map`, mapLines(gidMappings));
}

/**
 * An fd of a new user namespace with these maps: a short-lived clone child (the raw clone of
 * clone-exec.ts, the spawn of user-namespace containers) holds it while the maps are written and
 * /proc/PID/ns/user is opened, then runs /bin/true and is reaped. `mapError` turns a failure to
 * write the maps into the caller's error.
 */
export function usernsWithMaps(sys: Sys, uidMappings: IdMapRange[] | undefined, gidMappings: IdMapRange[] | undefined, mapError: (e: unknown) => Error): number {
  let fd = -1;
  try {
    const pid = sys.cloneExec({
      flags: CLONE_NEWUSER,
      path: '/bin/true',
      argv: ['true'],
      env: [],
      keepFds: [],
      timeoutMs: 2000,
      beforeRelease: (child) => {
        try {
          writeIdMaps(child, uidMappings, gidMappings);
        } catch (e) {
          throw mapError(e);
        }
        if (fd >= 0) sys.close(fd); // a retried child: its predecessor's namespace is not wanted
        fd = sys.open(`/proc/${child}/ns/user`, O_RDONLY | O_CLOEXEC);
      },
    });
    sys.waitpid(pid, 0);
    return fd;
  } catch (e) {
    if (fd >= 0) sys.close(fd);
    throw e;
  }
}
