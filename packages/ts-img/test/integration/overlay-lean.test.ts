/**
 * What an overlay bundle's life loads, seen in the real CLI (bin/ts-img, its bundle and code
 * cache): an unpack --overlay of layers already stored, mount and remove load none of node:crypto
 * (the manifest's and config's digests are checked with sha256.ts), zlib, child_process, net or
 * streams. The first unpack --overlay, which extracts the layers, loads them.
 */
import * as fs from 'fs';
import * as path from 'path';
import { buildImage, writeTaggedLayout } from '../../src/testing/images';
import { fullImage } from '../../src/testing/fixtures';
import { cli, mountsUnder, overlayScratch } from './overlay-helpers';

jest.setTimeout(120_000);

const s = overlayScratch('ts-img-lean-');
const WATCHED = ['crypto', 'zlib', 'child_process', 'net', 'stream'];

/** Run the CLI with a preload that lists, at exit, which of WATCHED Node has loaded. */
async function loads(args: string[]): Promise<string[]> {
  const report = path.join(s.dir, 'report.json');
  const preload = path.join(s.dir, 'report.js');
  fs.writeFileSync(preload, `process.on('exit', () => require('fs').writeFileSync(${JSON.stringify(report)},
    JSON.stringify(${JSON.stringify(WATCHED)}.filter((m) => process.moduleLoadList.includes('NativeModule ' + m)))));\n`);
  fs.rmSync(report, { force: true });
  const r = await cli(args, { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --require ${preload}`.trim() });
  expect([args[0], r.status, r.stderr]).toEqual([args[0], 0, '']);
  return JSON.parse(fs.readFileSync(report, 'utf8'));
}

test('unpack --overlay of stored layers, mount and remove: no node:crypto, zlib, child_process, net or streams', async () => {
  const ref = writeTaggedLayout(path.join(s.dir, 'layout'), buildImage(fullImage()));
  const store = path.join(s.dir, 'store');
  const [b1, b2] = [s.bundle(), s.bundle()];
  // the first one extracts (gzip, zstd, digests of whole layers): that one loads them all
  expect(await loads(['unpack', '-q', '--overlay', '--store', store, ref, b1])).toEqual(expect.arrayContaining(['crypto', 'zlib']));
  expect(await loads(['unpack', '-q', '--overlay', '--store', store, ref, b2])).toEqual([]);
  expect(fs.existsSync(path.join(b2, 'rootfs/etc'))).toBe(true);
  expect(await loads(['remove', b1])).toEqual([]);
  expect(await loads(['mount', b2])).toEqual([]);
  expect(await loads(['remove', b2])).toEqual([]);
  expect(mountsUnder(s.dir)).toEqual([]);
});
