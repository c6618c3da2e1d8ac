/**
 * unpack --overlay with --uid-map/--gid-map: the store's layers keep the image's ids, the bundle
 * shows them shifted through idmapped mounts. Owners under rootfs are the flat unpack's with the
 * same mapping; the upper dir holds host ids and repack maps them back as for a flat bundle;
 * `mount` mounts it again with the mapping the store registered; an id outside the mapping, and
 * --rootless, are refused in one line; gc keeps a moved mapped bundle's layers while mounted.
 */
import * as fs from 'fs';
import * as path from 'path';
import { unpack } from '../../src';
import { unpackOverlay } from '../../src/overlay/unpack-overlay';
import { removeBundle } from '../../src/overlay/remove';
import { LayerStore } from '../../src/overlay/layer-store';
import { readOverlayMeta, writeOverlayMeta } from '../../src/bundle/overlay-meta';
import { gc } from '../../src/store/gc';
import { Layout } from '../../src/store/layout';
import { buildImage, writeTaggedLayout } from '../../src/testing/images';
import { makeTestImages } from '../../src/testing/fixtures';
import type { WEntry } from '../../src/testing/tarwriter';
import { rmrf } from '../helpers';
import { cli, expectSameAfterRemount, linkTree, mountsUnder, oneLine, overlayScratch, rootAttrs } from './overlay-helpers';

jest.setTimeout(300_000);

const T = 1_600_000_000;
const quiet = { quiet: true, warn: () => {} };
const scratch = overlayScratch('ts-img-idmap-');
const MAP = [{ containerID: 0, hostID: 100000, size: 65536 }];
const GMAP = [{ containerID: 0, hostID: 200000, size: 65536 }];
const maps = { uidMap: MAP, gidMap: GMAP };

// no ./ entry (the root is the unpacking user's), owners of several ids, an implicit dir, a link
const LAYERS: WEntry[][] = [
  [
    { name: 'etc/', type: 'dir', mtime: T },
    { name: 'etc/passwd', data: 'root:x:0:0:root:/root:/bin/sh\napp:x:1234:2345::/home/app:/bin/sh\n', mtime: T },
    { name: 'home/app/', type: 'dir', uid: 1234, gid: 2345, mode: 0o700, mtime: T },
    { name: 'home/app/secret', data: 's\n', uid: 1234, gid: 2345, mode: 0o600, mtime: T },
    { name: 'bin/', type: 'dir', mtime: T },
    { name: 'bin/su', data: 'su\n', mode: 0o4755, mtime: T },
    { name: 'bin/sg', data: 'sg\n', gid: 42, mode: 0o2755, mtime: T },
  ],
  [
    { name: 'var/lib/x/f', data: 'implicit parents\n', uid: 7, gid: 8, mtime: T },
    { name: 'bin/su2', type: 'link', linkname: 'bin/su' },
    { name: 'etc/.wh.passwd', mtime: T },
    { name: 'etc/passwd', data: 'root:x:0:0:root:/root:/bin/sh\n', mtime: T },
  ],
];

function image(name: string, layers: WEntry[][]): string {
  const dir = path.join(scratch.dir, name);
  writeTaggedLayout(dir, buildImage({ layers: layers.map((entries) => ({ entries })), exec: { Cmd: ['/bin/sh'] } }));
  return `${dir}:x`;
}

/** Implicit dirs get the time of the unpack, both ways; a v2 capability is shown as v3 through an idmapped mount. */
function tree(root: string, implicit: string[]): ReturnType<typeof linkTree> {
  const t = linkTree(root);
  for (const [k, v] of Object.entries(t)) {
    if (v.type === 'dir' && implicit.some((p) => k === p || k.startsWith(`${p}/`))) v.mtimeMs = 0;
    const cap = v.xattrs['security.capability'];
    if (cap) v.xattrs['security.capability'] = capV2(cap);
  }
  return t;
}

/**
 * A v3 capability whose rootid is the mapped root, as v2 (what the flat unpack keeps): the kernel
 * shows a v2 capability read through an idmapped mount as v3 with that rootid.
 */
function capV2(hex: string): string {
  const b = Buffer.from(hex, 'hex');
  if (b.length !== 24 || b.readUInt32LE(20) !== MAP[0].hostID) return hex;
  const v2 = Buffer.from(b.subarray(0, 20));
  v2.writeUInt32LE((b.readUInt32LE(0) & 0x00ffffff) | 0x02000000, 0);
  return v2.toString('hex');
}

let store: string;
beforeAll(() => {
  store = path.join(scratch.dir, 'store');
});

