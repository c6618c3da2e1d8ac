/**
 * unpack --overlay against the flat unpack: the same tree under rootfs/ and the same config.json
 * for images with whiteouts, opaque dirs (also at the root), hardlinks, replaced dirs and files;
 * the layer store (each layer once, concurrent unpacks, crashes), remove and gc, 300 layers with
 * both mount paths, and the refusals (one line, nothing left).
 */
import * as fs from 'fs';
import * as path from 'path';
import { spawn } from 'child_process';
import { unpack } from '../../src';
import { unpackOverlay } from '../../src/overlay/unpack-overlay';
import { removeBundle } from '../../src/overlay/remove';
import { LayerStore } from '../../src/overlay/layer-store';
import { mountOverlay } from '../../src/testing/overlay-bundle';
import { readOverlayMeta, writeOverlayMeta } from '../../src/bundle/overlay-meta';
import { gc } from '../../src/store/gc';
import { Layout } from '../../src/store/layout';
import { buildImage, writeTaggedLayout, LayoutWriter } from '../../src/testing/images';
import { makeTestImages } from '../../src/testing/fixtures';
import type { WEntry } from '../../src/testing/tarwriter';
import { libc } from '@tsrt/libc';
import { rmrf, tmpdir } from '../helpers';
import { cli, detachAll, linkTree, mountsUnder, oneLine, rootAttrs } from './overlay-helpers';

jest.setTimeout(300_000);

const T = 1_600_000_000;
const quiet = { quiet: true, warn: () => {} };
let base: string;
let store: string;
let n = 0;
const bundle = (): string => path.join(base, `b${++n}`);

const L1: WEntry[] = [
  { name: './', type: 'dir', mode: 0o755, mtime: T },
  { name: 'etc/', type: 'dir', mtime: T },
  { name: 'etc/passwd', data: 'root:x:0:0:root:/root:/bin/sh\napp:x:1234:2345::/home/app:/bin/sh\n', mtime: T },
  { name: 'etc/group', data: 'root:x:0:\napp:x:2345:\n', mtime: T },
  { name: 'a/', type: 'dir', mtime: T + 1 },
  { name: 'a/f', data: 'old f\n', mtime: T },
  { name: 'a/h', type: 'link', linkname: 'a/f' },
  { name: 'a/g', data: 'g\n', mode: 0o4755, mtime: T },
  { name: 'a/owned', data: 'o\n', uid: 1234, gid: 2345, mode: 0o600, mtime: T },
  { name: 'gone', data: 'gone\n', mtime: T },
  { name: 'gonedir/', type: 'dir', mtime: T },
  { name: 'gonedir/z', data: 'z\n', mtime: T },
  { name: 'f2d', data: 'file becomes dir\n', mtime: T },
  { name: 'd2f/', type: 'dir', mtime: T },
  { name: 'd2f/c', data: 'c\n', mtime: T },
  { name: 'd2l/', type: 'dir', mtime: T },
  { name: 'd2l/c', data: 'c\n', mtime: T },
  { name: 'opq/', type: 'dir', mtime: T },
  { name: 'opq/a', data: 'a\n', mtime: T },
  { name: 'opq/b/', type: 'dir', mtime: T },
  { name: 'opq/b/c', data: 'c\n', mtime: T },
  { name: 'redo/', type: 'dir', mtime: T },
  { name: 'redo/old', data: 'old\n', mtime: T },
  { name: 'keepdir/', type: 'dir', mtime: T },
  { name: 'keepdir/old', data: 'old\n', mtime: T },
  { name: 'x/', type: 'dir', mtime: T, xattrs: { 'user.dir': 'lower' } },
  { name: 'x/xa', data: 'xa\n', mtime: T, xattrs: { 'user.a': 'b', 'trusted.overlay.foo': 'image xattr' } },
  { name: 'dev/', type: 'dir', mtime: T },
  { name: 'dev/null1', type: 'char', devmajor: 1, devminor: 3, mode: 0o666, mtime: T },
  { name: 'dev/fifo', type: 'fifo', mode: 0o644, mtime: T },
  { name: 'lnk', type: 'symlink', linkname: 'a/f', mtime: T },
];

