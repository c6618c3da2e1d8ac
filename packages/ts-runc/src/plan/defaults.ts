import { S_IFCHR } from '@tsrt/libc';
import type { PlannedDevice } from './types';

/** The devices every container gets (runtime-spec config-linux.md "Default Devices"). */
export const DEFAULT_DEVICES: PlannedDevice[] = [
  { path: '/dev/null', major: 1, minor: 3 },
  { path: '/dev/zero', major: 1, minor: 5 },
  { path: '/dev/full', major: 1, minor: 7 },
  { path: '/dev/random', major: 1, minor: 8 },
  { path: '/dev/urandom', major: 1, minor: 9 },
  { path: '/dev/tty', major: 5, minor: 0 },
].map((d) => ({ ...d, mode: S_IFCHR | 0o666, uid: 0, gid: 0 }));

/** /dev symlinks created next to the default devices. */
export const DEV_SYMLINKS: Array<[string, string]> = [
  ['/proc/self/fd', '/dev/fd'],
  ['/proc/self/fd/0', '/dev/stdin'],
  ['/proc/self/fd/1', '/dev/stdout'],
  ['/proc/self/fd/2', '/dev/stderr'],
];
