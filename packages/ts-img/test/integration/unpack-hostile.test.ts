import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { unpack } from '../../src';
import { buildImage, BuiltImage, ImageSpec, writeTaggedLayout, sha256 } from '../../src/testing/images';
import { tarBuffer, WEntry } from '../../src/testing/tarwriter';
import { dumpTree, rmrf, tmpdir } from '../helpers';

// Integration tests unpack real images; a busy 2-core machine needs more than jest's 5 s default.
jest.setTimeout(120000);

/**
 * Hostile layers and images. Each must either fail or stay inside the rootfs; a canary directory
 * next to the bundle (and reachable by absolute or relative symlinks) must stay untouched, and a
 * failed unpack must leave neither the bundle nor a temporary directory behind.
 */

// created at load time: the case table below embeds the canary's absolute path
const base = tmpdir('ts-img-hostile-');
const canaryDir = path.join(base, 'canary');
let snapshot: string;
let k = 0;

function snap(): string {
  const t = dumpTree(canaryDir);
  const top = fs.readdirSync(base).filter((x) => !x.startsWith('img-') && !x.startsWith('bundle-')).sort();
  return JSON.stringify({ top, t, canary: fs.readFileSync(path.join(canaryDir, 'canary'), 'utf8') });
}

beforeAll(() => {
  fs.mkdirSync(path.join(canaryDir, 'sub'), { recursive: true });
  fs.writeFileSync(path.join(canaryDir, 'canary'), 'canary\n', { mode: 0o644 });
  fs.utimesSync(path.join(canaryDir, 'canary'), 1000, 1000);
  fs.utimesSync(path.join(canaryDir, 'sub'), 1000, 1000);
  fs.utimesSync(canaryDir, 1000, 1000);
  snapshot = snap();
});
afterAll(() => rmrf(base));

function manifestOf(img: BuiltImage): any {
  return JSON.parse(img.manifest.toString());
}
function setManifest(img: BuiltImage, m: any): void {
  img.manifest = Buffer.from(JSON.stringify(m));
  img.manifestDesc = { ...img.manifestDesc, digest: sha256(img.manifest), size: img.manifest.length };
}
function setConfig(img: BuiltImage, c: any): void {
  img.config = Buffer.from(JSON.stringify(c));
  img.configDesc = { ...img.configDesc, digest: sha256(img.config), size: img.config.length };
  const m = manifestOf(img);
  m.config = img.configDesc;
  setManifest(img, m);
}

interface Case {
  name: string;
  layers?: WEntry[][];
  spec?: Partial<ImageSpec>;
  tamper?: (img: BuiltImage) => void;
  /** Write index.json yourself (gets the layout dir and the manifest descriptor). */
  index?: (dir: string, img: BuiltImage) => void;
  expect: RegExp | 'ok' | 'any';
  check?: (rootfs: string) => void;
  opts?: Record<string, unknown>;
}

const C = (): string => canaryDir;
const rel = (): string => '../../../../../../../../../../..' + canaryDir;
const outsideMustNotExist = (p: string) => () => expect(fs.existsSync(path.join(base, p))).toBe(false);

const evilBlob = zlib.gzipSync(tarBuffer([{ name: 'evil', data: 'evil' }]));
const inRoot = (): WEntry[] => [{ name: C().slice(1) + '/', type: 'dir' }];

