import * as fs from 'fs';
import * as path from 'path';
import { execFileSync, spawnSync } from 'child_process';
import { buildImage, ImageSpec, writeTaggedLayout } from '../../src/testing/images';
import { rmrf, tmpdir } from '../helpers';

jest.setTimeout(120000);

/**
 * How far layers may expand (issue #16 item 10): --max-layer-size caps one layer; without it the
 * free space of the bundle's filesystem bounds them all. Bundles on a small tmpfs mounted in a
 * private mount namespace (unshare -m), so nothing is mounted on the host.
 */
const BIN = path.resolve(__dirname, '../../../bin/ts-img');
let base: string;
let k = 0;
beforeAll(() => (base = tmpdir('ts-img-limits-')));
afterAll(() => rmrf(base));

const layout = (spec: ImageSpec): string => writeTaggedLayout(path.join(base, `img-${++k}`), buildImage(spec));

const zeros = (n: number): ImageSpec => ({ layers: [{ entries: [{ name: 'ok', data: 'ok' }] }, { entries: [{ name: 'zeros', data: Buffer.alloc(n) }], compression: 'gzip' }] });

test('--max-layer-size refuses a layer that expands beyond it, naming the layer', () => {
  const parent = path.join(base, `out-${++k}`);
  fs.mkdirSync(parent);
  const r = spawnSync(BIN, ['unpack', '--quiet', '--max-layer-size', '1M', `${layout(zeros(4 << 20))}:x`, path.join(parent, 'b')], { encoding: 'utf8' });
  expect(r.status).toBe(1);
  expect(r.stderr).toMatch(/^ts-img: layer 2\/2 \(sha256:[0-9a-f]{64}\): expands beyond 1048576 bytes, the --max-layer-size/);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(fs.readdirSync(parent)).toEqual([]);
  // the same image unpacks without the cap
  const ok = spawnSync(BIN, ['unpack', '--quiet', `${layout(zeros(4 << 20))}:x`, path.join(parent, 'b')], { encoding: 'utf8' });
  expect(ok.stderr).toBe('');
  expect(ok.status).toBe(0);
});

test('--max-layer-size with a bad value is one line', () => {
  const r = spawnSync(BIN, ['unpack', '--max-layer-size', 'lots', `${layout(zeros(10))}:x`, path.join(base, 'never')], { encoding: 'utf8' });
  expect(r.status).toBe(1);
  expect(r.stderr).toBe('ts-img: --max-layer-size: expected a size such as 512M or 2G, got "lots"\n');
});

const canUnshare = process.getuid?.() === 0 && spawnSync('unshare', ['-m', 'true']).status === 0;
const t = canUnshare ? test : test.skip;

/** Unpack into a bundle on a private 2 MiB tmpfs; returns the exit status, stderr, and what was left there. */
function onSmallFs(image: string): { status: string; stderr: string; left: string } {
  const mnt = path.join(base, `mnt-${++k}`);
  fs.mkdirSync(mnt);
  const script = 'mount -t tmpfs -o size=2m tmpfs "$1" || exit 99; "$2" unpack --quiet "$3" "$1/b" 2>"$1.err"; echo "rc=$?"; ls -A "$1"';
  const out = execFileSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script, 'sh', mnt, BIN, `${image}:x`], { encoding: 'utf8' });
  const [status, ...left] = out.trim().split('\n');
  return { status, stderr: fs.readFileSync(`${mnt}.err`, 'utf8'), left: left.join(' ') };
}

t('layers that expand beyond the free space are refused before they fill it, naming the layer', () => {
  const r = onSmallFs(layout(zeros(8 << 20)));
  expect(r.stderr).toMatch(/^ts-img: layer 2\/2 \(sha256:[0-9a-f]{64}\): the layers expand beyond the 2\.0 MiB free on \S+ \(a decompression bomb\?\)\n$/);
  expect(r.status).toBe('rc=1');
  expect(r.left).toBe('');
});

t('blobs larger than the free space are refused up front', () => {
  const noise = Buffer.alloc(3 << 20);
  for (let i = 0; i < noise.length; i += 4) noise.writeUInt32LE((Math.imul(i, 2654435761) ^ (i >>> 7)) >>> 0, i);
  const r = onSmallFs(layout({ layers: [{ entries: [{ name: 'noise', data: noise }], compression: 'gzip' }] }));
  expect(r.stderr).toMatch(/^ts-img: bundle \S+: the layers need at least 3\.\d MiB but \S+ has 2\.0 MiB free\n$/);
  expect(r.status).toBe('rc=1');
  expect(r.left).toBe('');
});