async function compareWithFlat(ref: string, implicit: string[], opts: { uidMap?: typeof MAP; gidMap?: typeof MAP } = maps): Promise<string> {
  const flat = scratch.bundle();
  await unpack(ref, flat, { ...quiet, ...opts });
  const r = await unpackOverlay(ref, scratch.bundle(), { ...quiet, ...opts, store });
  expect(tree(path.join(r.bundle, 'rootfs'), implicit)).toEqual(tree(path.join(flat, 'rootfs'), implicit));
  expect(rootAttrs(path.join(r.bundle, 'rootfs'))).toEqual(rootAttrs(path.join(flat, 'rootfs')));
  expect(fs.readFileSync(path.join(r.bundle, 'config.json'), 'utf8')).toBe(fs.readFileSync(path.join(flat, 'config.json'), 'utf8'));
  rmrf(flat);
  return r.bundle;
}

describe('owners under rootfs are the flat unpack\'s with the same mapping', () => {
  test('an image without a root entry: every owner shifted, implicit dirs and the root the container root\'s; the store keeps the image\'s ids', async () => {
    const b = await compareWithFlat(image('img', LAYERS), ['var', 'home']);
    const rootfs = path.join(b, 'rootfs');
    expect(fs.statSync(path.join(rootfs, 'home/app/secret'))).toMatchObject({ uid: 101234, gid: 202345 });
    expect(fs.statSync(path.join(rootfs, 'var/lib'))).toMatchObject({ uid: 100000, gid: 200000 });
    expect(fs.statSync(rootfs)).toMatchObject({ uid: 100000, gid: 200000 });
    const meta = readOverlayMeta(b)!;
    expect(meta).toMatchObject(maps);
    // the shared layer as the image has it: another bundle of the same store shows its ids unshifted
    expect(fs.statSync(path.join(meta.lowerdirs[0], 'home/app/secret'))).toMatchObject({ uid: 1234, gid: 2345 });
    const plain = await unpackOverlay(image('img', LAYERS), scratch.bundle(), { ...quiet, store });
    expect(plain.extracted).toBe(0);
    expect(fs.statSync(path.join(plain.bundle, 'rootfs/home/app/secret'))).toMatchObject({ uid: 1234, gid: 2345 });
    // the mount: one idmapped clone per layer, detached (no path names it)
    const line = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' ')[4] === rootfs)!;
    expect(line).toContain('lowerdir+=/,lowerdir+=/,');
    removeBundle(plain.bundle);
    removeBundle(b);
  });

  test('the project\'s full test image (capabilities, devices, a link into a lower layer, implicit dirs)', async () => {
    const imgs = makeTestImages(path.join(scratch.dir, 'fixtures'));
    removeBundle(await compareWithFlat(`${imgs.layout}:full`, ['implicit', 'a-very-long-directory-name-that-goes-on-and-on-and-on']));
  });

  test('--uid-map alone: gids stay the image\'s, as in the flat unpack', async () => {
    const b = await compareWithFlat(image('img', LAYERS), ['var', 'home'], { uidMap: MAP });
    expect(fs.statSync(path.join(b, 'rootfs/home/app/secret'))).toMatchObject({ uid: 101234, gid: 2345 });
    removeBundle(b);
  });
});

