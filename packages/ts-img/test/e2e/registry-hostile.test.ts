/**
 * A hostile registry (a small HTTP server in the test): digests that are not digests, blobs
 * longer than their descriptors, manifests that do not match Docker-Content-Digest, redirect
 * loops, huge manifests. Pull must fail cleanly and write nothing outside the store.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Layout } from '../../src/store/layout';
import { pull } from '../../src/registry/pull';
import { freePort } from './registry-harness';

jest.setTimeout(60_000);
process.env.REGISTRY_AUTH_FILE = '/nonexistent/auth.json';
process.env.DOCKER_CONFIG = '/nonexistent';

const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const OCI_M = 'application/vnd.oci.image.manifest.v1+json';

let server: http.Server;
let host: string;
const routes = new Map<string, (res: http.ServerResponse) => void>();
const dirs: string[] = [];

function manifest(layers: object[], config = Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}')) {
  routes.set(`/v2/evil/x/blobs/${sha(config)}`, (res) => res.writeHead(200).end(config));
  return Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_M, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length }, layers }));
}
function serveManifest(tag: string, body: Buffer, headers: Record<string, string> = {}) {
  routes.set(`/v2/evil/x/manifests/${tag}`, (res) => res.writeHead(200, { 'Content-Type': OCI_M, ...headers }).end(body));
}

beforeAll(async () => {
  const port = await freePort();
  server = http.createServer((req, res) => {
    const r = routes.get((req.url ?? '').split('?')[0]);
    if (req.url === '/v2/') return void res.writeHead(200).end('{}');
    if (!r) return void res.writeHead(404).end('{"errors":[{"code":"NOT_FOUND","message":"no"}]}');
    r(res);
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  host = `127.0.0.1:${port}`;
});
afterAll(async () => {
  server.closeAllConnections?.();
  await new Promise((r) => server.close(r));
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

async function store(): Promise<Layout> {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'hostile-'));
  dirs.push(d);
  return Layout.open(path.join(d, 'store'), { create: true });
}

test('a layer "digest" that is a path is refused before it becomes one', async () => {
  serveManifest('traversal', manifest([{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: 'sha256:../../../../../tmp/ts-img-evil', size: 3 }]));
  const s = await store();
  await expect(pull(`${host}/evil/x:traversal`, s)).rejects.toThrow(/invalid digest/);
  expect(fs.existsSync('/tmp/ts-img-evil')).toBe(false);
  expect(s.refs()).toEqual([]);
});

test('a blob longer than its descriptor is cut off and rejected', async () => {
  const blob = Buffer.alloc(100_000, 7);
  routes.set(`/v2/evil/x/blobs/${sha(blob)}`, (res) => res.writeHead(200).end(Buffer.concat([blob, Buffer.alloc(50_000, 1)])));
  serveManifest('long', manifest([{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha(blob), size: blob.length }]));
  const s = await store();
  await expect(pull(`${host}/evil/x:long`, s)).rejects.toThrow(/larger than its descriptor|size mismatch/);
  expect(s.hasBlob(sha(blob))).toBe(false);
});

test('a blob shorter than its descriptor is rejected', async () => {
  const blob = Buffer.alloc(1000, 9);
  routes.set(`/v2/evil/x/blobs/${sha(blob)}`, (res) => res.writeHead(200).end(blob.subarray(0, 10)));
  serveManifest('short', manifest([{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha(blob), size: blob.length }]));
  const s = await store();
  await expect(pull(`${host}/evil/x:short`, s, { retries: 0 })).rejects.toThrow(/size mismatch|digest mismatch/);
});

test('a manifest that does not hash to Docker-Content-Digest is refused', async () => {
  serveManifest('liar', manifest([]), { 'Docker-Content-Digest': sha('something else') });
  await expect(pull(`${host}/evil/x:liar`, await store())).rejects.toThrow(/digest mismatch/);
});

test('redirect loops end', async () => {
  const blob = Buffer.from('loop');
  routes.set(`/v2/evil/x/blobs/${sha(blob)}`, (res) => res.writeHead(307, { Location: `/v2/evil/x/blobs/${sha(blob)}` }).end());
  serveManifest('loop', manifest([{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha(blob), size: blob.length }]));
  await expect(pull(`${host}/evil/x:loop`, await store(), { retries: 0 })).rejects.toThrow(/redirects/);
});

test('an oversized manifest is not read into memory', async () => {
  routes.set('/v2/evil/x/manifests/huge', (res) => {
    res.writeHead(200, { 'Content-Type': OCI_M });
    const chunk = Buffer.alloc(1 << 20, 0x20);
    let n = 0;
    const write = () => {
      while (n < 20 && res.write(chunk)) n++;
      if (n >= 20) res.end();
      else res.once('drain', () => { n++; write(); });
    };
    write();
  });
  await expect(pull(`${host}/evil/x:huge`, await store())).rejects.toThrow(/larger than/);
});

test('schema 1 manifests are refused with a clear message', async () => {
  routes.set('/v2/evil/x/manifests/old', (res) => res.writeHead(200, { 'Content-Type': 'application/vnd.docker.distribution.manifest.v1+prettyjws' }).end('{"schemaVersion":1,"name":"evil/x","fsLayers":[]}'));
  await expect(pull(`${host}/evil/x:old`, await store())).rejects.toThrow(/schema 1/);
});

// #16 item 8: a registry that drops connections mid-transfer. Each route fails its first
// `drops` requests (half the body, then the socket is destroyed; or no answer at all), then
// serves whole or from the Range asked for.
function flaky(body: Buffer, drops: number, how: 'mid-body' | 'hang-up', ranges: string[], type = 'application/octet-stream'): (res: http.ServerResponse) => void {
  let n = 0;
  return (res) => {
    const req = (res as unknown as { req: http.IncomingMessage }).req;
    ranges.push(String(req.headers.range ?? ''));
    if (n++ < drops) {
      if (how === 'hang-up') return void res.socket?.destroy();
      res.writeHead(200, { 'Content-Type': type, 'Content-Length': body.length });
      res.write(body.subarray(0, body.length >> 1), () => res.socket?.destroy());
      return;
    }
    const m = /^bytes=(\d+)-$/.exec(String(req.headers.range ?? ''));
    if (m) {
      const from = Number(m[1]);
      res.writeHead(206, { 'Content-Type': type, 'Content-Range': `bytes ${from}-${body.length - 1}/${body.length}`, 'Content-Length': body.length - from });
      return void res.end(body.subarray(from));
    }
    res.writeHead(200, { 'Content-Type': type, 'Content-Length': body.length }).end(body);
  };
}

describe('connections dropped mid-pull are retried', () => {
  test.each([['mid-body'], ['hang-up']] as const)('manifest, config and layer (%s)', async (how) => {
    const layer = Buffer.alloc(300_000);
    for (let i = 0; i < layer.length; i++) layer[i] = (i * 7919) & 0xff;
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, how }));
    const ranges = { manifest: [] as string[], config: [] as string[], layer: [] as string[] };
    const m = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: OCI_M,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha(layer), size: layer.length }],
    }));
    routes.set(`/v2/evil/x/manifests/drop-${how}`, flaky(m, 2, how, ranges.manifest, OCI_M));
    routes.set(`/v2/evil/x/blobs/${sha(config)}`, flaky(config, 2, how, ranges.config));
    routes.set(`/v2/evil/x/blobs/${sha(layer)}`, flaky(layer, 2, how, ranges.layer));
    const s = await store();
    const r = await pull(`${host}/evil/x:drop-${how}`, s, { backoffMs: 1 });
    expect(r.descriptor.digest).toBe(sha(m));
    expect(s.hasBlob(sha(layer), layer.length)).toBe(true);
    expect(s.hasBlob(sha(config), config.length)).toBe(true);
    // the layer resumed from the byte reached (Range), not from 0
    if (how === 'mid-body') expect(ranges.layer).toEqual(['', `bytes=${layer.length >> 1}-`, `bytes=${layer.length >> 1}-`]);
    else expect(ranges.layer).toEqual(['', '', '']);
  });

  test('a failed `pull --dest` into a new layout leaves nothing', async () => {
    const config = Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}');
    const layer = Buffer.alloc(10_000, 3);
    const m = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: OCI_M,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha(layer), size: layer.length }],
    }));
    routes.set('/v2/evil/x/manifests/always-drops', (res) => res.writeHead(200, { 'Content-Type': OCI_M }).end(m));
    routes.set(`/v2/evil/x/blobs/${sha(config)}`, (res) => res.writeHead(200).end(config));
    routes.set(`/v2/evil/x/blobs/${sha(layer)}`, flaky(layer, 1000, 'mid-body', []));
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'hostile-dest-'));
    dirs.push(d);
    const { spawn } = await import('node:child_process');
    const bin = path.resolve(__dirname, '../../../bin/ts-img');
    // not spawnSync: the registry is served by this process's event loop
    const child = spawn(bin, ['pull', '--quiet', '--retries', '1', '--dest', `${d}/out:t`, `${host}/evil/x:always-drops`]);
    let stderr = '';
    child.stderr.on('data', (c) => (stderr += c));
    const status = await new Promise<number | null>((res) => child.on('close', (code) => res(code)));
    const r = { status, stderr };
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(fs.readdirSync(d)).toEqual([]);
  });
});
