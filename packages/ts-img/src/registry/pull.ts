/**
 * pull: registry -> OCI layout. Fetches the manifest (index: the chosen platform's manifest, or
 * everything with `all`), the config and the layers (in parallel, resumable, digest-verified),
 * writes blobs atomically and then tags the result in index.json.
 */
import fs from 'node:fs';
import { Descriptor, ImageIndex, ImageManifest, Platform } from '@tsrt/oci-spec';
import { Layout } from '../store/layout';
import { formatPlatform, hostPlatform, isIndex, selectPlatform } from '../store/image';
import { recordSources } from '../store/sources';
import { lockFile } from '../store/lock';
import { ClientOptions, RegistryClient } from './client';
import { Reference, formatReference, parseReference, stripTransport } from './reference';
import { Progress, parallel } from './progress';

export interface PullOptions extends ClientOptions {
  platform?: Platform;
  /** Copy every manifest of an index (multi-platform), storing the index itself. */
  all?: boolean;
  /** Name to tag in the layout; default: the full reference (store) */
  name?: string;
  jobs?: number;
  progress?: Progress;
}

export interface PullResult {
  name: string;
  descriptor: Descriptor;
  reference: Reference;
  layersFetched: number;
  layersSkipped: number;
}

export async function pull(refInput: string, layout: Layout, opts: PullOptions = {}): Promise<PullResult> {
  const ref = parseReference(stripTransport(refInput));
  const client = new RegistryClient(ref.registry, opts);
  const progress = opts.progress ?? new Progress(process.stderr, true);
  const lock = await layout.writerLock();
  const stats = { fetched: 0, skipped: 0 };
  const written = new Set<string>();
  try {
    const top = await client.getManifest(ref.repository, ref.digest ?? ref.tag!);
    let rootDesc: Descriptor = { mediaType: top.mediaType, digest: top.digest, size: top.bytes.length };
    if (isIndex(rootDesc, top.bytes)) {
      const idx = JSON.parse(top.bytes.toString('utf8')) as ImageIndex;
      if (opts.all) {
        // every child, nested indexes included; each index is written after its children
        const copyIndex = async (index: ImageIndex, bytes: Buffer, digest: string, depth: number): Promise<void> => {
          if (depth > 4) throw new Error(`${digest}: indexes nested too deeply`);
          for (const m of index.manifests) {
            const mb = await client.getManifest(ref.repository, m.digest);
            if (isIndex({ ...m, mediaType: mb.mediaType }, mb.bytes)) await copyIndex(JSON.parse(mb.bytes.toString('utf8')) as ImageIndex, mb.bytes, mb.digest, depth + 1);
            else await fetchImage(client, ref, layout, m, mb.bytes, progress, opts.jobs ?? 3, stats, written);
          }
          layout.writeBlob(bytes, digest);
          written.add(digest);
        };
        await copyIndex(idx, top.bytes, top.digest, 0);
      } else {
        let chosen = selectPlatform(idx.manifests, opts.platform ?? hostPlatform());
        let mb = await client.getManifest(ref.repository, chosen.digest);
        for (let depth = 0; isIndex({ ...chosen, mediaType: mb.mediaType }, mb.bytes); depth++) {
          if (depth > 4) throw new Error(`${chosen.digest}: indexes nested too deeply`);
          chosen = selectPlatform((JSON.parse(mb.bytes.toString('utf8')) as ImageIndex).manifests, opts.platform ?? hostPlatform());
          mb = await client.getManifest(ref.repository, chosen.digest);
        }
        rootDesc = { mediaType: mb.mediaType, digest: mb.digest, size: mb.bytes.length, platform: chosen.platform };
        await fetchImage(client, ref, layout, rootDesc, mb.bytes, progress, opts.jobs ?? 3, stats, written);
      }
    } else {
      await fetchImage(client, ref, layout, rootDesc, top.bytes, progress, opts.jobs ?? 3, stats, written);
    }
    const name = opts.name ?? formatReference(ref);
    await layout.tag(name, rootDesc);
    await recordSources(layout, ref.registry, ref.repository, written).catch(() => undefined);
    return { name, descriptor: rootDesc, reference: ref, layersFetched: stats.fetched, layersSkipped: stats.skipped };
  } finally {
    progress.stop();
    lock.release();
  }
}

async function fetchImage(
  client: RegistryClient,
  ref: Reference,
  layout: Layout,
  desc: Descriptor,
  manifestBytes: Buffer,
  progress: Progress,
  jobs: number,
  stats: { fetched: number; skipped: number },
  written: Set<string>,
): Promise<void> {
  const m = JSON.parse(manifestBytes.toString('utf8')) as ImageManifest;
  if (!m.config || !Array.isArray(m.layers)) throw new Error(`${desc.digest} (${formatPlatform(desc.platform)}) is not an image manifest`);
  if (!layout.hasBlob(m.config.digest, m.config.size)) {
    const cfg = await client.getBlob(ref.repository, m.config);
    layout.writeBlob(cfg, m.config.digest);
  }
  written.add(m.config.digest);
  await parallel(m.layers, jobs, async (l) => {
    written.add(l.digest);
    if (layout.hasBlob(l.digest, l.size)) {
      stats.skipped++;
      progress.bar(short(l.digest), l.size).finish('exists');
      return;
    }
    const partial = layout.partialPath(l.digest);
    // One downloader per blob across processes (the partial file is shared and resumable).
    const blobLock = await lockFile(`${partial}.lock`, true, 30 * 60_000);
    try {
      if (layout.hasBlob(l.digest, l.size)) {
        stats.skipped++;
        progress.bar(short(l.digest), l.size).finish('exists');
        return;
      }
      const bar = progress.bar(short(l.digest), l.size);
      await client.downloadBlob(ref.repository, l, partial, (n) => bar.update(n));
      layout.commitFile(partial, l.digest);
      bar.finish();
      stats.fetched++;
    } finally {
      blobLock.release(); // the .lock file stays (unlinking it would race); gc removes it
    }
  });
  layout.writeBlob(manifestBytes, desc.digest);
  written.add(desc.digest);
}

function short(d: string): string {
  return d.replace(/^sha256:/, '').slice(0, 12);
}

/** Remove leftovers of failed downloads that are complete blobs already (housekeeping). */
export function cleanPartials(layout: Layout): void {
  const dir = `${layout.dir}/.ts-img/partial`;
  if (!fs.existsSync(dir)) return;
  for (const f of fs.readdirSync(dir)) {
    if (f.endsWith('.lock')) continue;
    const d = f.replace('-', ':');
    if (layout.hasBlob(d)) fs.rmSync(`${dir}/${f}`, { force: true });
  }
}