const cases: Case[] = [
  { name: 'absolute entry name', layers: [[{ name: '/evil', data: 'x' }]], expect: /absolute path/ },
  { name: 'absolute entry name pointing at the canary', layers: [[{ name: `${'/'}${C().slice(1)}/canary`, data: 'pwned' }]], expect: /absolute path/ },
  { name: '../ entry name', layers: [[{ name: '../evil', data: 'x' }]], expect: /"\.\." in path/ },
  { name: 'deep ../ entry name', layers: [[{ name: 'a/b/../../../evil', data: 'x' }]], expect: /"\.\." in path/ },
  { name: '../ in a PAX path record', layers: [[{ name: 'innocent', data: 'x', pax: { path: '../../evil' } }]], expect: /"\.\." in path/ },
  { name: 'long absolute name (PAX)', layers: [[{ name: '/' + 'a'.repeat(150), data: 'x' }]], expect: /absolute path/ },
  {
    // as umoci: the dangling link is followed inside the rootfs and its target dirs created there
    name: 'write through an absolute symlink to the canary dir (dangling inside the rootfs)', expect: 'ok',
    layers: [[{ name: 'link', type: 'symlink', linkname: C() }, { name: 'link/pwned', data: 'pwned' }]],
    check: (r) => expect(fs.readFileSync(path.join(r, C(), 'pwned'), 'utf8')).toBe('pwned'),
  },
  {
    name: 'write through a dangling relative ../ symlink creates its target inside the rootfs', expect: 'ok',
    layers: [[{ name: 'var/', type: 'dir' }, { name: 'var/lock', type: 'symlink', linkname: '../../../../../../run/lock' }, { name: 'var/lock/subsys/x', data: 'x' }]],
    check: (r) => expect(fs.readFileSync(path.join(r, 'run/lock/subsys/x'), 'utf8')).toBe('x'),
  },
  {
    name: 'write through an absolute symlink to the canary dir (that path exists in the rootfs)', expect: 'ok',
    layers: [[...inRoot(), { name: 'link', type: 'symlink', linkname: C() }, { name: 'link/pwned', data: 'pwned' }]],
    check: (r) => expect(fs.readFileSync(path.join(r, C(), 'pwned'), 'utf8')).toBe('pwned'),
  },
  {
    name: 'write through a relative ../../ symlink', expect: 'ok',
    layers: [[...inRoot(), { name: 'd/link', type: 'symlink', linkname: rel() }, { name: 'd/link/pwned', data: 'pwned' }]],
    check: (r) => expect(fs.readFileSync(path.join(r, C(), 'pwned'), 'utf8')).toBe('pwned'),
  },
  {
    name: 'write through a symlink in a later layer', expect: 'ok',
    layers: [[...inRoot(), { name: 'link', type: 'symlink', linkname: C() }], [{ name: 'link/canary', data: 'pwned' }]],
    check: (r) => expect(fs.readFileSync(path.join(r, C(), 'canary'), 'utf8')).toBe('pwned'),
  },
  {
    name: 'overwrite a file entry that is a symlink to the canary file', expect: 'ok',
    layers: [[{ name: 'f', type: 'symlink', linkname: C() + '/canary' }], [{ name: 'f', data: 'overwritten' }]],
    check: (r) => expect(fs.lstatSync(path.join(r, 'f')).isFile()).toBe(true),
  },
  { name: 'hardlink through a symlink to the canary', layers: [[{ name: 'sl', type: 'symlink', linkname: C() }, { name: 'hl', type: 'link', linkname: 'sl/canary' }]], expect: /does not exist/ },
  {
    name: 'hardlink to a lower file since replaced by a symlink to the canary links the symlink, not the canary', expect: 'ok',
    layers: [[{ name: 'f', data: 'x' }], [{ name: 'f', type: 'symlink', linkname: C() + '/canary' }, { name: 'h', type: 'link', linkname: 'f' }, { name: 'h', data: 'overwrite h' }]],
    check: (r) => expect(fs.readlinkSync(path.join(r, 'f'))).toBe(C() + '/canary'),
  },
  { name: 'hardlink with an absolute target', layers: [[{ name: 'hl', type: 'link', linkname: C() + '/canary' }]], expect: /absolute path/ },
  { name: 'hardlink with a ../ target', layers: [[{ name: 'hl', type: 'link', linkname: '../../canary/canary' }]], expect: /"\.\." in path/ },
  { name: 'hardlink to a directory', layers: [[{ name: 'd/', type: 'dir' }, { name: 'hl', type: 'link', linkname: 'd' }]], expect: /directory|not linkable/ },
  { name: 'root "." replaced by a symlink (CVE-2021-29136)', layers: [[{ name: '.', type: 'symlink', linkname: C() }, { name: 'pwned', data: 'x' }]], expect: /root of a layer must be a directory/ },
  { name: 'root "./" replaced by a file', layers: [[{ name: './', data: 'x' }]], expect: /root of a layer must be a directory/ },
  { name: 'whiteout of ".."', layers: [[{ name: 'a/', type: 'dir' }], [{ name: 'a/.wh..' }]], expect: /invalid whiteout/ },
  { name: 'whiteout of "." at the top', layers: [[{ name: '.wh..' }]], expect: /invalid whiteout/ },
  { name: 'empty whiteout', layers: [[{ name: '.wh.' }]], expect: /invalid whiteout/ },
  {
    name: 'whiteout through a symlinked dir', expect: 'ok',
    layers: [[{ name: 'sl', type: 'symlink', linkname: C() }], [{ name: 'sl/.wh.canary' }, { name: 'sl/.wh.sub' }]],
  },
  {
    name: 'opaque marker through a symlinked dir', expect: 'any',
    layers: [[{ name: 'sl', type: 'symlink', linkname: C() }], [{ name: 'sl/.wh..wh..opq' }]],
  },
  {
    name: 'chmod/chown/xattr/mtime on a symlink to the canary (CVE-2021-32760)', expect: 'ok',
    layers: [[{ name: 'sl', type: 'symlink', linkname: C() + '/canary', mode: 0o777, uid: 1234, gid: 1234, mtime: 5, xattrs: { 'user.evil': 'x' } }]],
    check: (r) => expect(fs.lstatSync(path.join(r, 'sl')).uid).toBe(1234),
  },
  {
    name: 'dir entry over a symlink to the canary dir replaces the link', expect: 'ok',
    layers: [[{ name: 'sl', type: 'symlink', linkname: C() }], [{ name: 'sl/', type: 'dir', mode: 0o700, uid: 1234 }]],
    check: (r) => expect(fs.lstatSync(path.join(r, 'sl')).isDirectory()).toBe(true),
  },
  {
    name: 'device node and fifo entries named like host paths stay inside', expect: 'ok',
    layers: [[{ name: 'dev/sda', type: 'block', devmajor: 8, devminor: 0 }, { name: C().slice(1) + '/fifo', type: 'fifo' }]],
    check: outsideMustNotExist('canary/fifo'),
  },
  { name: 'a parent that is a regular file', layers: [[{ name: 'f', data: 'x' }, { name: 'f/x', data: 'y' }]], expect: /not a directory|ENOTDIR/ },
  { name: 'symlink loop as a parent', layers: [[{ name: 'a', type: 'symlink', linkname: 'b' }, { name: 'b', type: 'symlink', linkname: 'a' }, { name: 'a/x', data: 'y' }]], expect: /ELOOP|too many levels of symbolic links/ },
  {
    name: 'magic link /proc/self/root in a symlink', expect: 'any',
    layers: [[{ name: 'm', type: 'symlink', linkname: '/proc/self/root' + C() }, { name: 'm/pwned', data: 'x' }]],
  },
  {
    name: "image /etc/passwd is a symlink to the host's: User not resolved from the host", expect: /no user "daemon"/,
    layers: [[{ name: 'etc/passwd', type: 'symlink', linkname: '../../../../../../../../etc/passwd' }]],
    spec: { exec: { User: 'daemon' } },
  },
  {
    name: "image /etc/group is a symlink to the host's", expect: /no group "daemon"/,
    layers: [[{ name: 'etc/passwd', data: 'root:x:0:0::/:/bin/sh\n' }, { name: 'etc/group', type: 'symlink', linkname: '/../../../etc/group' }]],
    spec: { exec: { User: 'root:daemon' } },
  },
  {
    name: '/etc/passwd is a fifo (must not block)', expect: /not a regular file/,
    layers: [[{ name: 'etc/passwd', type: 'fifo' }]], spec: { exec: { User: 'someone' } },
  },
  { name: 'Volumes path escaping the rootfs (CVE-2022-23648)', layers: [[{ name: 'x', data: 'x' }]], spec: { exec: { Volumes: { '/../../../etc': {} } } }, expect: /Config.Volumes/ },
  {
    name: 'layer digest that is a path (CVE-2024-3727)', layers: [[{ name: 'x', data: 'x' }]], expect: /invalid digest/,
    tamper: (img) => { const m = manifestOf(img); m.layers[0].digest = 'sha256:../../../../../../etc/passwd'; setManifest(img, m); },
  },
  {
    name: 'config digest that is a path', layers: [[{ name: 'x', data: 'x' }]], expect: /invalid digest/,
    tamper: (img) => { const m = manifestOf(img); m.config.digest = 'sha256:../../canary/canary'; setManifest(img, m); },
  },
  {
    name: 'index.json digest that is a path', layers: [[{ name: 'x', data: 'x' }]], expect: /invalid digest/,
    index: (dir) => fs.writeFileSync(path.join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: 'sha256:../../../x', size: 1 }] })),
  },
  {
    name: 'layer blob content does not match its digest', layers: [[{ name: 'x', data: 'x' }]], expect: /digest mismatch/,
    tamper: (img) => { const m = manifestOf(img); m.layers[0].size = evilBlob.length; setManifest(img, m); },
    index: (dir, img) => fs.writeFileSync(path.join(dir, 'blobs/sha256', img.layers[0].desc.digest.slice(7)), evilBlob),
  },
  {
    name: 'diff_id mismatch', layers: [[{ name: 'x', data: 'x' }]], expect: /diff_id mismatch/,
    tamper: (img) => { const c = JSON.parse(img.config.toString()); c.rootfs.diff_ids[0] = 'sha256:' + 'e'.repeat(64); setConfig(img, c); },
  },
  {
    name: 'descriptor size smaller than the blob', layers: [[{ name: 'x', data: 'x' }]], expect: /larger than its descriptor size|size mismatch/,
    tamper: (img) => { const m = manifestOf(img); m.layers[0].size -= 10; setManifest(img, m); },
  },
  {
    name: 'fewer diff_ids than layers', layers: [[{ name: 'x', data: 'x' }], [{ name: 'y', data: 'y' }]], expect: /diff_ids/,
    tamper: (img) => { const c = JSON.parse(img.config.toString()); c.rootfs.diff_ids.pop(); setConfig(img, c); },
  },
  {
    name: 'gzip bomb', expect: /decompression bomb/, opts: { maxLayerBytes: 8 << 20 },
    layers: [[{ name: 'zeros', data: Buffer.alloc(64 << 20) }]],
  },
  {
    name: 'gzip media type on a blob that is not gzip', expect: /^layer 1\/1 \(sha256:[0-9a-f]{64}\): media type \S+\+gzip declares gzip, but the blob is not compressed$/,
    spec: { layers: [{ entries: [{ name: 'x', data: 'x' }], compression: 'none', mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' }] },
  },
  {
    name: 'zstd media type on a blob that is not zstd', expect: /^layer 1\/1 \(sha256:[0-9a-f]{64}\): media type \S+\+zstd declares zstd, but the blob is not compressed$/,
    spec: { layers: [{ entries: [{ name: 'x', data: 'x' }], compression: 'none', mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd' }] },
  },
  // #16 item 5: the magic bytes must match the declared media type
  {
    name: 'zstd media type on a gzip blob', expect: /^layer 1\/1 \(sha256:[0-9a-f]{64}\): media type \S+\+zstd declares zstd, but the blob is gzip-compressed$/,
    spec: { layers: [{ entries: [{ name: 'x', data: 'x' }], compression: 'gzip', mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd' }] },
  },
  {
    name: 'zstd media type on an xz blob', expect: /^layer 1\/1 \(sha256:[0-9a-f]{64}\): media type \S+\+zstd declares zstd, but the blob is xz-compressed$/,
    spec: { layers: [{ tar: Buffer.concat([Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]), Buffer.alloc(64)]), compression: 'none', mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd' }] },
  },
  {
    name: 'uncompressed tar media type on a gzip blob', expect: /^layer 1\/1 \(sha256:[0-9a-f]{64}\): media type \S+\.tar declares uncompressed, but the blob is gzip-compressed$/,
    spec: { layers: [{ entries: [{ name: 'x', data: 'x' }], compression: 'gzip', mediaType: 'application/vnd.oci.image.layer.v1.tar' }] },
  },
  {
    name: 'gzip media type on a zstd blob', expect: /^layer 1\/1 \(sha256:[0-9a-f]{64}\): media type \S+\+gzip declares gzip, but the blob is zstd-compressed$/,
    spec: { layers: [{ entries: [{ name: 'x', data: 'x' }], compression: 'zstd', mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' }] },
  },
  {
    name: 'unknown layer media type', expect: /unsupported layer media type/,
    spec: { layers: [{ entries: [{ name: 'x', data: 'x' }], compression: 'gzip', mediaType: 'application/x-evil' }] },
  },
  { name: 'truncated tar stream', expect: /unexpected end of archive/, spec: { layers: [{ tar: tarBuffer([{ name: 'big', data: Buffer.alloc(4096, 1) }]).subarray(0, 2048), compression: 'gzip' }] } },
  {
    name: 'dir replaced by a symlink within one layer, then written through (node-tar CVE-2021-32803)', expect: 'ok',
    layers: [[...inRoot(), { name: 'a/', type: 'dir' }, { name: 'a/x', data: 'x' }, { name: 'a', type: 'symlink', linkname: C() }, { name: 'a/y', data: 'y' }]],
    check: (r) => {
      expect(fs.readFileSync(path.join(r, C(), 'y'), 'utf8')).toBe('y');
      expect(fs.readlinkSync(path.join(r, 'a'))).toBe(C());
    },
  },
  {
    name: 'the same with the symlink dangling inside the rootfs', expect: 'ok',
    layers: [[{ name: 'a/', type: 'dir' }, { name: 'a/x', data: 'x' }, { name: 'a', type: 'symlink', linkname: C() }, { name: 'a/y', data: 'y' }]],
    check: (r) => expect(fs.readFileSync(path.join(r, C(), 'y'), 'utf8')).toBe('y'),
  },
  { name: 'oversized PAX header', layers: [[{ name: 'x', data: 'x', pax: { comment: 'c'.repeat(2 << 20) } }]], expect: /too large/ },
  { name: 'whiteout name used as a parent directory', layers: [[{ name: '.wh.x/y', data: 'y' }]], expect: /whiteout name used as a directory/ },
];

describe('hostile layers', () => {
  test('the corpus has at least 20 cases', () => expect(cases.length).toBeGreaterThanOrEqual(20));

  test.each(cases.map((c) => [c.name, c]))('%s', async (_n, c) => {
    const dir = path.join(base, `img-${++k}`);
    const img = buildImage({ layers: (c.layers ?? []).map((entries) => ({ entries })), ...(c.spec ?? {}) });
    c.tamper?.(img);
    writeTaggedLayout(dir, img);
    c.index?.(dir, img);
    const b = path.join(base, `bundle-${k}`);
    let err: Error | undefined;
    try {
      await unpack(`${dir}:x`, b, { quiet: true, warn: () => {}, workerMinBytes: 0, ...(c.opts ?? {}) });
    } catch (e) {
      err = e as Error;
    }
    if (c.expect instanceof RegExp) {
      expect(err?.message).toMatch(c.expect);
      expect(fs.existsSync(b)).toBe(false);
      // the main-thread (stream) decompression path must refuse it just the same
      let err2: Error | undefined;
      try {
        await unpack(`${dir}:x`, b, { quiet: true, warn: () => {}, ...(c.opts ?? {}), noWorkers: true });
      } catch (e) {
        err2 = e as Error;
      }
      expect(err2?.message).toMatch(c.expect);
      expect(fs.existsSync(b)).toBe(false);
    } else if (c.expect === 'ok') {
      expect(err).toBeUndefined();
      c.check?.(path.join(b, 'rootfs'));
    }
    expect(fs.readdirSync(base).filter((x) => x.includes('.ts-img-'))).toEqual([]);
    expect(snap()).toBe(snapshot);
    rmrf(b);
    rmrf(dir);
  });
});