const L2: WEntry[] = [
  { name: './', type: 'dir', mode: 0o750, mtime: T + 5 },
  { name: '.wh.gone', mtime: T },
  { name: '.wh.gonedir', mtime: T },
  { name: 'a/', type: 'dir', mode: 0o700, mtime: T + 6 },
  { name: 'a/f', data: 'new f, a/h keeps the old\n', mode: 0o640, mtime: T + 7 },
  { name: 'a/h2', type: 'link', linkname: 'a/f' },
  { name: 'f2d/', type: 'dir', mtime: T + 8 },
  { name: 'f2d/in', data: 'in\n', mtime: T },
  { name: 'd2f', data: 'dir became file\n', mtime: T },
  { name: 'd2l', type: 'symlink', linkname: 'a', mtime: T },
  { name: 'opq/', type: 'dir', mtime: T + 9 },
  { name: 'opq/new', data: 'new\n', mtime: T },
  { name: 'opq/.wh..wh..opq', mtime: T },
  // a whiteout and a new dir of the same name in one layer: the lower children go
  { name: '.wh.redo', mtime: T },
  { name: 'redo/', type: 'dir', mtime: T + 10 },
  { name: 'redo/new', data: 'new\n', mtime: T },
  // the dir first, then its whiteout: same outcome
  { name: 'keepdir/', type: 'dir', mtime: T + 11 },
  { name: 'keepdir/new', data: 'new\n', mtime: T },
  { name: '.wh.keepdir', mtime: T },
  // an entry and its whiteout in one layer: the entry survives
  { name: 'same', data: 'same layer\n', mtime: T },
  { name: '.wh.same', mtime: T },
  // dir over dir: attributes replaced (user xattr dropped), children kept
  { name: 'x/', type: 'dir', mode: 0o711, mtime: T + 12 },
  { name: 'x/.wh.nothing-below', mtime: T },
];

const L3root: WEntry[] = [
  { name: '.wh..wh..opq', mtime: T },
  { name: 'etc/', type: 'dir', mtime: T + 20 },
  { name: 'etc/passwd', data: 'root:x:0:0:root:/root:/bin/sh\n', mtime: T },
  { name: 'only-top', data: 'top\n', mtime: T },
];

function image(dir: string, layers: WEntry[][], user?: string): string {
  writeTaggedLayout(dir, buildImage({ layers: layers.map((entries) => ({ entries })), exec: { Cmd: ['/bin/sh'], ...(user ? { User: user } : {}) } }));
  return `${dir}:x`;
}

beforeAll(() => {
  base = tmpdir('ts-img-ovl-');
  store = path.join(base, 'store');
});
afterAll(() => {
  // whatever a failed test left mounted goes first, then the dirs
  for (const m of mountsUnder(base)) if (m.endsWith('/rootfs') && readOverlayMeta(path.dirname(m))) try { removeBundle(path.dirname(m)); } catch { /* detached below */ }
  detachAll(base);
  rmrf(base);
  expect(mountsUnder(base)).toEqual([]);
});

/** Dirs created implicitly where no layer below has them get the time of the unpack (both ways). */
function withoutImplicitTimes(t: ReturnType<typeof linkTree>, implicit: string[]): ReturnType<typeof linkTree> {
  for (const [k, v] of Object.entries(t)) if (v.type === 'dir' && implicit.some((p) => k === p || k.startsWith(`${p}/`))) v.mtimeMs = 0;
  return t;
}

async function compareWithFlat(ref: string, implicit: string[] = [], s = store): Promise<string> {
  const flat = bundle();
  const ovl = bundle();
  await unpack(ref, flat, quiet);
  await unpackOverlay(ref, ovl, { ...quiet, store: s });
  expect(withoutImplicitTimes(linkTree(path.join(ovl, 'rootfs')), implicit)).toEqual(withoutImplicitTimes(linkTree(path.join(flat, 'rootfs')), implicit));
  expect(rootAttrs(path.join(ovl, 'rootfs'))).toEqual(rootAttrs(path.join(flat, 'rootfs')));
  expect(fs.readFileSync(path.join(ovl, 'config.json'), 'utf8')).toBe(fs.readFileSync(path.join(flat, 'config.json'), 'utf8'));
  rmrf(flat);
  return ovl;
}

