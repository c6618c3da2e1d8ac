import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { validateImage } from '../../src';
import { makeTestImages } from '../../src/testing/fixtures';
import { buildImage, LayoutWriter, sha256 } from '../../src/testing/images';
import { rmrf, tmpdir } from '../helpers';

// Integration tests unpack real images; a busy 2-core machine needs more than jest's 5 s default.
jest.setTimeout(120000);

const BIN = path.resolve(__dirname, '../../../bin/ts-img');
let dir: string;
let imgs: ReturnType<typeof makeTestImages>;
beforeAll(() => {
  dir = tmpdir('ts-img-validate-');
  imgs = makeTestImages(path.join(dir, 'images'));
});
afterAll(() => rmrf(dir));

/** A one-image layout whose manifest/config/blobs can be damaged by `mutate`. */
function layout(name: string, mutate: (d: string, m: any, c: any, write: (m: any, c: any) => void) => void): string {
  const d = path.join(dir, name);
  const img = buildImage({ layers: [{ entries: [{ name: 'f', data: 'x' }] }] });
  const w = new LayoutWriter(d);
  w.add(w.image(img), 'x');
  w.finish();
  const write = (m: any, c: any): void => {
    const cb = Buffer.from(JSON.stringify(c));
    m.config = { ...m.config, digest: w.blob(cb).digest, size: cb.length };
    const mb = Buffer.from(JSON.stringify(m));
    const md = w.blob(mb);
    fs.writeFileSync(path.join(d, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: md.digest, size: md.size }] }));
  };
  mutate(d, JSON.parse(img.manifest.toString()), JSON.parse(img.config.toString()), write);
  return d;
}

describe('validate', () => {
  test.each(['layout', 'ociArchive', 'dockerOld', 'dockerNew'] as const)('the test images are valid (%s)', async (k) => {
    const r = await validateImage(imgs[k]);
    expect(r.problems).toEqual([]);
    expect(r.checked).toBeGreaterThan(5);
  });

  const bad: Array<[string, (d: string, m: any, c: any, write: (m: any, c: any) => void) => void, RegExp]> = [
    ['oci-layout without imageLayoutVersion', (d) => fs.writeFileSync(path.join(d, 'oci-layout'), '{}'), /imageLayoutVersion/],
    ['manifest without layers', (_d, m, c, write) => { delete m.layers; write(m, c); }, /layers/],
    ['config without rootfs', (_d, m, c, write) => { delete c.rootfs; write(m, c); }, /rootfs/],
    ['config with a wrong diff_id count', (_d, m, c, write) => { c.rootfs.diff_ids.push('sha256:' + 'a'.repeat(64)); write(m, c); }, /2 diff_ids for 1 layers/],
    ['a missing layer blob', (d, m) => fs.rmSync(path.join(d, 'blobs/sha256', m.layers[0].digest.slice(7))), /missing/],
    ['a damaged layer blob', (d, m) => fs.appendFileSync(path.join(d, 'blobs/sha256', m.layers[0].digest.slice(7)), 'x'), /size mismatch|digest mismatch/],
    ['an invalid digest string', (_d, m, c, write) => { m.layers[0].digest = 'sha256:../../etc/passwd'; write(m, c); }, /invalid digest|digest/],
    ['index.json that is not an index', (d) => fs.writeFileSync(path.join(d, 'index.json'), JSON.stringify({ schemaVersion: 2 })), /manifests/],
  ];
  test.each(bad)('%s is reported', async (name, mutate, want) => {
    const d = layout(name.replace(/\W+/g, '-'), mutate);
    const r = await validateImage(d);
    expect(r.problems.map((p) => `${p.where}: ${p.message}`).join('\n')).toMatch(want);
  });

  test('CLI: exit 0 and a summary when valid; exit 1, problems on stdout and one line on stderr when not', () => {
    let r = spawnSync(BIN, ['validate', imgs.layout], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/valid \(\d+ documents and blobs checked\)/);
    const d = layout('cli-bad', (dd, m) => fs.appendFileSync(path.join(dd, 'blobs/sha256', m.layers[0].digest.slice(7)), 'x'));
    r = spawnSync(BIN, ['validate', d], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/layers\[0\]: size mismatch/);
    expect(r.stderr).toMatch(/^ts-img: validate: .*: \d+ problems? \(\d+ documents and blobs checked\)\n$/);
    void sha256;
  });
});
