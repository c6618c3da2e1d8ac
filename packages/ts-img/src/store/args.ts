/**
 * Shared CLI plumbing for the store/registry commands: common options and how an image argument
 * is resolved. An image argument is one of:
 *   oci:DIR[:TAG|@DIGEST] or DIR[:TAG|@DIGEST] where DIR is an OCI layout  -> that layout
 *   NAME | NAME:TAG | digest (prefix)                                     -> the store (--store)
 * Store names are full references (registry/repo:tag); short names are normalised
 * docker-style (busybox -> docker.io/library/busybox:latest) when the exact name is absent.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Descriptor } from '@tsrt/oci-spec';
import { UserError } from '../cli/errors';
import { Credentials, parseCreds } from '../registry/authfile';
import { ClientOptions } from '../registry/client';
import { formatReference, parseReference, stripTransport } from '../registry/reference';
import { DEFAULT_STORE, Layout, REF_NAME } from './layout';
import { mkdirAll } from '@tsrt/libc';
export { storeOption, registryOptions } from './options';

export interface StoreArgs {
  store?: string;
  [k: string]: unknown;
}

export interface RegistryArgs {
  tlsVerify?: boolean;
  creds?: string;
  authfile?: string;
  plainHttp?: boolean;
  chunkSize?: number;
  retries?: number;
  debug?: boolean;
  [k: string]: unknown;
}

export function clientOptions(a: RegistryArgs): ClientOptions {
  let creds: Credentials | undefined;
  if (a.creds) creds = parseCreds(a.creds);
  return {
    tlsVerify: a.tlsVerify !== false,
    plainHttp: a.plainHttp,
    creds,
    authFile: a.authfile,
    chunkSize: a.chunkSize,
    retries: a.retries,
    log: a.debug ? (m) => process.stderr.write(`ts-img: ${m}\n`) : undefined,
  };
}

export function storeDir(a: StoreArgs): string {
  return a.store ?? process.env.TS_IMG_STORE ?? DEFAULT_STORE;
}

export async function openStore(a: StoreArgs, create = true): Promise<Layout> {
  const dir = storeDir(a);
  if (!create && !Layout.isLayout(dir)) throw new UserError(`no image store at ${dir}`);
  if (create) mkdirAll(dir, 0o700);
  return Layout.open(dir, { create });
}

/** Split "DIR:TAG" / "DIR@DIGEST" when DIR is an existing layout. */
export function splitLayoutArg(arg: string): { dir: string; ref?: string } | undefined {
  const s = arg.startsWith('oci:') ? arg.slice(4) : arg;
  if (Layout.isLayout(s)) return { dir: s };
  // the longest existing layout prefix before a ':' or '@' (tags may contain ':' themselves)
  for (let i = s.length - 1; i > 0; i--) {
    if (s[i] !== ':' && s[i] !== '@') continue;
    const dir = s.slice(0, i);
    if (Layout.isLayout(dir)) {
      const ref = s.slice(i + 1);
      if (!ref) throw new UserError(`${arg}: empty tag or digest`);
      return { dir, ref };
    }
  }
  if (arg.startsWith('oci:')) {
    // Not existing yet (a destination): DIR[:TAG]
    const slash = s.lastIndexOf('/');
    const colon = s.indexOf(':', slash + 1);
    if (colon > 0) return { dir: s.slice(0, colon), ref: s.slice(colon + 1) };
    return { dir: s };
  }
  return undefined;
}

export interface ResolvedImage {
  layout: Layout;
  name: string;
  descriptor: Descriptor;
}

/** Find an image in a layout given as argument, or in the store. */
export async function resolveImageArg(arg: string, a: StoreArgs): Promise<ResolvedImage> {
  const lay = splitLayoutArg(arg);
  if (lay) {
    const layout = await Layout.open(lay.dir);
    if (!lay.ref) {
      const all = layout.readIndex().manifests;
      if (all.length !== 1) throw new UserError(`${lay.dir} holds ${all.length} images; say which with ${lay.dir}:TAG or ${lay.dir}@DIGEST`);
      return { layout, name: all[0].annotations?.[REF_NAME] ?? all[0].digest, descriptor: all[0] };
    }
    const hit = layout.find(lay.ref);
    if (!hit) throw new UserError(`no image "${lay.ref}" in ${lay.dir}`);
    return { layout, name: hit.name, descriptor: hit.descriptor };
  }
  const layout = await openStore(a, false);
  const hit = findInStore(layout, arg);
  if (!hit) throw new UserError(`no image "${arg}" in the store ${layout.dir} (see ts-img images)`);
  return { layout, ...hit };
}

export function findInStore(layout: Layout, arg: string): { name: string; descriptor: Descriptor } | undefined {
  const exact = layout.find(stripTransport(arg));
  if (exact) return exact;
  try {
    const full = formatReference(parseReference(stripTransport(arg)));
    const hit = layout.find(full);
    if (hit) return hit;
    // name@digest: look up by digest
    const r = parseReference(stripTransport(arg));
    if (r.digest) return layout.find(r.digest);
  } catch {
    /* not a reference */
  }
  return undefined;
}

/** Normalised store name for a user-given name (full reference when it parses as one). */
export function storeName(arg: string): string {
  try {
    return formatReference(parseReference(stripTransport(arg)));
  } catch {
    return arg;
  }
}

export function absPath(p: string): string {
  return path.resolve(p);
}