describe('the tree under rootfs is the flat unpack\'s', () => {
  test('whiteouts, opaque dirs, hardlinks, replaced dirs and files, xattrs, devices, root attributes', async () => {
    const ovl = await compareWithFlat(image(path.join(base, 'img1'), [L1, L2], 'app'));
    const r = path.join(ovl, 'rootfs');
    // spot checks of what the comparison covers
    expect(fs.readFileSync(path.join(r, 'a/h'), 'utf8')).toBe('old f\n');
    expect(fs.readdirSync(path.join(r, 'redo'))).toEqual(['new']);
    expect(fs.readdirSync(path.join(r, 'keepdir'))).toEqual(['new']);
    expect(fs.existsSync(path.join(r, 'same'))).toBe(true);
    expect(libc().lgetxattr(path.join(r, 'x/xa'), 'trusted.overlay.foo').toString()).toBe('image xattr');
    const meta = readOverlayMeta(ovl)!;
    expect(meta).toMatchObject({ version: 1, store, upper: path.join(ovl, 'overlay/upper'), work: path.join(ovl, 'overlay/work') });
    expect(meta.layers).toHaveLength(2);
    // the mount: the bundle's own upper and work, the layers' dirs as lowers
    const line = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' ')[4] === r)!;
    expect(line).toContain(`upperdir=${meta.upper}`);
    for (const d of meta.lowerdirs) expect(line).toContain(d);
    // a write lands in the upper dir only
    fs.writeFileSync(path.join(r, 'a/written'), 'w');
    fs.rmSync(path.join(r, 'a/g'));
    expect(fs.existsSync(path.join(meta.upper, 'a/written'))).toBe(true);
    expect(fs.existsSync(path.join(meta.lowerdirs[0], 'a/g'))).toBe(true);
    removeBundle(ovl);
  });

  test('the project\'s full test image (a hardlink into a lower layer, implicit parent dirs, capabilities, devices)', async () => {
    const imgs = makeTestImages(path.join(base, 'fixtures'));
    const ovl = await compareWithFlat(`${imgs.layout}:full`, ['implicit', 'a-very-long-directory-name-that-goes-on-and-on-and-on']);
    removeBundle(ovl);
  });

  test('a layer that needs the layers below (a link into them, a dir it creates implicitly) is stored per chain', async () => {
    const top: WEntry[] = [{ name: 'a/lowerlink', type: 'link', linkname: 'a/g' }, { name: 'x/sub/', type: 'dir' }, { name: 'x/sub/f', data: 'f' }];
    const s6 = path.join(base, 'store-chain');
    const one = await compareWithFlat(image(path.join(base, 'imgc1'), [L1, top]), ['x/sub'], s6);
    const other: WEntry[] = L1.map((e) => (e.name === 'a/g' ? { ...e, data: 'other g\n', mode: 0o700 } : e.name === 'x/' ? { ...e, mode: 0o701 } : e));
    const two = await compareWithFlat(image(path.join(base, 'imgc2'), [other, top]), ['x/sub'], s6);
    const [m1, m2] = [readOverlayMeta(one)!, readOverlayMeta(two)!];
    expect(m1.layers[1]).toBe(m2.layers[1]); // the same diff_id ...
    expect(m1.lowerdirs[1]).not.toBe(m2.lowerdirs[1]); // ... extracted once per base
    expect(fs.readFileSync(path.join(two, 'rootfs/a/lowerlink'), 'utf8')).toBe('other g\n');
    expect(fs.statSync(path.join(two, 'rootfs/x')).mode & 0o777).toBe(0o701);
    removeBundle(one);
    removeBundle(two);
    // a layer that needed nothing below stays keyed by its diff_id
    expect(new LayerStore(s6).get(m1.layers[0])).toBeDefined();
  });

  test('an opaque marker at a layer\'s root hides every layer below (overlayfs ignores it there: the layers are left out)', async () => {
    const ovl = await compareWithFlat(image(path.join(base, 'img2'), [L1, L2, L3root]));
    expect(fs.readdirSync(path.join(ovl, 'rootfs')).sort()).toEqual(['etc', 'only-top']);
    removeBundle(ovl);
  });
});

