/**
 * `ts-img mount BUNDLE` after the mount is gone (umount -R, as a reboot leaves it): the same tree
 * as before, the container's changes included, with both mount paths; a no-op when mounted; the
 * refusals (one line, exit 1, nothing mounted), also of a ts-img-overlay.json edited to make root
 * mount a directory outside the store or the bundle.
 */
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { libc } from '@tsrt/libc';
import { unpack } from '../../src';
import { unpackOverlay } from '../../src/overlay/unpack-overlay';
import { mountBundle } from '../../src/overlay/remount';
import { LayerStore } from '../../src/overlay/layer-store';
import { isMountPoint } from '../../src/overlay/mount';
import { OverlayMeta, readOverlayMeta, writeOverlayMeta } from '../../src/bundle/overlay-meta';
import { buildImage, writeTaggedLayout } from '../../src/testing/images';
import type { WEntry } from '../../src/testing/tarwriter';
import { rmrf } from '../helpers';
import { cli, linkTree, mountsUnder, oneLine, overlayScratch, rootAttrs } from './overlay-helpers';

jest.setTimeout(120_000);

const T = 1_600_000_000;
const quiet = { quiet: true, warn: () => {} };
const scratch = overlayScratch('ts-img-mount-');
const bundle = scratch.bundle;
let base: string;
let store: string;
let images = 0;

// the two bottom layers are hidden by the opaque root of the third: the remount leaves them out too
const HIDDEN: WEntry[] = [{ name: 'hidden/', type: 'dir', mtime: T }, { name: 'hidden/h', data: 'h\n', mtime: T }];
const OPAQUE_ROOT: WEntry[] = [
  { name: './', type: 'dir', mode: 0o755, mtime: T },
  { name: '.wh..wh..opq', mtime: T },
  { name: 'etc/', type: 'dir', mtime: T },
  { name: 'etc/os', data: 'os\n', mtime: T, xattrs: { 'user.k': 'v' } },
  { name: 'a/', type: 'dir', mtime: T },
  { name: 'a/f', data: 'f\n', mtime: T },
  { name: 'a/h', type: 'link', linkname: 'a/f' },
  { name: 'a/gone', data: 'gone\n', mtime: T },
  { name: 'lnk', type: 'symlink', linkname: 'a/f', mtime: T },
];
const TOP: WEntry[] = [
  { name: 'a/', type: 'dir', mode: 0o750, mtime: T + 1 },
  { name: 'a/top', data: 'top\n', mode: 0o640, mtime: T + 2 },
  { name: '.wh.lnk', mtime: T },
];

function image(name: string, layers: WEntry[][]): string {
  const dir = path.join(base, name);
  writeTaggedLayout(dir, buildImage({ layers: layers.map((entries) => ({ entries })), exec: { Cmd: ['/bin/sh'] } }));
  return `${dir}:x`;
}

/** What a reboot does to the bundle: its rootfs mount is gone. */
function umountR(b: string): void {
  const r = spawnSync('umount', ['-R', path.join(b, 'rootfs')], { encoding: 'utf8' });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  expect(isMountPoint(libc(), path.join(b, 'rootfs'))).toBe(false);
}

/**
 * The mount's source and super options in mountinfo (what unpack's mount and the remount must
 * share). The first mount of a fresh upper dir shows uuid=on: overlayfs then stores a uuid in the
 * upper root, which later mounts load with the default uuid=auto, shown as nothing. mount(2) is
 * given upper and work as /proc/self/fd/N: their numbers may differ from one mount to the next.
 */
function mountOptions(rootfs: string): string {
  const line = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' ')[4] === rootfs)!;
  return line.slice(line.indexOf(' - ')).replace(/,uuid=on(?=,|$)/, '').replace(/\/proc\/self\/fd\/\d+/g, '/proc/self/fd/N');
}

/** An overlay bundle whose rootfs is no longer mounted. */
async function unmounted(s = store, ref = image(`img-${++images}`, [OPAQUE_ROOT, TOP])): Promise<{ b: string; meta: OverlayMeta }> {
  const r = await unpackOverlay(ref, bundle(), { ...quiet, store: s });
  umountR(r.bundle);
  return { b: r.bundle, meta: readOverlayMeta(r.bundle)! };
}

beforeAll(() => {
  base = scratch.dir;
  store = path.join(base, 'store');
});

