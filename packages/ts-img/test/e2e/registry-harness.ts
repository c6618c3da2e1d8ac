/**
 * A real registry (Debian's docker-registry) for e2e tests on 127.0.0.1 with a random port and a
 * temp storage dir: no auth, htpasswd basic auth, or token auth backed by a small token server
 * that signs RS256 JWTs with a throwaway key whose self-signed certificate the registry trusts.
 * Also a forwarding proxy that can cut or corrupt blob responses.
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createSign, randomBytes, X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const REGISTRY_BIN = '/usr/bin/docker-registry';
export const haveRegistry = fs.existsSync(REGISTRY_BIN);

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
    s.on('error', reject);
  });
}

export interface TestRegistry {
  host: string; // 127.0.0.1:PORT
  port: number;
  dir: string;
  tokenRequests: Array<{ scope: string[]; user?: string }>;
  output(): string;
  stop(): Promise<void>;
}

export interface RegistryOpts {
  auth?: 'none' | 'basic' | 'token';
  users?: Record<string, string>;
  /** token auth: anonymous users get pull on everything (default true) */
  anonymousPull?: boolean;
  /** serve https with a throwaway self-signed certificate */
  tls?: boolean;
}

function b64url(b: Buffer | string): string {
  return Buffer.from(b).toString('base64').replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
}

async function startTokenServer(dir: string, users: Record<string, string>, anonymousPull: boolean, service: string, issuer: string, log: TestRegistry['tokenRequests']) {
  const key = path.join(dir, 'token.key');
  const cert = path.join(dir, 'token.crt');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=ts-img-test-token-issuer'], { stdio: 'ignore' });
  const keyPem = fs.readFileSync(key, 'utf8');
  const der = new X509Certificate(fs.readFileSync(cert)).raw;
  const server = http.createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    if (u.pathname !== '/token') {
      res.writeHead(404).end();
      return;
    }
    let user: string | undefined;
    const authz = req.headers.authorization;
    if (authz?.startsWith('Basic ')) {
      const [name, ...rest] = Buffer.from(authz.slice(6), 'base64').toString().split(':');
      if (users[name] === undefined || users[name] !== rest.join(':')) {
        res.writeHead(401, { 'Content-Type': 'application/json' }).end('{"details":"bad credentials"}');
        return;
      }
      user = name;
    }
    const scopes = u.searchParams.getAll('scope');
    log.push({ scope: scopes, user });
    const access = scopes
      .map((s) => {
        const [type, ...restParts] = s.split(':');
        const actions = restParts.pop()!.split(',');
        const name = restParts.join(':');
        const allowed = actions.filter((a) => (user ? ['pull', 'push', '*'].includes(a) : anonymousPull && a === 'pull'));
        return { type, name, actions: allowed };
      })
      .filter((a) => a.actions.length);
    const now = Math.floor(Date.now() / 1000);
    const header = { alg: 'RS256', typ: 'JWT', x5c: [der.toString('base64')] };
    const claims = { iss: issuer, sub: user ?? '', aud: u.searchParams.get('service') ?? service, exp: now + 300, nbf: now - 10, iat: now, jti: randomBytes(8).toString('hex'), access };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const sig = createSign('RSA-SHA256').update(input).sign(keyPem);
    const token = `${input}.${b64url(sig)}`;
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ token, access_token: token, expires_in: 300, issued_at: new Date().toISOString() }));
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  return { server, port, cert };
}

