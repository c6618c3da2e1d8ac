/**
 * Images of more than 500 layers (overlayfs' OVL_MAX_STACK): the bottom layers are folded into
 * one store dir keyed by their chain id. The tree under rootfs is the flat unpack's; images on
 * the same base share the fold; gc keeps a fold while a bundle names it and collects it after;
 * `mount` mounts it again; repack reads the upper dir alone; a killed fold leaves nothing trusted.
 */
import * as fs from 'fs';
import * as path from 'path';
import { spawn } from 'child_process';
import { unpack } from '../../src';
import { unpackOverlay } from '../../src/overlay/unpack-overlay';
import { removeBundle } from '../../src/overlay/remove';
import { LayerStore } from '../../src/overlay/layer-store';
import { FOLD_STEP, MAX_LOWERS, getFold, listFolds } from '../../src/overlay/fold-store';
import { readOverlayMeta, writeOverlayMeta } from '../../src/bundle/overlay-meta';
import { gc } from '../../src/store/gc';
import { Layout } from '../../src/store/layout';
import { buildImage, writeTaggedLayout } from '../../src/testing/images';
import type { WEntry } from '../../src/testing/tarwriter';
import { libc } from '@tsrt/libc';
import { rmrf } from '../helpers';
import { BIN, cli, expectSameAfterRemount, linkTree, mountsUnder, oneLine, overlayScratch, rootAttrs } from './overlay-helpers';

jest.setTimeout(300_000);

const T = 1_600_000_000;
const quiet = { quiet: true, warn: () => {} };
const scratch = overlayScratch('ts-img-fold-');

const BASE: WEntry[] = [
  { name: './', type: 'dir', mode: 0o755, mtime: T },
  { name: 'etc/', type: 'dir', mtime: T },
  { name: 'etc/passwd', data: 'root:x:0:0:root:/root:/bin/sh\n', mtime: T },
  { name: 'a/', type: 'dir', mtime: T },
  { name: 'a/f', data: 'f in the fold\n', mtime: T },
  { name: 'a/g', data: 'g\n', mode: 0o4755, uid: 12, gid: 34, mtime: T },
  { name: 'gone', data: 'whited out inside the fold\n', mtime: T },
  { name: 'gone-above', data: 'whited out above the fold\n', mtime: T },
  { name: 'opq/', type: 'dir', mtime: T },
  { name: 'opq/old', data: 'old\n', mtime: T },
  { name: 'x/', type: 'dir', mode: 0o711, mtime: T, xattrs: { 'user.k': 'v', 'trusted.overlay.foo': 'image xattr' } },
  { name: 'dev/', type: 'dir', mtime: T },
  { name: 'dev/null1', type: 'char', devmajor: 1, devminor: 3, mode: 0o666, mtime: T },
  { name: 'lnk', type: 'symlink', linkname: 'a/f', mtime: T },
];

/** Layer i of a tall image: a file of its own, and at some heights what crosses the fold's edge. */
function layer(i: number, n: number, tag = ''): WEntry[] {
  if (i === 0) return BASE;
  const own: WEntry[] = [{ name: `d${i % 10}/`, type: 'dir', mtime: T }, { name: `d${i % 10}/f${i}`, data: `file ${i}${tag}\n`, mtime: T }];
  if (i === 10) return [...own, { name: '.wh.gone', mtime: T }, { name: 'opq/', type: 'dir', mtime: T + 1 }, { name: 'opq/.wh..wh..opq', mtime: T }, { name: 'opq/new', data: 'new\n', mtime: T }];
  // above the fold: a link into it, a whiteout of it, a dir created implicitly in one of its dirs
  if (i === FOLD_STEP + 5) return [...own, { name: 'a/link', type: 'link', linkname: 'a/f' }, { name: '.wh.gone-above', mtime: T }, { name: 'x/sub/f', data: 'implicit x/sub\n', mtime: T }];
  if (i === n - 1) return [...own, { name: 'a/f', data: `f replaced at the top${tag}\n`, mode: 0o640, mtime: T + 2 }];
  return own;
}

function tallImage(name: string, n: number, tag = ''): string {
  const dir = path.join(scratch.dir, name);
  writeTaggedLayout(dir, buildImage({ layers: Array.from({ length: n }, (_, i) => ({ entries: layer(i, n, i >= FOLD_STEP ? tag : '') })), exec: { Cmd: ['/bin/sh'] } }));
  return `${dir}:x`;
}

/** Dirs created implicitly (no entry of their own) get the time of the unpack, both ways. */
function tree(root: string): ReturnType<typeof linkTree> {
  const t = linkTree(root);
  t['x/sub'].mtimeMs = 0;
  return t;
}

const mountLine = (target: string): string => fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' ')[4] === target)!;

let store: string;
let ref520: string;
beforeAll(() => {
  store = path.join(scratch.dir, 'store');
  ref520 = tallImage('img520', 520);
});

