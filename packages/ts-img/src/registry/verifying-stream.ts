import { createHash, Hash } from 'node:crypto';
import { Transform, TransformCallback } from 'node:stream';
import { DigestMismatchError, algorithmOf } from './digest';

/**
 * Pass-through stream that hashes what flows through it and, at the end, fails with
 * DigestMismatchError (or a size error) when the content is not what was expected.
 * `seed` lets a resumed download continue a hash already fed with the bytes on disk.
 */
export class VerifyingStream extends Transform {
  private hash: Hash;
  bytes: number;
  constructor(private expected: string | undefined, private expectedSize?: number, seed?: { hash: Hash; bytes: number }) {
    // Large buffers: with the 16 KiB default, backpressure between socket, hash and file
    // thrashes and a local pull runs at about half speed.
    super({ highWaterMark: 4 << 20 });
    this.hash = seed?.hash ?? createHash(expected ? algorithmOf(expected) : 'sha256');
    this.bytes = seed?.bytes ?? 0;
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.expectedSize !== undefined && this.bytes > this.expectedSize) {
      cb(new Error(`blob ${this.expected ?? ''} larger than its descriptor size ${this.expectedSize}`));
      return;
    }
    this.hash.update(chunk);
    cb(null, chunk);
  }
  override _flush(cb: TransformCallback): void {
    const alg = this.expected ? algorithmOf(this.expected) : 'sha256';
    this.actual = `${alg}:${this.hash.digest('hex')}`;
    if (this.expectedSize !== undefined && this.bytes !== this.expectedSize) {
      cb(new Error(`blob ${this.expected ?? ''} size mismatch: expected ${this.expectedSize}, got ${this.bytes}`));
      return;
    }
    if (this.expected && this.actual !== this.expected) {
      cb(new DigestMismatchError(this.expected, this.actual));
      return;
    }
    cb();
  }
  actual?: string;
}
