/**
 * e2e for save/load (docker-archive, oci-archive) cross-checked with skopeo both ways,
 * import/export, and repack -> unpack (with our unpacker and umoci), including the whole
 * docker-commit flow through a real registry: unpack REF, change, repack, push, pull, unpack.
 */
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ImageConfig, ImageManifest } from '@tsrt/oci-spec';
import { Layout } from '../../src/store/layout';
import { save } from '../../src/archive/save';
import { load } from '../../src/archive/load';
import { importTarball } from '../../src/archive/import';
import { exportFlattened } from '../../src/archive/flatten';
import { repack, readOrigin } from '../../src/repack/repack';
import { loadImage } from '../../src/store/image';
import { unpack } from '../../src/unpack';
import { libc } from '@tsrt/libc';
import { BuiltImage, buildImage, sampleImage, sha, tarOf } from './registry-fixtures';
import { TestRegistry, haveRegistry, startRegistry } from './registry-harness';

const run = promisify(execFile);
const BIN = path.resolve(__dirname, '../../../bin/ts-img');
jest.setTimeout(120_000);
process.env.REGISTRY_AUTH_FILE = '/nonexistent/auth.json';
process.env.DOCKER_CONFIG = '/nonexistent';

const dirs: string[] = [];
afterAll(() => {
  for (const x of dirs) fs.rmSync(x, { recursive: true, force: true });
});
function mk(prefix: string): string {
  const x = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  dirs.push(x);
  return x;
}
async function cli(args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const r = await run(BIN, [...args], { env: process.env, maxBuffer: 64 << 20 });
    return { stdout: r.stdout, stderr: r.stderr, code: 0 };
  } catch (e: any) {
    return { stdout: e.stdout ?? '', stderr: e.stderr ?? '', code: e.code ?? 1 };
  }
}
const bytes = (l: Layout, d: string) => fs.readFileSync(l.blobPath(d));
const tree = (root: string) =>
  execFileSync('find', ['.', '-printf', '%p %y %m %U:%G %s %l\n'], { cwd: root, encoding: 'utf8' }).split('\n').filter(Boolean).sort();

let src: Layout;
let img: BuiltImage;
beforeAll(async () => {
  src = await Layout.open(mk('arch-src-'), { create: true });
  img = await sampleImage(src, 'v1', 1 << 20);
});

async function saveTo(format: 'oci-archive' | 'docker-archive', name?: string): Promise<string> {
  const f = path.join(mk('arch-'), `${format}.tar`);
  await save(src, [{ name, descriptor: img.manifest }], fs.createWriteStream(f), format);
  return f;
}

