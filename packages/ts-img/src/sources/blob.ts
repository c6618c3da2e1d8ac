import * as fs from 'fs';
import type { Descriptor } from '@tsrt/oci-spec';
import type { ImageSource } from './types';
import { MAX_JSON_BLOB } from './types';
import { digestOf, parseDigest } from '../digest';

function tooLarge(what: string, desc: Descriptor): Error {
  return new Error(`${what} ${desc.digest}: blob is larger than its descriptor size ${desc.size}`);
}

/**
 * Up to `limit` bytes of a blob the source keeps in a local file, read at once: no stream (fs
 * streams cost ~3 ms of start-up to load, measured). Undefined where there is no such file:
 * openBlob then reads it, or says why it cannot.
 */
async function readLocal(src: ImageSource, desc: Descriptor, limit: number): Promise<Buffer | undefined> {
  const loc = await src.blobFile?.(desc);
  if (!loc) return undefined;
  let fd: number;
  try {
    fd = fs.openSync(loc.file, 'r');
  } catch {
    return undefined;
  }
  try {
    if (!fs.fstatSync(fd).isFile()) return undefined;
    const b = Buffer.allocUnsafe(Math.min(loc.length, limit));
    let n = 0;
    while (n < b.length) {
      const r = fs.readSync(fd, b, n, b.length - n, loc.start + n);
      if (r === 0) break;
      n += r;
    }
    return b.subarray(0, n);
  } finally {
    fs.closeSync(fd);
  }
}

async function readStream(src: ImageSource, desc: Descriptor, what: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  const s = await src.openBlob(desc);
  for await (const c of s as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > desc.size) {
      s.destroy();
      throw tooLarge(what, desc);
    }
    parts.push(c);
  }
  return Buffer.concat(parts);
}

/** Read a whole (small) blob, checking its size and digest against the descriptor. */
export async function readBlob(src: ImageSource, desc: Descriptor, what: string): Promise<Buffer> {
  const d = parseDigest(desc.digest, `${what} digest`);
  if (typeof desc.size !== 'number' || !Number.isSafeInteger(desc.size) || desc.size < 0) {
    throw new Error(`${what} ${desc.digest}: invalid size ${JSON.stringify(desc.size)}`);
  }
  if (desc.size > MAX_JSON_BLOB) throw new Error(`${what} ${desc.digest}: size ${desc.size} exceeds the ${MAX_JSON_BLOB}-byte limit`);
  const buf = (await readLocal(src, desc, desc.size + 1)) ?? (await readStream(src, desc, what));
  if (buf.length > desc.size) throw tooLarge(what, desc);
  if (buf.length !== desc.size) throw new Error(`${what} ${desc.digest}: size mismatch: descriptor says ${desc.size}, blob has ${buf.length}`);
  const got = digestOf(buf, d.algorithm);
  if (got !== desc.digest) throw new Error(`${what}: digest mismatch: expected ${desc.digest}, got ${got}`);
  return buf;
}

export async function readJson<T>(src: ImageSource, desc: Descriptor, what: string): Promise<T> {
  const buf = await readBlob(src, desc, what);
  try {
    return JSON.parse(buf.toString('utf8')) as T;
  } catch (e) {
    throw new Error(`${what} ${desc.digest}: invalid JSON: ${(e as Error).message}`);
  }
}
