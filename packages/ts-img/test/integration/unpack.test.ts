import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { unpack } from '../../src';
import { validate } from '@tsrt/oci-spec';
import { makeTestImages, PLATFORMS } from '../../src/testing/fixtures';
import { buildImage, LayoutWriter } from '../../src/testing/images';
import { dumpTree, Node, rmrf, tmpdir } from '../helpers';

// Integration tests unpack real images; a busy 2-core machine needs more than jest's 5 s default.
jest.setTimeout(120000);

const BIN = path.resolve(__dirname, '../../../bin/ts-img');
const quiet = { quiet: true, warn: () => {} };

let dir: string;
let imgs: ReturnType<typeof makeTestImages>;
let n = 0;
const bundle = (): string => path.join(dir, `bundle-${++n}`);
const config = (b: string): any => JSON.parse(fs.readFileSync(path.join(b, 'config.json'), 'utf8'));

/** Tree without things that legitimately differ between two unpacks (inode numbers, times of implicit dirs). */
function comparable(t: Record<string, Node>, implicit: string[] = []): Record<string, Omit<Node, 'ino'>> {
  const out: Record<string, any> = {};
  for (const [k, v] of Object.entries(t)) {
    const { ino, ...rest } = v;
    void ino;
    if (implicit.some((p) => k === p || k.startsWith(p + '/')) && rest.type === 'dir') rest.mtimeMs = 0;
    out[k] = rest;
  }
  return out;
}
const IMPLICIT = ['implicit', 'a-very-long-directory-name-that-goes-on-and-on-and-on'];

beforeAll(() => {
  dir = tmpdir('ts-img-int-');
  imgs = makeTestImages(path.join(dir, 'images'));
});
afterAll(() => rmrf(dir));