test(`520 layers: the bottom ${FOLD_STEP} folded into one lower dir; the tree and config.json are the flat unpack's`, async () => {
  const flat = scratch.bundle();
  await unpack(ref520, flat, quiet);
  const r = await unpackOverlay(ref520, scratch.bundle(), { ...quiet, store });
  const rootfs = path.join(r.bundle, 'rootfs');
  expect(tree(rootfs)).toEqual(tree(path.join(flat, 'rootfs')));
  expect(rootAttrs(rootfs)).toEqual(rootAttrs(path.join(flat, 'rootfs')));
  expect(fs.readFileSync(path.join(r.bundle, 'config.json'), 'utf8')).toBe(fs.readFileSync(path.join(flat, 'config.json'), 'utf8'));
  // spot checks of what crosses the fold's edge
  expect(fs.existsSync(path.join(rootfs, 'gone'))).toBe(false);
  expect(fs.existsSync(path.join(rootfs, 'gone-above'))).toBe(false);
  expect(fs.readdirSync(path.join(rootfs, 'opq'))).toEqual(['new']);
  expect(fs.readFileSync(path.join(rootfs, 'a/link'), 'utf8')).toBe('f in the fold\n');
  expect(libc().lgetxattr(path.join(rootfs, 'x'), 'trusted.overlay.foo').toString()).toBe('image xattr');
  // the fold, then one lower per layer above it: 421 lowers
  const meta = readOverlayMeta(r.bundle)!;
  expect(meta.layers).toHaveLength(520);
  expect(meta.fold).toEqual({ layers: FOLD_STEP, dir: r.layers[0].diff });
  expect(meta.lowerdirs).toHaveLength(520 - FOLD_STEP);
  expect(r.layers[0]).toMatchObject({ fold: FOLD_STEP });
  expect(mountLine(rootfs).split('lowerdir+=').length - 1).toBe(520 - FOLD_STEP + 1);
  expect(mountLine(rootfs)).toContain(`lowerdir+=${meta.fold!.dir},`);
  // the folded layers are not extracted on their own
  expect(new LayerStore(store).list()).toHaveLength(520 - FOLD_STEP);
  rmrf(flat);
  removeBundle(r.bundle);
});

test('an image on the same base with another top shares the fold; gc keeps a fold while a bundle names it, then collects it', async () => {
  const s = path.join(scratch.dir, 'store-share');
  const a = await unpackOverlay(ref520, scratch.bundle(), { ...quiet, store: s });
  const b = await unpackOverlay(tallImage('img530', 530, ' (530)'), scratch.bundle(), { ...quiet, store: s });
  expect(b.layers[0].diff).toBe(a.layers[0].diff); // the same fold, not extracted again
  expect(b.extracted).toBe(530 - FOLD_STEP);
  expect(fs.readFileSync(path.join(b.bundle, 'rootfs/a/f'), 'utf8')).toBe('f replaced at the top (530)\n');
  const fold = a.layers[0].key;
  const layout = await Layout.open(s);
  expect((await gc(layout)).folds).toEqual([]);
  removeBundle(a.bundle);
  expect((await gc(layout)).folds).toEqual([]); // b still uses it
  // moved away from its registered path but still mounted: kept (its dir is in mountinfo)
  const moved = `${b.bundle}-moved`;
  fs.renameSync(b.bundle, moved);
  expect((await gc(layout)).folds).toEqual([]);
  expect(getFold(new LayerStore(s), fold)).toBeDefined();
  expect((await gc(layout, { dryRun: true })).folds).toEqual([]);
  removeBundle(moved);
  expect((await gc(layout, { dryRun: true })).folds).toEqual([fold]);
  const r = await cli(['gc', '--store', s]);
  expect(r.status).toBe(0);
  expect(r.stdout).toContain(`removed fold ${fold}\n`);
  expect(r.stdout).toMatch(/; \d+ extracted layers; 1 folds\n$/);
  expect(listFolds(new LayerStore(s))).toEqual([]);
  expect(fs.readdirSync(path.join(s, '.ts-img/ovl/l')).filter((l) => fold.slice(7).startsWith(l))).toEqual([]); // its short link went too
});