describe('the rootfs mounted again', () => {
  test('after umount -R: the tree as before, the container\'s changes (a whiteout too) kept; a second mount is a no-op', async () => {
    const ref = image('img-main', [HIDDEN, HIDDEN.map((e) => ({ ...e, name: String(e.name).replace('hidden', 'hidden2') })), OPAQUE_ROOT, TOP]);
    const { bundle: b } = await unpackOverlay(ref, bundle(), { ...quiet, store });
    const rootfs = path.join(b, 'rootfs');
    fs.writeFileSync(path.join(rootfs, 'a/written'), 'written\n');
    fs.rmSync(path.join(rootfs, 'a/gone'));
    fs.appendFileSync(path.join(rootfs, 'etc/os'), 'changed\n'); // a copy-up
    fs.mkdirSync(path.join(rootfs, 'newdir'));
    const upper = readOverlayMeta(b)!.upper;
    expect(fs.lstatSync(path.join(upper, 'a/gone')).isCharacterDevice()).toBe(true);
    const before = { tree: linkTree(rootfs), root: rootAttrs(rootfs), options: mountOptions(rootfs) };
    expect(Object.keys(before.tree).some((k) => k.startsWith('hidden'))).toBe(false);

    umountR(b);
    expect(fs.readdirSync(rootfs)).toEqual([]);
    const r = await cli(['mount', b]);
    expect(r).toMatchObject({ status: 0, stderr: '', stdout: '' });
    expect(linkTree(rootfs)).toEqual(before.tree);
    expect(rootAttrs(rootfs)).toEqual(before.root);
    expect(mountOptions(rootfs)).toBe(before.options);
    expect(fs.readFileSync(path.join(rootfs, 'etc/os'), 'utf8')).toBe('os\nchanged\n');
    expect(fs.existsSync(path.join(rootfs, 'a/gone'))).toBe(false);

    const again = await cli(['mount', b]);
    expect(again).toMatchObject({ status: 0, stderr: '', stdout: '' });
    expect(mountsUnder(rootfs)).toEqual([rootfs]); // nothing stacked
    expect(linkTree(rootfs)).toEqual(before.tree);
  });

  test('mount(2) with short layer names (40 layers overflow a page of full paths), as unpack mounted it', async () => {
    const layers = Array.from({ length: 40 }, (_, i): WEntry[] => [{ name: `f${i}`, data: `${i}\n`, mtime: T }]);
    const r = await unpackOverlay(image('img-40', layers), bundle(), { ...quiet, store, forceMount: 'mount2' });
    const rootfs = path.join(r.bundle, 'rootfs');
    fs.writeFileSync(path.join(rootfs, 'f7'), 'changed\n');
    const before = { tree: linkTree(rootfs), options: mountOptions(rootfs) };
    expect(before.options).toMatch(/lowerdir=[a-f0-9]{10}:/);
    umountR(r.bundle);
    expect(await mountBundle(r.bundle, { forceMount: 'mount2' })).toBe(true);
    expect(linkTree(rootfs)).toEqual(before.tree);
    expect(mountOptions(rootfs)).toBe(before.options);
    expect(await mountBundle(r.bundle, { forceMount: 'mount2' })).toBe(false);
  });
});

describe('refusals: exit 1, one line naming the bundle or its file, nothing mounted', () => {
  const refused = async (b: string, re: RegExp): Promise<void> => {
    const r = await cli(['mount', b]);
    expect(r.stderr).toMatch(re);
    expect(r.status).toBe(1);
    expect(oneLine(r.stderr)).toBe(true);
    expect(r.stderr).toContain(b);
    expect(mountsUnder(b)).toEqual([]);
  };

  test('no such dir, not a bundle, a flat bundle', async () => {
    await refused(path.join(base, 'nope'), /^ts-img: bundle \S+: no such directory\n$/);
    fs.mkdirSync(path.join(base, 'plain'));
    await refused(path.join(base, 'plain'), /not a bundle \(neither config\.json nor ts-img-overlay\.json\)/);
    const flat = bundle();
    await unpack(image('img-flat', [OPAQUE_ROOT]), flat, quiet);
    await refused(flat, /^ts-img: bundle \S+: not an overlay bundle \(no ts-img-overlay\.json\)/);
  });

  test('a ts-img-overlay.json that fails validation', async () => {
    const { b, meta } = await unmounted();
    const file = path.join(b, 'ts-img-overlay.json');
    fs.writeFileSync(file, '{"version":1,');
    await refused(b, /ts-img-overlay\.json: not valid JSON/);
    fs.writeFileSync(file, JSON.stringify({ ...meta, upper: 'overlay/upper' }));
    await refused(b, /ts-img-overlay\.json: upper must be an absolute path/);
    fs.writeFileSync(file, JSON.stringify({ ...meta, lowerdirs: meta.lowerdirs.slice(1) }));
    await refused(b, /ts-img-overlay\.json: lowerdirs must be an array as long as layers/);
  });

  test('a layer gone from the store (gc, a store moved): which layer, and unpack again', async () => {
    const s = path.join(base, 'store-gone');
    const { b, meta } = await unmounted(s);
    new LayerStore(s).remove(meta.layers[1]);
    await refused(b, new RegExp(`bundle \\S+: layer 2 of 2 \\(${meta.layers[1]}\\) is missing from the store ${s} \\(ts-img gc may have collected it, or the store moved\\): unpack the image again`));
    fs.renameSync(s, `${s}-moved`);
    await refused(b, /the store \S+ is gone \(moved\?\): unpack the image again/);
  });

  test('upper, work or rootfs missing; rootfs a symlink', async () => {
    for (const d of ['overlay/upper', 'overlay/work']) {
      const { b } = await unmounted();
      rmrf(path.join(b, d));
      await refused(b, new RegExp(`the ${path.basename(d)} dir \\S+/${d} is missing`));
    }
    const { b } = await unmounted();
    fs.rmdirSync(path.join(b, 'rootfs'));
    await refused(b, /no rootfs directory/);
    // mount(2) would follow it and mount the overlay elsewhere
    const target = path.join(base, 'elsewhere');
    fs.mkdirSync(target);
    fs.symlinkSync(target, path.join(b, 'rootfs'));
    await refused(b, /rootfs: a symlink on the way \(refused\)/);
    expect(isMountPoint(libc(), target)).toBe(false);
  });

  test('a mount the kernel refuses (work dir = upper dir): its words, not unpack\'s advice', async () => {
    const { b, meta } = await unmounted();
    writeOverlayMeta(b, { ...meta, work: meta.upper });
    await refused(b, /^ts-img: bundle \S+: overlayfs cannot be mounted \(.*EINVAL.*\)\n$/);
  });
});

