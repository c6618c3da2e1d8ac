import type { Descriptor } from '@tsrt/oci-spec';
import type { ImageSource } from './types';
import { MAX_JSON_BLOB } from './types';
import { hasher, parseDigest } from '../digest';

/** Read a whole (small) blob, checking its size and digest against the descriptor. */
export async function readBlob(src: ImageSource, desc: Descriptor, what: string): Promise<Buffer> {
  const d = parseDigest(desc.digest, `${what} digest`);
  if (typeof desc.size !== 'number' || !Number.isSafeInteger(desc.size) || desc.size < 0) {
    throw new Error(`${what} ${desc.digest}: invalid size ${JSON.stringify(desc.size)}`);
  }
  if (desc.size > MAX_JSON_BLOB) throw new Error(`${what} ${desc.digest}: size ${desc.size} exceeds the ${MAX_JSON_BLOB}-byte limit`);
  const h = hasher(d);
  const parts: Buffer[] = [];
  let n = 0;
  const s = await src.openBlob(desc);
  for await (const c of s as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > desc.size) {
      s.destroy();
      throw new Error(`${what} ${desc.digest}: blob is larger than its descriptor size ${desc.size}`);
    }
    h.update(c);
    parts.push(c);
  }
  if (n !== desc.size) throw new Error(`${what} ${desc.digest}: size mismatch: descriptor says ${desc.size}, blob has ${n}`);
  const got = `${d.algorithm}:${h.digest('hex')}`;
  if (got !== desc.digest) throw new Error(`${what}: digest mismatch: expected ${desc.digest}, got ${got}`);
  return Buffer.concat(parts);
}

export async function readJson<T>(src: ImageSource, desc: Descriptor, what: string): Promise<T> {
  const buf = await readBlob(src, desc, what);
  try {
    return JSON.parse(buf.toString('utf8')) as T;
  } catch (e) {
    throw new Error(`${what} ${desc.digest}: invalid JSON: ${(e as Error).message}`);
  }
}
