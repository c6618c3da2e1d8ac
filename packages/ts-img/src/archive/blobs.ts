/** Writing layer blobs: gzip a tar into the layout while hashing both sides (digest and diff_id). */
import { createHash, Hash } from 'node:crypto';
import fs from 'node:fs';
import { Readable, Transform, TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { Layout } from '../store/layout';
import { TarParser } from '../layers/tar';

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

/** Pass-through that parses the stream as tar (headers only) and fails on anything else. */
export class TarCheck extends Transform {
  private parser: TarParser;
  entries = 0;
  constructor() {
    super({ highWaterMark: 4 << 20 });
    this.parser = new TarParser({ entry: () => void this.entries++, data: () => undefined, end: () => undefined });
  }
  override _transform(c: Buffer, _e: BufferEncoding, cb: TransformCallback): void {
    try {
      if (!this.parser.ended) this.parser.push(c);
      cb(null, c);
    } catch (e) {
      cb(new Error(`not a valid tar archive: ${(e as Error).message}`));
    }
  }
  override _flush(cb: TransformCallback): void {
    try {
      this.parser.finish();
      cb(this.entries === 0 ? new Error('not a valid tar archive: no entries') : null);
    } catch (e) {
      cb(new Error(`not a valid tar archive: ${(e as Error).message}`));
    }
  }
}

export interface LayerBlob {
  digest: string;
  size: number;
  diffId: string;
  uncompressedSize: number;
}

/** Uncompressed tar stream -> gzip blob in the layout. */
export async function writeGzipLayer(layout: Layout, tarStream: Readable, level = 6, check = false): Promise<LayerBlob> {
  const raw = new HashTap();
  const comp = new HashTap();
  const tmp = layout.tmpPath();
  try {
    if (check) await pipeline(tarStream, new TarCheck(), raw, zlib.createGzip({ level, chunkSize: 1 << 20 }), comp, fs.createWriteStream(tmp));
    else await pipeline(tarStream, raw, zlib.createGzip({ level, chunkSize: 1 << 20 }), comp, fs.createWriteStream(tmp));
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  const digest = comp.digest();
  if (layout.hasBlob(digest)) fs.rmSync(tmp, { force: true });
  else layout.commitFile(tmp, digest);
  return { digest, size: comp.bytes, diffId: raw.digest(), uncompressedSize: raw.bytes };
}
