import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { Layout } from '../../src/store/layout';
import { gc } from '../../src/store/gc';
import { buildImage, sampleImage } from '../e2e/registry-fixtures';
import { loadImage, reachable, selectPlatform } from '../../src/store/image';
import { findInStore } from '../../src/store/args';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'store-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

test('a new store is a valid empty OCI layout', async () => {
  const l = await Layout.open(dir, { create: true });
  expect(JSON.parse(fs.readFileSync(path.join(dir, 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });
  expect(l.readIndex()).toMatchObject({ schemaVersion: 2, manifests: [] });
  await expect(Layout.open(path.join(dir, 'nope'))).rejects.toThrow(/not an OCI image layout/);
});

test('blob writes verify digests and land atomically', async () => {
  const l = await Layout.open(dir, { create: true });
  const w = await l.writeBlobStream(Readable.from([Buffer.from('hello')]));
  expect(w.digest).toBe('sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824');
  await expect(l.writeBlobStream(Readable.from([Buffer.from('hello')]), 'sha256:' + '0'.repeat(64))).rejects.toThrow(/digest mismatch/);
  expect(l.hasBlob('sha256:' + '0'.repeat(64))).toBe(false);
  expect(fs.readdirSync(path.join(dir, '.ts-img', 'tmp'))).toEqual([]);
  expect(() => l.blobPath('sha256:../../x')).toThrow(/invalid digest/);
});

test('tag, retag, untag, find by name and digest prefix', async () => {
  const l = await Layout.open(dir, { create: true });
  const img = await sampleImage(l, 'reg.example/app:v1', 1000);
  await l.tag('reg.example/app:v2', img.manifest);
  await l.tag('reg.example/app:v2', img.manifest); // idempotent
  expect(l.refs().map((r) => r.name).sort()).toEqual(['reg.example/app:v1', 'reg.example/app:v2']);
  expect(l.find(img.manifest.digest.slice(7, 19))?.descriptor.digest).toBe(img.manifest.digest);
  expect(findInStore(l, 'reg.example/app:v1')?.descriptor.digest).toBe(img.manifest.digest);
  await l.untag('reg.example/app:v1');
  expect(l.refs().map((r) => r.name)).toEqual(['reg.example/app:v2']);
  // short docker-style names normalise
  await l.tag('docker.io/library/busybox:latest', img.manifest);
  expect(findInStore(l, 'busybox')?.name).toBe('docker.io/library/busybox:latest');
});

test('gc keeps what index.json reaches and drops the rest', async () => {
  const l = await Layout.open(dir, { create: true });
  const a = await sampleImage(l, 'a', 1000);
  const b = await buildImage(l, 'b', [[{ name: 'only-b', content: 'b' }]]);
  const stray = l.writeBlob(Buffer.from('stray'));
  let r = await gc(l);
  expect(r.digests).toEqual([stray.digest]);
  await l.untag('b');
  r = await gc(l);
  expect(r.digests.sort()).toEqual([b.manifest.digest, b.config.digest, b.layers[0].digest].sort());
  const live = reachable(l, a.manifest);
  expect([...l.listBlobs().keys()].sort()).toEqual([...live].sort());
  expect(loadImage(l, a.manifest).config.rootfs.diff_ids).toHaveLength(2);
});

test('platform selection lists what is there on failure', () => {
  const m = (os: string, architecture: string, variant?: string) => ({ mediaType: 'x', digest: 'sha256:' + '1'.repeat(64), size: 1, platform: { os, architecture, variant } });
  const list = [m('linux', 'amd64'), m('linux', 'arm64', 'v8'), m('linux', 'arm', 'v7')];
  expect(selectPlatform(list, { os: 'linux', architecture: 'arm64' }).platform?.architecture).toBe('arm64');
  expect(selectPlatform(list, { os: 'linux', architecture: 'arm', variant: 'v7' }).platform?.variant).toBe('v7');
  expect(() => selectPlatform(list, { os: 'linux', architecture: 's390x' })).toThrow(/linux\/amd64, linux\/arm64\/v8, linux\/arm\/v7/);
});
