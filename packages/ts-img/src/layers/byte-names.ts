/**
 * File names are bytes, not text: a layer may hold names that are not UTF-8, and two names that
 * differ in one invalid byte are two files. From the tar header to the syscall (and from readdir
 * back into a tar) a name is kept as a "byte string": a JS string with one char (0-255) per byte,
 * which is what Buffer's 'latin1' encoding gives. '/' and '.' are ASCII, so splitting, prefixes
 * and whiteout names work on byte strings unchanged; only the syscall boundary and messages
 * convert.
 */
import * as path from 'path';
import type { PathArg } from '@tsrt/libc';

const ASCII = /^[\x00-\x7f]*$/;
const NOT_LATIN1 = /[^\x00-\xff]/;

/** Byte string from raw bytes. */
export function byteString(b: Buffer): string {
  return b.toString('latin1');
}

/** The bytes of a byte string (a string with chars above 0xff is text: its UTF-8). */
export function nameBytes(s: string): Buffer {
  return Buffer.from(s, NOT_LATIN1.test(s) ? 'utf8' : 'latin1');
}

/** A byte string as a syscall path: ASCII as is (koffi passes it as UTF-8), else NUL-terminated bytes. */
export function cPath(s: string): PathArg {
  if (ASCII.test(s)) return s;
  const b = Buffer.allocUnsafe(s.length + 1);
  b.write(s, 0, 'latin1');
  b[s.length] = 0;
  return b;
}

/** A byte-string path below a text directory (a user-given path) as a Node fs path. */
export function fsPath(dir: string, rel: string): string | Buffer {
  if (rel === '') return dir;
  if (ASCII.test(rel)) return path.join(dir, rel);
  return Buffer.concat([Buffer.from(dir.endsWith('/') ? dir : dir + '/'), Buffer.from(rel, 'latin1')]);
}

const decoder = new TextDecoder('utf-8', { fatal: true });

/** A byte string for messages, quoted: UTF-8 when it is, else bytes >= 0x80 as \xNN. */
export function showName(s: string): string {
  if (ASCII.test(s)) return JSON.stringify(s);
  try {
    return JSON.stringify(decoder.decode(Buffer.from(s, 'latin1')));
  } catch {
    return JSON.stringify(s).replace(/[\x80-\xff]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  }
}
