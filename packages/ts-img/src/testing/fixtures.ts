/**
 * The test images (scripts/make-test-images): layers with whiteouts, an opaque dir in the middle
 * of a layer, hardlinks (also into a lower layer), symlinks, setuid/setgid/sticky modes, xattrs
 * (user.* and security.capability), device nodes and a fifo, owners, a user named in /etc/passwd;
 * the same image as an OCI layout (gzip/zstd/plain layers), an oci-archive, docker save in the
 * old and the Docker 25+ formats; a multi-platform index and a nested index.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { Descriptor } from '@tsrt/oci-spec';
import type { WEntry } from './tarwriter';
import { buildImage, Compression, ImageSpec, LayoutWriter, tarDir, writeDockerArchiveNew, writeDockerArchiveOld } from './images';

const T0 = 1600000000;

/** security.capability v2: cap_net_bind_service (bit 10) permitted+effective. */
export const CAP_NET_BIND_SERVICE_XATTR = (() => {
  const b = Buffer.alloc(20);
  b.writeUInt32LE(0x02000000 | 0x1, 0); // VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE
  b.writeUInt32LE(1 << 10, 4); // permitted[0]
  b.writeUInt32LE(0, 8); // inheritable[0]
  return b;
})();

export function layer1(): WEntry[] {
  return [
    { name: './', type: 'dir', mode: 0o755, mtime: T0 },
    { name: 'etc/', type: 'dir', mtime: T0 + 1 },
    { name: 'etc/passwd', data: 'root:x:0:0:root:/root:/bin/sh\napp:x:1234:2345:app:/home/app:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n', mtime: T0 },
    { name: 'etc/group', data: 'root:x:0:\nappgrp:x:2345:\nextra:x:3000:app,other\nmore:x:3001:app\nnogroup:x:65534:\n', mtime: T0 },
    { name: 'home/', type: 'dir', mtime: T0 },
    { name: 'home/app/', type: 'dir', uid: 1234, gid: 2345, mode: 0o750, mtime: T0 + 2 },
    { name: 'home/app/secret', data: 'secret\n', uid: 1234, gid: 2345, mode: 0o600, mtime: T0 + 3 },
    { name: 'tmp/', type: 'dir', mode: 0o1777, mtime: T0 },
    { name: 'usr/', type: 'dir', mtime: T0 },
    { name: 'usr/bin/', type: 'dir', mtime: T0 + 4 },
    { name: 'usr/bin/suid', data: '#!/bin/sh\necho suid\n', mode: 0o4755, mtime: T0 },
    { name: 'usr/bin/sgid', data: '#!/bin/sh\necho sgid\n', mode: 0o2755, gid: 2345, mtime: T0 },
    { name: 'usr/bin/capped', data: 'binary', mode: 0o755, mtime: T0, xattrs: { 'security.capability': CAP_NET_BIND_SERVICE_XATTR } },
    { name: 'data/', type: 'dir', mtime: T0 + 5 },
    { name: 'data/file1', data: 'layer1 content of file1\n', mtime: T0 + 6 },
    { name: 'data/hardlink1', type: 'link', linkname: 'data/file1' },
    { name: 'data/link', type: 'symlink', linkname: 'file1', mtime: T0 + 7 },
    { name: 'data/abslink', type: 'symlink', linkname: '/etc/passwd', mtime: T0 },
    { name: 'data/dangling', type: 'symlink', linkname: '/nonexistent/target', mtime: T0 },
    { name: 'data/xattr-file', data: 'has xattrs\n', xattrs: { 'user.test': 'hello', 'user.binary': Buffer.from([0, 1, 2, 255]) }, mtime: T0 },
    { name: 'data/sub/', type: 'dir', mode: 0o755, mtime: T0 + 8 },
    { name: 'data/sub/lowerfile', data: 'lower file\n', mtime: T0 },
    { name: 'data/dir2file/', type: 'dir', mtime: T0 },
    { name: 'data/dir2file/child', data: 'gone later\n', mtime: T0 },
    { name: 'data/file2dir', data: 'becomes a dir\n', mtime: T0 },
    { name: 'data/file2link', data: 'becomes a symlink\n', mtime: T0 },
    { name: 'data/big', data: Buffer.alloc(300000, 'x'), mtime: T0 },
    { name: 'dev/', type: 'dir', mtime: T0 },
    { name: 'dev/mynull', type: 'char', devmajor: 1, devminor: 3, mode: 0o666, mtime: T0 },
    { name: 'dev/myloop', type: 'block', devmajor: 7, devminor: 0, mode: 0o660, gid: 6, mtime: T0 },
    { name: 'dev/myfifo', type: 'fifo', mode: 0o644, mtime: T0 },
    { name: 'wh/', type: 'dir', mtime: T0 },
    { name: 'wh/gone', data: 'whiteout me\n', mtime: T0 },
    { name: 'wh/gonedir/', type: 'dir', mtime: T0 },
    { name: 'wh/gonedir/x', data: 'x\n', mtime: T0 },
    { name: 'wh/keep', data: 'keep\n', mtime: T0 },
    { name: 'opq/', type: 'dir', mtime: T0 },
    { name: 'opq/a', data: 'a\n', mtime: T0 },
    { name: 'opq/b/', type: 'dir', mtime: T0 },
    { name: 'opq/b/c', data: 'c\n', mtime: T0 },
    { name: 'a-very-long-directory-name-that-goes-on-and-on-and-on/another-long-component-to-pass-100-bytes/file-with-long-name.txt', data: 'long\n', mtime: T0 },
  ];
}

