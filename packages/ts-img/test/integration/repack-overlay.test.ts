/**
 * repack of an overlay bundle: the new layer is the upper dir alone, and a flat unpack of the
 * result is the tree the container saw through the overlay mount. The bundle is made by hand
 * (testing/overlay-bundle.ts): the image flat-unpacked as the lower dir, the overlay mounted
 * with ts-img's options.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { libc } from '@tsrt/libc';
import type { ImageConfig } from '@tsrt/oci-spec';
import { unpack } from '../../src';
import { Layout } from '../../src/store/layout';
import { loadImage } from '../../src/store/image';
import { layerHeaders } from '../../src/archive/flatten';
import { repack, readOrigin } from '../../src/repack/repack';
import { OVERLAY_FILE } from '../../src/bundle/overlay-meta';
import { buildImage, writeTaggedLayout } from '../../src/testing/images';
import { HandOverlayBundle, handOverlayBundle } from '../../src/testing/overlay-bundle';
import type { WEntry } from '../../src/testing/tarwriter';
import { rmrf, tmpdir } from '../helpers';

jest.setTimeout(120000);
const BIN = path.resolve(__dirname, '../../../bin/ts-img');
const run = promisify(execFile);

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(BIN, [...args]);
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e: any) {
    return { code: e.code ?? 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** A byte name below `root` (latin1 byte string) as a Node path. */
const at = (root: string, rel: string): Buffer => Buffer.concat([Buffer.from(root), Buffer.from(rel ? `/${rel}` : '', 'latin1')]);

interface Seen {
  type: string;
  mode: number;
  owner: string;
  size: number;
  mtime: number;
  sha?: string;
  link?: string;
  rdev?: number;
  xattrs: Record<string, string>;
  /** the other names of a hardlinked file */
  links?: string[];
}

/**
 * Everything a container can see of a tree, by lstat (byte names, never following links): mtimes
 * in whole seconds (what a tar keeps); nlink left out, as overlayfs shows a copied-up lower
 * hardlink's old count, but who shares an inode is compared.
 */
function view(root: string): Record<string, Seen> {
  const out: Record<string, Seen> = {};
  const inodes = new Map<number, string[]>();
  const visit = (rel: string): void => {
    const p = at(root, rel);
    const st = fs.lstatSync(p);
    const type = st.isDirectory() ? 'dir' : st.isFile() ? 'file' : st.isSymbolicLink() ? 'symlink' : st.isCharacterDevice() ? 'char' : st.isFIFO() ? 'fifo' : 'other';
    const xattrs: Record<string, string> = {};
    for (const k of libc().llistxattr(Buffer.concat([p, Buffer.alloc(1)]))) {
      if (k !== 'security.selinux') xattrs[k] = libc().lgetxattr(Buffer.concat([p, Buffer.alloc(1)]), k).toString('hex');
    }
    const s: Seen = { type, mode: st.mode & 0o7777, owner: `${st.uid}:${st.gid}`, size: type === 'file' ? st.size : 0, mtime: Math.floor(st.mtimeMs / 1000), xattrs };
    if (type === 'file') {
      s.sha = createHash('sha256').update(fs.readFileSync(p)).digest('hex');
      inodes.set(st.ino, [...(inodes.get(st.ino) ?? []), rel]);
    }
    if (type === 'symlink') s.link = (fs.readlinkSync(p, { encoding: 'buffer' }) as Buffer).toString('latin1');
    if (type === 'char') s.rdev = st.rdev;
    out[rel] = s;
    if (type === 'dir') for (const n of (fs.readdirSync(p, { encoding: 'buffer' }) as Buffer[]).map((b) => b.toString('latin1')).sort()) visit(rel ? `${rel}/${n}` : n);
  };
  visit('');
  for (const names of inodes.values()) if (names.length > 1) for (const n of names) out[n].links = names.filter((x) => x !== n);
  return out;
}

