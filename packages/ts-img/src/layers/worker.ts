/**
 * Worker thread for one layer blob stored in a file: read, hash the blob, decompress (zlib on
 * the libuv pool, or the zstd process), hash the output (diff_id), and post the output to the
 * main thread in transferred 1 MiB batches. The main thread only parses and writes.
 */
import { parentPort, workerData } from 'worker_threads';
import * as fs from 'fs';
import * as zlib from 'zlib';
import { spawn } from 'child_process';
import { createHash } from 'crypto';
import type { Readable } from 'stream';
import { checkMagic } from './magic';

export interface WorkerJob {
  file: string;
  start: number;
  /** bytes to read from start */
  length: number;
  /** 'gzip' | 'zstd' | 'none' | 'sniff' */
  compression: string;
  /** For the magic-bytes check's message. */
  label: string;
  mediaType: string;
  blobAlg: string | null;
  diffAlg: string;
  zstdBin: string;
  maxBytes: number;
  /** Pause when this many bytes were posted and not yet acknowledged. */
  window: number;
}

export type WorkerMsg =
  | { t: 'data'; buf: ArrayBuffer; len: number; raw: number }
  | { t: 'end'; rawBytes: number; blobDigest: string | null; diffDigest: string }
  | { t: 'error'; message: string; whole?: boolean };

const BATCH = 1 << 20;

function run(job: WorkerJob): void {
  const port = parentPort!;
  let unacked = 0;
  let paused = false;
  let failed = false;
  let out: Readable | undefined;
  const blobHash = job.blobAlg ? createHash(job.blobAlg) : null;
  const diffHash = createHash(job.diffAlg);
  let rawBytes = 0;
  let rawSinceLast = 0;
  let outBytes = 0;
  let batch = Buffer.allocUnsafe(BATCH);
  let fill = 0;
  let child: ReturnType<typeof spawn> | undefined;

  const fail = (m: string): void => {
    if (failed) return;
    failed = true;
    port.postMessage({ t: 'error', message: m } satisfies WorkerMsg);
    raw?.destroy();
    out?.destroy();
    if (child && child.exitCode === null) child.kill('SIGKILL');
  };
  const failWhole = (m: string): void => {
    if (failed) return;
    failed = true;
    port.postMessage({ t: 'error', message: m, whole: true } satisfies WorkerMsg);
    raw?.destroy();
  };
  const flush = (): void => {
    if (fill === 0) return;
    // a full batch owns its whole ArrayBuffer (allocUnsafe of 1 MiB is not pooled): transfer it
    const whole = batch.byteOffset === 0 && batch.buffer.byteLength === fill;
    const ab = (whole ? batch.buffer : batch.buffer.slice(batch.byteOffset, batch.byteOffset + fill)) as ArrayBuffer;
    port.postMessage({ t: 'data', buf: ab, len: fill, raw: rawSinceLast } satisfies WorkerMsg, [ab]);
    rawSinceLast = 0;
    unacked += fill;
    fill = 0;
    batch = Buffer.allocUnsafe(BATCH);
    if (unacked >= job.window && !paused && out) {
      paused = true;
      out.pause();
    }
  };
  port.on('message', (m: { ack: number } | { stop: true }) => {
    if ('stop' in m) {
      failed = true;
      raw?.destroy();
      out?.destroy();
      if (child && child.exitCode === null) child.kill('SIGKILL');
      process.exit(0);
    }
    unacked -= m.ack;
    if (paused && unacked < job.window / 2) {
      paused = false;
      out?.resume();
    }
  });
  const onOut = (c: Buffer): void => {
    if (failed) return;
    outBytes += c.length;
    if (outBytes > job.maxBytes) {
      fail(`expands beyond ${job.maxBytes} bytes, the --max-layer-size (a decompression bomb?)`);
      return;
    }
    diffHash.update(c);
    let off = 0;
    while (off < c.length) {
      const n = Math.min(BATCH - fill, c.length - off);
      c.copy(batch, fill, off, off + n);
      fill += n;
      off += n;
      if (fill === BATCH) flush();
    }
  };
  const finish = (): void => {
    if (failed) return;
    flush();
    port.postMessage({
      t: 'end', rawBytes,
      blobDigest: blobHash ? `${job.blobAlg}:${blobHash.digest('hex')}` : null,
      diffDigest: `${job.diffAlg}:${diffHash.digest('hex')}`,
    } satisfies WorkerMsg);
  };

  const raw = job.length === 0 ? null : fs.createReadStream(job.file, { start: job.start, end: job.start + job.length - 1, highWaterMark: 1 << 20 });
  if (!raw) {
    finish();
    return;
  }
  let sink: NodeJS.WritableStream | null = null;
  let decided = false;
  const decide = (first: Buffer | undefined): void => {
    decided = true;
    let comp: string;
    try {
      comp = checkMagic(job.compression as 'gzip' | 'zstd' | 'none' | 'sniff', first, job.label, job.mediaType);
    } catch (e) {
      // the message already names the layer: sent whole (the main thread prefixes nothing)
      failWhole((e as Error).message);
      return;
    }
    if (comp === 'none') {
      out = raw;
      return;
    }
    if (comp === 'gzip') {
      const g = zlib.createGunzip({ chunkSize: 256 << 10 });
      g.on('error', (e) => fail(`gzip: ${e.message}`));
      out = g;
      sink = g;
    } else {
      child = spawn(job.zstdBin, ['-d', '-c', '-q'], { stdio: ['pipe', 'pipe', 'pipe'] });
      let err = '';
      child.stderr!.on('data', (d: Buffer) => { if (err.length < 500) err += d.toString(); });
      child.on('error', (e) => fail(`zstd: ${e.message} (is ${job.zstdBin} installed?)`));
      child.stdin!.on('error', () => {});
      let ended = false;
      let closed: number | null | undefined;
      const both = (): void => {
        if (!ended || closed === undefined) return;
        if (closed !== 0) fail(`zstd: ${err.trim() || `exit ${closed}`}`);
        else finish();
      };
      child.on('close', (code) => { closed = code; both(); });
      child.stdout!.on('data', onOut);
      child.stdout!.on('end', () => { ended = true; both(); });
      out = child.stdout!;
      sink = child.stdin!;
      return;
    }
    out.on('data', onOut);
    out.on('end', finish);
  };
  raw.on('error', (e) => fail(`reading blob: ${e.message}`));
  raw.on('data', (chunk: string | Buffer) => {
    const c = chunk as Buffer;
    if (failed) return;
    rawBytes += c.length;
    rawSinceLast += c.length;
    blobHash?.update(c);
    if (!decided) decide(c);
    if (out === raw) onOut(c);
    else if (sink && !sink.write(c)) {
      raw.pause();
      (sink as unknown as NodeJS.EventEmitter).once('drain', () => raw.resume());
    }
  });
  raw.on('end', () => {
    if (!decided) decide(undefined);
    if (out === raw) finish();
    else sink?.end();
  });
}

if (parentPort && workerData) run(workerData as WorkerJob);