describe('save / load', () => {
  test.each(['oci-archive', 'docker-archive'] as const)('%s round trip keeps every blob byte-identical', async (format) => {
    const f = await saveTo(format, 'reg.example/app:v1');
    const st = await Layout.open(mk('st-'), { create: true });
    const r = await load(f, st);
    expect(r.format).toBe(format);
    expect(r.images.map((i) => [i.name, i.descriptor.digest])).toEqual([['reg.example/app:v1', img.manifest.digest]]);
    for (const d of [img.manifest, img.config, ...img.layers]) expect(bytes(st, d.digest).equals(bytes(src, d.digest))).toBe(true);
  });

  test('skopeo reads our oci-archive (same manifest digest)', async () => {
    const f = await saveTo('oci-archive', 'v1');
    const { stdout } = await run('skopeo', ['inspect', `oci-archive:${f}:v1`]);
    expect(JSON.parse(stdout).Digest).toBe(img.manifest.digest);
    const out = mk('sk-');
    await run('skopeo', ['copy', `oci-archive:${f}:v1`, `oci:${out}/l:v1`]);
    const idx = JSON.parse(fs.readFileSync(`${out}/l/index.json`, 'utf8'));
    expect(idx.manifests[0].digest).toBe(img.manifest.digest);
  });

  test('skopeo reads our docker-archive (same config and diff_ids)', async () => {
    const f = await saveTo('docker-archive', 'reg.example/app:v1');
    const out = mk('sk-');
    await run('skopeo', ['copy', `docker-archive:${f}`, `oci:${out}/l:v1`]);
    const l = await Layout.open(`${out}/l`);
    const im = loadImage(l, l.find('v1')!.descriptor);
    expect(im.manifest.config.digest).toBe(img.config.digest);
    const ours = JSON.parse(bytes(src, img.config.digest).toString()) as ImageConfig;
    expect(im.config.rootfs.diff_ids).toEqual(ours.rootfs.diff_ids);
    // and by name, as docker would list it
    const { stdout } = await run('skopeo', ['inspect', `docker-archive:${f}:reg.example/app:v1`]);
    expect(JSON.parse(stdout).Layers).toEqual(ours.rootfs.diff_ids);
  });

  test("we read skopeo's docker-archive and oci-archive", async () => {
    const d = mk('skout-');
    await run('skopeo', ['copy', `oci:${src.dir}:v1`, `docker-archive:${d}/d.tar:foo/bar:v9`]);
    await run('skopeo', ['copy', `oci:${src.dir}:v1`, `oci-archive:${d}/o.tar:v9`]);
    const st = await Layout.open(mk('st-'), { create: true });
    const rd = await load(`${d}/d.tar`, st);
    expect(rd.images.map((i) => i.name)).toEqual(['docker.io/foo/bar:v9']);
    const imd = loadImage(st, rd.images[0].descriptor);
    expect(imd.manifest.config.digest).toBe(img.config.digest);
    // skopeo stores docker-archive layers uncompressed: their digests are the diff_ids
    expect(imd.manifest.layers.map((l) => l.digest)).toEqual(imd.config.rootfs.diff_ids);
    const ro = await load(`${d}/o.tar`, st, { tag: ['mine:v9'] });
    expect(ro.images[0].descriptor.digest).toBe(img.manifest.digest);
    // both unpack to the same tree
    const b1 = path.join(mk('b-'), 'b');
    const b2 = path.join(mk('b-'), 'b');
    await unpack(`${st.dir}@${rd.images[0].descriptor.digest}`, b1, { quiet: true });
    await unpack(`${st.dir}:mine:v9`, b2, { quiet: true });
    expect(tree(`${b1}/rootfs`)).toEqual(tree(`${b2}/rootfs`));
  });

  test('CLI save to a file and load from stdin', async () => {
    const out = path.join(mk('cli-'), 'x.tar');
    expect((await cli(['save', `${src.dir}:v1`, '-o', out, '--format', 'oci-archive'])).code).toBe(0);
    const store = mk('clistore-');
    const r = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      const c = require('node:child_process').spawn(BIN, ['load', '--store', store, '-t', 'from-stdin:1'], { stdio: ['pipe', 'pipe', 'inherit'] });
      let so = '';
      c.stdout.on('data', (x: Buffer) => (so += x));
      fs.createReadStream(out).pipe(c.stdin);
      c.on('close', (code: number | null) => resolve({ code, stdout: so }));
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`docker.io/library/from-stdin:1 ${img.manifest.digest}`);
  });

  test('a tampered blob in an archive is rejected', async () => {
    const f = await saveTo('oci-archive', 'v1');
    const buf = fs.readFileSync(f);
    const i = buf.indexOf(Buffer.from('hello\n')); // etc/motd inside a gzip layer is not visible; flip a byte in the big layer instead
    const pos = i > 0 ? i : buf.length - 4096;
    buf[pos] ^= 0xff;
    fs.writeFileSync(f, buf);
    const st = await Layout.open(mk('st-'), { create: true });
    await expect(load(f, st)).rejects.toThrow(/digest mismatch/);
    expect(st.refs()).toEqual([]);
  });
});

