/**
 * inspect: a summary of an image (skopeo-inspect-like fields) from any source: a registry
 * reference (manifest and config only), a store name, an OCI layout, or an archive.
 */
import type { Descriptor, ImageConfig, ImageManifest } from '@tsrt/oci-spec';
import type { ImageSource } from '../sources/types';
import { UserError } from '../cli/errors';
import { clientOptions, findInStore, RegistryArgs, StoreArgs, storeDir } from '../store/args';
import { Layout } from '../store/layout';
import { existsOnDisk, looksLikeRegistryReference } from './reference';

export interface InspectArgs extends StoreArgs, RegistryArgs {
  platform?: string;
}

export async function openAnySource(arg: string, a: InspectArgs): Promise<ImageSource> {
  if (!arg.startsWith('docker://') && existsOnDisk(arg)) {
    const { openSource } = await import('../sources/open');
    return openSource(arg);
  }
  if (!arg.startsWith('docker://') && Layout.isLayout(storeDir(a))) {
    const l = await Layout.open(storeDir(a));
    const hit = findInStore(l, arg);
    if (hit) {
      const { LayoutSource } = await import('../sources/layout');
      return new LayoutSource(l.dir, hit.descriptor.digest);
    }
  }
  if (arg.startsWith('docker://') || looksLikeRegistryReference(arg)) {
    const { RegistrySource } = await import('./source');
    return new RegistrySource(arg, clientOptions(a));
  }
  throw new UserError(`${arg}: no such file, layout, store image or registry reference`);
}

export interface InspectResult {
  Name: string;
  Digest: string;
  MediaType: string;
  Created?: string;
  Author?: string;
  Architecture: string;
  Os: string;
  Variant?: string;
  Labels: Record<string, string> | null;
  Env: string[];
  Entrypoint: string[] | null;
  Cmd: string[] | null;
  WorkingDir: string;
  User: string;
  Layers: string[];
  LayersData: Array<{ MIMEType: string; Digest: string; Size: number }>;
  DiffIDs: string[];
  Size: number;
  ConfigDigest: string;
  History: Array<{ created?: string; created_by?: string; comment?: string; empty_layer?: boolean }>;
}

export async function inspectImage(arg: string, a: InspectArgs, mode: 'summary' | 'raw' | 'config' = 'summary'): Promise<string> {
  const src = await openAnySource(arg, a);
  try {
    const { selectImage } = await import('../sources/select');
    const { readBlob } = await import('../sources/blob');
    if (mode === 'raw') {
      // the top-level manifest or index the name points at, byte for byte
      let d: Descriptor;
      if (src.kind === 'registry') d = (await src.index()).manifests[0];
      else d = (await selectImage(src, { platform: a.platform })).chain[0];
      return (await readBlob(src, d, 'manifest')).toString('utf8');
    }
    const sel = await selectImage(src, { platform: a.platform });
    if (mode === 'config') return (await readBlob(src, sel.configDesc, 'config')).toString('utf8');
    const m: ImageManifest = sel.manifest;
    const c: ImageConfig = sel.config;
    const ex = c.config ?? {};
    const r: InspectResult = {
      Name: src.name,
      Digest: sel.manifestDesc.digest,
      MediaType: sel.manifestDesc.mediaType ?? m.mediaType ?? '',
      ...(c.created ? { Created: c.created } : {}),
      ...(c.author ? { Author: c.author } : {}),
      Architecture: c.architecture,
      Os: c.os,
      ...(c.variant ? { Variant: c.variant } : {}),
      Labels: ex.Labels ?? null,
      Env: ex.Env ?? [],
      Entrypoint: ex.Entrypoint ?? null,
      Cmd: ex.Cmd ?? null,
      WorkingDir: ex.WorkingDir ?? '',
      User: ex.User ?? '',
      Layers: m.layers.map((l) => l.digest),
      LayersData: m.layers.map((l) => ({ MIMEType: l.mediaType, Digest: l.digest, Size: l.size })),
      DiffIDs: c.rootfs?.diff_ids ?? [],
      Size: m.config.size + m.layers.reduce((s, l) => s + l.size, 0),
      ConfigDigest: m.config.digest,
      History: c.history ?? [],
    };
    return JSON.stringify(r, null, 2);
  } finally {
    await src.close();
  }
}