const T0 = 1600000000;
const bigData = Buffer.alloc(4 << 20, 'big unchanged lower file ');
const BASE: WEntry[][] = [
  [
    { name: './', type: 'dir', mtime: T0 },
    { name: 'etc/', type: 'dir', mtime: T0 },
    { name: 'etc/keep', data: 'keep', mtime: T0 },
    { name: 'etc/change', data: 'old', mtime: T0 },
    { name: 'etc/remove', data: 'bye', mtime: T0 },
    { name: 'etc/mode', data: 'm', mode: 0o644, mtime: T0 },
    { name: 'etc/owner', data: 'o', mtime: T0 },
    { name: 'etc/xattr', data: 'x', mtime: T0, xattrs: { 'user.old': '1', 'user.stay': '2' } },
    { name: 'etc/touch', data: 't', mtime: T0 },
    { name: 'gone/', type: 'dir', mtime: T0 },
    { name: 'gone/a', data: 'a', mtime: T0 },
    { name: 'gone/sub/', type: 'dir', mtime: T0 },
    { name: 'gone/sub/b', data: 'b', mtime: T0 },
    { name: 'd2f/', type: 'dir', mtime: T0 },
    { name: 'd2f/x', data: 'x', mtime: T0 },
    { name: 'f2d', data: 'file', mtime: T0 },
    { name: 'opq/', type: 'dir', mtime: T0 },
    { name: 'opq/old1', data: 'old1', mtime: T0 },
    { name: 'opq/sub/', type: 'dir', mtime: T0 },
    { name: 'opq/sub/old3', data: 'old3', mtime: T0 },
    { name: 'big', data: bigData, mtime: T0 },
    { name: 'hl1', data: 'shared', mtime: T0 },
    { name: 'hl2', type: 'link', linkname: 'hl1', mtime: T0 },
    { name: 'lnk', type: 'symlink', linkname: 'a', mtime: T0 },
    { name: 'srv/', type: 'dir', mtime: T0 },
    { name: 'srv/deep/', type: 'dir', mtime: T0 },
    { name: 'srv/deep/file', data: 'deep', mtime: T0 },
  ],
  [{ name: 'etc/layer2', data: 'two', mtime: T0 }],
];

/** The container's changes, made through the mount. */
function change(m: string): void {
  const w = (rel: string, data: string, mode?: number) => fs.writeFileSync(`${m}/${rel}`, data, mode === undefined ? {} : { mode });
  fs.mkdirSync(`${m}/new`);
  w('new/file', 'new', 0o640);
  w('etc/change', 'new content');
  fs.chmodSync(`${m}/etc/mode`, 0o600);
  fs.chownSync(`${m}/etc/owner`, 1234, 5678);
  fs.rmSync(`${m}/etc/remove`);
  fs.rmSync(`${m}/gone`, { recursive: true });
  fs.rmSync(`${m}/d2f`, { recursive: true });
  w('d2f', 'now a file');
  fs.rmSync(`${m}/f2d`);
  fs.mkdirSync(`${m}/f2d`);
  w('f2d/inner', 'inner');
  fs.rmSync(`${m}/opq`, { recursive: true });
  fs.mkdirSync(`${m}/opq/sub`, { recursive: true });
  w('opq/new', 'new');
  w('opq/sub/new3', 'new3');
  w('new/h1', 'h');
  fs.linkSync(`${m}/new/h1`, `${m}/new/h2`);
  fs.linkSync(`${m}/etc/keep`, `${m}/etc/keep-link`); // a link to a lower file: copied up first
  w('hl1', 'changed'); // copy-up breaks the lower hardlink: hl2 keeps the old data
  fs.symlinkSync('/etc/keep', `${m}/new/sym`);
  fs.symlinkSync('../nowhere', `${m}/new/dangling`);
  fs.rmSync(`${m}/lnk`);
  fs.symlinkSync('b', `${m}/lnk`);
  const c = (rel: string) => `${m}/${rel}`;
  libc().lsetxattr(c('new/file'), 'user.new', Buffer.from('v'), 0);
  libc().lsetxattr(c('new/file'), 'trusted.overlay.mine', Buffer.from('escaped in the upper'), 0);
  libc().lsetxattr(c('etc/xattr'), 'user.added', Buffer.from([0, 1, 0xff]), 0);
  const fd = fs.openSync(c('etc/xattr'), 'r');
  try {
    libc().fremovexattr(fd, 'user.old');
  } finally {
    fs.closeSync(fd);
  }
  fs.utimesSync(c('etc/touch'), 1500000000, 1500000000);
  fs.writeFileSync(at(m, 'new/\xff'), 'not utf-8');
  libc().mknod(c('new/null'), 0o20666, (1n << 8n) | 3n);
  libc().mkfifo(c('new/fifo'), 0o644);
  fs.chmodSync(c('srv'), 0o750);
  w('new/suid', '#!/bin/sh\n');
  fs.chmodSync(c('new/suid'), 0o4755);
}