describe('import / export', () => {
  test('export flattens layers (whiteouts applied) like umoci unpack does', async () => {
    const f = path.join(mk('exp-'), 'flat.tar');
    await exportFlattened(src, img.layers, fs.createWriteStream(f));
    const x = mk('x-');
    execFileSync('tar', ['-xf', f, '-C', x]);
    const u = path.join(mk('u-'), 'b');
    execFileSync('umoci', ['unpack', '--image', `${src.dir}:v1`, u], { stdio: 'ignore' });
    const strip = (lines: string[]) => lines.filter((l) => !l.startsWith('. '));
    expect(strip(tree(x))).toEqual(strip(tree(`${u}/rootfs`)));
    expect(fs.existsSync(`${x}/data/old`)).toBe(false);
    expect(fs.readFileSync(`${x}/etc/motd`, 'utf8')).toBe('hello\n');
  });

  test('import a rootfs tarball, export it back: same files', async () => {
    const raw = await tarOf([
      { name: 'bin/', type: 'directory' },
      { name: 'bin/sh', content: '#!fake', mode: 0o755 },
      { name: 'etc/', type: 'directory' },
      { name: 'etc/os-release', content: 'ID=test\n' },
      { name: 'etc/link', type: 'link', linkname: 'etc/os-release' },
    ]);
    const d = mk('imp-');
    fs.writeFileSync(`${d}/rootfs.tar`, raw);
    const st = await Layout.open(mk('st-'), { create: true });
    const desc = await importTarball(st, `${d}/rootfs.tar`, 'imported:v1', { cmd: ['/bin/sh'], env: ['A=b=c'] });
    const im = loadImage(st, desc);
    expect(im.config.rootfs.diff_ids).toEqual([sha(raw)]);
    expect(im.config.config).toMatchObject({ Cmd: ['/bin/sh'], Env: ['A=b=c'] });
    expect(im.manifest.layers[0].mediaType).toBe('application/vnd.oci.image.layer.v1.tar+gzip');
    const r = await cli(['export', `${st.dir}:imported:v1`, '-o', `${d}/out.tar`]);
    expect(r.code).toBe(0);
    const x = mk('x-');
    execFileSync('tar', ['-xf', `${d}/out.tar`, '-C', x]);
    expect(fs.readFileSync(`${x}/etc/os-release`, 'utf8')).toBe('ID=test\n');
    expect(fs.statSync(`${x}/etc/link`).ino).toBe(fs.statSync(`${x}/etc/os-release`).ino);
    expect(fs.statSync(`${x}/bin/sh`).mode & 0o777).toBe(0o755);
    // a gzip tarball is stored as it is
    execFileSync('sh', ['-c', `gzip -c ${d}/rootfs.tar > ${d}/rootfs.tar.gz`]);
    const d2 = await importTarball(st, `${d}/rootfs.tar.gz`, 'gz:v1');
    const im2 = loadImage(st, d2);
    expect(im2.manifest.layers[0].digest).toBe(sha(fs.readFileSync(`${d}/rootfs.tar.gz`)));
    expect(im2.config.rootfs.diff_ids).toEqual([sha(raw)]);
  });
});

