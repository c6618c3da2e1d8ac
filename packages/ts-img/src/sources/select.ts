import { Descriptor, ImageIndex, ImageManifest, ImageConfig, Platform, Annotations, isIndexMediaType, isManifestMediaType, validate } from '@tsrt/oci-spec';
import type { ImageSource } from './types';
import { readJson } from './blob';
import { parseDigest } from '../digest';

export interface PlatformSpec {
  os: string;
  architecture: string;
  variant?: string;
}

export interface SelectedImage {
  manifestDesc: Descriptor;
  manifest: ImageManifest;
  configDesc: Descriptor;
  config: ImageConfig;
  /** Descriptors from the top index down to the manifest. */
  chain: Descriptor[];
}

const GOARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', s390x: 's390x', riscv64: 'riscv64', ppc64: 'ppc64le', loong64: 'loong64' };

export function hostPlatform(): PlatformSpec {
  const architecture = GOARCH[process.arch] ?? process.arch;
  const p: PlatformSpec = { os: process.platform === 'linux' ? 'linux' : process.platform, architecture };
  if (architecture === 'arm') {
    const v = (process.config.variables as Record<string, unknown>).arm_version;
    if (v) p.variant = `v${v}`;
  }
  if (architecture === 'arm64') p.variant = 'v8';
  return p;
}

export function parsePlatform(s: string): PlatformSpec {
  const parts = s.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((x) => x === '')) {
    throw new Error(`--platform: expected os/arch[/variant], got ${JSON.stringify(s)}`);
  }
  return { os: parts[0], architecture: parts[1], ...(parts[2] ? { variant: parts[2] } : {}) };
}

export function platformString(p: Partial<Platform> | undefined): string {
  if (!p) return 'unknown';
  return [p.os ?? '?', p.architecture ?? '?', ...(p.variant ? [p.variant] : [])].join('/');
}

function defaultVariant(arch: string): string | undefined {
  return arch === 'arm64' ? 'v8' : undefined;
}

/** 2 = exact, 1 = compatible (variant unspecified on one side), 0 = no match. */
function platformScore(have: Platform | undefined, want: PlatformSpec, explicitVariant: boolean): number {
  if (!have) return 0;
  if (have.os !== want.os || have.architecture !== want.architecture) return 0;
  const hv = have.variant ?? defaultVariant(have.architecture);
  const wv = want.variant ?? defaultVariant(want.architecture);
  if (hv === wv) return 2;
  if (explicitVariant && want.variant !== undefined && hv !== undefined) return 0;
  if (hv === undefined || !explicitVariant) return 1;
  return 0;
}

function isAttestation(d: Descriptor): boolean {
  return d.platform?.os === 'unknown' || d.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest';
}

function refNames(d: Descriptor): string[] {
  const a = d.annotations ?? {};
  return [a[Annotations.RefName], a[Annotations.ContainerdImageName]].filter((x): x is string => typeof x === 'string');
}

function tagMatches(d: Descriptor, tag: string): boolean {
  return refNames(d).some((n) => n === tag || n.endsWith(':' + tag) || n.endsWith('/' + tag));
}

interface Ctx {
  src: ImageSource;
  want: PlatformSpec;
  explicit: boolean;
}

async function readNode(ctx: Ctx, d: Descriptor, what: string): Promise<{ kind: 'index'; doc: ImageIndex } | { kind: 'manifest'; doc: ImageManifest }> {
  parseDigest(d.digest, `${what} digest`);
  const doc = await readJson<any>(ctx.src, d, what);
  const mt = d.mediaType ?? doc?.mediaType;
  if (isIndexMediaType(mt) || (!mt && Array.isArray(doc?.manifests))) {
    if (!Array.isArray(doc?.manifests)) throw new Error(`${what} ${d.digest}: manifests missing`);
    return { kind: 'index', doc };
  }
  if (isManifestMediaType(mt) || (!mt && doc?.config && Array.isArray(doc?.layers))) {
    if (!doc?.config || !Array.isArray(doc?.layers)) throw new Error(`${what} ${d.digest}: config or layers missing`);
    return { kind: 'manifest', doc };
  }
  throw new Error(`${what} ${d.digest}: unsupported media type ${JSON.stringify(mt)}`);
}

