import { O_RDWR, O_NOCTTY, O_CLOEXEC, O_PATH, O_DIRECTORY, TIOCSPTLCK, TIOCGPTN, TIOCSWINSZ, TIOCSCTTY, type Sys } from '@tsrt/libc';
import { openInRoot } from '../paths/in-root';

/** ioctl on a pty master: open its slave (no path: nothing in the container can redirect it). */
const TIOCGPTPEER = 0x5441;

/**
 * Open a pty in the container's own devpts (/dev/ptmx as seen after pivot_root or setns(mnt)),
 * send the master to the --console-socket with SCM_RIGHTS as runc does, and return the slave.
 */
export function openPty(sys: Sys, socketFd: number, uid: number, gid: number, size: { height: number; width: number } | null): { slave: number; slavePath: string } {
  // /dev/ptmx as the container has it, but inside its root and never through a magic link.
  const root = sys.open('/', O_PATH | O_DIRECTORY | O_CLOEXEC);
  let master: number;
  try {
    master = openInRoot(sys, root, '/dev/ptmx', O_RDWR | O_NOCTTY);
  } finally {
    sys.close(root);
  }
  try {
    sys.ioctlPtr(master, TIOCSPTLCK, Buffer.alloc(4));
    const n = Buffer.alloc(4);
    sys.ioctlPtr(master, TIOCGPTN, n);
    const slavePath = `/dev/pts/${n.readUInt32LE(0)}`;
    const slave = sys.ioctlInt(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    sys.fchown(slave, uid, gid);
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
