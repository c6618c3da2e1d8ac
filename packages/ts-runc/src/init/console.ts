import { O_RDWR, O_NOCTTY, O_CLOEXEC, O_PATH, O_DIRECTORY, TIOCSPTLCK, TIOCGPTN, TIOCSWINSZ, TIOCSCTTY, type Sys } from '@tsrt/libc';
import { openInRoot } from '../paths/in-root';

/** ioctl on a pty master: open its slave (no path: nothing in the container can redirect it). */
const TIOCGPTPEER = 0x5441;

export interface Pty {
  /** Already sent to the console socket; ours to close. */
  master: number;
  slave: number;
}

/**
 * Open a pty in the container's own devpts (/dev/ptmx as seen after pivot_root or setns(mnt)),
 * and send the master to the --console-socket with SCM_RIGHTS as runc does. The caller closes
 * the master once nothing opens the slave any more: with no master open, an open of the slave
 * fails (EIO), whatever the console socket's owner did with its copy meanwhile.
 */
export function openPty(sys: Sys, socketFd: number, uid: number, gid: number, size: { height: number; width: number } | null): Pty {
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
    try {
      sys.fchown(slave, uid, gid);
      if (size) {
        const ws = Buffer.alloc(8);
        ws.writeUInt16LE(size.height, 0);
        ws.writeUInt16LE(size.width, 2);
        sys.ioctlPtr(master, TIOCSWINSZ, ws);
      }
      sys.sendFds(socketFd, Buffer.from(slavePath), [master]);
    } catch (e) {
      sys.close(slave);
      throw e;
    }
    return { master, slave };
  } catch (e) {
    sys.close(master);
    throw e;
  }
}

/** Both ends of the pty closed (our copies: the console socket's owner and the process keep theirs). */
export function closePty(sys: Sys, pty: Pty): void {
  sys.close(pty.slave);
  sys.close(pty.master);
}

/** A spawn's fd map with the slave as stdio (fds 0-2) instead of ours. */
export function onTerminal(fds: Array<[number, number]>, slave: number): Array<[number, number]> {
  return fds.map(([src, dst]) => [dst <= 2 ? slave : src, dst]);
}

/** process.terminal for stage 2's init: the slave becomes stdio and the controlling terminal. */
export function setupConsole(sys: Sys, socketFd: number, uid: number, gid: number, size: { height: number; width: number } | null): void {
  const pty = openPty(sys, socketFd, uid, gid, size);
  for (const fd of [0, 1, 2]) sys.dup3(pty.slave, fd, 0);
  closePty(sys, pty);
  sys.ioctlInt(0, TIOCSCTTY, 0);
}
