/**
 * The entries of a directory fd as byte strings (names are bytes: readdir with a Buffer
 * encoding, see byte-names.ts). Read through /proc/self/fd/N: a short path, whatever the depth.
 */
import * as fs from 'fs';

export interface DirEntry {
  /** Byte string. */
  name: string;
  dir: boolean;
}

export function listDirFd(fd: number): DirEntry[] {
  return fs
    .readdirSync(`/proc/self/fd/${fd}`, { withFileTypes: true, encoding: 'buffer' })
    .map((d) => ({ name: (d.name as unknown as Buffer).toString('latin1'), dir: d.isDirectory() }));
}
