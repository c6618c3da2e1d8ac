import { O_RDWR, O_NOCTTY, O_CLOEXEC, TIOCSPTLCK, TIOCGPTN, TIOCSWINSZ, TIOCSCTTY, type Sys } from '@tsrt/libc';

/**
 * process.terminal: open a pty in the container's own devpts, send the master to the
 * --console-socket (SCM_RIGHTS, as runc does), make the slave our stdio and controlling tty.
 */
export function setupConsole(sys: Sys, socketFd: number, uid: number, gid: number, size: { height: number; width: number } | null): void {
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
    for (const fd of [0, 1, 2]) sys.dup3(slave, fd, 0);
    sys.close(slave);
    sys.ioctlInt(0, TIOCSCTTY, 0);
  } finally {
    sys.close(master);
  }
}