describe('unpack the full test image', () => {
  let b: string;
  let t: Record<string, Node>;
  beforeAll(async () => {
    b = bundle();
    await unpack(`${imgs.layout}:full`, b, quiet);
    t = dumpTree(path.join(b, 'rootfs'));
  });

  test('bundle layout and mode 0700', () => {
    expect(fs.statSync(b).mode & 0o777).toBe(0o700);
    expect(fs.readdirSync(b).sort()).toEqual(['config.json', 'rootfs']);
    expect(fs.readdirSync(dir).filter((x) => x.includes('.ts-img-'))).toEqual([]);
  });

  test('whiteouts, opaque dir, same-layer whiteout', () => {
    expect(t['wh/gone']).toBeUndefined();
    expect(t['wh/gonedir']).toBeUndefined();
    expect(t['wh/keep']).toBeDefined();
    expect(t['wh/samelayer']).toBeDefined();
    expect(t['layer2-only']).toBeUndefined();
    expect(t['usr/bin/newtool']).toBeUndefined();
    expect(Object.keys(t).filter((k) => k.startsWith('opq/')).sort()).toEqual(['opq/new', 'opq/new2']);
    expect(Object.keys(t).some((k) => path.basename(k).startsWith('.wh.'))).toBe(false);
  });

  test('hardlinks, symlinks, replacements', () => {
    const rd = (p: string): string => fs.readFileSync(path.join(b, 'rootfs', p), 'utf8');
    expect(rd('data/hardlink1')).toBe('layer1 content of file1\n');
    expect(rd('data/file1')).toBe('layer2 content of file1\n');
    expect(t['data/hardlink2'].ino).toBe(t['data/sub/lowerfile'].ino);
    expect(t['data/abslink']).toMatchObject({ type: 'symlink', link: '/etc/passwd' });
    expect(t['data/dangling'].link).toBe('/nonexistent/target');
    expect(t['data/dir2file'].type).toBe('file');
    expect(t['data/file2dir'].type).toBe('dir');
    expect(t['data/file2link']).toMatchObject({ type: 'symlink', link: 'sub/lowerfile' });
    expect(t['data/sub']).toMatchObject({ mode: 0o700, uid: 1234, gid: 2345 });
    expect(t['data/sub/lowerfile']).toBeDefined();
  });

  test('modes, owners, devices, xattrs, mtimes', () => {
    expect(t['usr/bin/suid'].mode).toBe(0o4755);
    expect(t['usr/bin/sgid']).toMatchObject({ mode: 0o2755, gid: 2345 });
    expect(t.tmp.mode).toBe(0o1777);
    expect(t['home/app/secret']).toMatchObject({ mode: 0o600, uid: 1234, gid: 2345, mtimeMs: 1600000003000 });
    expect(t['dev/mynull']).toMatchObject({ type: 'char', rdev: 259 });
    expect(t['dev/myloop']).toMatchObject({ type: 'block', rdev: 1792, gid: 6 });
    expect(t['dev/myfifo'].type).toBe('fifo');
    expect(t['data/xattr-file'].xattrs).toEqual({ 'user.test': '68656c6c6f', 'user.binary': '000102ff' });
    expect(t['usr/bin/capped'].xattrs['security.capability']).toBe('0100000200040000000000000000000000000000');
    expect(t['data'].mtimeMs).toBe(1600000005000);
    expect(t['home/app'].mtimeMs).toBe(1600000002000);
  });

  test('config.json per conversion.md', () => {
    const c = config(b);
    expect(c.process.user).toEqual({ uid: 1234, gid: 2345, additionalGids: [3000, 3001] });
    expect(c.process.args).toEqual(['/usr/bin/suid', '--flag', 'arg with space']);
    // HOME from the image's /etc/passwd (the image does not set it; conversion.md allows adding it)
    expect(c.process.env).toEqual(['PATH=/usr/bin:/bin', 'WITH_EQUALS=a=b=c', 'EMPTY=', 'HOME=/home/app']);
    expect(c.process.cwd).toBe('/data');
    expect(c.annotations).toEqual({
      'org.opencontainers.image.os': 'label-wins',
      'org.opencontainers.image.architecture': 'amd64',
      'org.opencontainers.image.author': 'ts-img tests',
      'org.opencontainers.image.created': '2024-01-02T03:04:05Z',
      'org.opencontainers.image.stopSignal': 'SIGTERM',
      'org.opencontainers.image.exposedPorts': '53/udp,80/tcp',
      'com.example.label': 'yes',
    });
    expect(c.mounts.filter((m: any) => ['/data/vol', '/var/cache'].includes(m.destination)).length).toBe(2);
    expect(c.root).toEqual({ path: 'rootfs', readonly: false });
    expect(c.linux.namespaces.map((x: any) => x.type)).toEqual(['pid', 'network', 'ipc', 'uts', 'mount']);
    expect(validate('config', c)).toEqual({ ok: true });
  });

  test('the same tree from every source format', async () => {
    const want = comparable(t, IMPLICIT);
    for (const src of [`${imgs.layout}:full-gzip`, imgs.ociArchive, `oci-archive:${imgs.ociArchive}:full`, imgs.dockerOld, `${imgs.dockerOld}:test/full:latest`, imgs.dockerOldGzip, imgs.dockerNew, `${imgs.dockerNew}:latest`]) {
      const b2 = bundle();
      await unpack(src, b2, { ...quiet, workerMinBytes: 0 }); // the worker-thread path (small blobs skip it by default)
      expect([src, comparable(dumpTree(path.join(b2, 'rootfs')), IMPLICIT)]).toEqual([src, want]);
      expect(config(b2).process.user.uid).toBe(1234);
      rmrf(b2);
    }
  });

  test('the same tree when decompressing on the main thread (streams, as for registry sources)', async () => {
    const want = comparable(t, IMPLICIT);
    for (const src of [`${imgs.layout}:full`, imgs.dockerOld, imgs.dockerOldGzip, imgs.ociArchive]) {
      const b2 = bundle();
      await unpack(src, b2, { ...quiet, noWorkers: true });
      expect([src, comparable(dumpTree(path.join(b2, 'rootfs')), IMPLICIT)]).toEqual([src, want]);
      rmrf(b2);
    }
  });

  test('by digest', async () => {
    const idx = JSON.parse(fs.readFileSync(path.join(imgs.layout, 'index.json'), 'utf8'));
    const d = idx.manifests.find((m: any) => m.annotations['org.opencontainers.image.ref.name'] === 'full').digest;
    const b2 = bundle();
    const r = await unpack(`${imgs.layout}@${d}`, b2, quiet);
    expect(r.manifestDigest).toBe(d);
    rmrf(b2);
  });
});