describe('the layer store', () => {
  test('a second unpack extracts nothing; two at once extract each layer once', async () => {
    const ref = image(path.join(base, 'img3'), [L1, L2]);
    const s2 = path.join(base, 'store2');
    const [r1, r2] = await Promise.all([unpackOverlay(ref, bundle(), { ...quiet, store: s2 }), unpackOverlay(ref, bundle(), { ...quiet, store: s2 })]);
    expect(r1.extracted + r2.extracted).toBe(2);
    expect(r1.layers.map((l) => l.diff)).toEqual(r2.layers.map((l) => l.diff));
    const r3 = await unpackOverlay(ref, bundle(), { ...quiet, store: s2 });
    expect(r3.extracted).toBe(0);
    for (const r of [r1, r2, r3]) removeBundle(r.bundle);
    expect(fs.readdirSync(path.join(s2, '.ts-img/ovl/tmp'))).toEqual([]);
  });

  test('a SIGKILLed extraction leaves no layer a later unpack trusts; SIGTERM leaves nothing at all', async () => {
    const big: WEntry[] = [];
    for (let i = 0; i < 6000; i++) big.push({ name: `many/f${i}`, data: Buffer.alloc(20000, i % 251) });
    const ref = image(path.join(base, 'img4'), [L1, big]);
    const s3 = path.join(base, 'store3');
    const tmpDir = path.join(s3, '.ts-img/ovl/tmp');
    for (const sig of ['SIGKILL', 'SIGTERM'] as const) {
      const b = bundle();
      const c = spawn(path.resolve(__dirname, '../../../bin/ts-img'), ['unpack', '-q', '--overlay', '--store', s3, ref, b], { stdio: 'ignore' });
      // kill it while the big layer is being extracted
      const seen = await new Promise<boolean>((resolve) => {
        const t = setInterval(() => {
          let names: string[] = [];
          try { names = fs.readdirSync(tmpDir); } catch { /* not yet */ }
          const hex = names.find((x) => new RegExp(`^[a-f0-9]{64}-${c.pid}-`).test(x));
          if (hex && fs.existsSync(path.join(tmpDir, hex, 'diff/many'))) { clearInterval(t); c.kill(sig); resolve(true); }
          if (c.exitCode !== null) { clearInterval(t); resolve(false); }
        }, 5);
      });
      const code = await new Promise<number | null>((resolve) => (c.exitCode !== null ? resolve(c.exitCode) : c.on('exit', (x) => resolve(x))));
      expect(seen).toBe(true);
      if (sig === 'SIGTERM') {
        expect(code).toBe(130);
        // its own extraction removed, and the one the SIGKILLed unpack left swept by this one
        expect(fs.readdirSync(tmpDir)).toEqual([]);
      }
      expect(fs.existsSync(b)).toBe(false);
      expect(mountsUnder(base).filter((m) => m.startsWith(b))).toEqual([]);
      // only the complete first layer is in the store
      expect(new LayerStore(s3).list()).toHaveLength(1);
    }
    const r = await unpackOverlay(ref, bundle(), { ...quiet, store: s3 });
    expect(r.extracted).toBe(1);
    expect(fs.readdirSync(path.join(r.bundle, 'rootfs/many'))).toHaveLength(6000);
    expect(fs.readdirSync(tmpDir)).toEqual([]);
    removeBundle(r.bundle);
  });

  test('remove and gc: a layer stays while an image or a live bundle names it', async () => {
    const s4 = path.join(base, 'store4');
    // the image is in the store itself (a store is an OCI layout)
    const w = new LayoutWriter(s4);
    w.add(w.image(buildImage({ layers: [{ entries: L1 }, { entries: L2 }] })), 'img');
    w.finish();
    const lone = image(path.join(base, 'img5'), [[{ name: 'solo', data: 'solo\n' }]]);
    const a = await unpackOverlay(`${s4}:img`, bundle(), { ...quiet, store: s4 });
    const b = await unpackOverlay(lone, bundle(), { ...quiet, store: s4 });
    const c = await unpackOverlay(lone, bundle(), { ...quiet, store: s4 });
    const layout = await Layout.open(s4);
    const layers = new LayerStore(s4);
    expect((await gc(layout)).layers).toEqual([]);
    removeBundle(b.bundle);
    expect(fs.existsSync(b.bundle)).toBe(false);
    expect((await gc(layout)).layers).toEqual([]); // c still uses the solo layer
    // c no longer names it (its file says other layers): kept while mounted, collected once not
    const meta = readOverlayMeta(c.bundle)!;
    writeOverlayMeta(c.bundle, { ...meta, layers: a.layers.map((l) => l.diffId).slice(0, 1), lowerdirs: a.layers.map((l) => l.diff).slice(0, 1) });
    expect((await gc(layout, { dryRun: true })).layers).toEqual([]);
    detachAll(path.join(c.bundle, 'rootfs'));
    expect((await gc(layout, { dryRun: true })).layers).toEqual([c.layers[0].diffId]);
    writeOverlayMeta(c.bundle, meta);
    removeBundle(c.bundle);
    expect((await gc(layout)).layers).toEqual([c.layers[0].diffId]);
    // the image's layers stay while it is in the store, even with no bundle
    removeBundle(a.bundle);
    expect((await gc(layout)).layers).toEqual([]);
    expect(layers.list().sort()).toEqual(a.layers.map((l) => l.diffId).sort());
    await layout.untag('img');
    expect((await gc(layout)).layers.sort()).toEqual(a.layers.map((l) => l.diffId).sort());
    expect(layers.list()).toEqual([]);
    expect(fs.readdirSync(path.join(s4, '.ts-img/ovl/refs'))).toEqual([]);
  });

  test('a bundle moved away from its registered path: its layers stay while it is mounted', async () => {
    const s9 = path.join(base, 'store9');
    for (const legacyMount of [false, true]) {
      const r = await unpackOverlay(image(path.join(base, `img10-${legacyMount}`), [[{ name: 'm', data: 'moved' }]]), bundle(), { ...quiet, store: s9, forceMount: legacyMount ? 'mount2' : undefined });
      const moved = `${r.bundle}-moved`;
      fs.renameSync(r.bundle, moved);
      const layout = await Layout.open(s9);
      expect((await gc(layout)).layers).toEqual([]);
      expect(fs.readFileSync(path.join(moved, 'rootfs/m'), 'utf8')).toBe('moved');
      removeBundle(moved);
      expect((await gc(layout)).layers).toEqual([r.layers[0].diffId]);
    }
  });

  test('a bundle deleted without remove: its registration is stale and gc collects its layers', async () => {
    const s5 = path.join(base, 'store5');
    const r = await unpackOverlay(image(path.join(base, 'img6'), [[{ name: 'f', data: 'f' }]]), bundle(), { ...quiet, store: s5 });
    detachAll(r.bundle);
    rmrf(r.bundle);
    expect((await gc(await Layout.open(s5))).layers).toEqual([r.layers[0].diffId]);
    expect(fs.readdirSync(path.join(s5, '.ts-img/ovl/refs'))).toEqual([]);
  });
});

