// image-spec: an unpacker (ts-img or umoci) applied to OCI image layouts built here, checked against
// layer.md (changesets, whiteouts, opaque directories, hardlinks, attributes), descriptor.md and
// conversion.md (image config -> runtime config.json).
import { spawnSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { rt } from '../container';
import { env, mustSh, sh } from '../env';
import { eq, fail, ok, skip, TestContext, test } from '../harness';

const APPLY = 'image-spec layer.md#applying-changesets';
const WH = 'image-spec layer.md#whiteouts';
const OPQ = 'image-spec layer.md#opaque-whiteout';
const HL = 'image-spec layer.md#hardlinks';
const ATTR = 'image-spec layer.md#file-attributes';
const MT = 'image-spec layer.md#distributable-format (media types)';
const DESC = 'image-spec descriptor.md#digests';
const CONV = 'image-spec conversion.md';

// ---- building OCI image layouts -----------------------------------------------------------

type Entry =
  | { p: string; dir: true; mode?: number; uid?: number; gid?: number }
  | { p: string; file: string | Buffer; mode?: number; uid?: number; gid?: number; mtime?: number; xattr?: [string, string] }
  | { p: string; fifo: true; mode?: number }
  | { p: string; chardev: [number, number]; mode?: number }
  | { p: string; symlink: string }
  | { p: string; hardlink: string }
  | { p: string; whiteout: true }
  | { p: string; opaque: true };

interface ImageOpts {
  config?: Record<string, unknown>;
  top?: Record<string, unknown>;
  compress?: 'gzip' | 'none' | 'zstd';
  nondistributable?: boolean;
  corrupt?: boolean;
}

function sha256(b: Buffer | string): string {
  return crypto.createHash('sha256').update(b).digest('hex');
}

function zstd(b: Buffer): Buffer {
  const r = spawnSync('zstd', ['-q', '-c'], { input: b, maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`zstd: ${String(r.stderr)}`);
  return r.stdout;
}

/** xattrs through python3 (Node has no xattr API and setfattr may be missing). */
function setXattr(p: string, name: string, value: string): void {
  mustSh('python3', ['-c', 'import os,sys; os.setxattr(sys.argv[1], sys.argv[2], sys.argv[3].encode(), follow_symlinks=False)', p, name, value]);
}
function getXattr(p: string, name: string): string | null {
  const r = sh('python3', ['-c', 'import os,sys; sys.stdout.write(os.getxattr(sys.argv[1], sys.argv[2], follow_symlinks=False).decode())', p, name]);
  return r.code === 0 ? r.stdout : null;
}

let seq = 0;
/** Build one layer tar with entries in exactly the given order. */
function buildLayer(dir: string, entries: Entry[]): Buffer {
  const stage = path.join(dir, `stage-${++seq}`);
  fs.mkdirSync(stage);
  const list: string[] = [];
  for (const e of entries) {
    const rel = e.p.replace(/^\/+/, '');
    let full = path.join(stage, rel);
    fs.mkdirSync(path.dirname(full), { recursive: true });
    if ('dir' in e) {
      fs.mkdirSync(full, { recursive: true });
      fs.chmodSync(full, e.mode ?? 0o755);
      fs.chownSync(full, e.uid ?? 0, e.gid ?? 0);
    } else if ('file' in e) {
      fs.writeFileSync(full, e.file);
      fs.chownSync(full, e.uid ?? 0, e.gid ?? 0);
      fs.chmodSync(full, e.mode ?? 0o644);
      if (e.mtime !== undefined) fs.utimesSync(full, e.mtime, e.mtime);
      if (e.xattr) setXattr(full, e.xattr[0], e.xattr[1]);
    } else if ('fifo' in e) {
      mustSh('mkfifo', ['-m', (e.mode ?? 0o644).toString(8), full]);
    } else if ('chardev' in e) {
      mustSh('mknod', ['-m', (e.mode ?? 0o600).toString(8), full, 'c', String(e.chardev[0]), String(e.chardev[1])]);
    } else if ('symlink' in e) {
      fs.symlinkSync(e.symlink, full);
    } else if ('hardlink' in e) {
      fs.linkSync(path.join(stage, e.hardlink.replace(/^\/+/, '')), full);
    } else if ('whiteout' in e) {
      full = path.join(path.dirname(full), '.wh.' + path.basename(full));
      fs.writeFileSync(full, '');
    } else {
      full = path.join(full, '.wh..wh..opq');
      fs.mkdirSync(path.dirname(full), { recursive: true });
      fs.writeFileSync(full, '');
    }
    list.push('./' + path.relative(stage, full));
  }
  const listFile = path.join(dir, `list-${seq}`);
  fs.writeFileSync(listFile, list.join('\n') + '\n');
  const tarFile = path.join(dir, `layer-${seq}.tar`);
  mustSh('tar', ['--numeric-owner', '--no-recursion', '--format=pax', '--xattrs', '--xattrs-include=user.*', '-C', stage, '-cf', tarFile, '-T', listFile]);
  return fs.readFileSync(tarFile);
}

function writeBlob(layout: string, data: Buffer | string): { digest: string; size: number } {
  const buf = Buffer.isBuffer(data) ? data : Buffer.from(data);
  const hex = sha256(buf);
  fs.writeFileSync(path.join(layout, 'blobs/sha256', hex), buf);
  return { digest: `sha256:${hex}`, size: buf.length };
}

/** An OCI image layout with one manifest tagged "test"; returns "LAYOUT:test". */
function buildImage(t: TestContext, layers: Entry[][], o: ImageOpts = {}): string {
  const dir = fs.mkdtempSync(path.join(env.work, 'img-'));
  t.defer(() => sh('rm', ['-rf', dir]));
  const layout = path.join(dir, 'layout');
  fs.mkdirSync(path.join(layout, 'blobs/sha256'), { recursive: true });
  fs.writeFileSync(path.join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const diffIds: string[] = [];
  const layerDescs = layers.map((entries) => {
    const tar = buildLayer(dir, entries);
    diffIds.push(`sha256:${sha256(tar)}`);
    const kind = o.compress ?? 'gzip';
    const blob = kind === 'gzip' ? zlib.gzipSync(tar) : kind === 'zstd' ? zstd(tar) : tar;
    const d = writeBlob(layout, blob);
    const base = o.nondistributable ? 'application/vnd.oci.image.layer.nondistributable.v1.tar' : 'application/vnd.oci.image.layer.v1.tar';
    return { mediaType: kind === 'none' ? base : `${base}+${kind}`, ...d };
  });
  if (o.corrupt && layerDescs.length > 0) {
    const hex = layerDescs[0].digest.slice(7);
    const p = path.join(layout, 'blobs/sha256', hex);
    const b = fs.readFileSync(p);
    // Same size, different bytes: a tampered blob (still a valid gzip stream is not required).
    b[b.length - 1] ^= 0xff;
    fs.writeFileSync(p, b);
  }
  const cfg = {
    created: '2024-01-02T03:04:05Z',
    author: 'Conformance Author',
    architecture: 'amd64',
    os: 'linux',
    config: o.config ?? {},
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: layers.map(() => ({ created: '2024-01-02T03:04:05Z', created_by: 'conformance' })),
    ...(o.top ?? {}),
  };
  const cfgDesc = { mediaType: 'application/vnd.oci.image.config.v1+json', ...writeBlob(layout, JSON.stringify(cfg)) };
  const manifest = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: cfgDesc, layers: layerDescs };
  const mDesc = writeBlob(layout, JSON.stringify(manifest));
  const index = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [{
      mediaType: 'application/vnd.oci.image.manifest.v1+json', ...mDesc,
      platform: { architecture: 'amd64', os: 'linux' },
      annotations: { 'org.opencontainers.image.ref.name': 'test' },
    }],
  };
  fs.writeFileSync(path.join(layout, 'index.json'), JSON.stringify(index));
  return `${layout}:test`;
}

interface Unpacked {
  bundle: string;
  rootfs: string;
  config: Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
}

function unpackerAvailable(): void {
  if (!fs.existsSync(env.unpacker) && !(env.unpackerName === 'umoci' && sh('umoci', ['--version']).code === 0)) {
    skip(`unpacker ${env.unpacker} not found (run with --unpacker umoci to check umoci)`);
  }
}

function tryUnpack(t: TestContext, image: string): { code: number | null; out: string; bundle: string } {
  unpackerAvailable();
  const bundle = path.join(fs.mkdtempSync(path.join(env.work, 'unpacked-')), 'bundle');
  t.defer(() => sh('rm', ['-rf', '--one-file-system', path.dirname(bundle)]));
  const r = sh(env.unpacker, ['unpack', '--image', image, bundle], { timeout: 120_000 });
  return { code: r.code, out: (r.stderr + r.stdout).trim(), bundle };
}

function unpack(t: TestContext, layers: Entry[][], o: ImageOpts = {}): Unpacked {
  const image = buildImage(t, layers, o);
  const r = tryUnpack(t, image);
  if (r.code !== 0) fail(`${env.unpackerName} unpack failed: exit ${r.code}: ${r.out.split('\n').slice(-3).join(' | ')}`);
  const config = JSON.parse(fs.readFileSync(path.join(r.bundle, 'config.json'), 'utf8'));
  const root = config.root?.path ?? 'rootfs';
  return { bundle: r.bundle, rootfs: path.resolve(r.bundle, root), config };
}

function exists(p: string): boolean {
  try {
    fs.lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

const BASE: Entry[] = [{ p: 'etc', dir: true }, { p: 'etc/passwd', file: 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n' },
  { p: 'etc/group', file: 'root:x:0:\nusers:x:100:user\nwheel:x:10:root,user\nuser:x:1000:\n' }];

// ---- layer.md: applying changesets --------------------------------------------------------

test(APPLY, 'a later layer replaces a file of a lower layer', (t) => {
  const u = unpack(t, [[{ p: 'a', dir: true }, { p: 'a/f', file: 'lower' }], [{ p: 'a', dir: true }, { p: 'a/f', file: 'upper' }]]);
  eq(fs.readFileSync(path.join(u.rootfs, 'a/f'), 'utf8'), 'upper', 'a/f');
});

test(APPLY, 'files of lower layers that are not changed are kept', (t) => {
  const u = unpack(t, [[{ p: 'a', dir: true }, { p: 'a/keep', file: 'k' }], [{ p: 'a', dir: true }, { p: 'a/new', file: 'n' }]]);
  ok(exists(path.join(u.rootfs, 'a/keep')) && exists(path.join(u.rootfs, 'a/new')), 'a/keep or a/new missing');
});

test(APPLY, 'a directory entry over an existing directory replaces its attributes, keeps its children', (t) => {
  const u = unpack(t, [[{ p: 'd', dir: true, mode: 0o755 }, { p: 'd/child', file: 'c' }], [{ p: 'd', dir: true, mode: 0o700, uid: 1234, gid: 5678 }]]);
  const st = fs.statSync(path.join(u.rootfs, 'd'));
  eq([st.mode & 0o7777, st.uid, st.gid], [0o700, 1234, 5678], 'mode/uid/gid of d');
  ok(exists(path.join(u.rootfs, 'd/child')), 'd/child was removed');
});

test(APPLY, 'a file entry over a directory removes the directory', (t) => {
  const u = unpack(t, [[{ p: 'x', dir: true }, { p: 'x/inner', file: 'i' }], [{ p: 'x', file: 'now-a-file' }]]);
  eq(fs.readFileSync(path.join(u.rootfs, 'x'), 'utf8'), 'now-a-file', 'x');
});

test(APPLY, 'a directory entry over a file replaces the file', (t) => {
  const u = unpack(t, [[{ p: 'y', file: 'was-a-file' }], [{ p: 'y', dir: true }, { p: 'y/inner', file: 'i' }]]);
  ok(fs.statSync(path.join(u.rootfs, 'y')).isDirectory(), 'y is not a directory');
  ok(exists(path.join(u.rootfs, 'y/inner')), 'y/inner missing');
});

test(APPLY, 'a file entry over a symlink replaces the link (does not write through it)', (t) => {
  const u = unpack(t, [[{ p: 'victim', file: 'original' }, { p: 'link', symlink: 'victim' }], [{ p: 'link', file: 'replacement' }]]);
  ok(!fs.lstatSync(path.join(u.rootfs, 'link')).isSymbolicLink(), 'link is still a symlink');
  eq(fs.readFileSync(path.join(u.rootfs, 'link'), 'utf8'), 'replacement', 'link');
  eq(fs.readFileSync(path.join(u.rootfs, 'victim'), 'utf8'), 'original', 'victim (written through the symlink)');
});

test(APPLY, 'entries never escape the rootfs through a symlinked directory of a lower layer', (t) => {
  const outside = path.join(env.work, `escape-${seq}-${Date.now()}`);
  fs.mkdirSync(outside);
  t.defer(() => sh('rm', ['-rf', outside]));
  const image = buildImage(t, [[{ p: 'esc', symlink: outside }], [{ p: 'esc', dir: true }, { p: 'esc/planted', file: 'x' }]]);
  tryUnpack(t, image);
  ok(!exists(path.join(outside, 'planted')), `a layer wrote ${outside}/planted outside the rootfs`);
});

// ---- whiteouts ----------------------------------------------------------------------------

test(WH, 'a whiteout file removes the file of a lower layer', (t) => {
  const u = unpack(t, [[{ p: 'a', dir: true }, { p: 'a/gone', file: 'g' }, { p: 'a/stay', file: 's' }], [{ p: 'a', dir: true }, { p: 'a/gone', whiteout: true }]]);
  ok(!exists(path.join(u.rootfs, 'a/gone')), 'a/gone still exists');
  ok(exists(path.join(u.rootfs, 'a/stay')), 'a/stay was removed');
});

test(WH, 'a whiteout of a directory removes it with all descendants', (t) => {
  const u = unpack(t, [[{ p: 'tree', dir: true }, { p: 'tree/sub', dir: true }, { p: 'tree/sub/f', file: 'f' }], [{ p: 'tree', whiteout: true }]]);
  ok(!exists(path.join(u.rootfs, 'tree')), 'tree still exists');
});

test(WH, 'the whiteout itself is hidden', (t) => {
  const u = unpack(t, [[{ p: 'a', dir: true }, { p: 'a/gone', file: 'g' }], [{ p: 'a', dir: true }, { p: 'a/gone', whiteout: true }]]);
  ok(!exists(path.join(u.rootfs, 'a/.wh.gone')), 'a/.wh.gone is present in the rootfs');
});

test(WH, 'a whiteout of a path absent from lower layers is harmless and hidden', (t) => {
  const u = unpack(t, [[{ p: 'a', dir: true }], [{ p: 'a', dir: true }, { p: 'a/never-existed', whiteout: true }]]);
  ok(!exists(path.join(u.rootfs, 'a/.wh.never-existed')) && !exists(path.join(u.rootfs, 'a/never-existed')), 'whiteout left traces');
});

test(WH, 'a whiteout does not hide a file of the same layer', (t) => {
  const u = unpack(t, [[{ p: 'a', dir: true }], [{ p: 'a', dir: true }, { p: 'a/same', file: 'kept' }, { p: 'a/same', whiteout: true }]]);
  eq(exists(path.join(u.rootfs, 'a/same')) ? fs.readFileSync(path.join(u.rootfs, 'a/same'), 'utf8') : null, 'kept', 'a/same');
});

test(WH, 'a file can be re-created by a layer above its whiteout', (t) => {
  const u = unpack(t, [[{ p: 'f', file: 'one' }], [{ p: 'f', whiteout: true }], [{ p: 'f', file: 'three' }]]);
  eq(fs.readFileSync(path.join(u.rootfs, 'f'), 'utf8'), 'three', 'f');
});

// ---- opaque whiteouts ---------------------------------------------------------------------

test(OPQ, 'an opaque whiteout hides all children of the lower directory', (t) => {
  const u = unpack(t, [
    [{ p: 'bin', dir: true }, { p: 'bin/one', file: '1' }, { p: 'bin/tools', dir: true }, { p: 'bin/tools/two', file: '2' }],
    [{ p: 'bin', dir: true }, { p: 'bin', opaque: true }],
  ]);
  ok(fs.statSync(path.join(u.rootfs, 'bin')).isDirectory(), 'bin itself was removed');
  eq(fs.readdirSync(path.join(u.rootfs, 'bin')), [], 'children of bin');
});

test(OPQ, 'an opaque whiteout keeps the children added by the same layer, whatever the entry order', (t) => {
  const u = unpack(t, [
    [{ p: 'a', dir: true }, { p: 'a/b', dir: true }, { p: 'a/b/c', dir: true }, { p: 'a/b/c/bar', file: 'old' }],
    // The opaque marker comes after the siblings in the tar: it must still be applied first.
    [{ p: 'a', dir: true }, { p: 'a/b', dir: true }, { p: 'a/b/c', dir: true }, { p: 'a/b/c/foo', file: 'new' }, { p: 'a', opaque: true }],
  ]);
  ok(exists(path.join(u.rootfs, 'a/b/c/foo')), 'a/b/c/foo (same layer) missing');
  ok(!exists(path.join(u.rootfs, 'a/b/c/bar')), 'a/b/c/bar (lower layer) still present');
});

test(OPQ, 'the opaque marker itself is hidden', (t) => {
  const u = unpack(t, [[{ p: 'o', dir: true }, { p: 'o/x', file: 'x' }], [{ p: 'o', dir: true }, { p: 'o', opaque: true }]]);
  ok(!exists(path.join(u.rootfs, 'o/.wh..wh..opq')), 'o/.wh..wh..opq present in the rootfs');
});

// ---- hardlinks ----------------------------------------------------------------------------

test(HL, 'a hardlink in a layer shares the inode of its target', (t) => {
  const u = unpack(t, [[{ p: 'h', dir: true }, { p: 'h/orig', file: 'data' }, { p: 'h/link', hardlink: 'h/orig' }]]);
  const a = fs.statSync(path.join(u.rootfs, 'h/orig'));
  const b = fs.statSync(path.join(u.rootfs, 'h/link'));
  eq(a.ino, b.ino, 'inode of h/link vs h/orig');
  eq(a.nlink, 2, 'link count');
});

test(HL, 'a hardlink across directories keeps content and inode', (t) => {
  const u = unpack(t, [[{ p: 'x', dir: true }, { p: 'y', dir: true }, { p: 'x/f', file: 'shared' }, { p: 'y/g', hardlink: 'x/f' }]]);
  eq(fs.statSync(path.join(u.rootfs, 'y/g')).ino, fs.statSync(path.join(u.rootfs, 'x/f')).ino, 'inode');
  eq(fs.readFileSync(path.join(u.rootfs, 'y/g'), 'utf8'), 'shared', 'content');
});

test(HL, 'whiteout of one name of a hardlinked pair keeps the other', (t) => {
  const u = unpack(t, [[{ p: 'p', file: 'pair' }, { p: 'q', hardlink: 'p' }], [{ p: 'p', whiteout: true }]]);
  ok(!exists(path.join(u.rootfs, 'p')), 'p still exists');
  eq(fs.readFileSync(path.join(u.rootfs, 'q'), 'utf8'), 'pair', 'q');
});

// ---- file attributes ----------------------------------------------------------------------

test(ATTR, 'modes including setuid, setgid and sticky bits are kept', (t) => {
  const u = unpack(t, [[{ p: 's', file: '', mode: 0o4755 }, { p: 'g', file: '', mode: 0o2750 }, { p: 'sticky', dir: true, mode: 0o1777 }, { p: 'plain', file: '', mode: 0o600 }]]);
  const m = (p: string): string => (fs.statSync(path.join(u.rootfs, p)).mode & 0o7777).toString(8);
  eq([m('s'), m('g'), m('sticky'), m('plain')], ['4755', '2750', '1777', '600'], 'modes');
});

test(ATTR, 'numeric uid/gid are kept', (t) => {
  const u = unpack(t, [[{ p: 'owned', file: 'o', uid: 1234, gid: 5678 }, { p: 'odir', dir: true, uid: 4321, gid: 8765 }]]);
  const a = fs.statSync(path.join(u.rootfs, 'owned'));
  const b = fs.statSync(path.join(u.rootfs, 'odir'));
  eq([a.uid, a.gid, b.uid, b.gid], [1234, 5678, 4321, 8765], 'ownership');
});

test(ATTR, 'mtime is kept', (t) => {
  const u = unpack(t, [[{ p: 'old', file: 'o', mtime: 1_000_000_000 }]]);
  eq(Math.floor(fs.statSync(path.join(u.rootfs, 'old')).mtimeMs / 1000), 1_000_000_000, 'mtime');
});

test(ATTR, 'symlinks keep their target verbatim (absolute and relative)', (t) => {
  const u = unpack(t, [[{ p: 'abs', symlink: '/etc/passwd' }, { p: 'rel', symlink: '../up/and/over' }, { p: 'dangling', symlink: 'nowhere' }]]);
  eq([fs.readlinkSync(path.join(u.rootfs, 'abs')), fs.readlinkSync(path.join(u.rootfs, 'rel')), fs.readlinkSync(path.join(u.rootfs, 'dangling'))],
    ['/etc/passwd', '../up/and/over', 'nowhere'], 'link targets');
});

test(ATTR, 'extended attributes (user.*) are kept', (t) => {
  if (sh('python3', ['-c', 'import os; os.setxattr']).code !== 0) skip('python3 with os.setxattr needed to stage xattrs');
  const probe = path.join(env.work, `xattr-probe-${Date.now()}`);
  fs.writeFileSync(probe, '');
  const can = sh('python3', ['-c', 'import os,sys; os.setxattr(sys.argv[1], "user.probe", b"1")', probe]).code === 0;
  fs.rmSync(probe);
  if (!can) skip(`${env.work} does not support user xattrs`);
  const u = unpack(t, [[{ p: 'xf', file: 'x', xattr: ['user.conformance', 'value-1'] }]]);
  eq(getXattr(path.join(u.rootfs, 'xf'), 'user.conformance'), 'value-1', 'user.conformance');
});

test(ATTR, 'FIFOs and character devices are recreated', (t) => {
  const u = unpack(t, [[{ p: 'fifo', fifo: true, mode: 0o640 }, { p: 'cdev', chardev: [1, 3], mode: 0o666 }]]);
  const f = fs.lstatSync(path.join(u.rootfs, 'fifo'));
  const c = fs.lstatSync(path.join(u.rootfs, 'cdev'));
  ok(f.isFIFO(), 'fifo is not a FIFO');
  ok(c.isCharacterDevice(), 'cdev is not a character device');
  eq([(f.mode & 0o777).toString(8), Math.floor(c.rdev / 256), c.rdev % 256], ['640', 1, 3], 'fifo mode and cdev major/minor');
});

// ---- media types / descriptors ------------------------------------------------------------

test(MT, 'uncompressed layers (application/vnd.oci.image.layer.v1.tar)', (t) => {
  const u = unpack(t, [[{ p: 'plain-tar', file: 'ok' }]], { compress: 'none' });
  eq(fs.readFileSync(path.join(u.rootfs, 'plain-tar'), 'utf8'), 'ok', 'content');
});

test(MT, 'gzip layers (application/vnd.oci.image.layer.v1.tar+gzip)', (t) => {
  const u = unpack(t, [[{ p: 'gz', file: 'ok' }]], { compress: 'gzip' });
  eq(fs.readFileSync(path.join(u.rootfs, 'gz'), 'utf8'), 'ok', 'content');
});

test(MT, 'zstd layers (application/vnd.oci.image.layer.v1.tar+zstd)', (t) => {
  if (sh('zstd', ['--version']).code !== 0) skip('zstd not installed on the host (needed to build the layer)');
  const u = unpack(t, [[{ p: 'zst', file: 'ok' }]], { compress: 'zstd' });
  eq(fs.readFileSync(path.join(u.rootfs, 'zst'), 'utf8'), 'ok', 'content');
});

test(MT, 'non-distributable layer media types are still unpacked', (t) => {
  const u = unpack(t, [[{ p: 'nd', file: 'ok' }]], { compress: 'gzip', nondistributable: true });
  eq(fs.readFileSync(path.join(u.rootfs, 'nd'), 'utf8'), 'ok', 'content');
});

test(DESC, 'a blob whose content does not match its digest is rejected (should)', (t) => {
  const image = buildImage(t, [[{ p: 'tampered', file: 'x' }]], { corrupt: true, compress: 'none' });
  const r = tryUnpack(t, image);
  ok(r.code !== 0, 'a layer with a wrong digest was unpacked without error');
});

// ---- conversion.md ------------------------------------------------------------------------

test(CONV, 'Config.WorkingDir -> process.cwd', (t) => {
  eq(unpack(t, [BASE], { config: { WorkingDir: '/srv/app' } }).config.process?.cwd, '/srv/app', 'process.cwd');
});

test(CONV, 'Config.Env -> process.env (every entry, no entry redefined)', (t) => {
  const Env = ['PATH=/custom/bin:/bin', 'CONF_A=alpha', 'CONF_EMPTY='];
  const got: string[] = unpack(t, [BASE], { config: { Env } }).config.process?.env ?? [];
  for (const e of Env) ok(got.includes(e), `${e} missing from process.env ${JSON.stringify(got)}`);
  const names = Env.map((e) => e.split('=')[0]);
  const dup = got.filter((e) => names.includes(e.split('=')[0]) && !Env.includes(e));
  ok(dup.length === 0, `converter redefined image variables: ${dup.join(' ')}`);
});

test(CONV, 'Config.Entrypoint + Config.Cmd -> process.args (Cmd appended)', (t) => {
  eq(unpack(t, [BASE], { config: { Entrypoint: ['/bin/ep', '--flag'], Cmd: ['arg1', 'arg 2'] } }).config.process?.args, ['/bin/ep', '--flag', 'arg1', 'arg 2'], 'process.args');
});

test(CONV, 'Config.Cmd alone -> process.args', (t) => {
  eq(unpack(t, [BASE], { config: { Cmd: ['/bin/sh', '-c', 'echo hi'] } }).config.process?.args, ['/bin/sh', '-c', 'echo hi'], 'process.args');
});

test(CONV, 'Config.Entrypoint alone -> process.args', (t) => {
  eq(unpack(t, [BASE], { config: { Entrypoint: ['/bin/only-ep'] } }).config.process?.args, ['/bin/only-ep'], 'process.args');
});

test(CONV, 'Config.User numeric uid:gid -> process.user.uid/gid verbatim', (t) => {
  const u = unpack(t, [BASE], { config: { User: '4321:8765' } }).config.process?.user ?? {};
  eq([u.uid, u.gid], [4321, 8765], 'uid/gid');
});

test(CONV, 'Config.User numeric uid only: additionalGids not derived (should not)', (t) => {
  const u = unpack(t, [BASE], { config: { User: '1000' } }).config.process?.user ?? {};
  eq(u.uid, 1000, 'uid');
  ok(!u.additionalGids || u.additionalGids.length === 0 || (u.additionalGids.length === 1 && u.additionalGids[0] === u.gid),
    `additionalGids set for a numeric user: ${JSON.stringify(u.additionalGids)}`);
});

test(CONV, 'Config.User name -> uid/gid from the rootfs /etc/passwd (should)', (t) => {
  const u = unpack(t, [BASE], { config: { User: 'user' } }).config.process?.user ?? {};
  eq([u.uid, u.gid], [1000, 1000], 'uid/gid of "user"');
});

test(CONV, 'Config.User name -> additionalGids from /etc/group (should)', (t) => {
  const u = unpack(t, [BASE], { config: { User: 'user' } }).config.process?.user ?? {};
  const g: number[] = u.additionalGids ?? [];
  ok(g.includes(100) && g.includes(10), `additionalGids ${JSON.stringify(g)} lack the groups users(100) and wheel(10)`);
});

test(CONV, 'Config.User name:group -> gid of the named group', (t) => {
  const u = unpack(t, [BASE], { config: { User: 'user:wheel' } }).config.process?.user ?? {};
  eq([u.uid, u.gid], [1000, 10], 'uid/gid of "user:wheel"');
});

test(CONV, 'Config.User that does not exist in the container is an error', (t) => {
  const image = buildImage(t, [BASE], { config: { User: 'no-such-user' } });
  const r = tryUnpack(t, image);
  ok(r.code !== 0, 'unpack succeeded for an unknown user');
});

test(CONV, 'os and architecture -> org.opencontainers.image.os / .architecture annotations', (t) => {
  const a = unpack(t, [BASE]).config.annotations ?? {};
  eq([a['org.opencontainers.image.os'], a['org.opencontainers.image.architecture']], ['linux', 'amd64'], 'annotations');
});

test(CONV, 'author and created -> org.opencontainers.image.author / .created annotations', (t) => {
  const a = unpack(t, [BASE]).config.annotations ?? {};
  eq([a['org.opencontainers.image.author'], a['org.opencontainers.image.created']], ['Conformance Author', '2024-01-02T03:04:05Z'], 'annotations');
});

test(CONV, 'Config.StopSignal -> org.opencontainers.image.stopSignal annotation', (t) => {
  const a = unpack(t, [BASE], { config: { StopSignal: 'SIGQUIT' } }).config.annotations ?? {};
  eq(a['org.opencontainers.image.stopSignal'], 'SIGQUIT', 'annotation');
});

test(CONV, 'variant, os.version and os.features -> annotations', (t) => {
  const a = unpack(t, [BASE], { top: { variant: 'v2', 'os.version': '6.1', 'os.features': ['feat'] } }).config.annotations ?? {};
  eq([a['org.opencontainers.image.variant'], a['org.opencontainers.image.os.version']], ['v2', '6.1'], 'variant / os.version annotations');
  ok(typeof a['org.opencontainers.image.os.features'] === 'string' && a['org.opencontainers.image.os.features'].includes('feat'),
    `os.features annotation: ${JSON.stringify(a['org.opencontainers.image.os.features'])}`);
});

test(CONV, 'Config.Labels -> annotations, unchanged', (t) => {
  const Labels = { 'com.example.label': 'value with spaces', 'com.example.empty': '' };
  const a = unpack(t, [BASE], { config: { Labels } }).config.annotations ?? {};
  eq([a['com.example.label'], a['com.example.empty']], ['value with spaces', ''], 'annotations');
});

test(CONV, 'Config.Labels take precedence over implicit annotations', (t) => {
  const a = unpack(t, [BASE], { config: { Labels: { 'org.opencontainers.image.author': 'label-author' } } }).config.annotations ?? {};
  eq(a['org.opencontainers.image.author'], 'label-author', 'org.opencontainers.image.author');
});

test(CONV, 'Config.ExposedPorts -> org.opencontainers.image.exposedPorts (should)', (t) => {
  const a = unpack(t, [BASE], { config: { ExposedPorts: { '80/tcp': {}, '53/udp': {} } } }).config.annotations ?? {};
  const v = String(a['org.opencontainers.image.exposedPorts'] ?? '');
  eq(v.split(',').sort(), ['53/udp', '80/tcp'], 'exposedPorts annotation');
});

test(CONV, 'Config.Volumes -> mounts with that destination (should)', (t) => {
  const m: { destination: string }[] = unpack(t, [BASE], { config: { Volumes: { '/data': {} } } }).config.mounts ?? [];
  ok(m.some((x) => x.destination === '/data'), `no mount at /data: ${JSON.stringify(m.map((x) => x.destination))}`);
});

test('image-spec conversion.md + runtime', 'an unpacked busybox image runs with the runtime under test', (t) => {
  const bb = ['/bin/busybox', '/usr/bin/busybox'].find((p) => fs.existsSync(p));
  if (!bb) skip('no busybox');
  const layer: Entry[] = [...BASE, { p: 'bin', dir: true }, { p: 'bin/busybox', file: fs.readFileSync(bb), mode: 0o755 },
    { p: 'bin/sh', symlink: 'busybox' }, { p: 'bin/echo', symlink: 'busybox' },
    { p: 'proc', dir: true }, { p: 'sys', dir: true }, { p: 'dev', dir: true }, { p: 'tmp', dir: true, mode: 0o1777 }];
  const image = buildImage(t, [layer], {
    config: { Entrypoint: ['/bin/sh', '-c'], Cmd: ['echo "from-image $GREETING"'], Env: ['PATH=/bin', 'GREETING=hello'], WorkingDir: '/tmp' },
  });
  const r = tryUnpack(t, image);
  if (r.code !== 0) fail(`unpack failed: ${r.out}`);
  const cfgPath = path.join(r.bundle, 'config.json');
  const cfg = JSON.parse(fs.readFileSync(cfgPath, 'utf8'));
  cfg.process.terminal = false;
  fs.writeFileSync(cfgPath, JSON.stringify(cfg));
  const id = `img-${seq}-${Date.now()}`;
  t.defer(() => rt(['delete', '-f', id]));
  const out = fs.openSync(path.join(path.dirname(r.bundle), 'out'), 'w');
  const res = rt(['run', '--bundle', r.bundle, id], { stdout: out, stderr: out });
  fs.closeSync(out);
  const text = fs.readFileSync(path.join(path.dirname(r.bundle), 'out'), 'utf8');
  ok(res.code === 0, `run of the unpacked bundle failed: exit ${res.code}: ${text.trim()}`);
  eq(text.trim(), 'from-image hello', 'output');
});
