/**
 * Build OCI image layouts, oci-archives and docker-save archives offline, from lists of tar
 * entries: used by scripts/make-test-images, the tests and scripts/bench-unpack.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { execFileSync } from 'child_process';
import { createHash } from 'crypto';
import type { Descriptor, ImageConfig, Platform } from '@tsrt/oci-spec';
import { tarBuffer, WEntry } from './tarwriter';

export type Compression = 'gzip' | 'zstd' | 'none';

export interface LayerSpec {
  entries?: WEntry[];
  /** A ready-made uncompressed tar instead of entries. */
  tar?: Buffer;
  compression?: Compression;
  /** Override the media type (e.g. non-distributable or Docker types). */
  mediaType?: string;
}

export interface ImageSpec {
  layers: LayerSpec[];
  /** config.config (Cmd, Env, User, ...) */
  exec?: Record<string, unknown>;
  platform?: Platform;
  /** Extra top-level config fields. */
  extra?: Record<string, unknown>;
}

export interface BuiltLayer {
  tar: Buffer;
  blob: Buffer;
  diffId: string;
  desc: Descriptor;
}

export interface BuiltImage {
  layers: BuiltLayer[];
  config: Buffer;
  configDesc: Descriptor;
  manifest: Buffer;
  manifestDesc: Descriptor;
}

export function sha256(b: Buffer): string {
  return 'sha256:' + createHash('sha256').update(b).digest('hex');
}

const LAYER_MT: Record<Compression, string> = {
  gzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  zstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  none: 'application/vnd.oci.image.layer.v1.tar',
};

export function compress(tar: Buffer, c: Compression): Buffer {
  if (c === 'gzip') return zlib.gzipSync(tar, { level: 6 });
  if (c === 'zstd') return execFileSync('/usr/bin/zstd', ['-q', '-c', '-3'], { input: tar, maxBuffer: 2 ** 31 });
  return tar;
}

export function buildImage(spec: ImageSpec): BuiltImage {
  const layers = spec.layers.map((l) => {
    const tar = l.tar ?? tarBuffer(l.entries ?? []);
    const c = l.compression ?? 'gzip';
    const blob = compress(tar, c);
    const desc: Descriptor = { mediaType: l.mediaType ?? LAYER_MT[c], digest: sha256(blob), size: blob.length };
    return { tar, blob, diffId: sha256(tar), desc };
  });
  const platform = spec.platform ?? { os: 'linux', architecture: 'amd64' };
  const cfg: ImageConfig = {
    created: '2024-01-02T03:04:05Z',
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    config: spec.exec ?? { Cmd: ['/bin/sh'] },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    history: layers.map(() => ({ created: '2024-01-02T03:04:05Z', created_by: 'ts-img test image builder' })),
    ...(spec.extra ?? {}),
  };
  const config = Buffer.from(JSON.stringify(cfg));
  const configDesc: Descriptor = { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length };
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: configDesc,
    layers: layers.map((l) => l.desc),
  }));
  const manifestDesc: Descriptor = {
    mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256(manifest), size: manifest.length,
    platform,
  };
  return { layers, config, configDesc, manifest, manifestDesc };
}

export class LayoutWriter {
  private manifests: Descriptor[] = [];
  constructor(readonly dir: string) {
    fs.mkdirSync(path.join(dir, 'blobs', 'sha256'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  }

  blob(b: Buffer): Descriptor {
    const d = sha256(b);
    fs.writeFileSync(path.join(this.dir, 'blobs', 'sha256', d.slice(7)), b);
    return { mediaType: '', digest: d, size: b.length };
  }

  /** Store an image's blobs; returns its manifest descriptor. */
  image(img: BuiltImage): Descriptor {
    for (const l of img.layers) this.blob(l.blob);
    this.blob(img.config);
    this.blob(img.manifest);
    return { ...img.manifestDesc };
  }

  /** Store an index over the given descriptors; returns its descriptor. */
  index(manifests: Descriptor[], mediaType = 'application/vnd.oci.image.index.v1+json'): Descriptor {
    const b = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType, manifests }));
    const d = this.blob(b);
    return { mediaType, digest: d.digest, size: d.size };
  }

  /** Add to index.json, optionally tagged. */
  add(desc: Descriptor, tag?: string): void {
    this.manifests.push(tag ? { ...desc, annotations: { ...(desc.annotations ?? {}), 'org.opencontainers.image.ref.name': tag } } : desc);
  }

  finish(): void {
    fs.writeFileSync(path.join(this.dir, 'index.json'), JSON.stringify({
      schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: this.manifests,
    }));
  }
}