describe('archives written by skopeo', () => {
  test('docker-archive and oci-archive from skopeo copy give the same tree', async () => {
    const sk = path.join(dir, 'skopeo');
    fs.mkdirSync(sk);
    const copy = (dst: string): void => {
      const r = spawnSync('skopeo', ['copy', '-q', `oci:${imgs.layout}:full-gzip`, dst], { encoding: 'utf8' });
      expect(r.stderr).toBe('');
    };
    copy(`docker-archive:${sk}/d.tar:test/x:1`);
    copy(`oci-archive:${sk}/o.tar:mytag`);
    const ref = bundle();
    await unpack(`${imgs.layout}:full-gzip`, ref, quiet);
    const want = comparable(dumpTree(path.join(ref, 'rootfs')), IMPLICIT);
    for (const src of [`${sk}/d.tar`, `${sk}/d.tar:test/x:1`, `${sk}/o.tar`, `${sk}/o.tar:mytag`]) {
      const b = bundle();
      await unpack(src, b, quiet);
      expect([src, comparable(dumpTree(path.join(b, 'rootfs')), IMPLICIT)]).toEqual([src, want]);
      rmrf(b);
    }
  });
});

describe('compared with umoci unpack', () => {
  test('same rootfs tree and config.json fields for the same image', async () => {
    const ub = bundle();
    const r = spawnSync('umoci', ['unpack', '--image', `${imgs.layout}:full-gzip`, ub]);
    expect(r.status).toBe(0);
    const tb = bundle();
    await unpack(`${imgs.layout}:full-gzip`, tb, quiet);
    expect(comparable(dumpTree(path.join(tb, 'rootfs')), IMPLICIT)).toEqual(comparable(dumpTree(path.join(ub, 'rootfs')), IMPLICIT));
    const u = config(ub);
    const c = config(tb);
    expect(c.process.user).toEqual(u.process.user);
    expect(c.process.args).toEqual(u.process.args);
    expect(c.process.cwd).toEqual(u.process.cwd);
    // umoci adds TERM (its bundles have a terminal, ours do not); the rest, HOME included, is the same, in order
    expect(c.process.env).toEqual(u.process.env.filter((e: string) => !/^TERM=/.test(e)));
    // umoci 0.4.7 lets the implicit os annotation win over a Label of the same key (conversion.md: the Label MUST win)
    const { ['org.opencontainers.image.os']: uos, ...uRest } = u.annotations;
    const { ['org.opencontainers.image.os']: cos, ...cRest } = c.annotations;
    expect(uos).toBe('linux');
    expect(cos).toBe('label-wins');
    expect(cRest).toEqual(uRest);
    const dests = (x: any): string[] => x.mounts.map((m: any) => m.destination).sort();
    expect(dests(c)).toEqual(dests(u));
    expect(c.linux.namespaces).toEqual(u.linux.namespaces);
    // umoci 0.4.7 masks fewer paths than current `runc spec`, which we follow
    for (const m of u.linux.maskedPaths) expect(c.linux.maskedPaths).toContain(m);
    // ... and puts /proc/asound under readonlyPaths instead
    expect(c.linux.readonlyPaths).toEqual(u.linux.readonlyPaths.filter((p: string) => p !== '/proc/asound'));
    expect(c.process.rlimits).toEqual(u.process.rlimits);
    rmrf(ub);
    rmrf(tb);
  });
});