/** Every entry the layer holds after `change`: the change set, nothing of the unchanged image. */
const CHANGE_SET = [
  './', '.wh.gone', 'd2f',
  'etc/', 'etc/.wh.remove', 'etc/change', 'etc/keep', 'etc/keep-link', 'etc/mode', 'etc/owner', 'etc/touch', 'etc/xattr',
  'f2d/', 'f2d/.wh..wh..opq', 'f2d/inner', 'hl1', 'lnk',
  'new/', 'new/\xff', 'new/dangling', 'new/fifo', 'new/file', 'new/h1', 'new/h2', 'new/null', 'new/suid', 'new/sym',
  'opq/', 'opq/.wh..wh..opq', 'opq/new', 'opq/sub/', 'opq/sub/new3', 'srv/',
].sort();

let dir: string;
let layout: Layout;
const mounted: HandOverlayBundle[] = [];

beforeAll(async () => {
  dir = tmpdir('ts-img-repack-ovl-');
  const img = buildImage({ layers: BASE.map((entries) => ({ entries })) });
  writeTaggedLayout(path.join(dir, 'images'), img, 'base');
  layout = await Layout.open(path.join(dir, 'images'));
});

afterAll(() => {
  try {
    for (const b of mounted) b.unmount();
  } finally {
    rmrf(dir);
  }
});

async function overlayBundle(name: string): Promise<HandOverlayBundle> {
  const d = path.join(dir, name);
  fs.mkdirSync(d);
  const b = await handOverlayBundle(layout.dir, 'base', d);
  mounted.push(b);
  return b;
}

async function flatUnpack(tag: string): Promise<string> {
  const out = path.join(dir, `flat-${tag}`);
  await unpack(`${layout.dir}:${tag}`, out, { quiet: true, warn: () => {} });
  return path.join(out, 'rootfs');
}

const baseDescriptor = () => ({ layout, descriptor: layout.find('base')!.descriptor });

describe('repack of an overlay bundle', () => {
  let b: HandOverlayBundle;
  beforeAll(async () => {
    b = await overlayBundle('changed');
    change(b.rootfs);
  });

  test('the layer is the upper dir: the change set, not the image', async () => {
    const r = await repack(b.bundle, layout, 'committed', baseDescriptor());
    const wh = CHANGE_SET.filter((n) => path.posix.basename(n).startsWith('.wh.'));
    const deleted = wh.filter((n) => !n.endsWith('.wh..wh..opq')).length;
    expect(deleted).toBe(2);
    expect(r).toMatchObject({ source: 'overlay', added: 0, changed: CHANGE_SET.length - 1 - wh.length, deleted });
    expect(readOrigin(b.bundle)?.manifestDigest).toBe(r.manifest.digest);
    const headers = await layerHeaders(layout, r.layer);
    expect(headers.map((h) => h.name).sort()).toEqual(CHANGE_SET);
    const byName = new Map(headers.map((h) => [h.name, h]));
    expect(byName.get('etc/keep-link')).toMatchObject({ type: 'link', linkname: 'etc/keep' });
    expect(byName.get('new/h2')).toMatchObject({ type: 'link', linkname: 'new/h1' });
    expect(Object.keys(byName.get('opq/')!.xattrs)).toEqual([]); // trusted.overlay.opaque is not kept as an xattr
    expect(byName.get('new/null')).toMatchObject({ type: 'character-device', devmajor: 1, devminor: 3 });
    const img = loadImage(layout, r.manifest);
    const base = loadImage(layout, layout.find('base')!.descriptor);
    expect(img.manifest.layers.slice(0, 2)).toEqual(base.manifest.layers);
    expect(img.config.rootfs.diff_ids).toHaveLength(3);
  });

  test('a flat unpack of the result is the tree the container sees', async () => {
    const flat = await flatUnpack('committed');
    const want = view(b.rootfs);
    expect(view(flat)).toEqual(want);
    // the scenario did what it says (a check of the test itself)
    expect(want['opq/old1']).toBeUndefined();
    expect(want['hl2']).toMatchObject({ sha: createHash('sha256').update('shared').digest('hex') });
    expect(want['hl2'].links).toBeUndefined();
    expect(want['etc/keep'].links).toEqual(['etc/keep-link']);
    expect(want['etc/xattr'].xattrs).toEqual({ 'user.added': '0001ff', 'user.stay': Buffer.from('2').toString('hex') });
    expect(want['new/suid'].mode).toBe(0o4755);
    expect(Object.keys(want['new/file'].xattrs).sort()).toEqual(['trusted.overlay.mine', 'user.new']);
  });

  test('a second repack (CLI, base from the origin: the first result) goes on the lower layers again', async () => {
    // new/file came with the first repack's layer and is not in the lower: removing it leaves no whiteout
    fs.rmSync(`${b.rootfs}/new/file`);
    fs.writeFileSync(`${b.rootfs}/etc/second`, '2');
    const r = await cli(['repack', b.bundle, '--image', `${layout.dir}:committed2`, '-m', 'second']);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toMatch(/^committed2 sha256:\w+ \(layer sha256:\w+: \d+ added or changed, 2 deleted\)\n$/);
    const img = loadImage(layout, layout.find('committed2')!.descriptor);
    expect(readOrigin(b.bundle)?.manifestDigest).toBe(img.manifestDescriptor.digest);
    const base = loadImage(layout, layout.find('base')!.descriptor);
    expect(img.manifest.layers.slice(0, -1)).toEqual(base.manifest.layers);
    const history = (img.config as ImageConfig).history!;
    expect(history).toHaveLength(3);
    expect(history[2]).toMatchObject({ created_by: 'ts-img repack', comment: 'second' });
    expect(view(await flatUnpack('committed2'))).toEqual(view(b.rootfs));
  });
});

