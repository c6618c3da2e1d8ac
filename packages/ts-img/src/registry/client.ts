/**
 * Distribution HTTP API v2 client for one registry: scheme discovery (https, then plain http for
 * local/insecure registries), anonymous/basic/bearer auth driven by WWW-Authenticate, retries with
 * backoff, manifests, verified and resumable blob downloads, monolithic and chunked uploads,
 * cross-repository mounts, manifest PUT.
 */
import fs from 'node:fs';
import { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import { MediaType, Descriptor } from '@tsrt/oci-spec';
import { UserError } from '../cli/errors';
import { Credentials, lookupCredentials } from './authfile';
import { Challenge, parseChallenges } from './challenge';
import { DigestMismatchError, algorithmOf, assertDigest, digestOf } from './digest';
import { HttpRequest, HttpResponse, drain, httpRequest, isProtocolMismatch, isTransientNetworkError, readBody } from './http';
import { registryEndpointHost } from './reference';

export const MANIFEST_ACCEPT = [
  MediaType.ImageIndex,
  MediaType.ImageManifest,
  MediaType.DockerManifestList,
  MediaType.DockerManifest,
];

export interface ClientOptions {
  /** false: accept any TLS certificate and allow plain HTTP. */
  tlsVerify?: boolean;
  /** Force plain HTTP. */
  plainHttp?: boolean;
  creds?: Credentials;
  authFile?: string;
  retries?: number;
  /** Upload chunk size for chunked uploads; 0 = monolithic. */
  chunkSize?: number;
  /** Base delay for retry backoff (ms). */
  backoffMs?: number;
  log?: (msg: string) => void;
}

export interface FetchedManifest {
  bytes: Buffer;
  mediaType: string;
  digest: string;
}

export class RegistryError extends Error {
  constructor(message: string, public status?: number, public code?: string) {
    super(message);
    this.name = 'RegistryError';
  }
}

interface Req {
  method: string;
  /** Path starting with /v2/ or an absolute URL (upload locations). */
  path: string | URL;
  /** Repositories and actions this request needs, e.g. [['lib/x', 'pull']] */
  scopes: string[];
  headers?: Record<string, string | number | undefined>;
  body?: Buffer | (() => Readable);
  /** Do not follow redirects (uploads). */
  noRedirect?: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Marks a transient error that send() already retried: callers retrying whole exchanges let it through. */
const RETRIED = Symbol('retried');

function giveUp(e: unknown, attempts: number): never {
  if (attempts > 1 && e instanceof Error && !e.message.includes('attempts')) e.message += ` (gave up after ${attempts} attempts)`;
  throw Object.assign(e as object, { [RETRIED]: true });
}

function isLocalHost(host: string): boolean {
  const h = host.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  return h === 'localhost' || h.startsWith('127.') || h === '::1';
}

function registryErrorFrom(status: number, body: Buffer, what: string): RegistryError {
  let detail = '';
  let code: string | undefined;
  try {
    const j = JSON.parse(body.toString('utf8'));
    if (Array.isArray(j.errors) && j.errors.length) {
      code = j.errors[0].code;
      detail = j.errors.map((e: any) => `${e.code}: ${e.message}`).join('; ');
    }
  } catch {
    detail = body.toString('utf8').slice(0, 200).trim();
  }
  return new RegistryError(`${what}: HTTP ${status}${detail ? ` (${detail})` : ''}`, status, code);
}

export class RegistryClient {
  readonly host: string;
  private base?: URL;
  private baseProbe?: Promise<URL>;
  private challenge?: Challenge;
  private tokens = new Map<string, { token: string; expires: number }>();
  private credsResolved = false;
  private creds?: Credentials;
  readonly opts: Required<Pick<ClientOptions, 'retries' | 'chunkSize' | 'backoffMs'>> & ClientOptions;

  constructor(readonly registry: string, opts: ClientOptions = {}) {
    this.host = registryEndpointHost(registry);
    this.opts = { retries: 4, chunkSize: 0, backoffMs: 200, ...opts };
  }

  private log(msg: string): void {
    this.opts.log?.(msg);
  }

  private get insecure(): boolean {
    return this.opts.tlsVerify === false;
  }

  private credentialsFor(repository: string): Credentials | undefined {
    if (!this.credsResolved) {
      this.creds = this.opts.creds ?? lookupCredentials(this.registry, repository, this.opts.authFile);
      this.credsResolved = true;
    }
    return this.creds;
  }

  /** https://host, or http://host when allowed and https does not answer. */
  async baseUrl(): Promise<URL> {
    if (this.base) return this.base;
    if (!this.baseProbe) {
      this.baseProbe = (async () => {
        if (this.opts.plainHttp) return new URL(`http://${this.host}`);
        const https = new URL(`https://${this.host}`);
        const mayFallBack = this.insecure || isLocalHost(this.host);
        try {
          const r = await httpRequest({ method: 'GET', url: new URL('/v2/', https), insecure: this.insecure, timeoutMs: 15_000 });
          await drain(r);
          return https;
        } catch (e) {
          if (mayFallBack && (isProtocolMismatch(e) || (e as any)?.code === 'ECONNREFUSED' || (e as any)?.code === 'ECONNRESET')) {
            this.log(`${this.host}: https failed (${(e as Error).message}), using plain http`);
            return new URL(`http://${this.host}`);
          }
          if (!this.insecure && /certificate|self.signed|unable to verify/i.test((e as Error).message)) {
            throw new UserError(`${this.host}: TLS verification failed (${(e as Error).message}); use --tls-verify=false for a registry with a self-signed certificate`);
          }
          throw e;
        }
      })();
    }
    this.base = await this.baseProbe;
    return this.base;
  }

  private scopeKey(scopes: string[]): string {
    return [...scopes].sort().join(' ');
  }

  private async fetchToken(scopes: string[], repository: string): Promise<string> {
    const p = this.challenge!.params;
    if (!p.realm) throw new RegistryError(`${this.host}: bearer challenge without realm`);
    const url = new URL(p.realm);
    if (p.service) url.searchParams.set('service', p.service);
    const all = new Set(scopes);
    if (p.scope) for (const s of p.scope.split(' ')) if (s) all.add(s);
    for (const s of all) url.searchParams.append('scope', s);
    const creds = this.credentialsFor(repository);
    const headers: Record<string, string> = {};
    if (creds && !creds.identityToken) headers.Authorization = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
    let res: HttpResponse;
    if (creds?.identityToken) {
      // OAuth2 refresh-token grant.
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: creds.identityToken, service: p.service ?? '', scope: [...all].join(' '), client_id: 'ts-img' });
      res = await this.send({ method: 'POST', url: new URL(p.realm), headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: Buffer.from(form.toString()), insecure: this.insecure });
    } else {
      res = await this.send({ method: 'GET', url, headers, insecure: this.insecure });
    }
    const body = await readBody(res, 1 << 20);
    if (res.status === 401 || res.status === 403) throw new UserError(`${this.host}: token server refused ${creds ? `credentials for ${creds.username}` : 'anonymous access'} (HTTP ${res.status})`);
    if (res.status !== 200) throw registryErrorFrom(res.status, body, `${this.host}: token request`);
    const j = JSON.parse(body.toString('utf8')) as { token?: string; access_token?: string; expires_in?: number };
    const token = j.token ?? j.access_token;
    if (!token) throw new RegistryError(`${this.host}: token server response has no token`);
    const ttl = Math.max(60, j.expires_in ?? 60);
    this.tokens.set(this.scopeKey(scopes), { token, expires: Date.now() + (ttl - 10) * 1000 });
    return token;
  }

  private authHeader(scopes: string[], repository: string): string | undefined {
    if (!this.challenge) return undefined;
    if (this.challenge.scheme === 'basic') {
      const c = this.credentialsFor(repository);
      return c ? `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}` : undefined;
    }
    if (this.challenge.scheme === 'bearer') {
      const t = this.tokens.get(this.scopeKey(scopes));
      if (t && t.expires > Date.now()) return `Bearer ${t.token}`;
    }
    return undefined;
  }

  /** Backoff before retry `attempt` (1, 2, ...): doubling from backoffMs, capped at 10 s. */
  private backoff(attempt: number): number {
    return Math.min(10_000, this.opts.backoffMs * 2 ** (attempt - 1));
  }

  /**
   * A whole exchange (request and body) retried on network errors: a connection dropped while
   * a manifest or config body is read fails after send() returned, so send() cannot retry it.
   */
  private async exchange<T>(what: string, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; ) {
      try {
        return await fn();
      } catch (e) {
        if (!isTransientNetworkError(e) || (e as Record<symbol, unknown>)[RETRIED]) throw e;
        if (attempt >= this.opts.retries) giveUp(e, attempt + 1);
        attempt++;
        this.log(`${what}: ${(e as Error).message}, retry ${attempt}`);
        await sleep(this.backoff(attempt));
      }
    }
  }

  /** One HTTP exchange with retries on network errors, 5xx and 429 (only for replayable bodies). */
  private async send(r: HttpRequest): Promise<HttpResponse> {
    let attempt = 0;
    for (;;) {
      try {
        const res = await httpRequest(r);
        if ((res.status >= 500 || res.status === 429) && attempt < this.opts.retries) {
          await drain(res);
          attempt++;
          this.log(`${r.method} ${r.url.pathname}: HTTP ${res.status}, retry ${attempt}`);
          await sleep(this.backoff(attempt));
          continue;
        }
        return res;
      } catch (e) {
        if (isTransientNetworkError(e) && attempt < this.opts.retries) {
          attempt++;
          this.log(`${r.method} ${r.url.pathname}: ${(e as Error).message}, retry ${attempt}`);
          await sleep(this.backoff(attempt));
          continue;
        }
        if (isTransientNetworkError(e)) giveUp(e, attempt + 1);
        throw e;
      }
    }
  }

  /** Authenticated request, following redirects for GET/HEAD. */
  async request(req: Req): Promise<HttpResponse> {
    const base = await this.baseUrl();
    let url = req.path instanceof URL ? req.path : new URL(req.path, base);
    const repository = req.scopes[0]?.split(':')[1] ?? '';
    let authRetried = false;
    let redirects = 0;
    for (;;) {
      const sameHost = url.host === base.host;
      const headers = { ...req.headers };
      if (sameHost) {
        const a = this.authHeader(req.scopes, repository);
        if (a) headers.Authorization = a;
      }
      const res = await this.send({ method: req.method, url, headers, body: req.body, insecure: this.insecure });
      if (res.status === 401 && sameHost && !authRetried) {
        await drain(res);
        const chs = parseChallenges(res.headers['www-authenticate']);
        const ch = chs.find((c) => c.scheme === 'bearer') ?? chs.find((c) => c.scheme === 'basic');
        if (!ch) throw new RegistryError(`${this.host}: HTTP 401 without a usable WWW-Authenticate challenge`, 401);
        this.challenge = ch;
        if (ch.scheme === 'basic' && !this.credentialsFor(repository)) {
          throw new UserError(`${this.host}: authentication required (use --creds USER:PASS or an auth file)`);
        }
        if (ch.scheme === 'bearer') await this.fetchToken(req.scopes, repository);
        authRetried = true;
        continue;
      }
      if (res.status === 401 && authRetried) {
        await drain(res);
        const ch = parseChallenges(res.headers['www-authenticate']).find((c) => c.params.error);
        const why = ch?.params.error === 'insufficient_scope' ? `: the credentials do not grant ${req.scopes.join(' ') || 'access'}` : '';
        throw new UserError(`${this.host}: authentication failed for ${req.method} ${url.pathname} (HTTP 401${why})`);
      }
      if ([301, 302, 303, 307, 308].includes(res.status) && !req.noRedirect && (req.method === 'GET' || req.method === 'HEAD')) {
        await drain(res);
        if (++redirects > 5) throw new RegistryError(`${this.host}: too many redirects`);
        url = new URL(String(res.headers.location), url);
        continue;
      }
      return res;
    }
  }

  // ----------------------------------------------------------------------------- API

  async ping(): Promise<void> {
    const res = await this.request({ method: 'GET', path: '/v2/', scopes: [] });
    await drain(res);
    if (res.status !== 200) throw new RegistryError(`${this.host}: /v2/ answered HTTP ${res.status}`, res.status);
  }

  async getManifest(repository: string, ref: string, accept: string[] = MANIFEST_ACCEPT): Promise<FetchedManifest> {
    const { res, body } = await this.exchange(`GET manifest ${repository}:${ref}`, async () => {
      const r = await this.request({
        method: 'GET',
        path: `/v2/${repository}/manifests/${ref}`,
        scopes: [`repository:${repository}:pull`],
        headers: { Accept: accept.join(', ') },
      });
      return { res: r, body: await readBody(r, 8 << 20) };
    });
    if (res.status === 404) throw new UserError(`${this.registry}/${repository}:${ref}: manifest not found`);
    if (res.status !== 200) throw registryErrorFrom(res.status, body, `GET manifest ${repository}:${ref}`);
    let mediaType = String(res.headers['content-type'] ?? '').split(';')[0].trim();
    try {
      const j = JSON.parse(body.toString('utf8'));
      if (typeof j.mediaType === 'string') mediaType = j.mediaType;
      else if (!mediaType || mediaType === 'application/json') mediaType = Array.isArray(j.manifests) ? MediaType.ImageIndex : MediaType.ImageManifest;
      if (j.schemaVersion === 1) throw new UserError(`${repository}:${ref}: Docker schema 1 manifests are not supported`);
    } catch (e) {
      if (e instanceof UserError) throw e;
      throw new RegistryError(`${repository}:${ref}: manifest is not JSON`);
    }
    const isDigestRef = ref.includes(':');
    const digest = digestOf(body, isDigestRef ? algorithmOf(ref) : 'sha256');
    if (isDigestRef && digest !== ref) throw new DigestMismatchError(ref, digest, 'manifest');
    const header = res.headers['docker-content-digest'];
    if (!isDigestRef && typeof header === 'string' && header.startsWith('sha256:') && header !== digest) {
      throw new DigestMismatchError(header, digest, 'manifest (Docker-Content-Digest)');
    }
    return { bytes: body, mediaType, digest };
  }

  async headManifest(repository: string, ref: string): Promise<string | undefined> {
    const res = await this.request({ method: 'HEAD', path: `/v2/${repository}/manifests/${ref}`, scopes: [`repository:${repository}:pull`], headers: { Accept: MANIFEST_ACCEPT.join(', ') } });
    await drain(res);
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw new RegistryError(`HEAD manifest ${repository}:${ref}: HTTP ${res.status}`, res.status);
    return String(res.headers['docker-content-digest'] ?? '') || undefined;
  }

  /** Stream a blob (optionally from an offset); the caller verifies. */
  async openBlob(repository: string, digest: string, offset = 0): Promise<HttpResponse> {
    assertDigest(digest);
    const res = await this.request({
      method: 'GET',
      path: `/v2/${repository}/blobs/${digest}`,
      scopes: [`repository:${repository}:pull`],
      headers: offset > 0 ? { Range: `bytes=${offset}-` } : undefined,
    });
    if (res.status !== 200 && res.status !== 206) {
      const body = await readBody(res, 1 << 20).catch(() => Buffer.alloc(0));
      if (res.status === 416) throw Object.assign(new RegistryError(`blob ${digest}: range not satisfiable`, 416), { rangeNotSatisfiable: true });
      throw registryErrorFrom(res.status, body, `GET blob ${digest} from ${repository}`);
    }
    return res;
  }

  /** Small blob into memory (configs), verified. */
  async getBlob(repository: string, desc: Descriptor, limit = 64 << 20): Promise<Buffer> {
    const body = await this.exchange(`GET blob ${desc.digest}`, async () => readBody(await this.openBlob(repository, desc.digest), limit));
    if (body.length !== desc.size) throw new RegistryError(`blob ${desc.digest}: size ${body.length}, descriptor says ${desc.size}`);
    const d = digestOf(body, algorithmOf(desc.digest));
    if (d !== desc.digest) throw new DigestMismatchError(desc.digest, d);
    return body;
  }

  /**
   * Download a blob into `partialPath`, resuming from what is already there (Range), verifying
   * size and digest while streaming. Resolves when the file holds exactly the blob.
   * Network failures are retried with backoff, continuing from the last byte written.
   */
  async downloadBlob(repository: string, desc: Descriptor, partialPath: string, onBytes?: (total: number) => void): Promise<void> {
    const alg = algorithmOf(assertDigest(desc.digest));
    let attempt = 0;
    for (;;) {
      let offset = 0;
      try {
        offset = fs.statSync(partialPath).size;
      } catch {
        /* none */
      }
      if (offset > desc.size) {
        fs.rmSync(partialPath, { force: true });
        offset = 0;
      }
      // Re-hash what is already on disk so the digest covers the whole blob.
      const hash = createHash(alg);
      if (offset > 0) {
        for await (const c of fs.createReadStream(partialPath)) hash.update(c as Buffer);
        onBytes?.(offset);
      }
      try {
        let res: HttpResponse | undefined;
        if (offset === desc.size) {
          res = undefined; // complete already; verify below
        } else {
          try {
            res = await this.openBlob(repository, desc.digest, offset);
          } catch (e) {
            if ((e as any).rangeNotSatisfiable) {
              fs.rmSync(partialPath, { force: true });
              throw Object.assign(new Error('range not satisfiable, restarting'), { code: 'ECONNRESET' });
            }
            throw e;
          }
          if (offset > 0 && res.status === 200) {
            // Server ignored Range: start over.
            this.log(`blob ${desc.digest}: server ignored Range, restarting`);
            offset = 0;
            fs.rmSync(partialPath, { force: true });
          } else if (offset > 0) {
            const cr = /^bytes (\d+)-/.exec(String(res.headers['content-range'] ?? ''));
            if (!cr || Number(cr[1]) !== offset) {
              res.body.destroy();
              this.log(`blob ${desc.digest}: unexpected Content-Range ${res.headers['content-range']}, restarting`);
              fs.rmSync(partialPath, { force: true });
              throw Object.assign(new Error('bad Content-Range'), { code: 'ECONNRESET' });
            }
            this.log(`blob ${desc.digest}: resuming at byte ${offset}`);
          }
        }
        const h = offset > 0 ? hash : createHash(alg);
        let total = offset;
        if (res) {
          // Hand-rolled rather than pipeline(): when the connection drops, everything received so
          // far must still reach the file (pipeline would discard buffered chunks), so the next
          // attempt resumes from the last byte we actually got.
          const body = res.body;
          await new Promise<void>((resolve, reject) => {
            const ws = fs.createWriteStream(partialPath, { flags: offset > 0 ? 'a' : 'w', highWaterMark: 4 << 20 });
            let failure: Error | undefined;
            let ended = false;
            const fail = (e: Error) => {
              if (failure) return;
              failure = e;
              body.destroy();
              ws.end();
            };
            body.on('data', (c: Buffer) => {
              if (failure) return;
              total += c.length;
              if (total > desc.size) {
                fail(new Error(`blob ${desc.digest} larger than its descriptor size ${desc.size}`));
                return;
              }
              h.update(c);
              onBytes?.(total);
              if (!ws.write(c)) body.pause();
            });
            ws.on('drain', () => body.resume());
            body.on('end', () => {
              ended = true;
              ws.end();
            });
            body.on('error', (e) => fail(e));
            body.on('close', () => {
              if (!ended) fail(Object.assign(new Error(`connection closed after ${total} of ${desc.size} bytes`), { code: 'ECONNRESET' }));
            });
            ws.on('error', (e) => {
              failure ??= e;
              body.destroy();
              reject(e);
            });
            ws.on('finish', () => (failure ? reject(failure) : resolve()));
          });
        }
        if (total !== desc.size) throw new Error(`blob ${desc.digest} size mismatch: expected ${desc.size}, got ${total}`);
        const got = `${alg}:${h.digest('hex')}`;
        if (got !== desc.digest) throw new DigestMismatchError(desc.digest, got);
        return;
      } catch (e) {
        if (e instanceof DigestMismatchError || /size mismatch|larger than its descriptor/.test((e as Error).message)) {
          fs.rmSync(partialPath, { force: true });
          throw e;
        }
        if ((isTransientNetworkError(e) || (e as any)?.code === 'ERR_STREAM_PREMATURE_CLOSE') && attempt < this.opts.retries) {
          attempt++;
          this.log(`blob ${desc.digest}: ${(e as Error).message}; retry ${attempt}`);
          await sleep(this.backoff(attempt));
          continue;
        }
        if (isTransientNetworkError(e)) {
          if (e instanceof Error && !e.message.includes(desc.digest)) e.message = `blob ${desc.digest}: ${e.message}`;
          giveUp(e, attempt + 1);
        }
        throw e;
      }
    }
  }

  async blobExists(repository: string, digest: string): Promise<boolean> {
    const res = await this.request({ method: 'HEAD', path: `/v2/${repository}/blobs/${assertDigest(digest)}`, scopes: [`repository:${repository}:pull`] });
    await drain(res);
    if (res.status === 200) return true;
    if (res.status === 404) return false;
    throw new RegistryError(`HEAD blob ${digest} in ${repository}: HTTP ${res.status}`, res.status);
  }

  private pushScopes(repository: string, from?: string): string[] {
    const s = [`repository:${repository}:pull,push`];
    if (from && from !== repository) s.push(`repository:${from}:pull`);
    return s;
  }

  /** Try a cross-repository mount. true = mounted; otherwise returns the upload location to use. */
  async mountBlob(repository: string, digest: string, from: string): Promise<true | URL> {
    const q = new URLSearchParams({ mount: assertDigest(digest), from });
    const res = await this.request({ method: 'POST', path: `/v2/${repository}/blobs/uploads/?${q}`, scopes: this.pushScopes(repository, from), headers: { 'Content-Length': 0 }, noRedirect: true });
    const body = await readBody(res, 1 << 20);
    if (res.status === 201) return true;
    if (res.status === 202) return new URL(String(res.headers.location), await this.baseUrl());
    throw registryErrorFrom(res.status, body, `mount ${digest} from ${from} into ${repository}`);
  }

  private async startUpload(repository: string): Promise<URL> {
    const res = await this.request({ method: 'POST', path: `/v2/${repository}/blobs/uploads/`, scopes: this.pushScopes(repository), headers: { 'Content-Length': 0 }, noRedirect: true });
    const body = await readBody(res, 1 << 20);
    if (res.status !== 202 || !res.headers.location) throw registryErrorFrom(res.status, body, `start upload to ${repository}`);
    return new URL(String(res.headers.location), await this.baseUrl());
  }

  /**
   * Upload a blob from a file. Monolithic PUT, or PATCH chunks of `chunkSize` then a closing PUT.
   * `location` may come from a failed mount attempt.
   */
  async uploadBlob(repository: string, desc: Descriptor, file: string, onBytes?: (n: number) => void, location?: URL): Promise<void> {
    assertDigest(desc.digest);
    let loc = location ?? (await this.startUpload(repository));
    const scopes = this.pushScopes(repository);
    const chunk = this.opts.chunkSize;
    if (chunk > 0 && desc.size > chunk) {
      let start = 0;
      while (start < desc.size) {
        const end = Math.min(desc.size, start + chunk) - 1;
        const s = start;
        const res = await this.request({
          method: 'PATCH',
          path: loc,
          scopes,
          headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': end - s + 1, 'Content-Range': `${s}-${end}` },
          body: () => fs.createReadStream(file, { start: s, end }),
          noRedirect: true,
        });
        const body = await readBody(res, 1 << 20);
        if (res.status !== 202) throw registryErrorFrom(res.status, body, `PATCH chunk ${s}-${end} of ${desc.digest}`);
        if (res.headers.location) loc = new URL(String(res.headers.location), await this.baseUrl());
        const range = String(res.headers.range ?? '');
        const m = /^(?:bytes=)?0-(\d+)$/.exec(range);
        start = m ? Number(m[1]) + 1 : end + 1;
        onBytes?.(start);
      }
      const put = new URL(loc);
      put.searchParams.set('digest', desc.digest);
      const res = await this.request({ method: 'PUT', path: put, scopes, headers: { 'Content-Length': 0 }, noRedirect: true });
      const body = await readBody(res, 1 << 20);
      if (res.status !== 201) throw registryErrorFrom(res.status, body, `finish upload of ${desc.digest}`);
      return;
    }
    const put = new URL(loc);
    put.searchParams.set('digest', desc.digest);
    const res = await this.request({
      method: 'PUT',
      path: put,
      scopes,
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': desc.size },
      body: () => {
        const s = fs.createReadStream(file);
        let n = 0;
        s.on('data', (c) => onBytes?.((n += (c as Buffer).length)));
        return s;
      },
      noRedirect: true,
    });
    const body = await readBody(res, 1 << 20);
    if (res.status !== 201) throw registryErrorFrom(res.status, body, `upload ${desc.digest} to ${repository}`);
    onBytes?.(desc.size);
  }

  async putManifest(repository: string, ref: string, bytes: Buffer, mediaType: string): Promise<string> {
    const res = await this.request({
      method: 'PUT',
      path: `/v2/${repository}/manifests/${ref}`,
      scopes: this.pushScopes(repository),
      headers: { 'Content-Type': mediaType },
      body: bytes,
      noRedirect: true,
    });
    const body = await readBody(res, 1 << 20);
    if (res.status !== 201 && res.status !== 200) throw registryErrorFrom(res.status, body, `PUT manifest ${repository}:${ref}`);
    return String(res.headers['docker-content-digest'] ?? digestOf(bytes));
  }
}
