import * as zlib from 'zlib';
import { spawn, ChildProcess } from 'child_process';
import type { Readable } from 'stream';
import type { Hash } from 'crypto';
import type { Descriptor } from '@tsrt/oci-spec';
import { layerMediaTypeInfo, LayerCompression } from '@tsrt/oci-spec';
import type { ImageSource } from '../sources/types';
import { UNVERIFIED_BLOB } from '../sources/docker-archive';
import { hasher, parseDigest } from '../digest';
import { checkMagic } from './magic';

/** The host zstd decompressor (Debian package zstd); Node 20's zlib has no zstd. */
export const ZSTD_BIN = '/usr/bin/zstd';

export interface LayerReaderOptions {
  /** Decompressed bytes buffered ahead of the consumer (parallel decompression). */
  aheadBytes?: number;
  /** Sniff compression from magic bytes instead of trusting the media type (docker save). */
  sniff?: boolean;
  onRawBytes?: (n: number) => void;
  /** Refuse layers that expand beyond this many bytes (default: no limit here; unpack bounds all layers by the free space). */
  maxBytes?: number;
}

export class LayerStreamError extends Error {}

/**
 * One layer blob: read, hash (blob digest), decompress (zlib on the libuv pool or the zstd
 * process), hash again (diff_id) — all in one pass — and buffer up to `aheadBytes` of output
 * so the next layer can be decompressing while the current one is being applied.
 */
export class LayerReader {
  private queue: Buffer[] = [];
  private queued = 0;
  private done = false;
  private error: Error | undefined;
  private wake: (() => void) | undefined;
  private out: Readable | undefined;
  private raw: Readable | undefined;
  private child: ChildProcess | undefined;
  private paused = false;
  private rawBytes = 0;
  private outBytes = 0;
  private blobHash: Hash | null;
  private diffHash: Hash;
  private started = false;
  private readonly limit: number;
  private readonly maxBytes: number;

  constructor(
    private readonly src: ImageSource,
    readonly desc: Descriptor,
    readonly diffId: string,
    readonly label: string,
    private readonly opts: LayerReaderOptions = {},
  ) {
    const bd = parseDigest(desc.digest, `${label} digest`);
    const dd = parseDigest(diffId, `${label} diff_id`);
    if (typeof desc.size !== 'number' || !Number.isSafeInteger(desc.size) || desc.size < 0) {
      throw new LayerStreamError(`${label}: invalid size ${JSON.stringify(desc.size)}`);
    }
    const unverified = desc.annotations?.[UNVERIFIED_BLOB] === 'true';
    this.blobHash = unverified ? null : hasher(bd);
    this.diffHash = hasher(dd);
    this.limit = opts.aheadBytes ?? 4 << 20;
    this.maxBytes = opts.maxBytes ?? Infinity;
  }

  private compression(first: Buffer | undefined): LayerCompression {
    let declared: LayerCompression | 'sniff' = 'sniff';
    if (!this.opts.sniff) {
      const info = layerMediaTypeInfo(this.desc.mediaType);
      if (!info) throw new LayerStreamError(`${this.label}: unsupported layer media type ${JSON.stringify(this.desc.mediaType)}`);
      declared = info.compression;
    }
    try {
      return checkMagic(declared, first, this.label, this.desc.mediaType);
    } catch (e) {
      throw new LayerStreamError((e as Error).message);
    }
  }

  private fail(e: Error): void {
    if (!this.error) this.error = e;
    this.wakeUp();
  }