describe('repack', () => {
  test('non-UTF-8 names keep their bytes through repack, unpack and export (#16 item 2)', async () => {
    const l = await Layout.open(mk('rpb-'), { create: true });
    const base = await buildImage(l, 'base', [[{ name: 'keep', content: 'keep' }, { name: 'gone', content: 'gone' }]]);
    const bundle = path.join(mk('bundle-'), 'b');
    await unpack(`${l.dir}:base`, bundle, { quiet: true });
    const rf = Buffer.from(`${bundle}/rootfs/`);
    const at = (...parts: Array<string | number[]>) => Buffer.concat([rf, ...parts.map((x) => Buffer.from(x as any))]);
    fs.writeFileSync(at('a', [0xff]), 'one');
    fs.writeFileSync(at('a', [0xfe]), 'two');
    fs.mkdirSync(at('d', [0xc3, 0x28]));
    fs.symlinkSync(Buffer.from([0x61, 0xff]), at('d', [0xc3, 0x28], '/s', [0x80]));
    fs.rmSync(at('gone'));
    const r = await repack(bundle, l, 'committed', { layout: l, descriptor: base.manifest });
    expect(r).toMatchObject({ deleted: 1 });
    const hex = (d: Buffer) => (fs.readdirSync(d, { encoding: 'buffer' }) as Buffer[]).map((n) => n.toString('hex')).sort();
    const out = path.join(mk('out-'), 'b');
    await unpack(`${l.dir}:committed`, out, { quiet: true });
    const o = (...parts: Array<string | number[]>) => Buffer.concat([Buffer.from(`${out}/rootfs/`), ...parts.map((x) => Buffer.from(x as any))]);
    expect(hex(o())).toEqual(hex(at()).filter((n) => n !== Buffer.from('ts-img-origin.json').toString('hex')));
    expect(hex(o())).toEqual(['61fe', '61ff', '64c328', Buffer.from('keep').toString('hex')].sort());
    expect(fs.readFileSync(o('a', [0xfe]), 'utf8')).toBe('two');
    expect((fs.readlinkSync(o('d', [0xc3, 0x28], '/s', [0x80]), { encoding: 'buffer' }) as Buffer).toString('hex')).toBe('61ff');
    // export (flatten) writes the same bytes: GNU tar extracts them unchanged
    const ex = path.join(mk('exp-'), 'flat.tar');
    await exportFlattened(l, loadImage(l, r.manifest).manifest.layers, fs.createWriteStream(ex));
    const xd = mk('xd-');
    execFileSync('tar', ['-xf', ex, '-C', xd]);
    expect(hex(Buffer.from(xd))).toEqual(hex(o()));
  });

  test('changes in a bundle become a layer; unpack (ours and umoci) shows them', async () => {
    const l = await Layout.open(mk('rp-'), { create: true });
    const base = await buildImage(l, 'base', [
      [
        { name: 'etc/', type: 'directory' },
        { name: 'etc/keep', content: 'keep' },
        { name: 'etc/change', content: 'old' },
        { name: 'etc/remove', content: 'bye' },
        { name: 'gone/', type: 'directory' },
        { name: 'gone/a', content: 'a' },
        { name: 'gone/sub/', type: 'directory' },
        { name: 'gone/sub/b', content: 'b' },
        { name: 'bin/', type: 'directory' },
        { name: 'bin/tool', content: 'tool', mode: 0o755 },
      ],
    ]);
    const bundle = path.join(mk('bundle-'), 'b');
    await unpack(`${l.dir}:base`, bundle, { quiet: true });
    const rf = `${bundle}/rootfs`;
    fs.writeFileSync(`${rf}/etc/change`, 'new content');
    fs.rmSync(`${rf}/etc/remove`);
    fs.rmSync(`${rf}/gone`, { recursive: true });
    fs.chmodSync(`${rf}/bin/tool`, 0o700);
    fs.mkdirSync(`${rf}/srv/data`, { recursive: true });
    fs.writeFileSync(`${rf}/srv/data/file`, 'added');
    fs.linkSync(`${rf}/srv/data/file`, `${rf}/srv/hard`);
    fs.symlinkSync('/srv/data/file', `${rf}/srv/sym`);
    fs.chownSync(`${rf}/srv/data/file`, 1000, 1000);
    const capLike = Buffer.from([0x01, 0x00, 0x00, 0x02, 0xff, 0x80, 0x00, 0x00, 0x00]);
    let xattrs = true;
    try {
      libc().lsetxattr(`${rf}/srv/data/file`, 'user.test.bin', capLike, 0);
    } catch {
      xattrs = false; // filesystem without user xattrs
    }
    const r = await repack(bundle, l, 'committed', { layout: l, descriptor: base.manifest }, { comment: 'test commit' });
    expect(r).toMatchObject({ deleted: 2 });
    expect(readOrigin(bundle)?.manifestDigest).toBe(r.manifest.digest);
    const im = loadImage(l, r.manifest);
    expect(im.manifest.layers.slice(0, 1)).toEqual(base.layers);
    expect(im.manifest.layers).toHaveLength(2);
    expect(im.config.history?.[1]).toMatchObject({ created_by: 'ts-img repack', comment: 'test commit' });
    const layerList = execFileSync('tar', ['-tzf', l.blobPath(r.layer.digest)], { encoding: 'utf8' }).split('\n').filter(Boolean).sort();
    expect(layerList).toEqual(expect.arrayContaining(['.wh.gone', 'etc/.wh.remove', 'etc/change', 'bin/tool', 'srv/data/file', 'srv/hard', 'srv/sym']));
    expect(layerList).not.toContain('etc/keep');
    for (const via of ['ours', 'umoci']) {
      const out = path.join(mk('out-'), 'b');
      if (via === 'ours') await unpack(`${l.dir}:committed`, out, { quiet: true });
      else execFileSync('umoci', ['unpack', '--image', `${l.dir}:committed`, out], { stdio: 'ignore' });
      const o = `${out}/rootfs`;
      expect(fs.readFileSync(`${o}/etc/change`, 'utf8')).toBe('new content');
      expect(fs.readFileSync(`${o}/etc/keep`, 'utf8')).toBe('keep');
      expect(fs.existsSync(`${o}/etc/remove`)).toBe(false);
      expect(fs.existsSync(`${o}/gone`)).toBe(false);
      expect(fs.statSync(`${o}/bin/tool`).mode & 0o777).toBe(0o700);
      expect(fs.statSync(`${o}/srv/hard`).ino).toBe(fs.statSync(`${o}/srv/data/file`).ino);
      expect(fs.readlinkSync(`${o}/srv/sym`)).toBe('/srv/data/file');
      expect(fs.statSync(`${o}/srv/data/file`).uid).toBe(1000);
      if (xattrs && via === 'ours') expect(libc().lgetxattr(`${o}/srv/data/file`, 'user.test.bin').equals(capLike)).toBe(true);
    }
    // export keeps binary xattrs byte for byte (GNU tar restores them)
    if (xattrs) {
      const ex = path.join(mk('exp-'), 'flat.tar');
      await exportFlattened(l, im.manifest.layers, fs.createWriteStream(ex));
      const xd = mk('xd-');
      execFileSync('tar', ['--xattrs', '--xattrs-include=user.*', '-xf', ex, '-C', xd]);
      expect(libc().lgetxattr(`${xd}/srv/data/file`, 'user.test.bin').equals(capLike)).toBe(true);
    }
    // ours and the bundle we repacked agree (apart from the origin file)
    const again = path.join(mk('again-'), 'b');
    await unpack(`${l.dir}:committed`, again, { quiet: true });
    const noTime = (lines: string[]) => lines.filter((x) => !x.startsWith('. '));
    expect(noTime(tree(`${again}/rootfs`))).toEqual(noTime(tree(rf)));
    expect(await cli(['validate', l.dir])).toMatchObject({ code: 0 });
    // a second repack with no changes adds an empty layer on the new base (origin file)
    const r2 = await cli(['repack', bundle, '--image', `${l.dir}:committed2`]);
    expect(r2.code).toBe(0);
    expect(r2.stdout).toMatch(/0 added, 0 changed, 0 deleted/);
  });

  const dr = haveRegistry ? test : test.skip;
  dr('docker commit flow through a registry: unpack REF, change, repack, push, pull, unpack', async () => {
    const reg: TestRegistry = await startRegistry();
    try {
      const store = mk('flow-store-');
      const host = reg.host;
      const r0 = await cli(['push', `${src.dir}:v1`, `${host}/flow/app:v1`, '-q']);
      expect(r0.code).toBe(0);
      const bundle = path.join(mk('flow-'), 'b');
      const u = await cli(['unpack', `${host}/flow/app:v1`, bundle, '--store', store, '-q']);
      expect(u).toMatchObject({ code: 0 });
      expect(readOrigin(bundle)?.manifestDigest).toBe(img.manifest.digest);
      fs.writeFileSync(`${bundle}/rootfs/etc/motd`, 'committed!\n');
      const rp = await cli(['repack', bundle, '--image', `${host}/flow/app:v2`, '--store', store]);
      expect(rp).toMatchObject({ code: 0 });
      const p = await cli(['push', `${host}/flow/app:v2`, '--store', store, '-q']);
      expect(p).toMatchObject({ code: 0 });
      const store2 = mk('flow-store2-');
      const b2 = path.join(mk('flow-'), 'b');
      const u2 = await cli(['unpack', `${host}/flow/app:v2`, b2, '--store', store2, '-q']);
      expect(u2).toMatchObject({ code: 0 });
      expect(fs.readFileSync(`${b2}/rootfs/etc/motd`, 'utf8')).toBe('committed!\n');
      const m = JSON.parse(fs.readFileSync((await Layout.open(store2)).blobPath(readOrigin(b2)!.manifestDigest), 'utf8')) as ImageManifest;
      expect(m.layers.slice(0, 2).map((x) => x.digest)).toEqual(img.layers.map((x) => x.digest));
    } finally {
      await reg.stop();
    }
  });
});
