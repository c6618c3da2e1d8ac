/**
 * An overlay bundle runs unchanged under runc and ts-runc: the container sees the merged layers
 * (a whiteout applied) and its writes and deletions land in the bundle's upper dir only.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { execFileSync, spawnSync } from 'child_process';
import { buildImage, writeTaggedLayout } from '../../src/testing/images';
import { readOverlayMeta } from '../../src/bundle/overlay-meta';
import { removeBundle } from '../../src/overlay/remove';
import { rmrf, tmpdir } from '../helpers';
import { BIN, REPO, detachAll, mountsUnder } from './overlay-helpers';

jest.setTimeout(180_000);

const RUNTIMES: Array<[string, string]> = [
  ['runc', '/usr/sbin/runc'],
  ['ts-runc', path.join(REPO, 'packages/ts-runc/bin/ts-runc')],
];

let base: string;
let ref: string;

beforeAll(() => {
  base = tmpdir('ts-img-ovl-run-');
  const demo = path.join(base, 'demo');
  execFileSync(path.join(REPO, 'scripts/make-demo-image'), [demo], { stdio: 'ignore' });
  // the demo's busybox layer, then a layer that whites out a file of it and adds one
  const idx = JSON.parse(fs.readFileSync(path.join(demo, 'index.json'), 'utf8'));
  const blob = (d: string): Buffer => fs.readFileSync(path.join(demo, 'blobs/sha256', d.slice(7)));
  const manifest = JSON.parse(blob(idx.manifests[0].digest).toString());
  const busybox = zlib.gunzipSync(blob(manifest.layers[0].digest));
  const img = buildImage({
    layers: [{ tar: busybox }, { entries: [{ name: 'etc/', type: 'dir', mode: 0o755 }, { name: 'etc/motd', data: 'motd of layer 2\n' }, { name: 'bin/', type: 'dir', mode: 0o755 }, { name: 'bin/.wh.vi' }] }],
    exec: { Cmd: ['/bin/true'] },
  });
  writeTaggedLayout(path.join(base, 'image'), img);
  ref = `${path.join(base, 'image')}:x`;
});

afterAll(() => {
  detachAll(base);
  rmrf(base);
  expect(mountsUnder(base)).toEqual([]);
});

/**
 * `unpack --overlay` (with `unpackArgs`) into bundle-NAME, then the runtime runs `script` there
 * (after `prepare`); `check` looks at the bundle before it is removed.
 */
function runInBundle(name: string, runtime: string, unpackArgs: string[], script: string, check: (b: string, r: { stdout: string; stderr: string; status: number | null }) => void, prepare = (_b: string): void => {}): void {
  const b = path.join(base, `bundle-${name}`);
  const root = path.join(base, `state-${name}`);
  const id = `ts-img-ovl-${name}-${process.pid}`;
  const u = spawnSync(BIN, ['unpack', '-q', '--overlay', '--store', path.join(base, 'store'), ...unpackArgs, ref, b], { encoding: 'utf8' });
  expect(u.stderr).toBe('');
  expect(u.status).toBe(0);
  try {
    prepare(b);
    const cfg = JSON.parse(fs.readFileSync(path.join(b, 'config.json'), 'utf8'));
    cfg.process.terminal = false;
    cfg.process.args = ['/bin/sh', '-c', script];
    fs.writeFileSync(path.join(b, 'config.json'), JSON.stringify(cfg));
    const r = spawnSync(runtime, ['--root', root, 'run', '-b', b, id], { encoding: 'utf8', timeout: 60_000 });
    spawnSync(runtime, ['--root', root, 'delete', '-f', id]);
    check(b, r);
  } finally {
    removeBundle(b);
  }
  expect(fs.existsSync(b)).toBe(false);
}

test.each(RUNTIMES)('%s runs an overlay bundle; writes go to its upper dir', (name, runtime) => {
  runInBundle(name, runtime, [], 'cat /etc/motd; test -e /bin/vi || echo no-vi; echo from-container > /written; rm /etc/motd; ls /etc/motd 2>/dev/null || echo motd-gone', (b, r) => {
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('motd of layer 2\nno-vi\nmotd-gone\n');
    expect(r.status).toBe(0);
    const meta = readOverlayMeta(b)!;
    expect(fs.readFileSync(path.join(meta.upper, 'written'), 'utf8')).toBe('from-container\n');
    const wh = fs.lstatSync(path.join(meta.upper, 'etc/motd'));
    expect([wh.isCharacterDevice(), wh.rdev]).toEqual([true, 0]);
    expect(fs.readFileSync(path.join(meta.lowerdirs[1], 'etc/motd'), 'utf8')).toBe('motd of layer 2\n');
  });
});

test.each(RUNTIMES)('%s runs an overlay bundle unpacked with --uid-map/--gid-map: the container\'s root owns its files; its writes are host ids in the upper dir', (name, runtime) => {
  const map = ['--uid-map', '0:100000:65536', '--gid-map', '0:100000:65536'];
  runInBundle(`map-${name}`, runtime, map, 'id -u; stat -c %u:%g / /bin/busybox /etc/motd; echo w > /written', (b, r) => {
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('0\n0:0\n0:0\n0:0\n');
    expect(r.status).toBe(0);
    const meta = readOverlayMeta(b)!;
    expect(fs.statSync(path.join(meta.upper, 'written'))).toMatchObject({ uid: 100000, gid: 100000 });
    expect(fs.statSync(path.join(meta.lowerdirs[0], 'bin/busybox'))).toMatchObject({ uid: 0, gid: 0 }); // the shared layer unchanged
  }, (b) => {
    // the container's root (host 100000) must reach rootfs/, as for a flat bundle with a mapping
    for (const d of [base, b]) fs.chmodSync(d, 0o711);
  });
});
