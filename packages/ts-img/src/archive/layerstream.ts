/**
 * A layer blob as an uncompressed tar stream: compression sniffed from the first bytes (gzip,
 * zstd via the host binary, or none), whatever the media type says.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { PassThrough, Readable } from 'node:stream';
import zlib from 'node:zlib';

export const ZSTD = '/usr/bin/zstd';

export type Compression = 'gzip' | 'zstd' | 'none';

export function sniff(head: Buffer): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  return 'none';
}

export function sniffFile(file: string): Compression {
  const fd = fs.openSync(file, 'r');
  try {
    const b = Buffer.alloc(4);
    const n = fs.readSync(fd, b, 0, 4, 0);
    return sniff(b.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
}

export function decompressFile(file: string): Readable {
  const c = sniffFile(file);
  const src = fs.createReadStream(file, { highWaterMark: 1 << 20 });
  return decompress(src, c);
}

export function decompress(src: Readable, c: Compression): Readable {
  if (c === 'none') return src;
  if (c === 'gzip') {
    const g = zlib.createGunzip({ chunkSize: 1 << 20 });
    src.on('error', (e) => g.destroy(e));
    return src.pipe(g);
  }
  const out = new PassThrough();
  const child = spawn(ZSTD, ['-d', '-c', '-q'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  child.on('error', (e) => out.destroy(new Error(`zstd: ${e.message}`)));
  child.on('close', (code) => {
    if (code !== 0) out.destroy(new Error(`zstd: ${err.trim() || `exit ${code}`}`));
  });
  src.on('error', (e) => out.destroy(e));
  src.pipe(child.stdin);
  child.stdin.on('error', () => undefined);
  child.stdout.pipe(out);
  return out;
}
