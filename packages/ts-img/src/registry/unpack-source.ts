/**
 * `unpack REF` with a registry reference or a store name: pull into the store when needed
 * (--pull missing|always|never), then hand the unpacker the store layout at the pulled digest.
 * Also records where a bundle came from (ts-img-origin.json) so `repack` knows its base.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ImageSource } from '../sources/types';
import { LayoutSource } from '../sources/layout';
import { UserError } from '../cli/errors';
import { clientOptions, findInStore, openStore, storeDir, RegistryArgs, StoreArgs } from '../store/args';
import { Layout } from '../store/layout';
import { parsePlatform } from '../store/image';
import { existsOnDisk, looksLikeRegistryReference, stripTransport } from './reference';
import { writeOrigin } from '../repack/origin';

export interface ResolvedSource {
  source: string | ImageSource;
  /** A layout directory the image lives in (for the bundle's origin record). */
  layoutDir?: string;
}

export async function resolveUnpackSource(arg: string, a: StoreArgs & RegistryArgs & { pull?: string; platform?: string; quiet?: boolean }): Promise<ResolvedSource> {
  const isDocker = arg.startsWith('docker://');
  if (!isDocker && existsOnDisk(arg)) {
    const dir = arg.replace(/^oci:/, '').replace(/[:@][^/]*$/, '');
    const layoutDir = [arg.replace(/^oci:/, ''), dir].find((d) => Layout.isLayout(d) && fs.statSync(d).isDirectory());
    return { source: arg, layoutDir: layoutDir ? path.resolve(layoutDir) : undefined };
  }
  const storeExists = Layout.isLayout(storeDir(a));
  const inStore = !isDocker && storeExists ? findInStore(await openStore(a, false), arg) : undefined;
  const mode = a.pull ?? 'missing';
  if (inStore && mode !== 'always') {
    return { source: new LayoutSource(storeDir(a), inStore.descriptor.digest), layoutDir: path.resolve(storeDir(a)) };
  }
  if (!isDocker && !looksLikeRegistryReference(arg)) throw new UserError(`${arg}: no such file, layout or store image`);
  if (mode === 'never') throw new UserError(`${arg}: not in the store ${storeDir(a)} (and --pull=never)`);
  const layout = await openStore(a, true);
  // the registry client is loaded only to pull (unpacks from the store stay quick to start)
  const { pull } = await import('./pull');
  const { Progress } = await import('./progress');
  const r = await pull(stripTransport(arg), layout, {
    ...clientOptions(a),
    platform: a.platform ? parsePlatform(a.platform) : undefined,
    progress: new Progress(process.stderr, !!a.quiet),
  });
  return { source: new LayoutSource(layout.dir, r.descriptor.digest), layoutDir: layout.dir };
}

/** After a successful unpack from a layout or the store: remember the base for repack. */
export function recordUnpackOrigin(bundle: string, src: ResolvedSource, manifestDigest: string): void {
  if (!src.layoutDir) return;
  try {
    writeOrigin(bundle, { layout: src.layoutDir, manifestDigest });
  } catch {
    /* the bundle is still good without it */
  }
}