export function layer2(): WEntry[] {
  return [
    { name: 'wh/.wh.gone', mtime: T0 },
    { name: 'wh/samelayer', data: 'same layer survives its whiteout\n', mtime: T0 + 10 },
    { name: 'wh/.wh.gonedir', mtime: T0 },
    { name: 'wh/.wh.samelayer', mtime: T0 },
    // opaque marker after a new entry of the same layer: the new entry survives, lower ones go
    { name: 'opq/new', data: 'new in layer 2\n', mtime: T0 + 11 },
    { name: 'opq/.wh..wh..opq', mtime: T0 },
    { name: 'opq/new2', data: 'also new\n', mtime: T0 + 12 },
    // replace file1: hardlink1 keeps the old content
    { name: 'data/file1', data: 'layer2 content of file1\n', mode: 0o640, mtime: T0 + 13 },
    // hardlink into a lower layer
    { name: 'data/hardlink2', type: 'link', linkname: 'data/sub/lowerfile' },
    // dir over dir: attributes replaced, children kept
    { name: 'data/sub/', type: 'dir', mode: 0o700, uid: 1234, gid: 2345, mtime: T0 + 14 },
    { name: 'data/dir2file', data: 'was a dir\n', mtime: T0 },
    { name: 'data/file2dir/', type: 'dir', mtime: T0 + 15 },
    { name: 'data/file2dir/inside', data: 'inside\n', mtime: T0 },
    { name: 'data/file2link', type: 'symlink', linkname: 'sub/lowerfile', mtime: T0 },
    { name: 'layer2-only', data: 'will be whited out by layer 3\n', mtime: T0 },
    { name: 'usr/bin/newtool', data: 'tool\n', mode: 0o755, mtime: T0 },
  ];
}

export function layer3(): WEntry[] {
  return [
    { name: '.wh.layer2-only', mtime: T0 },
    { name: 'etc/motd', data: 'welcome\n', mtime: T0 + 20 },
    { name: 'usr/bin/.wh.newtool', mtime: T0 },
    { name: 'implicit/parent/file', data: 'parent dirs not in the tar\n', mtime: T0 },
  ];
}

export const FULL_EXEC = {
  User: 'app',
  Env: ['PATH=/usr/bin:/bin', 'WITH_EQUALS=a=b=c', 'EMPTY='],
  Entrypoint: ['/usr/bin/suid'],
  Cmd: ['--flag', 'arg with space'],
  WorkingDir: '/data',
  Labels: { 'com.example.label': 'yes', 'org.opencontainers.image.os': 'label-wins' },
  ExposedPorts: { '80/tcp': {}, '53/udp': {} },
  Volumes: { '/data/vol': {}, '/var/cache': {} },
  StopSignal: 'SIGTERM',
};

export function fullImage(compressions: [Compression, Compression, Compression] = ['gzip', 'zstd', 'none']): ImageSpec {
  return {
    layers: [
      { entries: layer1(), compression: compressions[0] },
      { entries: layer2(), compression: compressions[1] },
      { entries: layer3(), compression: compressions[2] },
    ],
    exec: FULL_EXEC,
    extra: { author: 'ts-img tests' },
  };
}

export function platformImage(os: string, architecture: string, variant?: string): ImageSpec {
  const p = [os, architecture, ...(variant ? [variant] : [])].join('/');
  return {
    layers: [{ entries: [{ name: 'platform', data: p + '\n' }] }],
    platform: { os, architecture, ...(variant ? { variant } : {}) },
    exec: { Cmd: ['/bin/cat', '/platform'] },
  };
}