describe('platform selection', () => {
  const cat = (b: string): string => fs.readFileSync(path.join(b, 'rootfs/platform'), 'utf8').trim();
  test('the host platform by default', async () => {
    const b = bundle();
    await unpack(`${imgs.layout}:multi`, b, quiet);
    expect(cat(b)).toBe('linux/amd64');
  });
  test.each(PLATFORMS.map(([o, a, v]) => [o, a, v ?? '']))('--platform %s/%s/%s', async (o, a, v) => {
    const b = bundle();
    await unpack(`${imgs.layout}:multi`, b, { ...quiet, platform: [o, a, ...(v ? [v] : [])].join('/') });
    expect(cat(b)).toBe([o, a, ...(v ? [v] : [])].join('/'));
    expect(config(b).annotations['org.opencontainers.image.architecture']).toBe(a);
  });
  test('arm64 without a variant matches v8', async () => {
    const b = bundle();
    await unpack(`${imgs.layout}:multi`, b, { ...quiet, platform: 'linux/arm64' });
    expect(cat(b)).toBe('linux/arm64/v8');
  });
  test('a missing platform is an error listing the platforms present', async () => {
    const b = bundle();
    await expect(unpack(`${imgs.layout}:multi`, b, { ...quiet, platform: 'linux/ppc64le' }))
      .rejects.toThrow('no image for platform linux/ppc64le; platforms present: linux/amd64, linux/arm64/v8, linux/arm/v7, linux/s390x');
    await expect(unpack(`${imgs.layout}:multi`, b, { ...quiet, platform: 'linux/arm/v6' })).rejects.toThrow(/platforms present/);
    expect(fs.existsSync(b)).toBe(false);
  });
  test('nested indexes', async () => {
    const b = bundle();
    await unpack(`${imgs.layout}:nested`, b, { ...quiet, platform: 'linux/arm64' });
    expect(cat(b)).toBe('linux/arm64/v8');
  });
});