test('the upper dir holds host ids; repack --uid-map/--gid-map maps them back as for a flat bundle', async () => {
  const ref = image('img', LAYERS);
  const out = path.join(scratch.dir, 'repacked');
  const bundles: Record<string, string> = {};
  for (const kind of ['overlay', 'flat']) {
    const b = scratch.bundle();
    const r = await cli(['unpack', '-q', ...(kind === 'overlay' ? ['--overlay', '--store', store] : []), '--uid-map', '0:100000:65536', '--gid-map', '0:200000:65536', ref, b]);
    expect(r).toMatchObject({ status: 0, stderr: '' });
    // what a container with that mapping does: its root is host 100000:200000, its app 101234:202345
    const rootfs = path.join(b, 'rootfs');
    fs.appendFileSync(path.join(rootfs, 'home/app/secret'), 'more\n');
    fs.writeFileSync(path.join(rootfs, 'home/app/new'), 'new\n');
    fs.chownSync(path.join(rootfs, 'home/app/new'), 101234, 202345);
    fs.rmSync(path.join(rootfs, 'bin/sg'));
    // the same times in both bundles (a second may pass between them)
    for (const p of ['home/app/secret', 'home/app/new', 'home/app', 'bin']) fs.utimesSync(path.join(rootfs, p), T + 100, T + 100);
    bundles[kind] = b;
  }
  const upper = readOverlayMeta(bundles.overlay)!.upper;
  expect(fs.statSync(path.join(upper, 'home/app/secret'))).toMatchObject({ uid: 101234, gid: 202345 }); // copied up as shown
  expect(fs.statSync(upper)).toMatchObject({ uid: 100000, gid: 200000 });
  const trees: Record<string, ReturnType<typeof linkTree>> = {};
  for (const [kind, b] of Object.entries(bundles)) {
    const r = await cli(['repack', b, '--image', `${out}:${kind}`, '--uid-map', '0:100000:65536', '--gid-map', '0:200000:65536']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const flat = scratch.bundle();
    expect(await cli(['unpack', '-q', `${out}:${kind}`, flat])).toMatchObject({ status: 0 });
    trees[kind] = tree(path.join(flat, 'rootfs'), ['var', 'home']);
    expect(fs.statSync(path.join(flat, 'rootfs/home/app/new'))).toMatchObject({ uid: 1234, gid: 2345 });
    rmrf(flat);
  }
  expect(trees.overlay).toEqual(trees.flat);
  removeBundle(bundles.overlay);
  rmrf(bundles.flat);
});

describe('mount again', () => {
  test('after umount -R: the same shifted tree; a mapping edited in ts-img-overlay.json, or one the store has no record of, is refused', async () => {
    const r = await unpackOverlay(image('img', LAYERS), scratch.bundle(), { ...quiet, ...maps, store });
    await expectSameAfterRemount(r.bundle, linkTree);
    let m;

    const meta = readOverlayMeta(r.bundle)!;
    const file = path.join(r.bundle, 'ts-img-overlay.json');
    for (const edited of [{ ...meta, uidMap: [{ containerID: 0, hostID: 0, size: 65536 }] }, { ...meta, uidMap: undefined, gidMap: undefined }]) {
      writeOverlayMeta(r.bundle, edited);
      m = await cli(['mount', r.bundle]);
      expect(m.status).toBe(1);
      expect(oneLine(m.stderr)).toBe(true);
      expect(m.stderr).toBe(`ts-img: ${file}: uidMap/gidMap differ from the mapping the bundle was unpacked with (refused): unpack the image again\n`);
      expect(mountsUnder(r.bundle)).toEqual([]);
    }
    writeOverlayMeta(r.bundle, meta);
    new LayerStore(store).removeRef(r.bundle);
    m = await cli(['mount', r.bundle]);
    expect(m.stderr).toBe(`ts-img: ${file}: uidMap/gidMap cannot be checked (the bundle is not registered in the store) (refused): unpack the image again\n`);
    expect(mountsUnder(r.bundle)).toEqual([]);
    removeBundle(r.bundle);
  });
});

test('gc keeps the layers of a mapped bundle moved away while it is mounted (its idmapped layers show no path)', async () => {
  const s = path.join(scratch.dir, 'store-gc');
  const r = await unpackOverlay(image('img-gc', [[{ name: 'only', data: 'only\n', uid: 3 }]]), scratch.bundle(), { ...quiet, ...maps, store: s });
  const moved = `${r.bundle}-moved`;
  fs.renameSync(r.bundle, moved);
  const layout = await Layout.open(s);
  expect((await gc(layout)).layers).toEqual([]);
  expect(fs.statSync(path.join(moved, 'rootfs/only'))).toMatchObject({ uid: 100003, gid: 200000 });
  removeBundle(moved);
  expect((await gc(layout)).layers).toEqual([r.layers[0].diffId]);
  expect(fs.readdirSync(path.join(s, '.ts-img/ovl/refs'))).toEqual([]);
});

describe('refusals: one line, exit 1, no bundle left', () => {
  const refused = async (args: string[], re: RegExp): Promise<void> => {
    const b = path.join(scratch.dir, 'refused');
    const r = await cli(['unpack', '-q', '--overlay', '--store', store, ...args, b]);
    expect(r.stderr).toMatch(re);
    expect(r.status).toBe(1);
    expect(oneLine(r.stderr)).toBe(true);
    expect(fs.existsSync(b)).toBe(false);
    expect(fs.readdirSync(scratch.dir).filter((x) => x.includes('.ts-img-'))).toEqual([]);
  };

  test('an owner outside the mapping (the flat unpack refuses the image too)', async () => {
    const ref = image('img-out', [LAYERS[0], [{ name: 'far', data: 'far\n', uid: 70000 }]]);
    const flat = await cli(['unpack', '-q', '--uid-map', '0:100000:65536', ref, path.join(scratch.dir, 'refused-flat')]);
    expect(flat.stderr).toMatch(/uid 70000 is not in the uid mapping/);
    await refused(['--uid-map', '0:100000:65536', ref], /^ts-img: layer 2\/2 \(sha256:[a-f0-9]{64}\): uid 70000 is not in the uid mapping \(--uid-map\)\n$/);
    await refused(['--gid-map', '1:200001:10', ref], /^ts-img: layer 1\/2 \(sha256:[a-f0-9]{64}\): gid 0 is not in the gid mapping \(--gid-map\)\n$/);
  });

  test('--rootless: unprivileged users can write neither the layers\' trusted xattrs nor mount overlayfs or idmapped mounts', async () => {
    await refused(['--rootless', image('img', LAYERS)], /^ts-img: --overlay cannot be combined with --rootless \(unprivileged users can neither write the layers' trusted\.overlay\.\* xattrs nor mount overlayfs or idmapped mounts outside a user namespace of their own\): drop one of them\n$/);
  });
});