describe('300 layers', () => {
  const many = (): WEntry[][] => Array.from({ length: 300 }, (_, i) => [{ name: `d${i % 10}/`, type: 'dir' as const, mtime: T }, { name: `d${i % 10}/f${i}`, data: `file ${i}\n`, mtime: T }]);
  test.each([
    ['the new mount API (lowerdir+ by fd)', undefined],
    ['the new API with path strings (Linux 6.8-6.12)', 'strings'],
    ['mount(2) with short layer names', 'mount2'],
  ] as const)('%s', async (_n, forceMount) => {
    const ref = image(path.join(base, `img300-${forceMount}`), many());
    const r = await unpackOverlay(ref, bundle(), { ...quiet, store: path.join(base, 'store300'), forceMount });
    const root = path.join(r.bundle, 'rootfs');
    expect(fs.readdirSync(root).sort()).toEqual(Array.from({ length: 10 }, (_, i) => `d${i}`));
    for (const i of [0, 149, 299]) expect(fs.readFileSync(path.join(root, `d${i % 10}/f${i}`), 'utf8')).toBe(`file ${i}\n`);
    const line = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' ')[4] === root)!;
    if (forceMount === 'mount2') expect(line).toMatch(/lowerdir=[a-f0-9]{10}:/);
    else expect(line.split('lowerdir+=').length - 1).toBe(300);
    // upper and work: by fd (the kernel shows their paths) or as /proc/self/fd/N, never named by path
    expect(line).toContain(forceMount ? 'upperdir=/proc/self/fd/' : `upperdir=${path.join(r.bundle, 'overlay/upper')}`);
    removeBundle(r.bundle);
  });
});