  private wakeUp(): void {
    const w = this.wake;
    this.wake = undefined;
    if (w) w();
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const raw = await this.src.openBlob(this.desc);
    this.raw = raw;
    let decided = false;
    let sink: NodeJS.WritableStream | null = null;
    const onOut = (c: Buffer): void => {
      this.outBytes += c.length;
      if (this.outBytes > this.maxBytes) {
        this.fail(new LayerStreamError(`${this.label}: expands beyond ${this.maxBytes} bytes, the --max-layer-size (a decompression bomb?)`));
        this.destroy();
        return;
      }
      this.diffHash.update(c);
      this.queue.push(c);
      this.queued += c.length;
      if (this.queued >= this.limit && !this.paused) {
        this.paused = true;
        this.out!.pause();
      }
      this.wakeUp();
    };
    const decide = (first: Buffer | undefined): void => {
      decided = true;
      let comp: LayerCompression;
      try {
        comp = this.compression(first);
      } catch (e) {
        this.fail(e as Error);
        raw.destroy();
        return;
      }
      if (comp === 'none') {
        this.out = raw;
        sink = null;
        return;
      }
      if (comp === 'gzip') {
        const g = zlib.createGunzip({ chunkSize: 256 << 10 });
        g.on('error', (e) => this.fail(new LayerStreamError(`${this.label}: gzip: ${e.message}`)));
        this.out = g;
        sink = g;
      } else {
        const child = spawn(ZSTD_BIN, ['-d', '-c', '-q'], { stdio: ['pipe', 'pipe', 'pipe'] });
        this.child = child;
        let err = '';
        child.stderr!.on('data', (d: Buffer) => { if (err.length < 500) err += d.toString(); });
        child.on('error', (e) => this.fail(new LayerStreamError(`${this.label}: zstd: ${e.message} (is ${ZSTD_BIN} installed?)`)));
        child.stdin!.on('error', () => {});
        child.on('close', (code) => {
          if (code !== 0 && code !== null) this.fail(new LayerStreamError(`${this.label}: zstd: ${err.trim() || `exit ${code}`}`));
        });
        this.out = child.stdout!;
        sink = child.stdin!;
      }
      this.out.on('data', onOut);
      this.out.on('end', () => { this.done = true; this.wakeUp(); });
      this.out.on('error', (e) => this.fail(new LayerStreamError(`${this.label}: ${e.message}`)));
    };
    raw.on('error', (e) => this.fail(new LayerStreamError(`${this.label}: reading blob: ${e.message}`)));
    raw.on('data', (c: Buffer) => {
      this.rawBytes += c.length;
      this.opts.onRawBytes?.(c.length);
      if (this.rawBytes > this.desc.size) {
        this.fail(new LayerStreamError(`${this.label}: blob ${this.desc.digest} is larger than its descriptor size ${this.desc.size}`));
        this.destroy();
        return;
      }
      this.blobHash?.update(c);
      if (!decided) decide(c);
      if (this.out === raw) onOut(c);
      else if (sink && !sink.write(c)) {
        raw.pause();
        (sink as NodeJS.EventEmitter).once('drain', () => raw.resume());
      }
    });
    raw.on('end', () => {
      if (!decided) decide(undefined);
      if (this.out === raw || this.out === undefined) {
        this.done = true;
        this.wakeUp();
      } else if (sink) sink.end();
    });
  }

  /** Decompressed chunks in order; resolves when the layer is fully read. */
  async next(): Promise<Buffer | null> {
    for (;;) {
      if (this.error) throw this.error;
      if (this.queue.length > 0) {
        const c = this.queue.shift()!;
        this.queued -= c.length;
        if (this.paused && this.queued < this.limit / 2) {
          this.paused = false;
          this.out!.resume();
        }
        return c;
      }
      if (this.done) return null;
      await new Promise<void>((r) => (this.wake = r));
    }
  }

  /** After the last chunk: check size, blob digest and diff_id. */
  async verify(): Promise<void> {
    if (this.child && this.child.exitCode === null) {
      await new Promise<void>((r) => this.child!.once('close', () => r()));
    }
    if (this.error) throw this.error;
    if (this.rawBytes !== this.desc.size) {
      throw new LayerStreamError(`${this.label}: size mismatch: descriptor says ${this.desc.size}, blob has ${this.rawBytes}`);
    }
    if (this.blobHash) {
      const got = `${parseDigest(this.desc.digest).algorithm}:${this.blobHash.digest('hex')}`;
      if (got !== this.desc.digest) throw new LayerStreamError(`${this.label}: digest mismatch: expected ${this.desc.digest}, got ${got}`);
    }
    const diff = `${parseDigest(this.diffId).algorithm}:${this.diffHash.digest('hex')}`;
    if (diff !== this.diffId) throw new LayerStreamError(`${this.label}: diff_id mismatch: config says ${this.diffId}, layer has ${diff}`);
  }

