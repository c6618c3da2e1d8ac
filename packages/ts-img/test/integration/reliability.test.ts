/**
 * ts-img reliability: parallel `unpack`s into distinct bundles (identical trees) and into one
 * bundle (one wins, the rest fail cleanly); parallel `pull`s of one image into one store (one
 * copy, every blob verified, no temp or partial file left); SIGKILL of unpack/pull at random
 * points, then a retry succeeds; mutated manifests, configs, indexes and layer bytes through the
 * CLI (one-line error, no stack, no bundle or temp dir left). The hand-made hostile corpus is
 * in unpack-hostile.test.ts and e2e/registry-hostile.test.ts (library level); this file adds
 * random mutations at the CLI level. SOAK=1 runs more of everything.
 */
import * as fs from 'fs';
import * as path from 'path';
import { spawn, execFileSync } from 'child_process';
import { createHash } from 'crypto';
import { buildImage, writeTaggedLayout, sha256, type BuiltImage } from '../../src/testing/images';
import { dumpTree, rmrf, tmpdir } from '../helpers';
import { haveRegistry, startRegistry, type TestRegistry } from '../e2e/registry-harness';

const SOAK = process.env.SOAK === '1';
const BIN = path.resolve(__dirname, '../../../bin/ts-img');
const REPO = path.resolve(__dirname, '../../../../..');
const PARALLEL = SOAK ? 16 : 6;
const KILLS = SOAK ? 40 : 6;
const MUTATIONS = SOAK ? 500 : 40;
jest.setTimeout(SOAK ? 3 * 3600_000 : 10 * 60_000);
process.env.REGISTRY_AUTH_FILE = '/nonexistent/auth.json';
process.env.DOCKER_CONFIG = '/nonexistent';

interface Res {
  status: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  ms: number;
}
function cli(args: string[], opts: { killAfterMs?: number } = {}): Promise<Res> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const c = spawn(BIN, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    c.stderr!.on('data', (d) => (stderr += d));
    const t = opts.killAfterMs !== undefined ? setTimeout(() => c.kill('SIGKILL'), opts.killAfterMs) : undefined;
    c.on('close', (status, signal) => {
      if (t) clearTimeout(t);
      resolve({ status, signal, stderr, ms: Date.now() - t0 });
    });
  });
}
const oneLine = (s: string) => s.trim().split('\n').length === 1 && !/^\s+at /m.test(s) && !/\.js:\d+:\d+/.test(s);

/** The tree without what differs between two unpacks of one image (inode numbers, dir mtimes are kept). */
function tree(dir: string): string {
  const t = dumpTree(dir);
  return JSON.stringify(Object.entries(t).map(([k, n]) => [k, n.type, n.mode, n.uid, n.gid, n.size, n.sha, n.link, n.mtimeMs, n.nlink]));
}
/** Temporary or partial files that ts-img leaves when it is interrupted or fails. */
function temps(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, depth: number) => {
    if (depth > 4) return;
    let ents: fs.Dirent[] = [];
    try {
      ents = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of ents) {
      const p = path.join(d, e.name);
      if (/\.ts-img-|\.tmp-|\.tmp$/.test(e.name)) out.push(path.relative(dir, p));
      if (e.isDirectory() && !e.name.startsWith('rootfs')) walk(p, depth + 1);
    }
  };
  walk(dir, 0);
  return out;
}
/** Every blob of a layout matches its name. */
function badBlobs(layout: string): string[] {
  const dir = path.join(layout, 'blobs', 'sha256');
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir).filter((f) => createHash('sha256').update(fs.readFileSync(path.join(dir, f))).digest('hex') !== f);
}

let base: string;
let image: string; // OCI layout with tag "x": the demo busybox layer + two small layers (whiteouts)
let reference: string;

beforeAll(async () => {
  base = tmpdir('ts-img-rel-');
  const demo = path.join(base, 'demo');
  execFileSync(path.join(REPO, 'scripts/make-demo-image'), [demo], { stdio: 'ignore' });
  // A multi-layer image on top: the demo's busybox tree as layer 1 (from its rootfs), then changes.
  const rootfsTar = execFileSync('sh', ['-c', `d=$(mktemp -d) && ${BIN} unpack ${demo}:latest $d/b -q >/dev/null && tar --numeric-owner -C $d/b/rootfs -cf - . && rm -rf $d`], { maxBuffer: 256 << 20 });
  const img = buildImage({
    layers: [
      { tar: rootfsTar },
      { entries: [{ name: 'etc/motd', data: 'layer 2\n' }, { name: 'bin/.wh.vi' }, { name: 'opt/', type: 'dir' }, { name: 'opt/big', data: Buffer.alloc(3 << 20, 7) }] },
      { entries: [{ name: 'opt/.wh..wh..opq' }, { name: 'opt/small', data: 'x' }, { name: 'h', type: 'link', linkname: 'etc/motd' }] },
    ],
    exec: { Cmd: ['/bin/true'] },
  });
  image = path.join(base, 'image');
  writeTaggedLayout(image, img);
  const r = await cli(['unpack', `${image}:x`, path.join(base, 'reference'), '-q']);
  expect(r).toMatchObject({ status: 0 });
  reference = tree(path.join(base, 'reference', 'rootfs'));
});
afterAll(() => rmrf(base));

