/**
 * A registry repository as an ImageSource (the shape every source offers): the reference's
 * manifest or index becomes a one-entry top index; blobs and child manifests stream from the
 * registry. Used by `inspect` on remote references (manifest + config only, no layers).
 */
import { Readable } from 'node:stream';
import { Annotations, Descriptor, ImageIndex, MediaType } from '@tsrt/oci-spec';
import type { ImageSource } from '../sources/types';
import { ClientOptions, RegistryClient } from './client';
import { Reference, formatReference, parseReference, stripTransport } from './reference';

export class RegistrySource implements ImageSource {
  readonly kind = 'registry';
  readonly reference: Reference;
  readonly client: RegistryClient;
  private manifests = new Map<string, Buffer>();
  private top?: ImageIndex;

  constructor(ref: string, opts: ClientOptions = {}) {
    this.reference = parseReference(stripTransport(ref));
    this.client = new RegistryClient(this.reference.registry, opts);
  }

  get name(): string {
    return formatReference(this.reference);
  }

  get ref(): string {
    return this.name;
  }

  async index(): Promise<ImageIndex> {
    if (this.top) return this.top;
    const r = this.reference;
    const m = await this.client.getManifest(r.repository, r.digest ?? r.tag!);
    this.manifests.set(m.digest, m.bytes);
    const desc: Descriptor = { mediaType: m.mediaType, digest: m.digest, size: m.bytes.length, annotations: { [Annotations.RefName]: this.name } };
    this.top = { schemaVersion: 2, mediaType: MediaType.ImageIndex, manifests: [desc] };
    return this.top;
  }

  /** Raw bytes of the top manifest (or index) as the registry served them. */
  async rawTop(): Promise<{ bytes: Buffer; descriptor: Descriptor }> {
    const idx = await this.index();
    const d = idx.manifests[0];
    return { bytes: this.manifests.get(d.digest)!, descriptor: d };
  }

  async hasBlob(desc: Descriptor): Promise<boolean> {
    if (this.manifests.has(desc.digest)) return true;
    if (/manifest|index|list/.test(desc.mediaType ?? '')) return (await this.client.headManifest(this.reference.repository, desc.digest)) !== undefined;
    return this.client.blobExists(this.reference.repository, desc.digest);
  }

  async openBlob(desc: Descriptor): Promise<Readable> {
    const cached = this.manifests.get(desc.digest);
    if (cached) return Readable.from([cached]);
    if (/manifest|index|list/.test(desc.mediaType ?? '')) {
      const m = await this.client.getManifest(this.reference.repository, desc.digest);
      this.manifests.set(m.digest, m.bytes);
      return Readable.from([m.bytes]);
    }
    const res = await this.client.openBlob(this.reference.repository, desc.digest);
    return res.body;
  }

  async close(): Promise<void> {
    /* keep-alive sockets are unref'd by the agent */
  }
}