describe('an edited ts-img-overlay.json cannot make root mount a directory outside the store or the bundle', () => {
  const refusedMeta = async (b: string, meta: OverlayMeta, re: RegExp): Promise<void> => {
    writeOverlayMeta(b, meta);
    const r = await cli(['mount', b]);
    expect(r.stderr).toMatch(re);
    expect(r.status).toBe(1);
    expect(oneLine(r.stderr)).toBe(true);
    expect(r.stderr).toContain(path.join(b, 'ts-img-overlay.json'));
    expect(mountsUnder(b)).toEqual([]);
  };

  test('a lower dir outside the store, through "..", another layer\'s dir, a store path with ".."', async () => {
    const { b, meta } = await unmounted();
    const outside = path.join(base, 'x');
    fs.mkdirSync(outside);
    const lower = (d: string): OverlayMeta => ({ ...meta, lowerdirs: [meta.lowerdirs[0], d] });
    await refusedMeta(b, lower('/etc'), /lowerdirs\[1\] \/etc is not a layer dir of the store/);
    await refusedMeta(b, lower(`${meta.store}/../x`), /lowerdirs\[1\] \S+\/\.\.\/x is not a layer dir of the store/);
    await refusedMeta(b, lower(`${meta.lowerdirs[1]}/../../../../x`), /is not a layer dir of the store/);
    await refusedMeta(b, lower(meta.lowerdirs[0]), /lowerdirs\[1\] is not the dir of layers\[1\]/);
    await refusedMeta(b, { ...meta, store: `${meta.store}/../store` }, /store \S+ is not a plain absolute path/);
    // the dir the file names for the store is no store at all
    await refusedMeta(b, { ...meta, store: outside, lowerdirs: meta.lowerdirs.map((d) => d.replace(meta.store, outside)) }, /store \S+ is not an image store/);
    writeOverlayMeta(b, meta);
    expect(await mountBundle(b)).toBe(true); // the file as unpack wrote it still mounts
  });

  test('a symlink in the store on the way to a lower dir', async () => {
    const s = path.join(base, 'store-link');
    const { b, meta } = await unmounted(s);
    // the layer's dir replaced by a symlink to a copy elsewhere that looks like it
    const layerDir = path.dirname(meta.lowerdirs[1]);
    const copy = path.join(base, 'evil-layer');
    fs.renameSync(layerDir, copy);
    fs.symlinkSync(copy, layerDir);
    await refusedMeta(b, meta, /lowerdirs\[1\] \S+: a symlink on the way \(refused\)/);
  });

  test('upper or work outside the bundle, in its rootfs, or reached through a symlink', async () => {
    const { b, meta } = await unmounted();
    const outside = path.join(base, 'up-outside');
    fs.mkdirSync(outside);
    await refusedMeta(b, { ...meta, upper: outside }, /upper \S+ is not a directory of the bundle/);
    await refusedMeta(b, { ...meta, work: `${b}/../up-outside` }, /work \S+ is not a directory of the bundle/);
    await refusedMeta(b, { ...meta, upper: path.join(b, 'rootfs/u') }, /upper \S+ is not a directory of the bundle/);
    await refusedMeta(b, { ...meta, upper: b }, /upper \S+ is not a directory of the bundle/);
    fs.symlinkSync(outside, path.join(b, 'overlay/link'));
    await refusedMeta(b, { ...meta, upper: path.join(b, 'overlay/link') }, /upper \S+: a symlink on the way \(refused\)/);
    expect(fs.readdirSync(outside)).toEqual([]);
  });
});
