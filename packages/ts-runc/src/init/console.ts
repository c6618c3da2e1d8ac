import { O_RDWR, O_NOCTTY, O_CLOEXEC, TIOCSPTLCK, TIOCGPTN, TIOCSWINSZ, TIOCSCTTY, type Sys } from '@tsrt/libc';

/**
 * Open a pty in the container's own devpts (/dev/ptmx as seen after pivot_root or setns(mnt)),
 * send the master to the --console-socket with SCM_RIGHTS as runc does, and return the slave.
 */
export function openPty(sys: Sys, socketFd: number, uid: number, gid: number, size: { height: number; width: number } | null): { slave: number; slavePath: string } {
  const master = sys.open('/dev/ptmx', O_RDWR | O_NOCTTY | O_CLOEXEC);
  try {
    sys.ioctlPtr(master, TIOCSPTLCK, Buffer.alloc(4));
    const n = Buffer.alloc(4);
    sys.ioctlPtr(master, TIOCGPTN, n);
    const slavePath = `/dev/pts/${n.readUInt32LE(0)}`;
    const slave = sys.open(slavePath, O_RDWR | O_NOCTTY | O_CLOEXEC);
    sys.lchown(slavePath, uid, gid);
    if (size) {
      const ws = Buffer.alloc(8);
      ws.writeUInt16LE(size.height, 0);
      ws.writeUInt16LE(size.width, 2);
      sys.ioctlPtr(master, TIOCSWINSZ, ws);
    }
    sys.sendFds(socketFd, Buffer.from(slavePath), [master]);
    return { slave, slavePath };
  } finally {
    sys.close(master);
  }
}

/** process.terminal for the init: the slave becomes stdio and the controlling terminal. */
export function setupConsole(sys: Sys, socketFd: number, uid: number, gid: number, size: { height: number; width: number } | null): void {
  const { slave } = openPty(sys, socketFd, uid, gid, size);
  for (const fd of [0, 1, 2]) sys.dup3(slave, fd, 0);
  sys.close(slave);
  sys.ioctlInt(0, TIOCSCTTY, 0);
}