test(`${PARALLEL} parallel unpacks into distinct bundles: all succeed, identical trees, nothing temporary left`, async () => {
  const dir = path.join(base, 'par');
  fs.mkdirSync(dir);
  const t0 = Date.now();
  const rs = await Promise.all(Array.from({ length: PARALLEL }, (_, i) => cli(['unpack', `${image}:x`, path.join(dir, `b${i}`), '-q'])));
  const wall = Date.now() - t0;
  expect(rs.map((r) => r.status)).toEqual(rs.map(() => 0));
  const same = rs.filter((_, i) => tree(path.join(dir, `b${i}`, 'rootfs')) === reference).length;
  console.log(`ts-img: ${PARALLEL} parallel unpacks: ${rs.filter((r) => r.status === 0).length} ok, ${same} identical to a lone unpack, wall ${wall} ms (one alone: see reference), temps left ${temps(dir).length}`);
  expect(same).toBe(PARALLEL);
  expect(temps(dir)).toEqual([]);
  rmrf(dir);
});

test(`${PARALLEL} parallel unpacks into one bundle: one wins, the others fail with one line, the bundle is whole`, async () => {
  const dir = path.join(base, 'one');
  fs.mkdirSync(dir);
  const b = path.join(dir, 'bundle');
  const rs = await Promise.all(Array.from({ length: PARALLEL }, () => cli(['unpack', `${image}:x`, b, '-q'])));
  const ok = rs.filter((r) => r.status === 0);
  const errors = rs.filter((r) => r.status !== 0).map((r) => r.stderr.trim());
  console.log(`ts-img: ${PARALLEL} unpacks racing into one bundle: ${ok.length} ok; errors: ${JSON.stringify([...new Set(errors.map((e) => e.replace(/'[^']*'/g, "'…'")))])}`);
  expect(ok).toHaveLength(1);
  for (const r of rs.filter((x) => x.status !== 0)) expect(oneLine(r.stderr)).toBe(true);
  expect(errors.every((e) => /already exists/.test(e))).toBe(true);
  expect(tree(path.join(b, 'rootfs'))).toBe(reference);
  expect(temps(dir)).toEqual([]);
  rmrf(dir);
});

test(`SIGKILL of unpack at random points (${KILLS}x): the bundle is absent or whole, a retry succeeds`, async () => {
  const dir = path.join(base, 'kill');
  fs.mkdirSync(dir);
  const lone = await cli(['unpack', `${image}:x`, path.join(dir, 'cal'), '-q']);
  rmrf(path.join(dir, 'cal'));
  let killed = 0;
  const stale = new Set<string>();
  for (let i = 0; i < KILLS; i++) {
    const b = path.join(dir, `b${i}`);
    const r = await cli(['unpack', `${image}:x`, b, '-q'], { killAfterMs: Math.floor(Math.random() * lone.ms * 1.2) });
    if (r.signal === 'SIGKILL') killed++;
    if (fs.existsSync(b)) expect(tree(path.join(b, 'rootfs'))).toBe(reference);
    temps(dir).forEach((t) => stale.add(t));
    // What a killed unpack leaves is a hidden sibling: the next unpack into that bundle removes it.
    rmrf(b);
    const again = await cli(['unpack', `${image}:x`, b, '-q']);
    expect(again).toMatchObject({ status: 0 });
    expect(tree(path.join(b, 'rootfs'))).toBe(reference);
    expect(temps(dir)).toEqual([]);
    rmrf(b);
  }
  console.log(`ts-img: ${KILLS} unpacks SIGKILLed at 0-${Math.round(lone.ms * 1.2)} ms (${killed} mid-way): bundle always absent or whole, retries all ok; hidden temp dirs left by the kills: ${stale.size}, all removed by the next unpack into the same bundle`);
  rmrf(dir);
});