describe('media types', () => {
  test('non-distributable layers (OCI and Docker foreign) are read when present', async () => {
    const b = bundle();
    await unpack(`${imgs.layout}:nondist`, b, quiet);
    expect(fs.readdirSync(path.join(b, 'rootfs')).sort()).toEqual(['foreign', 'nd-gzip', 'nd-plain']);
  });
  test('an absent non-distributable layer is an error naming its URLs', async () => {
    const img = buildImage({ layers: [{ entries: [{ name: 'f', data: 'x' }], mediaType: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip' }] });
    const m = JSON.parse(img.manifest.toString());
    m.layers[0].urls = ['https://example.com/layer.tgz'];
    const mb = Buffer.from(JSON.stringify(m));
    const w = new LayoutWriter(path.join(dir, 'nd-absent'));
    w.blob(img.config);
    const md = w.blob(mb);
    w.add({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: md.digest, size: md.size }, 'x');
    w.finish();
    await expect(unpack(`${path.join(dir, 'nd-absent')}:x`, bundle(), quiet)).rejects.toThrow(/blob not present .*non-distributable, fetch it from https:\/\/example.com\/layer.tgz/);
  });
  test('Docker v2 schema 2 manifest list and manifest', async () => {
    const b = bundle();
    await unpack(`${imgs.layout}:docker-types`, b, quiet);
    expect(fs.existsSync(path.join(b, 'rootfs/docker-layer'))).toBe(true);
  });
});

describe('errors and atomicity', () => {
  test('unknown tag lists the tags present', async () => {
    await expect(unpack(`${imgs.layout}:nope`, bundle(), quiet)).rejects.toThrow(/no image tagged "nope"; tags present: full, full-gzip, multi, nested, nondist, docker-types/);
  });
  test('several images and no tag', async () => {
    await expect(unpack(imgs.layout, bundle(), quiet)).rejects.toThrow(/holds 6 images; choose one with :tag \(tags: full, full-gzip/);
  });
  test('an existing non-empty bundle is refused and left alone; an empty one is used', async () => {
    const b = bundle();
    fs.mkdirSync(b);
    fs.writeFileSync(path.join(b, 'keep'), 'x');
    await expect(unpack(`${imgs.layout}:full`, b, quiet)).rejects.toThrow(/already exists/);
    expect(fs.readdirSync(b)).toEqual(['keep']);
    const e = bundle();
    fs.mkdirSync(e);
    await unpack(`${imgs.layout}:full`, e, quiet);
    expect(fs.statSync(e).mode & 0o777).toBe(0o700);
  });
  test('a failed unpack leaves no bundle and no temporary directory', async () => {
    const w = new LayoutWriter(path.join(dir, 'bad-layout'));
    const img = buildImage({ layers: [{ entries: [{ name: 'ok', data: 'fine' }] }, { entries: [{ name: '../escape', data: 'no' }] }] });
    w.add(w.image(img), 'bad');
    w.finish();
    const parent = path.join(dir, 'atomic');
    fs.mkdirSync(parent);
    await expect(unpack(`${path.join(dir, 'bad-layout')}:bad`, path.join(parent, 'b'), quiet)).rejects.toThrow(/"\.\." in path/);
    expect(fs.readdirSync(parent)).toEqual([]);
  });
});

describe('CLI', () => {
  const run = (...args: string[]) => spawnSync(BIN, args, { encoding: 'utf8' });
  test('unpack via the CLI, --image form, one-line errors', () => {
    const b = bundle();
    let r = run('unpack', '--image', `${imgs.layout}:full`, b);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    r = run('unpack', `${imgs.layout}:full`, b);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^ts-img: bundle .* already exists\n$/);
    r = run('unpack', `${imgs.layout}:multi`, bundle(), '--platform', 'plan9/mips');
    expect(r.status).toBe(1);
    expect(r.stderr.split('\n')).toHaveLength(2);
    expect(r.stderr).toMatch(/^ts-img: .*platforms present: linux\/amd64/);
    expect(r.stderr).not.toMatch(/at .*\.js/);
  });
  test('--uid-map/--gid-map shift ownership and add a user namespace', () => {
    const b = bundle();
    const r = run('unpack', '-q', '--uid-map', '0:100000:65536', '--gid-map', '0:200000:65536', `${imgs.layout}:full`, b);
    expect(r.stderr).toBe('');
    const t = dumpTree(path.join(b, 'rootfs'));
    expect(t['home/app/secret']).toMatchObject({ uid: 101234, gid: 202345 });
    expect(t['etc/passwd']).toMatchObject({ uid: 100000, gid: 200000 });
    const c = config(b);
    expect(c.linux.uidMappings).toEqual([{ containerID: 0, hostID: 100000, size: 65536 }]);
    expect(c.linux.namespaces.map((x: any) => x.type)).toContain('user');
  });
  test('--rootless as a non-root user (no chown, no devices, read-only dirs applied at the end)', () => {
    const nr = path.join(dir, 'nonroot');
    fs.chmodSync(dir, 0o755); // mkdtemp made it 0700: let the unprivileged user in
    fs.mkdirSync(nr);
    fs.chownSync(nr, 65534, 65534);
    const as = (...args: string[]) => spawnSync('setpriv', ['--reuid', '65534', '--regid', '65534', '--clear-groups', ...args], { encoding: 'utf8' });
    const w = new LayoutWriter(path.join(dir, 'ro-layout'));
    w.add(w.image(buildImage({ layers: [{ entries: [
      { name: 'ro/', type: 'dir', mode: 0o555 }, { name: 'ro/f', data: 'x', mode: 0o444 }, { name: 'ro/sub/', type: 'dir', mode: 0o500 },
      { name: 'ro/sub/g', data: 'g', uid: 1000 }, { name: 'dev/null', type: 'char', devmajor: 1, devminor: 3 },
    ] }] })), 'ro');
    w.finish();
    const b = path.join(nr, 'b');
    const r = as(BIN, 'unpack', '--rootless', `${path.join(dir, 'ro-layout')}:ro`, b);
    expect(r.stderr).toMatch(/warning: rootless/);
    expect(r.status).toBe(0);
    const t = dumpTree(path.join(b, 'rootfs'));
    expect(t.ro).toMatchObject({ mode: 0o555, uid: 65534 });
    expect(t['ro/sub']).toMatchObject({ mode: 0o500 });
    expect(t['ro/sub/g']).toMatchObject({ uid: 65534 });
    expect(t['dev/null']).toBeUndefined();
    expect(config(b).linux.uidMappings).toEqual([{ containerID: 0, hostID: 65534, size: 1 }]);
    // a failed rootless unpack cleans up after itself too
    const r2 = as(BIN, 'unpack', '--rootless', `${path.join(dir, 'ro-layout')}:nope`, path.join(nr, 'b2'));
    expect(r2.status).toBe(1);
    expect(fs.readdirSync(nr)).toEqual(['b']);
  });
  test('--rootless', () => {
    const b = bundle();
    const r = run('unpack', '-q', '--rootless', `${imgs.layout}:full`, b);
    expect(r.status).toBe(0);
    // the image runs as app (1234), which a single-ID mapping cannot hold: say so
    expect(r.stderr).toMatch(/warning: process.user.uid 1234 is not in the uid mappings/);
    const c = config(b);
    expect(c.linux.namespaces.map((x: any) => x.type)).toEqual(['pid', 'ipc', 'uts', 'mount', 'user']);
    expect(c.linux.resources).toBeUndefined();
  });
});

describe('runtime defaults', () => {
  test.each([[false], [true]])('match `runc spec` (rootless: %s) apart from the image-derived fields', async (rootless) => {
    const d = path.join(dir, `runc-spec-${rootless}`);
    fs.mkdirSync(d);
    expect(spawnSync('runc', ['spec', ...(rootless ? ['--rootless'] : [])], { cwd: d }).status).toBe(0);
    const r = JSON.parse(fs.readFileSync(path.join(d, 'config.json'), 'utf8'));
    const b = bundle();
    await unpack(`${imgs.layout}:multi`, b, { ...quiet, rootless });
    const c = config(b);
    expect(c.process.capabilities).toEqual(r.process.capabilities);
    expect(c.process.rlimits).toEqual(r.process.rlimits);
    expect(c.process.noNewPrivileges).toBe(r.process.noNewPrivileges);
    expect(c.mounts).toEqual(r.mounts);
    expect(c.linux.namespaces).toEqual(r.linux.namespaces);
    expect(c.linux.maskedPaths).toEqual(r.linux.maskedPaths);
    expect(c.linux.readonlyPaths).toEqual(r.linux.readonlyPaths);
    expect(c.linux.resources).toEqual(r.linux.resources);
    if (rootless) {
      expect(c.linux.uidMappings).toEqual(r.linux.uidMappings);
      expect(c.linux.gidMappings).toEqual(r.linux.gidMappings);
    }
  });
});

describe('the demo image runs under runc', () => {
  test('make-demo-image, unpack, runc run', () => {
    const demo = path.join(dir, 'demo');
    const mk = spawnSync(path.resolve(__dirname, '../../../../../scripts/make-demo-image'), [demo], { encoding: 'utf8' });
    expect(mk.status).toBe(0);
    const b = bundle();
    expect(spawnSync(BIN, ['unpack', '-q', demo, b]).status).toBe(0);
    const id = `ts-img-demo-${process.pid}`;
    const r = spawnSync('runc', ['run', '-b', b, id], { encoding: 'utf8', timeout: 30000 });
    spawnSync('runc', ['delete', '-f', id]);
    expect(r.stdout).toContain('Hello from the ts-img demo image');
    expect(r.status).toBe(0);
  });
});
