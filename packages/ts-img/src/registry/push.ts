/**
 * push: OCI layout image (manifest or index) -> registry. Blobs already in the target repository
 * are skipped (HEAD), blobs known to exist in another repository of the same registry are
 * mounted (POST ?mount=&from=), the rest are uploaded (monolithic, or chunked PATCH with
 * chunkSize). Manifests are PUT with their stored bytes, so digests are unchanged.
 */
import { Descriptor, ImageIndex, ImageManifest } from '@tsrt/oci-spec';
import { UserError } from '../cli/errors';
import { Layout } from '../store/layout';
import { isIndex } from '../store/image';
import { knownSources, recordSources } from '../store/sources';
import { ClientOptions, RegistryClient } from './client';
import { Reference, parseReference, stripTransport } from './reference';
import { Progress, parallel } from './progress';

export interface PushOptions extends ClientOptions {
  jobs?: number;
  progress?: Progress;
  /** Extra repositories (same registry) to try mounting blobs from. */
  mountFrom?: string[];
}

export interface PushResult {
  reference: Reference;
  digest: string;
  uploaded: number;
  mounted: number;
  skipped: number;
}

export async function push(layout: Layout, desc: Descriptor, refInput: string, opts: PushOptions = {}): Promise<PushResult> {
  const ref = parseReference(stripTransport(refInput));
  const client = new RegistryClient(ref.registry, opts);
  const progress = opts.progress ?? new Progress(process.stderr, true);
  const stats = { uploaded: 0, mounted: 0, skipped: 0 };
  const done = new Set<string>();

  const pushBlob = async (b: Descriptor) => {
    if (done.has(b.digest)) return;
    done.add(b.digest);
    if (!layout.hasBlob(b.digest)) throw new UserError(`blob ${b.digest} is missing from ${layout.dir}; cannot push`);
    if (await client.blobExists(ref.repository, b.digest)) {
      stats.skipped++;
      return;
    }
    let location: URL | undefined;
    const froms = [...(opts.mountFrom ?? []), ...knownSources(layout, ref.registry, b.digest)].filter((r) => r !== ref.repository);
    for (const from of froms) {
      const r = await client.mountBlob(ref.repository, b.digest, from);
      if (r === true) {
        stats.mounted++;
        opts.log?.(`mounted ${b.digest} from ${from}`);
        return;
      }
      location = r;
      break; // the registry opened an upload session instead; use it
    }
    const bar = progress.bar(b.digest.slice(7, 19), b.size);
    await client.uploadBlob(ref.repository, b, layout.blobPath(b.digest), (n) => bar.update(n), location);
    bar.finish('pushed');
    stats.uploaded++;
  };

  const pushManifest = async (d: Descriptor, tag?: string): Promise<string> => {
    const bytes = layout.readBlob(d.digest);
    if (isIndex(d, bytes)) {
      const idx = JSON.parse(bytes.toString('utf8')) as ImageIndex;
      for (const child of idx.manifests) {
        if (!layout.hasBlob(child.digest)) throw new UserError(`index ${d.digest} refers to ${child.digest} which is not in ${layout.dir} (pull with --all to push a whole index)`);
        await pushManifest(child);
      }
    } else {
      const m = JSON.parse(bytes.toString('utf8')) as ImageManifest;
      await pushBlob(m.config);
      await parallel(m.layers, opts.jobs ?? 3, pushBlob);
    }
    const mt = d.mediaType || JSON.parse(bytes.toString('utf8')).mediaType;
    if (!mt) throw new UserError(`manifest ${d.digest} has no media type`);
    return client.putManifest(ref.repository, tag ?? d.digest, bytes, mt);
  };

  try {
    const digest = await pushManifest(desc, ref.digest ? undefined : ref.tag);
    if (ref.digest && ref.digest !== desc.digest) throw new UserError(`pushed manifest is ${desc.digest}, not ${ref.digest}`);
    await recordSources(layout, ref.registry, ref.repository, done).catch(() => undefined);
    return { reference: ref, digest, ...stats };
  } finally {
    progress.stop();
  }
}