(haveRegistry ? describe : describe.skip)('registry', () => {
  let reg: TestRegistry;
  beforeAll(async () => {
    reg = await startRegistry();
    const r = await cli(['push', `${image}:x`, `${reg.host}/rel/img:1`, '--tls-verify=false', '-q']);
    expect(r).toMatchObject({ status: 0 });
  });
  afterAll(async () => reg?.stop());

  test(`${PARALLEL} parallel pulls of one image into one store: one copy, blobs verified, no temp or partial file`, async () => {
    const store = path.join(base, 'store');
    const t0 = Date.now();
    const rs = await Promise.all(Array.from({ length: PARALLEL }, () => cli(['pull', `${reg.host}/rel/img:1`, '--store', store, '--tls-verify=false', '-q'])));
    const wall = Date.now() - t0;
    const index = JSON.parse(fs.readFileSync(path.join(store, 'index.json'), 'utf8'));
    const partial = path.join(store, '.ts-img', 'partial');
    const partials = fs.existsSync(partial) ? fs.readdirSync(partial).filter((f) => !f.endsWith('.lock')) : [];
    console.log(`ts-img: ${PARALLEL} parallel pulls into one store: ${rs.filter((r) => r.status === 0).length} ok, wall ${wall} ms, index entries ${index.manifests.length}, bad blobs ${badBlobs(store).length}, partial files ${partials.length}, temps ${temps(store).length}`);
    expect(rs.map((r) => [r.status, r.stderr.trim()])).toEqual(rs.map(() => [0, '']));
    expect(index.manifests).toHaveLength(1);
    expect(badBlobs(store)).toEqual([]);
    expect(partials).toEqual([]);
    expect(temps(store).filter((t) => !t.startsWith('.ts-img/'))).toEqual([]);
    const u = await cli(['unpack', `${reg.host}/rel/img:1`, path.join(base, 'from-store'), '--store', store, '-q']);
    if (u.status === 0) expect(tree(path.join(base, 'from-store', 'rootfs'))).toBe(reference);
    rmrf(path.join(base, 'from-store'));
  });

  test(`SIGKILL of pull at random points (${KILLS}x), then a pull completes and the store verifies`, async () => {
    const store = path.join(base, 'store-kill');
    const lone = await cli(['pull', `${reg.host}/rel/img:1`, '--store', path.join(base, 'store-cal'), '--tls-verify=false', '-q']);
    let killed = 0;
    for (let i = 0; i < KILLS; i++) {
      const r = await cli(['pull', `${reg.host}/rel/img:1`, '--store', store, '--tls-verify=false', '-q'], { killAfterMs: Math.floor(Math.random() * lone.ms * 1.2) });
      if (r.signal === 'SIGKILL') killed++;
      expect(badBlobs(store)).toEqual([]);
      if (i % 2 === 1) {
        const again = await cli(['pull', `${reg.host}/rel/img:1`, '--store', store, '--tls-verify=false', '-q']);
        expect([again.status, again.stderr.trim()]).toEqual([0, '']);
        expect(badBlobs(store)).toEqual([]);
        rmrf(store);
      }
    }
    console.log(`ts-img: ${KILLS} pulls SIGKILLed at 0-${Math.round(lone.ms * 1.2)} ms (${killed} mid-way): every blob in the store verified after each, every follow-up pull ok`);
  });
});

// ---- mutated images through the CLI -----------------------------------------------------------
function mutateJson(v: any, rand: () => number): any {
  const paths: Array<Array<string | number>> = [];
  const walk = (x: any, p: Array<string | number>) => {
    paths.push(p);
    if (Array.isArray(x)) x.forEach((y, i) => walk(y, [...p, i]));
    else if (x && typeof x === 'object') Object.keys(x).forEach((k) => walk(x[k], [...p, k]));
  };
  walk(v, []);
  const p = paths[Math.floor(rand() * paths.length)];
  const vals = [null, -1, 2 ** 64, '', '💥', 'x'.repeat(100000), [], {}, true, 'sha256:' + 'a'.repeat(64), 'sha256:../../x', '../../../etc/passwd', 1e308];
  const nv = vals[Math.floor(rand() * vals.length)];
  if (!p.length) return nv;
  const parent = p.slice(0, -1).reduce((a: any, k) => a[k], v);
  if (rand() < 0.25) {
    if (Array.isArray(parent)) parent.splice(Number(p[p.length - 1]), 1);
    else delete parent[p[p.length - 1]];
  } else parent[p[p.length - 1]] = nv;
  return v;
}

