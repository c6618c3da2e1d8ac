/**
 * Docker-style image references: [registry[:port]/]repository[:tag][@digest].
 * docker.io is the default registry, "library/" the default namespace on docker.io,
 * "latest" the default tag when no digest is given. A first component is a registry host
 * when it contains "." or ":" or is "localhost".
 */
import fs from 'node:fs';
import { UserError } from '../cli/errors';

export const DEFAULT_REGISTRY = 'docker.io';
export const DEFAULT_TAG = 'latest';

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;
const HOST = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?$/;

export interface Reference {
  /** Registry host[:port] as written (docker.io for the default). */
  registry: string;
  /** Repository path, e.g. library/busybox. */
  repository: string;
  tag?: string;
  digest?: string;
}

export function parseReference(input: string): Reference {
  let rest = input.trim();
  if (!rest) throw new UserError('empty image reference');
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw new UserError(`invalid digest in reference "${input}"`);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw new UserError(`invalid tag "${tag}" in reference "${input}"`);
  }
  const parts = rest.split('/');
  let registry = DEFAULT_REGISTRY;
  if (parts.length > 1 && (parts[0].includes('.') || parts[0].includes(':') || parts[0] === 'localhost' || parts[0].startsWith('['))) {
    registry = parts.shift()!;
    if (!HOST.test(registry)) throw new UserError(`invalid registry host "${registry}" in reference "${input}"`);
  }
  if (registry === 'index.docker.io' || registry === 'registry-1.docker.io') registry = DEFAULT_REGISTRY;
  if (registry === DEFAULT_REGISTRY && parts.length === 1) parts.unshift('library');
  for (const p of parts) {
    if (!COMPONENT.test(p)) throw new UserError(`invalid repository name "${parts.join('/')}" in reference "${input}" (lowercase letters, digits, separators)`);
  }
  const repository = parts.join('/');
  if (repository.length > 255) throw new UserError(`repository name too long in "${input}"`);
  if (!tag && !digest) tag = DEFAULT_TAG;
  return { registry, repository, tag, digest };
}

/** Full canonical form: registry/repository[:tag][@digest]. */
export function formatReference(r: Reference): string {
  return `${r.registry}/${r.repository}${r.tag ? `:${r.tag}` : ''}${r.digest ? `@${r.digest}` : ''}`;
}

/** registry/repository (no tag or digest). */
export function repoName(r: Reference): string {
  return `${r.registry}/${r.repository}`;
}

/** Heuristic: does this string look like a registry reference rather than a local path? */
export function looksLikeRegistryReference(s: string): boolean {
  if (s.startsWith('docker://')) return true;
  if (s.startsWith('/') || s.startsWith('.') || s.startsWith('~')) return false;
  try {
    const r = parseReference(s);
    return r.registry !== DEFAULT_REGISTRY || s.includes('/') || /:[\w][\w.-]*$/.test(s);
  } catch {
    return false;
  }
}

/**
 * Does this source argument name something on disk (a layout, an archive), with or without
 * a transport prefix and a :tag or @digest suffix? Then it is no registry reference.
 */
export function existsOnDisk(arg: string): boolean {
  let s = arg.replace(/^(oci|oci-archive|docker-archive):/, '');
  for (;;) {
    if (fs.existsSync(s)) return true;
    const i = Math.max(s.lastIndexOf(':'), s.lastIndexOf('@'));
    if (i <= 0) return false;
    s = s.slice(0, i);
  }
}

/** Strip an optional docker:// transport prefix. */
export function stripTransport(s: string): string {
  return s.startsWith('docker://') ? s.slice('docker://'.length) : s;
}

/** The host to contact for a registry name (docker.io is served by registry-1.docker.io). */
export function registryEndpointHost(registry: string): string {
  return registry === DEFAULT_REGISTRY ? 'registry-1.docker.io' : registry;
}
