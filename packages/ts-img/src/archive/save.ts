/**
 * save: images from a layout/store into one tar, blobs copied byte for byte (no recompression).
 *  - oci-archive: an OCI image layout in a tar (oci-layout, index.json, blobs/).
 *  - docker-archive: the Docker 25+ `docker save` shape: the same OCI layout plus manifest.json
 *    ([{Config, RepoTags, Layers}] with blobs/sha256/<hex> paths) and a legacy `repositories`
 *    file, so `docker load`, skopeo and older readers all find what they need.
 */
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { TarWriter } from './tarwriter';
import { Annotations, Descriptor, MediaType } from '@tsrt/oci-spec';
import { UserError } from '../cli/errors';
import { Layout } from '../store/layout';
import { loadImage, reachable } from '../store/image';
import { parseReference } from '../registry/reference';
import type { Platform } from '@tsrt/oci-spec';

export type ArchiveFormat = 'oci-archive' | 'docker-archive';

export interface SaveItem {
  /** Name to record (store name, e.g. 127.0.0.1:5000/x:v1, or a bare tag). */
  name?: string;
  descriptor: Descriptor;
}

/** Docker's familiar form: docker.io/library/x:t -> x:t, docker.io/u/x:t -> u/x:t. */
export function familiarName(name: string): string | undefined {
  try {
    const r = parseReference(name);
    if (!r.tag) return undefined;
    let repo = `${r.registry}/${r.repository}`;
    if (r.registry === 'docker.io') repo = r.repository.startsWith('library/') ? r.repository.slice(8) : r.repository;
    return `${repo}:${r.tag}`;
  } catch {
    return undefined;
  }
}

function tagOf(name: string): string {
  try {
    const r = parseReference(name);
    if (name.includes('/') || name.includes(':')) return r.tag ?? 'latest';
  } catch {
    /* not a reference */
  }
  return name;
}

export async function save(layout: Layout, items: SaveItem[], out: Writable, format: ArchiveFormat, opts: { platform?: Platform } = {}): Promise<void> {
  if (items.length === 0) throw new UserError('save: no images');
  const blobs = new Set<string>();
  const indexEntries: Descriptor[] = [];
  const dockerEntries: Array<{ Config: string; RepoTags: string[]; Layers: string[] }> = [];
  const repositories: Record<string, Record<string, string>> = {};
  for (const it of items) {
    let desc = it.descriptor;
    if (format === 'docker-archive') {
      // docker-archive holds single-platform images
      const im = loadImage(layout, desc, opts.platform);
      desc = { ...im.manifestDescriptor, annotations: undefined };
      if (!desc.mediaType) desc.mediaType = im.manifest.mediaType ?? MediaType.ImageManifest;
      const fam = it.name ? familiarName(it.name) : undefined;
      const existing = dockerEntries.find((e) => e.Config === `blobs/sha256/${im.manifest.config.digest.slice(7)}`);
      if (existing) {
        if (fam) existing.RepoTags.push(fam);
      } else {
        dockerEntries.push({
          Config: `blobs/sha256/${im.manifest.config.digest.slice(7)}`,
          RepoTags: fam ? [fam] : [],
          Layers: im.manifest.layers.map((l) => `blobs/sha256/${l.digest.slice(7)}`),
        });
      }
      if (fam && im.manifest.layers.length) {
        const i = fam.lastIndexOf(':');
        (repositories[fam.slice(0, i)] ??= {})[fam.slice(i + 1)] = im.manifest.layers[im.manifest.layers.length - 1].digest.slice(7);
      }
    }
    reachable(layout, desc, blobs, false);
    const ann: Record<string, string> = {};
    if (it.name) {
      ann[Annotations.RefName] = format === 'docker-archive' ? tagOf(it.name) : it.name;
      if (it.name.includes('/')) ann[Annotations.ContainerdImageName] = it.name;
    }
    const { annotations: _drop, ...rest } = desc;
    indexEntries.push(Object.keys(ann).length ? { ...rest, annotations: ann } : rest);
  }
  const tw = new TarWriter();
  const done = pipeline(tw.stream, out);
  done.catch(() => undefined); // awaited below; avoid an unhandled rejection meanwhile
  const mtime = new Date(0);
  try {
    const add = (name: string, body: Buffer) => tw.addBuffer({ name, type: 'file', mode: 0o644, mtime }, body);
    await add('oci-layout', Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })));
    await add('index.json', Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ImageIndex, manifests: indexEntries })));
    if (format === 'docker-archive') {
      await add('manifest.json', Buffer.from(JSON.stringify(dockerEntries)));
      if (Object.keys(repositories).length) await add('repositories', Buffer.from(JSON.stringify(repositories)));
    }
    await tw.add({ name: 'blobs/', type: 'directory', mode: 0o755, mtime });
    const algs = new Set([...blobs].map((d) => d.split(':')[0]));
    for (const a of algs) await tw.add({ name: `blobs/${a}/`, type: 'directory', mode: 0o755, mtime });
    for (const d of [...blobs].sort()) await tw.addFile({ name: `blobs/${d.replace(':', '/')}`, type: 'file', mode: 0o644, mtime }, layout.blobPath(d));
    await tw.finish();
  } catch (e) {
    tw.stream.destroy(e as Error);
    await done.catch(() => undefined);
    throw e;
  }
  await done;
}