describe('mount again', () => {
  test('after umount -R: the same tree; a fold gone or an edited fold.dir: one line, nothing mounted', async () => {
    const r = await unpackOverlay(ref520, scratch.bundle(), { ...quiet, store });
    fs.writeFileSync(path.join(r.bundle, 'rootfs/a/f'), 'changed by the container\n');
    await expectSameAfterRemount(r.bundle, tree);
    let m;

    const meta = readOverlayMeta(r.bundle)!;
    const file = path.join(r.bundle, 'ts-img-overlay.json');
    writeOverlayMeta(r.bundle, { ...meta, fold: { ...meta.fold!, dir: meta.lowerdirs[0] } });
    m = await cli(['mount', r.bundle]);
    expect(m.status).toBe(1);
    expect(oneLine(m.stderr)).toBe(true);
    expect(m.stderr).toContain(`${file}: fold.dir ${meta.lowerdirs[0]} is not a fold dir of the store`);
    fs.writeFileSync(file, JSON.stringify({ ...meta, fold: { ...meta.fold!, layers: FOLD_STEP + 1 } }));
    m = await cli(['mount', r.bundle]);
    expect(m.stderr).toMatch(/ts-img-overlay\.json: lowerdirs must be an array of one dir per layer above the fold\n$/);
    writeOverlayMeta(r.bundle, meta);
    expect(mountsUnder(r.bundle)).toEqual([]);

    const aside = `${path.dirname(meta.fold!.dir)}-aside`;
    fs.renameSync(path.dirname(meta.fold!.dir), aside);
    m = await cli(['mount', r.bundle]);
    expect(m.status).toBe(1);
    expect(m.stderr).toBe(`ts-img: bundle ${r.bundle}: the fold of its bottom ${FOLD_STEP} layers (${meta.fold!.dir}) is missing from the store ${store} (ts-img gc may have collected it, or the store moved): unpack the image again\n`);
    expect(mountsUnder(r.bundle)).toEqual([]);
    fs.renameSync(aside, path.dirname(meta.fold!.dir));
    removeBundle(r.bundle);
  });
});

test('repack of a folded bundle reads the upper dir alone; a flat unpack of the result is the container\'s tree', async () => {
  const b = scratch.bundle();
  let r = await cli(['unpack', '-q', '--overlay', '--store', store, ref520, b]);
  expect(r).toMatchObject({ status: 0, stderr: '' });
  const rootfs = path.join(b, 'rootfs');
  fs.writeFileSync(path.join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnew:x:5:5::/:/bin/sh\n');
  fs.rmSync(path.join(rootfs, 'lnk'));
  fs.mkdirSync(path.join(rootfs, 'made'));
  const out = path.join(scratch.dir, 'repacked');
  r = await cli(['repack', b, '--image', `${out}:t`]);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  expect(r.stdout).toMatch(/ sha256:[a-f0-9]{64} \(layer sha256:[a-f0-9]{64}: \d+ added or changed, 1 deleted\)\n$/);
  const flat = scratch.bundle();
  r = await cli(['unpack', '-q', `${out}:t`, flat]);
  expect(r.status).toBe(0);
  // a tar keeps whole seconds
  const seconds = (t: ReturnType<typeof tree>): ReturnType<typeof tree> => Object.fromEntries(Object.entries(t).map(([k, v]) => [k, { ...v, mtimeMs: Math.floor(v.mtimeMs / 1000) }]));
  const seen = tree(rootfs);
  seen.made.mtimeMs = 0; // made now, by the container
  const got = tree(path.join(flat, 'rootfs'));
  got.made.mtimeMs = 0;
  expect(seconds(got)).toEqual(seconds(seen));
  removeBundle(b);
  rmrf(flat);
});

test('a fold killed while it is extracted leaves no fold a later unpack trusts', async () => {
  const s = path.join(scratch.dir, 'store-kill');
  const n = MAX_LOWERS + 1;
  const big: WEntry[] = [];
  for (let i = 0; i < 6000; i++) big.push({ name: `many/f${i}`, data: Buffer.alloc(20000, i % 251) });
  const dir = path.join(scratch.dir, 'img-kill');
  writeTaggedLayout(dir, buildImage({ layers: Array.from({ length: n }, (_, i) => ({ entries: i === 1 ? big : layer(i, n) })), exec: { Cmd: ['/bin/sh'] } }));
  const tmpDir = path.join(s, '.ts-img/ovl/tmp');
  const b = scratch.bundle();
  const c = spawn(BIN, ['unpack', '-q', '--overlay', '--store', s, `${dir}:x`, b], { stdio: 'ignore' });
  const seen = await new Promise<boolean>((resolve) => {
    const t = setInterval(() => {
      let names: string[] = [];
      try { names = fs.readdirSync(tmpDir); } catch { /* not yet */ }
      const x = names.find((f) => new RegExp(`^fold-[a-f0-9]{64}-${c.pid}-`).test(f));
      if (x && fs.existsSync(path.join(tmpDir, x, 'diff/many'))) { clearInterval(t); c.kill('SIGKILL'); resolve(true); }
      if (c.exitCode !== null) { clearInterval(t); resolve(false); }
    }, 5);
  });
  await new Promise((resolve) => (c.exitCode !== null || c.signalCode !== null ? resolve(null) : c.on('exit', resolve)));
  expect(seen).toBe(true);
  const store2 = new LayerStore(s);
  expect(listFolds(store2)).toEqual([]);
  expect(fs.existsSync(b)).toBe(false);
  const r = await unpackOverlay(`${dir}:x`, scratch.bundle(), { ...quiet, store: s });
  expect(r.layers[0].fold).toBe(FOLD_STEP);
  expect(fs.readdirSync(path.join(r.bundle, 'rootfs/many'))).toHaveLength(6000);
  expect(fs.readdirSync(tmpDir)).toEqual([]); // what the killed one left, swept by the next extraction of that fold
  removeBundle(r.bundle);
});