export const PLATFORMS: Array<[string, string, string?]> = [
  ['linux', 'amd64'], ['linux', 'arm64', 'v8'], ['linux', 'arm', 'v7'], ['linux', 's390x'],
];

/**
 * Write every test image under `dir`:
 *   layout/         tags full (gzip+zstd+plain), full-gzip, multi, nested, nondist, docker-types
 *   oci-archive.tar (tag full), docker-old.tar, docker-new.tar (repo tag test/full:latest)
 */
export function makeTestImages(dir: string): Record<string, string> {
  fs.mkdirSync(dir, { recursive: true });
  const layoutDir = path.join(dir, 'layout');
  const w = new LayoutWriter(layoutDir);
  const full = buildImage(fullImage());
  w.add(w.image(full), 'full');
  const fullGzip = buildImage(fullImage(['gzip', 'gzip', 'gzip']));
  w.add(w.image(fullGzip), 'full-gzip');
  const plats: Descriptor[] = PLATFORMS.map(([o, a, v]) => w.image(buildImage(platformImage(o, a, v))));
  // a buildx-style attestation manifest (platform unknown/unknown) that selection must skip
  const att = w.image(buildImage({ layers: [{ entries: [{ name: 'attestation.json', data: '{}' }] }], platform: { os: 'unknown', architecture: 'unknown' } }));
  const multi = w.index([...plats, { ...att, annotations: { 'vnd.docker.reference.type': 'attestation-manifest' } }]);
  w.add(multi, 'multi');
  const inner = w.index(plats.slice(0, 2));
  const outer = w.index([{ ...inner, platform: undefined } as Descriptor]);
  w.add(outer, 'nested');
  const nd = buildImage({
    layers: [
      { entries: [{ name: 'nd-gzip', data: 'nondistributable gzip\n' }], compression: 'gzip', mediaType: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip' },
      { entries: [{ name: 'nd-plain', data: 'nondistributable plain\n' }], compression: 'none', mediaType: 'application/vnd.oci.image.layer.nondistributable.v1.tar' },
      { entries: [{ name: 'foreign', data: 'docker foreign\n' }], compression: 'gzip', mediaType: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip' },
    ],
    exec: { Cmd: ['/bin/true'] },
  });
  w.add(w.image(nd), 'nondist');
  const dk = buildImage({
    layers: [{ entries: [{ name: 'docker-layer', data: 'docker media types\n' }], compression: 'gzip', mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip' }],
    exec: { Cmd: ['/bin/true'] },
  });
  // rewrite as a Docker v2 schema 2 manifest
  const dkManifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
    config: { ...dk.configDesc, mediaType: 'application/vnd.docker.container.image.v1+json' },
    layers: dk.layers.map((l) => l.desc),
  }));
  for (const l of dk.layers) w.blob(l.blob);
  w.blob(dk.config);
  const dkd = w.blob(dkManifest);
  const list = w.index([{ mediaType: 'application/vnd.docker.distribution.manifest.v2+json', digest: dkd.digest, size: dkd.size, platform: { os: 'linux', architecture: 'amd64' } }],
    'application/vnd.docker.distribution.manifest.list.v2+json');
  w.add(list, 'docker-types');
  w.finish();

  const archLayout = path.join(dir, '.oci-archive-layout');
  const w2 = new LayoutWriter(archLayout);
  w2.add(w2.image(full), 'full');
  w2.finish();
  tarDir(archLayout, path.join(dir, 'oci-archive.tar'));
  fs.rmSync(archLayout, { recursive: true, force: true });

  const fullPlain = buildImage(fullImage(['none', 'none', 'none']));
  writeDockerArchiveOld(fullPlain, 'test/full:latest', path.join(dir, 'docker-old.tar'), { symlinkLayer: 1 });
  // some producers store gzip-compressed layer.tar files: detected by magic bytes
  writeDockerArchiveOld(fullPlain, 'test/full:latest', path.join(dir, 'docker-old-gzip.tar'), { gzipLayers: true });
  writeDockerArchiveNew(fullImage(), 'test/full:latest', path.join(dir, 'docker-new.tar'));
  return {
    layout: layoutDir,
    ociArchive: path.join(dir, 'oci-archive.tar'),
    dockerOld: path.join(dir, 'docker-old.tar'),
    dockerOldGzip: path.join(dir, 'docker-old-gzip.tar'),
    dockerNew: path.join(dir, 'docker-new.tar'),
  };
}