/** An OCI layout of one image, its manifest listed in index.json under `tag`, with no platform. Returns `dir`. */
export function writeTaggedLayout(dir: string, img: BuiltImage, tag = 'x'): string {
  const w = new LayoutWriter(dir);
  w.add({ ...w.image(img), platform: undefined } as Descriptor, tag);
  w.finish();
  return dir;
}

/** tar a directory (an OCI layout) into an oci-archive. */
export function tarDir(dir: string, out: string): void {
  execFileSync('tar', ['--sort=name', '--numeric-owner', '-C', dir, '-cf', out, '.']);
}

/** `docker save` before Docker 25: manifest.json, repositories, <id>/{VERSION,json,layer.tar}. */
export function writeDockerArchiveOld(img: BuiltImage, repoTag: string, out: string, opts: { symlinkLayer?: number; gzipLayers?: boolean } = {}): void {
  const entries: WEntry[] = [];
  const cfgHex = img.configDesc.digest.slice(7);
  const layerPaths: string[] = [];
  let parent = '';
  img.layers.forEach((l, i) => {
    const id = createHash('sha256').update(parent + l.diffId).digest('hex');
    parent = id;
    entries.push({ name: `${id}/`, type: 'dir' });
    entries.push({ name: `${id}/VERSION`, data: '1.0' });
    entries.push({ name: `${id}/json`, data: JSON.stringify({ id, ...(i > 0 ? { parent: layerPaths[i - 1].split('/')[0] } : {}) }) });
    if (opts.symlinkLayer === i) {
      // as docker does for a layer shared with another image: layer.tar is a symlink
      const shared = createHash('sha256').update('shared' + id).digest('hex');
      entries.push({ name: `${shared}/`, type: 'dir' });
      entries.push({ name: `${shared}/layer.tar`, data: opts.gzipLayers ? zlib.gzipSync(l.tar) : l.tar });
      entries.push({ name: `${id}/layer.tar`, type: 'symlink', linkname: `../${shared}/layer.tar` });
    } else {
      entries.push({ name: `${id}/layer.tar`, data: opts.gzipLayers ? zlib.gzipSync(l.tar) : l.tar });
    }
    layerPaths.push(`${id}/layer.tar`);
  });
  entries.push({ name: `${cfgHex}.json`, data: img.config });
  entries.push({ name: 'manifest.json', data: JSON.stringify([{ Config: `${cfgHex}.json`, RepoTags: [repoTag], Layers: layerPaths }]) });
  const [repo, tag] = repoTag.split(':');
  entries.push({ name: 'repositories', data: JSON.stringify({ [repo]: { [tag]: parent } }) });
  fs.writeFileSync(out, tarBuffer(entries));
}

/** `docker save` since Docker 25: an OCI layout with uncompressed layers plus manifest.json. */
export function writeDockerArchiveNew(spec: ImageSpec, repoTag: string, out: string): void {
  const img = buildImage({ ...spec, layers: spec.layers.map((l) => ({ ...l, compression: 'none' as const })) });
  const entries: WEntry[] = [{ name: 'blobs/', type: 'dir' }, { name: 'blobs/sha256/', type: 'dir' }];
  const blob = (b: Buffer): string => {
    const d = sha256(b).slice(7);
    if (!entries.some((e) => e.name === `blobs/sha256/${d}`)) entries.push({ name: `blobs/sha256/${d}`, data: b });
    return `blobs/sha256/${d}`;
  };
  const layerPaths = img.layers.map((l) => blob(l.blob));
  const cfgPath = blob(img.config);
  blob(img.manifest);
  const [repo, tag] = repoTag.split(':');
  const full = repo.includes('/') ? repoTag : `docker.io/library/${repoTag}`;
  entries.push({ name: 'index.json', data: JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [{ ...img.manifestDesc, platform: undefined, annotations: { 'io.containerd.image.name': full, 'org.opencontainers.image.ref.name': tag } }],
  }) });
  entries.push({ name: 'manifest.json', data: JSON.stringify([{ Config: cfgPath, RepoTags: [repoTag], Layers: layerPaths }]) });
  entries.push({ name: 'oci-layout', data: JSON.stringify({ imageLayoutVersion: '1.0.0' }) });
  entries.push({ name: 'repositories', data: JSON.stringify({ [repo]: { [tag]: img.manifestDesc.digest.slice(7) } }) });
  fs.writeFileSync(out, tarBuffer(entries));
}