export async function startRegistry(opts: RegistryOpts = {}): Promise<TestRegistry> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ts-img-registry-'));
  const port = await freePort();
  const users = opts.users ?? { alice: 'wonderland' };
  const tokenRequests: TestRegistry['tokenRequests'] = [];
  let tokenServer: http.Server | undefined;
  let authYaml = '';
  if (opts.auth === 'basic') {
    const lines = Object.entries(users).map(([u, p]) => execFileSync('htpasswd', ['-Bbn', u, p], { encoding: 'utf8' }).trim());
    fs.writeFileSync(path.join(dir, 'htpasswd'), `${lines.join('\n')}\n`);
    authYaml = `auth:\n  htpasswd:\n    realm: ts-img-test\n    path: ${dir}/htpasswd\n`;
  } else if (opts.auth === 'token') {
    const ts = await startTokenServer(dir, users, opts.anonymousPull !== false, 'ts-img-test-registry', 'ts-img-test-issuer', tokenRequests);
    tokenServer = ts.server;
    authYaml = `auth:\n  token:\n    realm: http://127.0.0.1:${ts.port}/token\n    service: ts-img-test-registry\n    issuer: ts-img-test-issuer\n    rootcertbundle: ${ts.cert}\n`;
  }
  let tlsYaml = '';
  if (opts.tls) {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${dir}/tls.key`, '-out', `${dir}/tls.crt`, '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    tlsYaml = `  tls:\n    certificate: ${dir}/tls.crt\n    key: ${dir}/tls.key\n`;
  }
  const config = `version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: ${dir}/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:${port}
  secret: ${randomBytes(16).toString('hex')}
${tlsYaml}${authYaml}`;
  fs.writeFileSync(path.join(dir, 'config.yml'), config);
  let out = '';
  const child: ChildProcess = spawn(REGISTRY_BIN, ['serve', path.join(dir, 'config.yml')], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (c) => (out += c));
  child.stderr!.on('data', (c) => (out += c));
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    }
    if (tokenServer) await new Promise<void>((r) => tokenServer!.close(() => r()));
    fs.rmSync(dir, { recursive: true, force: true });
  };
  // Wait until it answers.
  const deadline = Date.now() + 15000;
  for (;;) {
    const ok = await new Promise<boolean>((r) => {
      const req = (opts.tls ? https : http).get({ host: '127.0.0.1', port, path: '/v2/', rejectUnauthorized: false }, (res) => {
        res.resume();
        r(true);
      });
      req.on('error', () => r(false));
    });
    if (ok) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`registry did not start: ${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { host: `127.0.0.1:${port}`, port, dir, tokenRequests, output: () => out, stop };
}

export interface ProxyRecord {
  method: string;
  url: string;
  range?: string;
}

export interface TestProxy {
  host: string;
  requests: ProxyRecord[];
  /** Cut the first GET of this blob after `bytes` bytes (once). */
  cutBlob(digest: string, bytes: number): void;
  /** Flip a byte in every GET of this blob. */
  corruptBlob(digest: string): void;
  /** Answer 500 to the next n requests matching. */
  failNext(pattern: RegExp, n: number): void;
  /** Drop Range headers before forwarding (a server that ignores Range). */
  ignoreRange(on: boolean): void;
  stop(): Promise<void>;
}

/** HTTP forwarding proxy in front of a registry; keeps the Host header so Locations point here. */
export async function startProxy(target: string): Promise<TestProxy> {
  const [thost, tport] = target.split(':');
  const requests: ProxyRecord[] = [];
  const cuts = new Map<string, number>();
  const corrupt = new Set<string>();
  const fails: Array<{ re: RegExp; n: number }> = [];
  let dropRange = false;
  const server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    requests.push({ method: req.method ?? '', url, range: req.headers.range });
    const f = fails.find((x) => x.n > 0 && x.re.test(url));
    if (f) {
      f.n--;
      req.resume();
      res.writeHead(500, { 'Content-Type': 'text/plain' }).end('injected failure');
      return;
    }
    const fwdHeaders = { ...req.headers };
    if (dropRange) delete fwdHeaders.range;
    const up = http.request({ host: thost, port: Number(tport), method: req.method, path: url, headers: fwdHeaders }, (ures) => {
      const m = /\/blobs\/(sha256:[a-f0-9]{64})$/.exec(url.split('?')[0]);
      const digest = req.method === 'GET' && m ? m[1] : undefined;
      res.writeHead(ures.statusCode ?? 502, ures.headers);
      if (digest && cuts.has(digest) && (ures.statusCode === 200 || ures.statusCode === 206)) {
        const limit = cuts.get(digest)!;
        cuts.delete(digest);
        let sent = 0;
        ures.on('data', (c: Buffer) => {
          if (sent >= limit) return;
          const part = c.subarray(0, limit - sent);
          sent += part.length;
          res.write(part);
          if (sent >= limit) {
            ures.destroy();
            setTimeout(() => res.socket?.destroy(), 20);
          }
        });
        return;
      }
      if (digest && corrupt.has(digest) && ures.statusCode === 200) {
        let first = true;
        ures.on('data', (c: Buffer) => {
          if (first && c.length > 0) {
            c = Buffer.from(c);
            c[c.length >> 1] ^= 0xff;
            first = false;
          }
          res.write(c);
        });
        ures.on('end', () => res.end());
        return;
      }
      ures.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  return {
    host: `127.0.0.1:${port}`,
    requests,
    cutBlob: (d, n) => cuts.set(d, n),
    corruptBlob: (d) => corrupt.add(d),
    failNext: (re, n) => fails.push({ re, n }),
    ignoreRange: (on) => {
      dropRange = on;
    },
    stop: () =>
      new Promise<void>((r) => {
        server.closeAllConnections?.();
        server.close(() => r());
      }),
  };
}
