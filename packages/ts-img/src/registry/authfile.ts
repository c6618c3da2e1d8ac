/**
 * Credentials: --creds user:pass, or a docker-style auth.json ({"auths": {"host": {"auth": base64("user:pass")}}})
 * from --authfile, $REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json, ~/.docker/config.json
 * ($DOCKER_CONFIG/config.json). Keys may carry a scheme, a /v1/ suffix or a repository namespace;
 * the longest matching key wins.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UserError } from '../cli/errors';
import { mkdirAll } from '@tsrt/libc';

export interface Credentials {
  username: string;
  password: string;
  /** An identity token (OAuth2 refresh token) instead of a password. */
  identityToken?: string;
}

export function parseCreds(s: string): Credentials {
  const i = s.indexOf(':');
  if (i <= 0) throw new UserError('--creds must be USER:PASSWORD');
  return { username: s.slice(0, i), password: s.slice(i + 1) };
}

export function authFileCandidates(explicit?: string): string[] {
  if (explicit) return [explicit];
  const out: string[] = [];
  if (process.env.REGISTRY_AUTH_FILE) out.push(process.env.REGISTRY_AUTH_FILE);
  if (process.env.XDG_RUNTIME_DIR) out.push(path.join(process.env.XDG_RUNTIME_DIR, 'containers', 'auth.json'));
  out.push(path.join(process.env.DOCKER_CONFIG ?? path.join(os.homedir(), '.docker'), 'config.json'));
  return out;
}

function normaliseKey(k: string): string {
  let s = k.replace(/^[a-z]+:\/\//, '');
  s = s.replace(/\/+$/, '').replace(/\/v[12]$/, '');
  if (s === 'index.docker.io' || s === 'registry-1.docker.io') s = 'docker.io';
  return s;
}

/** Credentials for registry/repository from the first auth file that has an entry. */
export function lookupCredentials(registry: string, repository: string, explicitFile?: string): Credentials | undefined {
  for (const file of authFileCandidates(explicitFile)) {
    let doc: any;
    try {
      doc = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' && !explicitFile) continue;
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new UserError(`auth file ${file} does not exist`);
      throw new UserError(`cannot read auth file ${file}: ${(e as Error).message}`);
    }
    const auths = doc?.auths ?? {};
    const full = `${registry}/${repository}`;
    let best: { key: string; entry: any } | undefined;
    for (const [k, entry] of Object.entries(auths)) {
      const key = normaliseKey(k);
      if (key === registry || full === key || full.startsWith(`${key}/`)) {
        if (!best || key.length > best.key.length) best = { key, entry };
      }
    }
    if (!best) continue;
    const e = best.entry as { auth?: string; username?: string; password?: string; identitytoken?: string };
    if (e.auth) {
      const dec = Buffer.from(e.auth, 'base64').toString('utf8');
      const i = dec.indexOf(':');
      if (i < 0) throw new UserError(`malformed "auth" for ${best.key} in ${file}`);
      return { username: dec.slice(0, i), password: dec.slice(i + 1), identityToken: e.identitytoken };
    }
    if (e.username !== undefined && e.password !== undefined) return { username: e.username, password: e.password };
    if (e.identitytoken) return { username: '', password: '', identityToken: e.identitytoken };
  }
  return undefined;
}

/** Where login writes: --authfile, $REGISTRY_AUTH_FILE, else $DOCKER_CONFIG/config.json or ~/.docker/config.json. */
export function authFileForWrite(explicit?: string): string {
  if (explicit) return explicit;
  if (process.env.REGISTRY_AUTH_FILE) return process.env.REGISTRY_AUTH_FILE;
  return path.join(process.env.DOCKER_CONFIG ?? path.join(os.homedir(), '.docker'), 'config.json');
}

function readDoc(file: string): any {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new UserError(`cannot read auth file ${file}: ${(e as Error).message}`);
  }
}

function writeDoc(file: string, doc: unknown): void {
  mkdirAll(path.dirname(file), 0o700);
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, `${JSON.stringify(doc, null, '\t')}\n`, { mode: 0o600 });
  fs.renameSync(tmp, file);
}

/** Store credentials for a registry (other keys of the file are kept). */
export function saveCredentials(registry: string, creds: Credentials, file: string): void {
  const doc = readDoc(file);
  doc.auths ??= {};
  const key = registry === 'docker.io' ? 'https://index.docker.io/v1/' : registry;
  for (const k of Object.keys(doc.auths)) if (normaliseKey(k) === registry) delete doc.auths[k];
  doc.auths[key] = { auth: Buffer.from(`${creds.username}:${creds.password}`).toString('base64') };
  writeDoc(file, doc);
}

/** Remove a registry's credentials; false when there were none. */
export function removeCredentials(registry: string, file: string): boolean {
  const doc = readDoc(file);
  let found = false;
  for (const k of Object.keys(doc.auths ?? {})) {
    if (normaliseKey(k) === registry) {
      delete doc.auths[k];
      found = true;
    }
  }
  if (found) writeDoc(file, doc);
  return found;
}
