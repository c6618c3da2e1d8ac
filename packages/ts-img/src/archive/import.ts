/**
 * import: a rootfs tarball (plain, gzip or zstd) becomes a one-layer image. A compressed input
 * is stored as it is (its diff_id computed by decompressing); a plain tar is gzipped.
 */
import fs from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { Descriptor, ImageConfig, MediaType, Platform } from '@tsrt/oci-spec';
import { Layout } from '../store/layout';
import { hostPlatform } from '../store/image';
import { HashTap, TarCheck, writeGzipLayer } from './blobs';
import { decompress, sniffFile } from './layerstream';

export interface ImportOptions {
  platform?: Platform;
  cmd?: string[];
  entrypoint?: string[];
  env?: string[];
  workdir?: string;
  user?: string;
  labels?: Record<string, string>;
  author?: string;
  comment?: string;
  /** created timestamp (default now) */
  created?: string;
}

export async function importTarball(layout: Layout, file: string, name: string | undefined, opts: ImportOptions = {}): Promise<Descriptor> {
  const lock = await layout.writerLock();
  try {
    const c = sniffFile(file);
    let layer: Descriptor;
    let diffId: string;
    if (c === 'none') {
      const w = await writeGzipLayer(layout, fs.createReadStream(file, { highWaterMark: 1 << 20 }), 6, true);
      layer = { mediaType: MediaType.LayerGzip, digest: w.digest, size: w.size };
      diffId = w.diffId;
    } else {
      const tap = new HashTap();
      await pipeline(decompress(fs.createReadStream(file), c), new TarCheck(), tap, async function* (src) {
        for await (const _ of src) {
          /* drain */
        }
      });
      diffId = tap.digest();
      const w = await layout.writeBlobStream(fs.createReadStream(file, { highWaterMark: 1 << 20 }));
      layer = { mediaType: c === 'gzip' ? MediaType.LayerGzip : MediaType.LayerZstd, digest: w.digest, size: w.size };
    }
    const p = opts.platform ?? hostPlatform();
    const created = opts.created ?? new Date().toISOString();
    const exec: NonNullable<ImageConfig['config']> = {};
    if (opts.env?.length) exec.Env = opts.env;
    else exec.Env = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'];
    if (opts.cmd) exec.Cmd = opts.cmd;
    if (opts.entrypoint) exec.Entrypoint = opts.entrypoint;
    if (opts.workdir) exec.WorkingDir = opts.workdir;
    if (opts.user) exec.User = opts.user;
    if (opts.labels && Object.keys(opts.labels).length) exec.Labels = opts.labels;
    const config: ImageConfig = {
      created,
      ...(opts.author ? { author: opts.author } : {}),
      architecture: p.architecture,
      os: p.os,
      ...(p.variant ? { variant: p.variant } : {}),
      config: exec,
      rootfs: { type: 'layers', diff_ids: [diffId] },
      history: [{ created, created_by: `ts-img import ${file === '-' ? 'stdin' : file.split('/').pop()}`, ...(opts.comment ? { comment: opts.comment } : {}) }],
    };
    const cb = Buffer.from(JSON.stringify(config));
    const cw = layout.writeBlob(cb);
    const manifest = {
      schemaVersion: 2,
      mediaType: MediaType.ImageManifest,
      config: { mediaType: MediaType.ImageConfig, digest: cw.digest, size: cb.length },
      layers: [layer],
    };
    const mb = Buffer.from(JSON.stringify(manifest));
    const mw = layout.writeBlob(mb);
    const desc: Descriptor = { mediaType: MediaType.ImageManifest, digest: mw.digest, size: mb.length };
    if (name) await layout.tag(name, desc);
    else await layout.addUntagged(desc);
    return desc;
  } finally {
    lock.release();
  }
}