describe('repack of an overlay bundle: bad input', () => {
  const blobs = () => fs.readdirSync(path.join(layout.dir, 'blobs', 'sha256')).sort();
  const temps = () => {
    const d = path.join(layout.dir, '.ts-img', 'tmp');
    return fs.existsSync(d) ? fs.readdirSync(d) : [];
  };
  /** A bundle whose "upper" is a plain dir: repack reads only the upper, no mount needed. */
  function unmountedBundle(name: string, meta: Record<string, unknown> = {}): string {
    const bundle = path.join(dir, name);
    const upper = path.join(bundle, 'overlay', 'upper');
    fs.mkdirSync(upper, { recursive: true });
    const base = loadImage(layout, layout.find('base')!.descriptor);
    fs.writeFileSync(path.join(bundle, OVERLAY_FILE), JSON.stringify({
      version: 1, store: dir, layers: base.config.rootfs.diff_ids, lowerdirs: base.config.rootfs.diff_ids.map((_, i) => `/lower/${i}`), upper, work: path.join(bundle, 'overlay', 'work'), ...meta,
    }));
    return bundle;
  }

  async function refused(bundle: string, args: string[], message: RegExp): Promise<void> {
    const before = blobs();
    const r = await cli(['repack', bundle, '--image', `${layout.dir}:bad`, ...(args.length ? args : ['--base', `${layout.dir}:base`])]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(blobs()).toEqual(before);
    expect(temps()).toEqual([]);
    expect(layout.find('bad')).toBeUndefined();
  }

  test('a field of ts-img-overlay.json that is wrong is named', async () => {
    const bundle = unmountedBundle('bad-upper', { upper: 'overlay/upper' });
    await refused(bundle, [], /^ts-img: \S+\/ts-img-overlay\.json: upper must be an absolute path$/m);
    fs.writeFileSync(path.join(bundle, OVERLAY_FILE), '{"version":1,');
    await refused(bundle, [], /ts-img-overlay\.json: not valid JSON/);
  });

  test('a missing upper dir', async () => {
    await refused(unmountedBundle('no-upper', { upper: path.join(dir, 'nowhere') }), [], /ts-img-overlay\.json: upper \S+nowhere: no such directory$/m);
  });

  test('a base that is not the bundle lower layers', async () => {
    const other = buildImage({ layers: [{ entries: [{ name: 'x', data: 'x' }] }] });
    writeTaggedLayout(path.join(dir, 'other'), other, 'other');
    await refused(unmountedBundle('other-base'), ['--base', `${path.join(dir, 'other')}:other`], /^ts-img: \S+ts-img-overlay\.json: layers are not the first layers of the base image \(give --base the image the bundle was unpacked from\)$/m);
  });

  test('an upper made with redirect_dir=on is refused, not misread', async () => {
    const bundle = unmountedBundle('redirect');
    fs.mkdirSync(path.join(bundle, 'overlay', 'upper', 'moved'));
    libc().lsetxattr(path.join(bundle, 'overlay', 'upper', 'moved'), 'trusted.overlay.redirect', Buffer.from('/orig'), 0);
    await refused(bundle, [], /upper: "moved" is a redirected directory \(overlay mounted with redirect_dir=on\), which repack cannot read$/m);
  });
});
