/**
 * e2e against Debian's docker-registry on 127.0.0.1: no auth, htpasswd basic auth, token auth
 * (our own token server), TLS with a self-signed cert; pull/push byte-identical round trips,
 * resumed downloads, retries, wrong digests rejected, cross-repo mounts, chunked uploads,
 * multi-platform indexes, and the CLI end to end.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Layout } from '../../src/store/layout';
import { pull } from '../../src/registry/pull';
import { push } from '../../src/registry/push';
import { RegistryClient } from '../../src/registry/client';
import { BuiltImage, buildImage, sampleImage, sha } from './registry-fixtures';
import { TestRegistry, haveRegistry, startProxy, startRegistry } from './registry-harness';

const run = promisify(execFile);
const BIN = path.resolve(__dirname, '../../../bin/ts-img');
const d = haveRegistry ? describe : describe.skip;
jest.setTimeout(120_000);
// No credentials from the machine running the tests: each test says where its credentials come from.
process.env.REGISTRY_AUTH_FILE = '/nonexistent/auth.json';
process.env.DOCKER_CONFIG = '/nonexistent';
delete process.env.XDG_RUNTIME_DIR;

function tmp(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

async function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const r = await run(BIN, [...args], { env: { ...process.env, ...env } });
    return { stdout: r.stdout, stderr: r.stderr, code: 0 };
  } catch (e: any) {
    return { stdout: e.stdout ?? '', stderr: e.stderr ?? '', code: e.code ?? 1 };
  }
}

function blobBytes(l: Layout, digest: string): Buffer {
  return fs.readFileSync(l.blobPath(digest));
}

function expectSameImage(a: Layout, b: Layout, img: BuiltImage): void {
  for (const dsc of [img.manifest, img.config, ...img.layers]) {
    expect(b.hasBlob(dsc.digest)).toBe(true);
    expect(blobBytes(b, dsc.digest).equals(blobBytes(a, dsc.digest))).toBe(true);
  }
}

const dirs: string[] = [];
afterAll(() => {
  for (const x of dirs) fs.rmSync(x, { recursive: true, force: true });
});
function mk(prefix: string): string {
  const x = tmp(prefix);
  dirs.push(x);
  return x;
}

d('registry without auth', () => {
  let reg: TestRegistry;
  let src: Layout;
  let img: BuiltImage;
  beforeAll(async () => {
    reg = await startRegistry();
    src = await Layout.open(mk('src-'), { create: true });
    img = await sampleImage(src, 'v1', 3 << 20);
  });
  afterAll(async () => reg?.stop());

  test('push then pull is byte-identical (manifest, config, layers)', async () => {
    const p = await push(src, img.manifest, `${reg.host}/round/trip:v1`);
    expect(p.digest).toBe(img.manifest.digest);
    expect(p.uploaded).toBe(3);
    const store = await Layout.open(mk('store-'), { create: true });
    const r = await pull(`${reg.host}/round/trip:v1`, store);
    expect(r.name).toBe(`${reg.host}/round/trip:v1`);
    expect(r.descriptor.digest).toBe(img.manifest.digest);
    expectSameImage(src, store, img);
    // by digest too, and a second pull fetches nothing
    const r2 = await pull(`${reg.host}/round/trip@${img.manifest.digest}`, store);
    expect(r2.layersFetched).toBe(0);
    expect(r2.layersSkipped).toBe(2);
    // pushing again uploads nothing
    const again = await push(src, img.manifest, `${reg.host}/round/trip:v1`);
    expect(again.uploaded).toBe(0);
    expect(again.skipped).toBe(3);
  });

  test('skopeo reads what we pushed and the pulled layout', async () => {
    await push(src, img.manifest, `${reg.host}/skopeo/check:v1`);
    const { stdout } = await run('skopeo', ['inspect', '--tls-verify=false', `docker://${reg.host}/skopeo/check:v1`]);
    expect(JSON.parse(stdout).Digest).toBe(img.manifest.digest);
    const dest = mk('dest-');
    const r = await cli(['pull', `${reg.host}/skopeo/check:v1`, '--dest', `${dest}/lay:mytag`, '-q']);
    expect(r).toMatchObject({ code: 0 });
    const { stdout: raw } = await run('skopeo', ['inspect', '--raw', `oci:${dest}/lay:mytag`]);
    expect(sha(Buffer.from(raw))).toBe(img.manifest.digest);
  });

  test('cross-repository mount instead of upload', async () => {
    await push(src, img.manifest, `${reg.host}/mount/a:v1`);
    const fresh = await Layout.open(mk('fresh-'), { create: true });
    const again = await sampleImage(fresh, 'v1', 3 << 20);
    expect(again.manifest.digest).toBe(img.manifest.digest);
    const r = await push(fresh, again.manifest, `${reg.host}/mount/b:v1`, { mountFrom: ['mount/a'] });
    expect(r).toMatchObject({ mounted: 3, uploaded: 0 });
    // the store remembers where blobs came from and mounts on its own
    const store = await Layout.open(mk('store-'), { create: true });
    await pull(`${reg.host}/mount/a:v1`, store);
    const r2 = await push(store, img.manifest, `${reg.host}/mount/c:v1`);
    expect(r2).toMatchObject({ mounted: 3, uploaded: 0 });
    const back = await Layout.open(mk('back-'), { create: true });
    await pull(`${reg.host}/mount/c:v1`, back);
    expectSameImage(src, back, img);
  });

  test('chunked upload (PATCH) round trip', async () => {
    const fresh = await Layout.open(mk('chunk-'), { create: true });
    const im = await sampleImage(fresh, 'v1', (1 << 20) + 12345);
    const r = await push(fresh, im.manifest, `${reg.host}/chunked/x:v1`, { chunkSize: 256 * 1024 });
    expect(r.uploaded).toBe(3);
    const back = await Layout.open(mk('back-'), { create: true });
    await pull(`${reg.host}/chunked/x:v1`, back);
    expectSameImage(fresh, back, im);
  });

  test('interrupted download is resumed with a Range request', async () => {
    const proxy = await startProxy(reg.host);
    try {
      await push(src, img.manifest, `${reg.host}/resume/x:v1`);
      const big = img.layers[1];
      proxy.cutBlob(big.digest, 1 << 20);
      const store = await Layout.open(mk('store-'), { create: true });
      await pull(`${proxy.host}/resume/x:v1`, store, { backoffMs: 10 });
      expectSameImage(src, store, img);
      const gets = proxy.requests.filter((q) => q.method === 'GET' && q.url.endsWith(big.digest));
      expect(gets.length).toBe(2);
      expect(gets[0].range).toBeUndefined();
      expect(gets[1].range).toMatch(/^bytes=[1-9]\d*-$/);
    } finally {
      await proxy.stop();
    }
  });

  test('a pull that fails part-way resumes in the next run', async () => {
    const proxy = await startProxy(reg.host);
    try {
      await push(src, img.manifest, `${reg.host}/resume/y:v1`);
      const big = img.layers[1];
      proxy.cutBlob(big.digest, 1500 * 1024);
      const store = await Layout.open(mk('store-'), { create: true });
      await expect(pull(`${proxy.host}/resume/y:v1`, store, { retries: 0 })).rejects.toThrow();
      const partial = store.partialPath(big.digest);
      const have = fs.statSync(partial).size;
      expect(have).toBeGreaterThan(0);
      expect(store.refs()).toEqual([]);
      await pull(`${proxy.host}/resume/y:v1`, store);
      const gets = proxy.requests.filter((q) => q.method === 'GET' && q.url.endsWith(big.digest));
      expect(gets[gets.length - 1].range).toBe(`bytes=${have}-`);
      expectSameImage(src, store, img);
      expect(fs.existsSync(partial)).toBe(false);
    } finally {
      await proxy.stop();
    }
  });

  test('a server that ignores Range: the download restarts from zero and still verifies', async () => {
    const proxy = await startProxy(reg.host);
    try {
      await push(src, img.manifest, `${reg.host}/norange/x:v1`);
      const big = img.layers[1];
      proxy.cutBlob(big.digest, 1 << 20);
      proxy.ignoreRange(true);
      const store = await Layout.open(mk('store-'), { create: true });
      await pull(`${proxy.host}/norange/x:v1`, store, { backoffMs: 10 });
      expectSameImage(src, store, img);
      const gets = proxy.requests.filter((q) => q.method === 'GET' && q.url.endsWith(big.digest));
      expect(gets.length).toBe(2);
      expect(gets[1].range).toMatch(/^bytes=[1-9]/); // asked for a range, got the whole blob
    } finally {
      await proxy.stop();
    }
  });

  test('a blob with the wrong digest is rejected and nothing is tagged', async () => {
    const proxy = await startProxy(reg.host);
    try {
      await push(src, img.manifest, `${reg.host}/corrupt/x:v1`);
      proxy.corruptBlob(img.layers[1].digest);
      const store = await Layout.open(mk('store-'), { create: true });
      await expect(pull(`${proxy.host}/corrupt/x:v1`, store)).rejects.toThrow(/digest mismatch/);
      expect(store.hasBlob(img.layers[1].digest)).toBe(false);
      expect(store.refs()).toEqual([]);
      // the CLI says so in one line and exits 1
      const r = await cli(['pull', `${proxy.host}/corrupt/x:v1`, '--store', store.dir]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^ts-img: .*digest mismatch.*\n$/);
    } finally {
      await proxy.stop();
    }
  });

  test('concurrent pulls of the same image into one store (separate processes) both succeed', async () => {
    await push(src, img.manifest, `${reg.host}/conc/x:v1`);
    const store = mk('conc-');
    const [a, b] = await Promise.all([
      cli(['pull', `${reg.host}/conc/x:v1`, '--store', store, '-q']),
      cli(['pull', `${reg.host}/conc/x:v1`, '--store', store, '-q']),
    ]);
    expect([a.code, b.code, a.stderr + b.stderr]).toEqual([0, 0, '']);
    const l = await Layout.open(store);
    expectSameImage(src, l, img);
    expect(l.refs().map((r) => r.name)).toEqual([`${reg.host}/conc/x:v1`]);
    // gc with nothing to collect leaves the image intact
    expect((await cli(['gc', '--store', store])).stdout).toMatch(/^0 blobs/m);
    expectSameImage(src, l, img);
  });

  test('a manifest that does not match the requested digest is rejected', async () => {
    await push(src, img.manifest, `${reg.host}/digest/x:v1`);
    const client = new RegistryClient(reg.host);
    await expect(client.getManifest('digest/x', 'sha256:' + 'e'.repeat(64))).rejects.toThrow();
    const store = await Layout.open(mk('store-'), { create: true });
    await expect(pull(`${reg.host}/digest/x@sha256:${'e'.repeat(64)}`, store)).rejects.toThrow(/not found|mismatch/);
  });

  test('5xx answers are retried with backoff', async () => {
    const proxy = await startProxy(reg.host);
    try {
      await push(src, img.manifest, `${reg.host}/retry/x:v1`);
      proxy.failNext(/\/blobs\/sha256:/, 2);
      const store = await Layout.open(mk('store-'), { create: true });
      await pull(`${proxy.host}/retry/x:v1`, store, { backoffMs: 10, jobs: 1 });
      expectSameImage(src, store, img);
      expect(proxy.requests.length).toBeGreaterThan(5);
    } finally {
      await proxy.stop();
    }
  });

  test('multi-platform index: pick a platform, or copy all', async () => {
    const l = await Layout.open(mk('multi-'), { create: true });
    const amd = await buildImage(l, 'amd', [[{ name: 'arch', content: 'amd64' }]]);
    const arm = await buildImage(l, 'arm', [[{ name: 'arch', content: 'arm64' }]]);
    const index = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        { ...amd.manifest, platform: { os: 'linux', architecture: 'amd64' } },
        { ...arm.manifest, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
      ],
    };
    const ib = Buffer.from(JSON.stringify(index));
    const iw = l.writeBlob(ib);
    const idesc = { mediaType: index.mediaType, digest: iw.digest, size: ib.length };
    await l.tag('multi', idesc);
    const p = await push(l, idesc, `${reg.host}/multi/x:v1`);
    expect(p.digest).toBe(iw.digest);
    const s1 = await Layout.open(mk('s1-'), { create: true });
    const r1 = await pull(`${reg.host}/multi/x:v1`, s1, { platform: { os: 'linux', architecture: 'arm64' } });
    expect(r1.descriptor.digest).toBe(arm.manifest.digest);
    expect(s1.hasBlob(amd.layers[0].digest)).toBe(false);
    const s2 = await Layout.open(mk('s2-'), { create: true });
    const r2 = await pull(`${reg.host}/multi/x:v1`, s2, { all: true });
    expect(r2.descriptor.digest).toBe(iw.digest);
    expect(s2.hasBlob(amd.layers[0].digest) && s2.hasBlob(arm.layers[0].digest)).toBe(true);
    await expect(pull(`${reg.host}/multi/x:v1`, s1, { platform: { os: 'linux', architecture: 's390x' } })).rejects.toThrow(/linux\/amd64, linux\/arm64\/v8/);
    // an index inside an index
    const outer = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [{ ...idesc, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } }] };
    const ob = Buffer.from(JSON.stringify(outer));
    const ow = l.writeBlob(ob);
    await l.tag('outer', { mediaType: outer.mediaType, digest: ow.digest, size: ob.length });
    await push(l, { mediaType: outer.mediaType, digest: ow.digest, size: ob.length }, `${reg.host}/multi/nested:v1`);
    const s3 = await Layout.open(mk('s3-'), { create: true });
    const r3 = await pull(`${reg.host}/multi/nested:v1`, s3, { platform: { os: 'linux', architecture: 'arm64' } });
    expect(r3.descriptor.digest).toBe(arm.manifest.digest);
    const s4 = await Layout.open(mk('s4-'), { create: true });
    const r4 = await pull(`${reg.host}/multi/nested:v1`, s4, { all: true });
    expect(r4.descriptor.digest).toBe(ow.digest);
    expect(s4.hasBlob(iw.digest) && s4.hasBlob(amd.layers[0].digest)).toBe(true);
  });

  test('inspect a remote reference fetches manifest and config only', async () => {
    await push(src, img.manifest, `${reg.host}/inspect/x:v1`);
    const proxy = await startProxy(reg.host);
    try {
      const r = await cli(['inspect', `docker://${proxy.host}/inspect/x:v1`]);
      expect(r.code).toBe(0);
      const j = JSON.parse(r.stdout);
      expect(j).toMatchObject({ Digest: img.manifest.digest, Os: 'linux', Architecture: 'amd64', ConfigDigest: img.config.digest, Layers: img.layers.map((l) => l.digest) });
      const blobGets = proxy.requests.filter((q) => q.method === 'GET' && q.url.includes('/blobs/'));
      expect(blobGets.map((q) => q.url.split('/').pop())).toEqual([img.config.digest]);
      const raw = await cli(['inspect', '--raw', `${proxy.host}/inspect/x:v1`]);
      expect(sha(Buffer.from(raw.stdout))).toBe(img.manifest.digest);
    } finally {
      await proxy.stop();
    }
  });

  test('Docker v2 schema 2 images round trip unchanged', async () => {
    const l = await Layout.open(mk('docker-'), { create: true });
    const im = await sampleImage(l, 'v1', 4096, { docker: true });
    await push(l, im.manifest, `${reg.host}/docker/x:v1`);
    const client = new RegistryClient(reg.host);
    const m = await client.getManifest('docker/x', 'v1');
    expect(m.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    const s = await Layout.open(mk('s-'), { create: true });
    await pull(`${reg.host}/docker/x:v1`, s);
    expectSameImage(l, s, im);
  });

  test('CLI: pull, images, tag, history, push from the store, rm, gc', async () => {
    await push(src, img.manifest, `${reg.host}/cli/x:v1`);
    const store = mk('clistore-');
    expect((await cli(['pull', `${reg.host}/cli/x:v1`, '--store', store])).code).toBe(0);
    expect((await cli(['tag', `${reg.host}/cli/x:v1`, `${reg.host}/cli/y:v2`, '--store', store])).code).toBe(0);
    const ls = await cli(['images', '--store', store, '-q']);
    expect(ls.stdout.split('\n').filter(Boolean).sort()).toEqual([`${reg.host}/cli/x:v1`, `${reg.host}/cli/y:v2`]);
    // the store is a valid OCI layout (schemas, digests, sizes) by the validate command
    expect(await cli(['validate', store])).toMatchObject({ code: 0 });
    const h = await cli(['history', `${reg.host}/cli/y:v2`, '--store', store, '--json']);
    expect(JSON.parse(h.stdout).map((x: any) => x.createdBy)).toEqual(['test layer 1', 'test layer 0']);
    const p = await cli(['push', `${reg.host}/cli/y:v2`, '--store', store]);
    expect(p.code).toBe(0);
    expect(p.stdout).toContain(img.manifest.digest);
    expect((await cli(['rm', `${reg.host}/cli/x:v1`, `${reg.host}/cli/y:v2`, '--store', store])).code).toBe(0);
    const g = await cli(['gc', '--store', store]);
    expect(g.stdout).toMatch(/^4 blobs/m);
    expect(fs.readdirSync(path.join(store, 'blobs', 'sha256'))).toEqual([]);
  });
});

d('registry with htpasswd basic auth', () => {
  let reg: TestRegistry;
  let src: Layout;
  let img: BuiltImage;
  beforeAll(async () => {
    reg = await startRegistry({ auth: 'basic', users: { alice: 'wonderland' } });
    src = await Layout.open(mk('src-'), { create: true });
    img = await sampleImage(src, 'v1', 100_000);
  });
  afterAll(async () => reg?.stop());

  test('no credentials: a clear error', async () => {
    await expect(push(src, img.manifest, `${reg.host}/basic/x:v1`)).rejects.toThrow(/authentication required \(use --creds/);
  });

  test('wrong password: authentication failed', async () => {
    await expect(push(src, img.manifest, `${reg.host}/basic/x:v1`, { creds: { username: 'alice', password: 'nope' } })).rejects.toThrow(/authentication failed/);
  });

  test('--creds and auth.json both work; round trip byte-identical', async () => {
    const r = await cli(['push', `${src.dir}:v1`, `${reg.host}/basic/x:v1`, '--creds', 'alice:wonderland']);
    expect(r).toMatchObject({ code: 0 });
    const authDir = mk('auth-');
    const authFile = path.join(authDir, 'auth.json');
    fs.writeFileSync(authFile, JSON.stringify({ auths: { [reg.host]: { auth: Buffer.from('alice:wonderland').toString('base64') } } }));
    const store = await Layout.open(mk('store-'), { create: true });
    const p1 = await cli(['pull', `${reg.host}/basic/x:v1`, '--store', store.dir, '--authfile', authFile]);
    expect(p1).toMatchObject({ code: 0 });
    expectSameImage(src, store, img);
    const store2 = await Layout.open(mk('store-'), { create: true });
    const p2 = await cli(['pull', `${reg.host}/basic/x:v1`, '--store', store2.dir], { REGISTRY_AUTH_FILE: authFile });
    expect(p2).toMatchObject({ code: 0 });
    const p3 = await cli(['pull', `${reg.host}/basic/x:v1`, '--store', store2.dir], { DOCKER_CONFIG: authDir });
    expect(p3.code).toBe(1);
    expect(p3.stderr).toMatch(/authentication required/);
    fs.copyFileSync(authFile, path.join(authDir, 'config.json'));
    const p4 = await cli(['pull', `${reg.host}/basic/x:v1`, '--store', store2.dir], { DOCKER_CONFIG: authDir });
    // an explicit --authfile that does not exist is an error, not anonymous access
    const p5 = await cli(['pull', `${reg.host}/basic/x:v1`, '--store', store2.dir, '--authfile', path.join(authDir, 'missing.json')]);
    expect(p5.stderr).toMatch(/does not exist/);
    expect(p4).toMatchObject({ code: 0 });
  });
});

d('login / logout', () => {
  test.each(['basic', 'token'] as const)('%s: wrong password refused, right one stored and used, logout removes it', async (auth) => {
    const reg = await startRegistry({ auth, users: { carol: 's3cret' } });
    try {
      const dir = mk('login-');
      const file = path.join(dir, 'auth.json');
      fs.writeFileSync(file, JSON.stringify({ auths: { 'other.example': { auth: 'eDp5' } }, credsStore: 'keep-me' }));
      const bad = await cli(['login', reg.host, '-u', 'carol', '-p', 'nope', '--authfile', file]);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toMatch(/authentication failed|refused/);
      const ok = await cli(['login', reg.host, '-u', 'carol', '-p', 's3cret', '--authfile', file]);
      expect(ok).toMatchObject({ code: 0 });
      const doc = JSON.parse(fs.readFileSync(file, 'utf8'));
      expect(doc.credsStore).toBe('keep-me');
      expect(doc.auths['other.example']).toBeDefined();
      expect(Buffer.from(doc.auths[reg.host].auth, 'base64').toString()).toBe('carol:s3cret');
      expect(fs.statSync(file).mode & 0o777).toBe(0o600);
      const src = await Layout.open(mk('src-'), { create: true });
      await sampleImage(src, 'v1', 1000);
      const p = await cli(['push', `${src.dir}:v1`, `${reg.host}/login/x:v1`], { REGISTRY_AUTH_FILE: file });
      expect(p).toMatchObject({ code: 0 });
      const out = await cli(['logout', reg.host, '--authfile', file]);
      expect(out.code).toBe(0);
      expect(JSON.parse(fs.readFileSync(file, 'utf8')).auths[reg.host]).toBeUndefined();
      expect((await cli(['logout', reg.host, '--authfile', file])).code).toBe(1);
    } finally {
      await reg.stop();
    }
  });
});

d('registry with token auth', () => {
  let reg: TestRegistry;
  let src: Layout;
  let img: BuiltImage;
  beforeAll(async () => {
    reg = await startRegistry({ auth: 'token', users: { bob: 'builder' } });
    src = await Layout.open(mk('src-'), { create: true });
    img = await sampleImage(src, 'v1', 200_000);
  });
  afterAll(async () => reg?.stop());

  test('anonymous push is refused, authenticated push works with push scope', async () => {
    await expect(push(src, img.manifest, `${reg.host}/tok/x:v1`)).rejects.toThrow(/authentication failed/);
    const r = await push(src, img.manifest, `${reg.host}/tok/x:v1`, { creds: { username: 'bob', password: 'builder' } });
    expect(r.digest).toBe(img.manifest.digest);
    const scopes = reg.tokenRequests.filter((t) => t.user === 'bob').flatMap((t) => t.scope);
    expect(scopes).toContain('repository:tok/x:pull,push');
  });

  test('wrong password is refused by the token server', async () => {
    await expect(pull(`${reg.host}/tok/x:v1`, await Layout.open(mk('s-'), { create: true }), { creds: { username: 'bob', password: 'x' } })).rejects.toThrow(/token server refused/);
  });

  test('anonymous pull gets a pull-scoped token; round trip byte-identical', async () => {
    const store = await Layout.open(mk('store-'), { create: true });
    const before = reg.tokenRequests.length;
    await pull(`${reg.host}/tok/x:v1`, store);
    expectSameImage(src, store, img);
    const mine = reg.tokenRequests.slice(before);
    expect(mine.every((t) => t.user === undefined)).toBe(true);
    expect(mine.flatMap((t) => t.scope)).toContain('repository:tok/x:pull');
  });

  test('cross-repo mount with a token covering both repositories', async () => {
    const r = await push(src, img.manifest, `${reg.host}/tok/y:v1`, { creds: { username: 'bob', password: 'builder' }, mountFrom: ['tok/x'] });
    expect(r).toMatchObject({ mounted: 3, uploaded: 0 });
    const scopes = reg.tokenRequests.flatMap((t) => t.scope);
    expect(scopes).toContain('repository:tok/x:pull');
  });
});

d('registry over TLS with a self-signed certificate', () => {
  let reg: TestRegistry;
  beforeAll(async () => {
    reg = await startRegistry({ tls: true });
  });
  afterAll(async () => reg?.stop());

  test('verification fails by default and --tls-verify=false works', async () => {
    const src = await Layout.open(mk('src-'), { create: true });
    const img = await sampleImage(src, 'v1', 10_000);
    const bad = await cli(['push', `${src.dir}:v1`, `${reg.host}/tls/x:v1`]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/tls-verify=false|certificate/i);
    const ok = await cli(['push', `${src.dir}:v1`, `${reg.host}/tls/x:v1`, '--tls-verify=false', '-q']);
    expect(ok).toMatchObject({ code: 0 });
    const store = await Layout.open(mk('store-'), { create: true });
    await pull(`${reg.host}/tls/x:v1`, store, { tlsVerify: false });
    expectSameImage(src, store, img);
  });

  test('NODE_EXTRA_CA_CERTS naming its certificate makes it trusted: bin/ts-img hands it to the client, not to Node\'s start', async () => {
    const src = await Layout.open(mk('src-'), { create: true });
    await sampleImage(src, 'v1', 10_000);
    const cert = path.join(reg.dir, 'tls.crt');
    expect(await cli(['push', `${src.dir}:v1`, `${reg.host}/tls/ca:v1`, '-q'], { NODE_EXTRA_CA_CERTS: cert })).toMatchObject({ code: 0 });
    // The client's half alone (what the launcher passes on), through node itself.
    const launch = path.resolve(__dirname, '../../src/cli/launch.js');
    const env: NodeJS.ProcessEnv = { ...process.env, TS_IMG_EXTRA_CA_CERTS: cert };
    delete env.NODE_EXTRA_CA_CERTS;
    await expect(run(process.execPath, [launch, 'push', `${src.dir}:v1`, `${reg.host}/tls/ca:v2`, '-q'], { env })).resolves.toBeDefined();
    // An unreadable file: Node's CAs only, with a warning, as Node itself does.
    const bad = await cli(['push', `${src.dir}:v1`, `${reg.host}/tls/ca:v3`, '-q'], { NODE_EXTRA_CA_CERTS: path.join(reg.dir, 'missing.crt') });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/warning: ignoring extra certs from .*missing\.crt/);
  });
});