test(`${MUTATIONS} mutated images (manifest, config, index, layer bytes) through ts-img unpack: one-line errors, nothing left`, async () => {
  let seed = Number(process.env.FUZZ_SEED ?? Date.now() % 1e6);
  const s0 = seed;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const small = buildImage({ layers: [{ entries: [{ name: 'etc/passwd', data: 'root:x:0:0::/:/bin/sh\n' }, { name: 'bin/', type: 'dir' }, { name: 'bin/sh', data: 'x', mode: 0o755 }] }, { entries: [{ name: 'etc/.wh.passwd' }] }], exec: { Cmd: ['/bin/sh'], User: 'root' } });
  const dir = path.join(base, 'mut');
  fs.mkdirSync(dir);
  const tally: Record<string, { ok: number; rejected: number }> = {};
  const problems: string[] = [];
  for (let i = 0; i < MUTATIONS; i++) {
    const img: BuiltImage = { ...small, layers: small.layers.map((l) => ({ ...l })) };
    const what = ['manifest', 'config', 'index', 'layer'][Math.floor(rand() * 4)];
    const layout = path.join(dir, `img${i}`);
    if (what === 'manifest') {
      img.manifest = Buffer.from(JSON.stringify(mutateJson(JSON.parse(img.manifest.toString()), rand)));
      img.manifestDesc = { ...img.manifestDesc, digest: sha256(img.manifest), size: img.manifest.length };
    } else if (what === 'config') {
      img.config = Buffer.from(JSON.stringify(mutateJson(JSON.parse(img.config.toString()), rand)));
      const m = JSON.parse(img.manifest.toString());
      m.config = { ...m.config, digest: sha256(img.config), size: img.config.length };
      img.manifest = Buffer.from(JSON.stringify(m));
      img.manifestDesc = { ...img.manifestDesc, digest: sha256(img.manifest), size: img.manifest.length };
    } else if (what === 'layer') {
      // Flip bytes in the uncompressed tar and re-compress, with digests that match (the applier sees it).
      const l = img.layers[0];
      const tar = Buffer.from(l.tar);
      for (let k = 0; k < 1 + Math.floor(rand() * 8); k++) tar[Math.floor(rand() * Math.min(tar.length, 1536))] = Math.floor(rand() * 256);
      const blob = require('zlib').gzipSync(tar);
      img.layers[0] = { ...l, tar, blob, diffId: sha256(tar), desc: { ...l.desc, digest: sha256(blob), size: blob.length } };
      const c = JSON.parse(img.config.toString());
      c.rootfs.diff_ids[0] = sha256(tar);
      img.config = Buffer.from(JSON.stringify(c));
      const m = JSON.parse(img.manifest.toString());
      m.layers[0] = img.layers[0].desc;
      m.config = { ...m.config, digest: sha256(img.config), size: img.config.length };
      img.manifest = Buffer.from(JSON.stringify(m));
      img.manifestDesc = { ...img.manifestDesc, digest: sha256(img.manifest), size: img.manifest.length };
    }
    writeTaggedLayout(layout, img);
    if (what === 'index') {
      const f = path.join(layout, 'index.json');
      fs.writeFileSync(f, JSON.stringify(mutateJson(JSON.parse(fs.readFileSync(f, 'utf8')), rand)));
    }
    const b = path.join(dir, `b${i}`);
    const r = await cli(['unpack', `${layout}:x`, b, '-q']);
    tally[what] ??= { ok: 0, rejected: 0 };
    tally[what][r.status === 0 ? 'ok' : 'rejected']++;
    const bad: string[] = [];
    if (r.signal) bad.push(`killed by ${r.signal}`);
    if (r.status !== 0 && !oneLine(r.stderr)) bad.push(`not one line: ${JSON.stringify(r.stderr.slice(0, 300))}`);
    if (r.status !== 0 && fs.existsSync(b)) bad.push('bundle left after a failure');
    if (temps(dir).length) bad.push(`temps: ${temps(dir).join(',')}`);
    if (bad.length) problems.push(`#${i} ${what}: ${bad.join('; ')}`);
    rmrf(b);
    rmrf(layout);
  }
  console.log([`ts-img: ${MUTATIONS} mutated images through the CLI (seed ${s0}); what -> unpacked / rejected`, ...Object.entries(tally).map(([k, v]) => `  ${k.padEnd(9)} ${v.ok} / ${v.rejected}`), `  problems: ${problems.length}`, ...problems.map((p) => '  ' + p)].join('\n'));
  expect(problems).toEqual([]);
});
