/**
 * load: an oci-archive or a docker-archive (old `docker save` format, or Docker 25+ with an OCI
 * layout inside) into a layout/store. Archive members are read in place (tar index, no
 * extraction), every blob is verified against its digest while it is copied, and names are
 * taken from the archive (io.containerd.image.name, ref.name, RepoTags) or --tag.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createHash } from 'node:crypto';
import { Annotations, Descriptor, ImageConfig, ImageIndex, MediaType } from '@tsrt/oci-spec';
import { UserError } from '../cli/errors';
import { Layout } from '../store/layout';
import { TarIndex } from '../sources/archive';
import { isValidDigest } from '../registry/digest';
import { storeName } from '../store/args';
import { sniff } from './layerstream';

export interface LoadResult {
  format: 'oci-archive' | 'docker-archive';
  images: Array<{ name?: string; descriptor: Descriptor }>;
  blobs: number;
}

function nameFor(d: Descriptor): string | undefined {
  const a = d.annotations ?? {};
  if (a[Annotations.ContainerdImageName]) return storeName(a[Annotations.ContainerdImageName]);
  const r = a[Annotations.RefName];
  if (!r) return undefined;
  return r.includes('/') ? storeName(r) : r;
}

/** Read stdin into a temporary file (archives need random access). */
export async function spoolStdin(): Promise<string> {
  const f = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ts-img-load-')), 'archive.tar');
  await pipeline(process.stdin, fs.createWriteStream(f));
  return f;
}

export async function load(file: string, layout: Layout, opts: { tag?: string[] } = {}): Promise<LoadResult> {
  const idx = TarIndex.open(file);
  const lock = await layout.writerLock();
  try {
    const hasOci = !!idx.get('oci-layout') && !!idx.get('index.json');
    const hasDocker = !!idx.get('manifest.json');
    if (!hasOci && !hasDocker) throw new UserError(`${file}: neither an oci-archive (oci-layout, index.json) nor a docker-archive (manifest.json)`);
    const format = hasDocker ? 'docker-archive' : 'oci-archive';
    let blobs = 0;
    const images: LoadResult['images'] = [];
    if (hasOci) {
      for (const m of idx.members.values()) {
        const mm = /^blobs\/([a-z0-9]+)\/([a-f0-9]+)$/.exec(m.name);
        if (!mm || m.type !== 'file') continue;
        const digest = `${mm[1]}:${mm[2]}`;
        if (!isValidDigest(digest)) throw new UserError(`${file}: ${m.name} is not a valid blob name`);
        if (!layout.hasBlob(digest, m.size)) await layout.writeBlobStream(idx.stream(m), digest, m.size);
        blobs++;
      }
      const index = JSON.parse(idx.read(idx.get('index.json')!).toString('utf8')) as ImageIndex;
      for (const d of index.manifests ?? []) {
        if (!layout.hasBlob(d.digest)) throw new UserError(`${file}: index.json refers to ${d.digest}, which the archive does not contain`);
        images.push({ name: nameFor(d), descriptor: d });
      }
      if (hasDocker && images.every((i) => !i.name)) {
        // Docker 25+: names may live in manifest.json RepoTags only
        const entries = JSON.parse(idx.read(idx.get('manifest.json')!).toString('utf8')) as Array<{ RepoTags?: string[] }>;
        const tags = entries.flatMap((e) => e.RepoTags ?? []);
        if (images.length === 1 && tags.length) {
          const d = images[0].descriptor;
          images.length = 0;
          for (const t of tags) images.push({ name: storeName(t), descriptor: d });
        }
      }
    } else {
      const entries = JSON.parse(idx.read(idx.get('manifest.json')!).toString('utf8')) as Array<{ Config: string; RepoTags?: string[] | null; Layers: string[] }>;
      if (!Array.isArray(entries) || !entries.length) throw new UserError(`${file}: manifest.json lists no images`);
      for (const [i, e] of entries.entries()) {
        const cm = idx.get(e.Config);
        if (!cm) throw new UserError(`${file}: manifest.json[${i}] config ${e.Config} missing`);
        const cbytes = idx.read(cm);
        const config = JSON.parse(cbytes.toString('utf8')) as ImageConfig;
        const cw = layout.writeBlob(cbytes);
        blobs++;
        const diffIds = config.rootfs?.diff_ids ?? [];
        if (diffIds.length !== e.Layers.length) throw new UserError(`${file}: ${e.Layers.length} layers but the config lists ${diffIds.length} diff_ids`);
        const layers: Descriptor[] = [];
        for (const lp of e.Layers) {
          const m = idx.get(lp);
          if (!m) throw new UserError(`${file}: layer ${lp} missing`);
          const head = idx.read({ ...m, size: Math.min(4, m.size) });
          const c = sniff(head);
          const w = await layout.writeBlobStream(idx.stream(m), undefined, m.size);
          blobs++;
          layers.push({ mediaType: c === 'gzip' ? MediaType.DockerLayerGzip : c === 'zstd' ? MediaType.LayerZstd : MediaType.DockerLayer, digest: w.digest, size: w.size });
        }
        // Uncompressed layers: their digest is their diff_id; check it.
        layers.forEach((l, j) => {
          if (l.mediaType === MediaType.DockerLayer && l.digest !== diffIds[j]) throw new UserError(`${file}: layer ${e.Layers[j]} has digest ${l.digest} but the config says diff_id ${diffIds[j]}`);
        });
        const zstd = layers.some((l) => l.mediaType === MediaType.LayerZstd);
        const manifest = zstd
          ? { schemaVersion: 2, mediaType: MediaType.ImageManifest, config: { mediaType: MediaType.ImageConfig, digest: cw.digest, size: cbytes.length }, layers: layers.map((l) => ({ ...l, mediaType: l.mediaType === MediaType.DockerLayerGzip ? MediaType.LayerGzip : l.mediaType === MediaType.DockerLayer ? MediaType.Layer : l.mediaType })) }
          : { schemaVersion: 2, mediaType: MediaType.DockerManifest, config: { mediaType: MediaType.DockerConfig, digest: cw.digest, size: cbytes.length }, layers };
        const mb = Buffer.from(JSON.stringify(manifest, null, 3));
        const mw = layout.writeBlob(mb);
        const desc: Descriptor = { mediaType: manifest.mediaType, digest: mw.digest, size: mb.length, platform: { os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) } };
        const tags = e.RepoTags ?? [];
        if (!tags.length) images.push({ descriptor: desc });
        for (const t of tags) images.push({ name: storeName(t), descriptor: desc });
      }
    }
    if (opts.tag?.length) {
      const distinct = new Set(images.map((i) => i.descriptor.digest));
      if (distinct.size !== 1) throw new UserError(`${file} holds ${distinct.size} images; --tag needs exactly one`);
      const d = images[0].descriptor;
      images.length = 0;
      for (const t of opts.tag) images.push({ name: t, descriptor: d });
    }
    for (const im of images) {
      const { annotations, ...rest } = im.descriptor;
      const keep = { ...(annotations ?? {}) };
      delete keep[Annotations.ContainerdImageName];
      delete keep[Annotations.RefName];
      const d = { ...rest, ...(Object.keys(keep).length ? { annotations: keep } : {}) };
      if (im.name) await layout.tag(im.name, d);
      else await layout.addUntagged(d);
    }
    return { format, images, blobs };
  } finally {
    lock.release();
    idx.close();
  }
}

export function sha256(b: Buffer): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}
