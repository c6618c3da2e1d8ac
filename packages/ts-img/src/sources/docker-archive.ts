import type { Readable } from 'stream';
import { Readable as R } from 'stream';
import { Descriptor, ImageIndex, ImageConfig, MediaType, Annotations } from '@tsrt/oci-spec';
import type { ImageSource } from './types';
import { TarIndex, Member } from './archive';
import { digestOf, parseDigest } from '../digest';

/** Annotation on synthesised layer descriptors: the blob's digest is not known (only its diff_id). */
export const UNVERIFIED_BLOB = 'dev.ts-img.blob-digest-unverified';

interface DockerManifestEntry {
  Config: string;
  RepoTags?: string[] | null;
  Layers: string[];
}

/**
 * A tar archive: an OCI layout (oci-archive, and `docker save` since Docker 25, which also has
 * index.json) or the older `docker save` format (manifest.json + <id>/layer.tar), for which an
 * index, manifests and configs are synthesised in memory.
 */
export class ArchiveSource implements ImageSource {
  kind = 'oci-archive';
  sniffCompression = false;
  private idx: TarIndex;
  private mem = new Map<string, Buffer>();
  private layerMembers = new Map<string, Member>();
  private top: ImageIndex | undefined;

  constructor(readonly file: string, readonly ref?: string) {
    this.idx = TarIndex.open(file);
    if (this.idx.get('oci-layout') && this.idx.get('index.json')) {
      this.kind = this.idx.get('manifest.json') ? 'docker-archive' : 'oci-archive';
    } else if (this.idx.get('manifest.json')) {
      this.kind = 'docker-archive';
      this.sniffCompression = true;
      this.top = this.synthesise();
    } else {
      this.idx.close();
      throw new Error(`${file}: neither an oci-archive (oci-layout, index.json) nor a docker-archive (manifest.json)`);
    }
  }

  get name(): string {
    return this.file;
  }

  private json<T>(name: string): T {
    const m = this.idx.get(name);
    if (!m) throw new Error(`${this.file}: ${name} missing`);
    if (m.size > 8 << 20) throw new Error(`${this.file}: ${name} too large`);
    try {
      return JSON.parse(this.idx.read(m).toString('utf8')) as T;
    } catch (e) {
      throw new Error(`${this.file}: ${name}: ${(e as Error).message}`);
    }
  }

  private synthesise(): ImageIndex {
    const entries = this.json<DockerManifestEntry[]>('manifest.json');
    if (!Array.isArray(entries) || entries.length === 0) throw new Error(`${this.file}: manifest.json: no images`);
    const manifests: Descriptor[] = [];
    entries.forEach((ent, i) => {
      const where = `${this.file}: manifest.json[${i}]`;
      if (typeof ent.Config !== 'string' || !Array.isArray(ent.Layers)) throw new Error(`${where}: Config or Layers missing`);
      const cm = this.idx.get(ent.Config);
      if (!cm) throw new Error(`${where}: config ${ent.Config} not in archive`);
      const cbytes = this.idx.read(cm);
      const cdig = digestOf(cbytes);
      this.mem.set(cdig, cbytes);
      let config: ImageConfig;
      try {
        config = JSON.parse(cbytes.toString('utf8'));
      } catch (e) {
        throw new Error(`${where}: config ${ent.Config}: ${(e as Error).message}`);
      }
      const diffIds = config.rootfs?.diff_ids ?? [];
      if (diffIds.length !== ent.Layers.length) {
        throw new Error(`${where}: ${ent.Layers.length} layers but config has ${diffIds.length} diff_ids`);
      }
      const layers: Descriptor[] = ent.Layers.map((lp, j) => {
        const m = this.idx.get(lp);
        if (!m) throw new Error(`${where}: layer ${lp} not in archive`);
        const diff = diffIds[j];
        parseDigest(diff, `${where}: config rootfs.diff_ids[${j}]`);
        // blobs/sha256/<hex> (Docker 25+ style paths) carry their digest; <id>/layer.tar does not
        const mm = /^blobs\/(sha256)\/([a-f0-9]{64})$/.exec(lp);
        const digest = mm ? `${mm[1]}:${mm[2]}` : diff;
        this.layerMembers.set(`${digest}@${j}`, m);
        this.layerMembers.set(digest, m);
        const d: Descriptor = { mediaType: MediaType.DockerLayer, digest, size: m.size };
        if (!mm) d.annotations = { [UNVERIFIED_BLOB]: 'true' };
        return d;
      });
      const manifest = {
        schemaVersion: 2,
        mediaType: MediaType.DockerManifest,
        config: { mediaType: MediaType.DockerConfig, digest: cdig, size: cbytes.length },
        layers,
      };
      const mbytes = Buffer.from(JSON.stringify(manifest));
      const mdig = digestOf(mbytes);
      this.mem.set(mdig, mbytes);
      const tags = ent.RepoTags ?? [];
      const base: Descriptor = {
        mediaType: MediaType.DockerManifest,
        digest: mdig,
        size: mbytes.length,
        platform: { os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) },
      };
      if (tags.length === 0) manifests.push(base);
      for (const t of tags) {
        manifests.push({ ...base, annotations: { [Annotations.RefName]: t, [Annotations.ContainerdImageName]: t } });
      }
    });
    return { schemaVersion: 2, mediaType: MediaType.ImageIndex, manifests };
  }

  async index(): Promise<ImageIndex> {
    if (this.top) return this.top;
    return this.json<ImageIndex>('index.json');
  }

  private member(desc: Descriptor): Member | undefined {
    const d = parseDigest(desc.digest, 'descriptor digest');
    return this.layerMembers.get(desc.digest) ?? this.idx.get(`blobs/${d.algorithm}/${d.encoded}`);
  }

  async hasBlob(desc: Descriptor): Promise<boolean> {
    return this.mem.has(desc.digest) || this.member(desc) !== undefined;
  }

  async openBlob(desc: Descriptor): Promise<Readable> {
    const b = this.mem.get(desc.digest);
    if (b) return R.from([b]);
    const m = this.member(desc);
    if (!m) throw new Error(`blob ${desc.digest}: not found in ${this.file}`);
    return this.idx.stream(m);
  }

  async blobFile(desc: Descriptor): Promise<{ file: string; start: number; length: number } | null> {
    if (this.mem.has(desc.digest)) return null;
    const m = this.member(desc);
    return m ? { file: this.file, start: m.offset, length: m.size } : null;
  }

  async close(): Promise<void> {
    this.idx.close();
  }
}
