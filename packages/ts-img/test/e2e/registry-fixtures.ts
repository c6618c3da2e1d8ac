/** Test images built in-process: gzip layers from file lists, config, manifest, tagged in a layout. */
import { createHash } from 'node:crypto';
import zlib from 'node:zlib';
import tar from 'tar-stream';
import { Descriptor, MediaType } from '@tsrt/oci-spec';
import { Layout } from '../../src/store/layout';

export interface FileSpec {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link';
  content?: Buffer | string;
  mode?: number;
  linkname?: string;
  uid?: number;
  gid?: number;
  mtime?: Date;
}

export async function tarOf(files: FileSpec[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => chunks.push(c as Buffer));
  const done = new Promise<void>((r) => pack.on('end', () => r()));
  for (const f of files) {
    const type = f.type ?? 'file';
    const body = type === 'file' ? (typeof f.content === 'string' ? Buffer.from(f.content) : f.content ?? Buffer.alloc(0)) : undefined;
    const header = { name: f.name, type, mode: f.mode ?? (type === 'directory' ? 0o755 : 0o644), linkname: f.linkname, uid: f.uid ?? 0, gid: f.gid ?? 0, mtime: f.mtime ?? new Date(1700000000000), size: body?.length };
    await new Promise<void>((res, rej) => {
      const cb = (e?: Error | null) => (e ? rej(e) : res());
      pack.entry(header, body ?? Buffer.alloc(0), cb);
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

export const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export interface BuiltImage {
  manifest: Descriptor;
  config: Descriptor;
  layers: Descriptor[];
}

/** Deterministic pseudo-random bytes (incompressible) of length n. */
export function noise(n: number, seed = 1): Buffer {
  const out = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

export async function buildImage(layout: Layout, tag: string, layers: FileSpec[][], opts: { docker?: boolean; cmd?: string[] } = {}): Promise<BuiltImage> {
  const layerDescs: Descriptor[] = [];
  const diffIds: string[] = [];
  for (const files of layers) {
    const raw = await tarOf(files);
    const gz = zlib.gzipSync(raw, { level: 1 });
    diffIds.push(sha(raw));
    const w = layout.writeBlob(gz);
    layerDescs.push({ mediaType: opts.docker ? MediaType.DockerLayerGzip : MediaType.LayerGzip, digest: w.digest, size: gz.length });
  }
  const config = {
    created: '2024-01-01T00:00:00Z',
    architecture: 'amd64',
    os: 'linux',
    config: { Env: ['PATH=/usr/bin:/bin'], Cmd: opts.cmd ?? ['/bin/sh'] },
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: diffIds.map((_, i) => ({ created: '2024-01-01T00:00:00Z', created_by: `test layer ${i}` })),
  };
  const cb = Buffer.from(JSON.stringify(config));
  const cw = layout.writeBlob(cb);
  const configDesc: Descriptor = { mediaType: opts.docker ? MediaType.DockerConfig : MediaType.ImageConfig, digest: cw.digest, size: cb.length };
  const manifest = { schemaVersion: 2, mediaType: opts.docker ? MediaType.DockerManifest : MediaType.ImageManifest, config: configDesc, layers: layerDescs };
  const mb = Buffer.from(JSON.stringify(manifest, null, 2));
  const mw = layout.writeBlob(mb);
  const md: Descriptor = { mediaType: manifest.mediaType, digest: mw.digest, size: mb.length };
  await layout.tag(tag, md);
  return { manifest: md, config: configDesc, layers: layerDescs };
}

/** A small busybox-free image: a few dirs, files, a symlink, and one larger incompressible file. */
export async function sampleImage(layout: Layout, tag: string, bigBytes = 2 << 20, opts: { docker?: boolean } = {}): Promise<BuiltImage> {
  return buildImage(
    layout,
    tag,
    [
      [
        { name: 'etc/', type: 'directory' },
        { name: 'etc/hostname', content: 'sample\n' },
        { name: 'etc/passwd', content: 'root:x:0:0:root:/root:/bin/sh\n' },
        { name: 'bin/', type: 'directory' },
        { name: 'bin/tool', content: 'tool', mode: 0o755 },
        { name: 'bin/alias', type: 'symlink', linkname: 'tool' },
        { name: 'data/', type: 'directory' },
        { name: 'data/old', content: 'old' },
      ],
      [
        { name: 'data/', type: 'directory' },
        { name: 'data/big', content: noise(bigBytes, 7) },
        { name: 'data/.wh.old', content: '' },
        { name: 'etc/', type: 'directory' },
        { name: 'etc/motd', content: 'hello\n' },
      ],
    ],
    opts,
  );
}
