import { AF_UNIX, SOCK_DGRAM, SOCK_CLOEXEC, type Sys } from '@tsrt/libc';

const SIOCGIFFLAGS = 0x8913;
const SIOCSIFFLAGS = 0x8914;
const IFF_UP = 0x1;
/** struct ifreq: a 16-byte name, then a union whose first member here is short ifr_flags. */
const IFREQ_SIZE = 40;
const IFR_FLAGS = 16;

/**
 * A new network namespace starts with "lo" down; runc and crun bring it up, and programs
 * (a server on 127.0.0.1, buildah RUN steps) count on it. Interface ioctls work on any socket
 * of the namespace: an AF_UNIX one needs no address family the kernel may lack.
 */
export function bringLoopbackUp(sys: Sys): void {
  const [a, b] = sys.socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC);
  try {
    const ifr = Buffer.alloc(IFREQ_SIZE);
    ifr.write('lo', 0, 'latin1');
    sys.ioctlPtr(a, SIOCGIFFLAGS, ifr);
    const flags = ifr.readUInt16LE(IFR_FLAGS);
    if (flags & IFF_UP) return;
    ifr.writeUInt16LE(flags | IFF_UP, IFR_FLAGS);
    sys.ioctlPtr(a, SIOCSIFFLAGS, ifr);
  } catch (e) {
    throw new Error(`unable to bring up the loopback interface: ${(e as { code?: string }).code ?? (e as Error).message}`);
  } finally {
    sys.close(a);
    sys.close(b);
  }
}