describe('refusals: one line, non-zero exit, nothing left', () => {
  const nothingLeft = (b: string): void => {
    expect(fs.existsSync(b)).toBe(false);
    expect(fs.readdirSync(path.dirname(b)).filter((x) => x.includes('.ts-img-'))).toEqual([]);
    expect(mountsUnder(base).filter((m) => m.startsWith(b))).toEqual([]);
  };

  test('nested overlay: the bundle on an overlay mount', async () => {
    const d = path.join(base, 'nested');
    for (const x of ['l', 'u', 'w', 'm']) fs.mkdirSync(path.join(d, x), { recursive: true });
    mountOverlay([path.join(d, 'l')], path.join(d, 'u'), path.join(d, 'w'), path.join(d, 'm'));
    try {
      const b = path.join(d, 'm', 'bundle');
      const r = await cli(['unpack', '-q', '--overlay', '--store', path.join(base, 'store6'), image(path.join(base, 'img7'), [L1]), b]);
      expect(r.status).toBe(1);
      expect(oneLine(r.stderr)).toBe(true);
      expect(r.stderr).toMatch(/^ts-img: overlayfs cannot be mounted here \(.*is itself on overlayfs\): unpack without --overlay\n$/);
      nothingLeft(b);
      expect(new LayerStore(path.join(base, 'store6')).list()).toEqual([]);
    } finally {
      detachAll(path.join(d, 'm'));
    }
  });

  test('a link to a lower file that an opaque marker of the same layer hid names nothing, as in the flat unpack', async () => {
    const ref = image(path.join(base, 'img11'), [L1, [{ name: 'a/', type: 'dir' }, { name: 'a/.wh..wh..opq' }, { name: 'a/y', type: 'link', linkname: 'a/g' }]]);
    await expect(unpack(ref, path.join(base, 'hid-flat'), quiet)).rejects.toThrow(/hardlink target "a\/g" does not exist/);
    const b = path.join(base, 'hid');
    await expect(unpackOverlay(ref, b, { ...quiet, store: path.join(base, 'store7') })).rejects.toThrow(/hardlink target "a\/g" does not exist/);
    nothingLeft(b);
    expect(fs.readdirSync(path.join(base, 'store7/.ts-img/ovl/tmp'))).toEqual([]);
  });

  test.each([
    [['--rootless'], /--overlay cannot be combined with --rootless/],
    [['--rootless', '--uid-map', '0:100000:65536'], /--overlay cannot be combined with --rootless/],
  ])('unpack --overlay %j', async (extra, re) => {
    const b = path.join(base, 'refused');
    const r = await cli(['unpack', '-q', '--overlay', ...extra, '--store', path.join(base, 'store8'), image(path.join(base, 'img9'), [L1]), b]);
    expect(r.status).toBe(1);
    expect(oneLine(r.stderr)).toBe(true);
    expect(r.stderr).toMatch(re);
    nothingLeft(b);
  });

  test('remove: not a bundle, a bad ts-img-overlay.json', async () => {
    const notBundle = path.join(base, 'img1');
    let r = await cli(['remove', notBundle]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/not a bundle .*not removed/);
    expect(fs.existsSync(notBundle)).toBe(true);
    const bad = path.join(base, 'badmeta');
    fs.mkdirSync(bad);
    fs.writeFileSync(path.join(bad, 'ts-img-overlay.json'), '{"version":1,"store":"rel"}');
    r = await cli(['remove', bad]);
    expect(r.status).toBe(1);
    expect(oneLine(r.stderr)).toBe(true);
    expect(r.stderr).toMatch(/ts-img-overlay\.json: store must be an absolute path/);
    r = await cli(['remove', path.join(base, 'nope')]);
    expect(r.stderr).toMatch(/no such directory/);
    expect(r.status).toBe(1);
  });
});