  destroy(): void {
    this.raw?.destroy();
    this.out?.destroy();
    if (this.child && this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}

/** Where a blob's bytes sit in a local file (layout blob, or a member of an archive). */
export interface BlobFile {
  file: string;
  start: number;
  length: number;
}

/**
 * Same contract as LayerReader, but reading, hashing and decompressing happen in a worker
 * thread (for blobs in local files): the main thread only parses tar and writes files.
 */
export class WorkerLayerReader {
  private queue: Buffer[] = [];
  private rawOf: number[] = [];
  private done = false;
  private error: Error | undefined;
  private wake: (() => void) | undefined;
  private worker: import('worker_threads').Worker | undefined;
  private end: { rawBytes: number; blobDigest: string | null; diffDigest: string } | undefined;
  private started = false;
  private readonly compression: string;
  private readonly unverified: boolean;

  constructor(
    private readonly loc: BlobFile,
    readonly desc: Descriptor,
    readonly diffId: string,
    readonly label: string,
    private readonly opts: LayerReaderOptions = {},
  ) {
    parseDigest(desc.digest, `${label} digest`);
    parseDigest(diffId, `${label} diff_id`);
    if (typeof desc.size !== 'number' || !Number.isSafeInteger(desc.size) || desc.size < 0) {
      throw new LayerStreamError(`${label}: invalid size ${JSON.stringify(desc.size)}`);
    }
    this.unverified = desc.annotations?.[UNVERIFIED_BLOB] === 'true';
    if (opts.sniff) this.compression = 'sniff';
    else {
      const info = layerMediaTypeInfo(desc.mediaType);
      if (!info) throw new LayerStreamError(`${label}: unsupported layer media type ${JSON.stringify(desc.mediaType)}`);
      this.compression = info.compression;
    }
  }

  private wakeUp(): void {
    const w = this.wake;
    this.wake = undefined;
    if (w) w();
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    if (this.loc.length > this.desc.size) {
      this.error = new LayerStreamError(`${this.label}: blob ${this.desc.digest} is larger than its descriptor size ${this.desc.size}`);
      return;
    }
    const { Worker } = require('worker_threads') as typeof import('worker_threads');
    const path = require('path') as typeof import('path');
    const job = {
      file: this.loc.file,
      start: this.loc.start,
      length: this.loc.length,
      compression: this.compression,
      label: this.label,
      mediaType: this.desc.mediaType,
      blobAlg: this.unverified ? null : parseDigest(this.desc.digest).algorithm,
      diffAlg: parseDigest(this.diffId).algorithm,
      zstdBin: ZSTD_BIN,
      maxBytes: this.opts.maxBytes ?? Infinity,
      window: this.opts.aheadBytes ?? 4 << 20,
    };
    // ../layers: also right from the CLI's bundle in dist/src/cli (scripts/bundle.js).
    const w = new Worker(path.join(__dirname, '..', 'layers', 'worker.js'), { workerData: job });
    this.worker = w;
    w.on('message', (m: import('./worker').WorkerMsg) => {
      if (m.t === 'data') {
        this.queue.push(Buffer.from(m.buf, 0, m.len));
        this.rawOf.push(m.raw);
      } else if (m.t === 'end') {
        this.end = m;
        this.done = true;
      } else {
        this.error = new LayerStreamError(m.whole ? m.message : `${this.label}: ${m.message}`);
      }
      this.wakeUp();
    });
    w.on('error', (e) => {
      this.error ??= new LayerStreamError(`${this.label}: ${e.message}`);
      this.wakeUp();
    });
    w.on('exit', (code) => {
      if (!this.done && !this.error) this.error = new LayerStreamError(`${this.label}: decompressor exited (${code})`);
      this.wakeUp();
    });
  }

  async next(): Promise<Buffer | null> {
    for (;;) {
      if (this.error) throw this.error;
      if (this.queue.length > 0) {
        const c = this.queue.shift()!;
        const raw = this.rawOf.shift()!;
        this.worker?.postMessage({ ack: c.length });
        // progress follows what was applied, not what was decompressed ahead
        if (raw) this.opts.onRawBytes?.(raw);
        return c;
      }
      if (this.done) return null;
      await new Promise<void>((r) => (this.wake = r));
    }
  }

  async verify(): Promise<void> {
    if (this.error) throw this.error;
    const e = this.end!;
    if (e.rawBytes !== this.desc.size) {
      throw new LayerStreamError(`${this.label}: size mismatch: descriptor says ${this.desc.size}, blob has ${e.rawBytes}`);
    }
    if (e.blobDigest !== null && e.blobDigest !== this.desc.digest) {
      throw new LayerStreamError(`${this.label}: digest mismatch: expected ${this.desc.digest}, got ${e.blobDigest}`);
    }
    if (e.diffDigest !== this.diffId) {
      throw new LayerStreamError(`${this.label}: diff_id mismatch: config says ${this.diffId}, layer has ${e.diffDigest}`);
    }
    void this.worker?.terminate();
    this.worker = undefined;
  }

  destroy(): void {
    const w = this.worker;
    this.worker = undefined;
    if (w) {
      w.removeAllListeners('exit');
      w.postMessage({ stop: true });
      void w.terminate();
    }
  }
}