/** Pick one descriptor for the wanted platform from a list; error lists the platforms present. */
function pickPlatform(ctx: Ctx, list: Descriptor[], where: string): Descriptor {
  const cands = list.filter((d) => !isAttestation(d));
  if (cands.length === 0) throw new Error(`${where}: no images`);
  if (cands.length === 1 && !cands[0].platform) return cands[0];
  let best: Descriptor | undefined;
  let bestScore = 0;
  for (const d of cands) {
    const s = platformScore(d.platform, ctx.want, ctx.explicit);
    if (s > bestScore) {
      best = d;
      bestScore = s;
    }
  }
  if (best) return best;
  if (cands.every((d) => !d.platform)) {
    const names = [...new Set(cands.flatMap(refNames))];
    throw new Error(`${where}: holds ${cands.length} images; choose one with :tag${names.length ? ` (tags: ${names.join(', ')})` : ' or @digest'}`);
  }
  const present = [...new Set(cands.map((d) => platformString(d.platform)))].join(', ');
  throw new Error(`${where}: no image for platform ${platformString(ctx.want)}; platforms present: ${present}`);
}

async function findDigest(ctx: Ctx, list: Descriptor[], digest: string, depth: number): Promise<Descriptor | undefined> {
  for (const d of list) if (d.digest === digest) return d;
  if (depth > 4) return undefined;
  for (const d of list) {
    if (isIndexMediaType(d.mediaType)) {
      const n = await readNode(ctx, d, 'index');
      if (n.kind === 'index') {
        const r = await findDigest(ctx, n.doc.manifests, digest, depth + 1);
        if (r) return r;
      }
    }
  }
  return undefined;
}

/**
 * Resolve the source's index (and optional :tag / @digest) to one image manifest and its
 * config, selecting a platform in (nested) indexes.
 */
export async function selectImage(src: ImageSource, opts: { ref?: string; platform?: string } = {}): Promise<SelectedImage> {
  const ctx: Ctx = {
    src,
    want: opts.platform ? parsePlatform(opts.platform) : hostPlatform(),
    explicit: opts.platform !== undefined,
  };
  const top = await src.index();
  if (!top || !Array.isArray(top.manifests)) throw new Error(`${src.name}: index has no manifests array`);
  for (const [i, d] of top.manifests.entries()) parseDigest(d?.digest, `${src.name}: index manifests[${i}].digest`);
  let start: Descriptor;
  const ref = opts.ref ?? src.ref;
  if (ref && /^[a-z0-9]+:/.test(ref) && ref.includes(':') && /^(sha256|sha512):/.test(ref)) {
    parseDigest(ref, `${src.name}@`);
    const d = await findDigest(ctx, top.manifests, ref, 0);
    if (!d) throw new Error(`${src.name}: no manifest or index with digest ${ref}`);
    start = d;
  } else if (ref) {
    const m = top.manifests.filter((d) => tagMatches(d, ref));
    if (m.length === 0) {
      const tags = [...new Set(top.manifests.flatMap(refNames))];
      throw new Error(`${src.name}: no image tagged ${JSON.stringify(ref)}; tags present: ${tags.length ? tags.join(', ') : '(none)'}`);
    }
    start = m.length === 1 ? m[0] : pickPlatform(ctx, m, `${src.name}:${ref}`);
  } else {
    const named = top.manifests.filter((d) => !isAttestation(d) && refNames(d).length > 0);
    if (new Set(named.map((d) => d.digest)).size > 1) {
      const tags = [...new Set(named.flatMap(refNames))];
      throw new Error(`${src.name}: holds ${new Set(named.map((d) => d.digest)).size} images; choose one with :tag (tags: ${tags.join(', ')})`);
    }
    start = pickPlatform(ctx, top.manifests, src.name);
  }
  const chain: Descriptor[] = [start];
  let cur = start;
  for (let depth = 0; ; depth++) {
    if (depth > 8) throw new Error(`${src.name}: indexes nested too deeply`);
    const node = await readNode(ctx, cur, depth === 0 ? 'manifest' : 'nested manifest');
    if (node.kind === 'manifest') {
      const manifest = node.doc;
      if (manifest.schemaVersion !== 2) throw new Error(`manifest ${cur.digest}: schemaVersion must be 2`);
      const configDesc = manifest.config;
      const config = await readJson<ImageConfig>(src, configDesc, 'config');
      // wrong types (Cmd as a string, Env as an object) are refused by name, not dropped
      const v = validate('image-config', config);
      if (!v.ok) throw new Error(`config ${configDesc.digest}: ${v.errors.join('; ')}`);
      // the config says what the image really is, whatever the index did or did not say
      if (!platformScore({ os: config.os, architecture: config.architecture, variant: config.variant }, ctx.want, ctx.explicit)) {
        const hint = ctx.explicit ? '' : ` (the host's; choose with --platform ${platformString(config)})`;
        throw new Error(`${src.name}: image is ${platformString(config)}, not ${platformString(ctx.want)}${hint}`);
      }
      return { manifestDesc: cur, manifest, configDesc, config, chain };
    }
    cur = pickPlatform(ctx, node.doc.manifests, `index ${cur.digest}`);
    chain.push(cur);
  }
}
