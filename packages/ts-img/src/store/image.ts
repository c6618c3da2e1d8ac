/** Walking images inside a layout: platform selection, reachable blobs, config/manifest reads. */
import { Descriptor, ImageConfig, ImageIndex, ImageManifest, Platform, isIndexMediaType } from '@tsrt/oci-spec';
import { UserError } from '../cli/errors';
import { Layout } from './layout';

export function hostPlatform(): Platform {
  const archMap: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64', loong64: 'loong64', mips64el: 'mips64le' };
  const p: Platform = { os: process.platform === 'win32' ? 'windows' : process.platform, architecture: archMap[process.arch] ?? process.arch };
  if (process.arch === 'arm64') p.variant = 'v8';
  if (process.arch === 'arm') p.variant = `v${(process.config.variables as any).arm_version ?? '7'}`;
  return p;
}

export function parsePlatform(s: string | undefined): Platform {
  if (!s) return hostPlatform();
  const [os, architecture, variant] = s.split('/');
  if (!os || !architecture) throw new UserError(`--platform must be os/arch[/variant], got "${s}"`);
  return { os, architecture, variant };
}

export function formatPlatform(p: Platform | undefined): string {
  if (!p) return 'unknown';
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

/** Pick the best entry of an index's manifests for a platform (variant optional, arm64 v8 default). */
export function selectPlatform(manifests: Descriptor[], want: Platform): Descriptor {
  const cands = manifests.filter((m) => m.platform && m.platform.os === want.os && m.platform.architecture === want.architecture);
  const normVariant = (p: Platform) => p.variant ?? (p.architecture === 'arm64' ? 'v8' : undefined);
  const exact = cands.find((m) => normVariant(m.platform!) === normVariant(want));
  const chosen = exact ?? (want.variant === undefined || want.architecture === 'arm64' ? cands[0] : undefined);
  if (!chosen) {
    const present = manifests.map((m) => formatPlatform(m.platform)).join(', ');
    throw new UserError(`no image for platform ${formatPlatform(want)} (the index has: ${present || 'none'})`);
  }
  return chosen;
}

export function isIndex(desc: Descriptor, bytes?: Buffer): boolean {
  if (isIndexMediaType(desc.mediaType)) return true;
  if (!desc.mediaType && bytes) {
    try {
      return Array.isArray(JSON.parse(bytes.toString('utf8')).manifests);
    } catch {
      return false;
    }
  }
  return false;
}

/** Resolve a descriptor (manifest or index, possibly nested) to one image manifest descriptor. */
export function resolveImage(layout: Layout, desc: Descriptor, platform?: Platform): Descriptor {
  let d = desc;
  for (let depth = 0; depth < 8; depth++) {
    const bytes = layout.readBlob(d.digest);
    if (!isIndex(d, bytes)) return d;
    const idx = JSON.parse(bytes.toString('utf8')) as ImageIndex;
    const chosen = selectPlatform(idx.manifests, platform ?? hostPlatform());
    d = chosen;
  }
  throw new UserError('index nesting too deep');
}

export interface LoadedImage {
  manifestDescriptor: Descriptor;
  manifestBytes: Buffer;
  manifest: ImageManifest;
  configBytes: Buffer;
  config: ImageConfig;
}

export function loadImage(layout: Layout, desc: Descriptor, platform?: Platform): LoadedImage {
  const md = resolveImage(layout, desc, platform);
  const manifestBytes = layout.readBlob(md.digest);
  const manifest = JSON.parse(manifestBytes.toString('utf8')) as ImageManifest;
  if (!manifest.config || !Array.isArray(manifest.layers)) throw new UserError(`${md.digest} is not an image manifest`);
  const configBytes = layout.readBlob(manifest.config.digest);
  const config = JSON.parse(configBytes.toString('utf8')) as ImageConfig;
  return { manifestDescriptor: md, manifestBytes, manifest, configBytes, config };
}

/**
 * Every blob reachable from a descriptor (the descriptor itself, nested index children, configs,
 * layers, subjects). Missing children of indexes are tolerated when `allowMissing`.
 */
export function reachable(layout: Layout, root: Descriptor, out = new Set<string>(), allowMissing = true): Set<string> {
  const stack: Descriptor[] = [root];
  while (stack.length) {
    const d = stack.pop()!;
    if (out.has(d.digest)) continue;
    if (!layout.hasBlob(d.digest)) {
      if (allowMissing) continue;
      throw new UserError(`blob ${d.digest} is missing from ${layout.dir}`);
    }
    out.add(d.digest);
    if (d.size > 16 << 20) continue; // a layer: no children
    const isJsonish = !d.mediaType || /json/.test(d.mediaType);
    if (!isJsonish) continue;
    let j: any;
    try {
      j = JSON.parse(layout.readBlob(d.digest).toString('utf8'));
    } catch {
      continue;
    }
    if (Array.isArray(j?.manifests)) stack.push(...j.manifests);
    if (j?.config?.digest) stack.push(j.config);
    if (Array.isArray(j?.layers)) stack.push(...j.layers);
    if (Array.isArray(j?.blobs)) stack.push(...j.blobs);
    if (j?.subject?.digest) stack.push(j.subject);
  }
  return out;
}
