/** Writing layer blobs: gzip a tar into the layout while hashing both sides (digest and diff_id). */
import { createHash, Hash } from 'node:crypto';
import fs from 'node:fs';
import { Readable, Transform, TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { Layout } from '../store/layout';

export class HashTap extends Transform {
  readonly hash: Hash = createHash('sha256');
  bytes = 0;
  override _transform(c: Buffer, _e: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(c);
    this.bytes += c.length;
    cb(null, c);
  }
  digest(): string {
    return `sha256:${this.hash.digest('hex')}`;
  }
}

export interface LayerBlob {
  digest: string;
  size: number;
  diffId: string;
  uncompressedSize: number;
}

/** Uncompressed tar stream -> gzip blob in the layout. */
export async function writeGzipLayer(layout: Layout, tarStream: Readable, level = 6): Promise<LayerBlob> {
  const raw = new HashTap();
  const comp = new HashTap();
  const tmp = layout.tmpPath();
  try {
    await pipeline(tarStream, raw, zlib.createGzip({ level, chunkSize: 1 << 20 }), comp, fs.createWriteStream(tmp));
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  const digest = comp.digest();
  if (layout.hasBlob(digest)) fs.rmSync(tmp, { force: true });
  else layout.commitFile(tmp, digest);
  return { digest, size: comp.bytes, diffId: raw.digest(), uncompressedSize: raw.bytes };
}
