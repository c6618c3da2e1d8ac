import * as fs from 'fs';

/**
 * `bytes` random bytes as hex, for the names of temp files: from /dev/urandom, as node:crypto
 * does, without the ~6 ms loading node:crypto adds to a start (sha256.ts).
 */
export function randomHex(bytes: number): string {
  const b = Buffer.alloc(bytes);
  let fd = -1;
  try {
    fd = fs.openSync('/dev/urandom', 'r');
    if (fs.readSync(fd, b) === bytes) return b.toString('hex');
  } catch {
    /* no /dev/urandom in this mount namespace: node:crypto below */
  } finally {
    if (fd >= 0) fs.closeSync(fd);
  }
  return (require('crypto') as typeof import('crypto')).randomBytes(bytes).toString('hex');
}
