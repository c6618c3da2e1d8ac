import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { buildImage, BuiltImage, ImageSpec, writeTaggedLayout, sha256 } from '../../src/testing/images';
import { rmrf, tmpdir } from '../helpers';

jest.setTimeout(120000);

/**
 * What the image config says is checked (issue #16 items 6, 7): its platform against the one
 * wanted, its fields against the image-config schema. Through the CLI: one line naming the
 * field, exit 1, no stack trace, nothing left behind.
 */
const BIN = path.resolve(__dirname, '../../../bin/ts-img');
let base: string;
let k = 0;
beforeAll(() => (base = tmpdir('ts-img-config-')));
afterAll(() => rmrf(base));

function withConfig(img: BuiltImage, config: Buffer): void {
  img.config = config;
  img.configDesc = { ...img.configDesc, digest: sha256(config), size: config.length };
  const m = JSON.parse(img.manifest.toString());
  m.config = img.configDesc;
  img.manifest = Buffer.from(JSON.stringify(m));
  img.manifestDesc = { ...img.manifestDesc, digest: sha256(img.manifest), size: img.manifest.length };
}

/** A layout whose index.json lists the one manifest, tagged x, without a platform. */
function layout(spec: Partial<ImageSpec>, config?: (c: any) => unknown): string {
  const img = buildImage({ layers: [{ entries: [{ name: 'f', data: 'f' }] }], ...spec });
  if (config) withConfig(img, Buffer.from(JSON.stringify(config(JSON.parse(img.config.toString())))));
  return writeTaggedLayout(path.join(base, `img-${++k}`), img);
}

function unpackCli(dir: string, ...extra: string[]): { code: number | null; stderr: string; bundle: string } {
  const parent = path.join(base, `out-${++k}`);
  fs.mkdirSync(parent);
  const bundle = path.join(parent, 'b');
  const r = spawnSync(BIN, ['unpack', '--quiet', ...extra, `${dir}:x`, bundle], { encoding: 'utf8' });
  return { code: r.status, stderr: r.stderr, bundle };
}

function expectRefused(r: ReturnType<typeof unpackCli>, re: RegExp): void {
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(re);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).not.toMatch(/TypeError|\n\s+at /);
  expect(fs.readdirSync(path.dirname(r.bundle))).toEqual([]);
}

describe('platform in the config', () => {
  test('a flat index with one tagged arm64 manifest is not unpacked on amd64 unless asked for', () => {
    if (process.arch !== 'x64') return; // the host must not be arm64 for this case
    const dir = layout({ platform: { os: 'linux', architecture: 'arm64' } });
    expectRefused(unpackCli(dir), /^ts-img: .*image is linux\/arm64, not linux\/amd64 \(the host's; choose with --platform linux\/arm64\)$/m);
    const ok = unpackCli(dir, '--platform', 'linux/arm64');
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(fs.readFileSync(path.join(ok.bundle, 'rootfs/f'), 'utf8')).toBe('f');
  });
});

describe('config fields against the image-config schema', () => {
  test.each([
    ['Cmd as a string', (c: any) => ({ ...c, config: { ...c.config, Cmd: 'sh -c true' } }), /config\.Cmd: must be array or null/],
    ['Env as an object', (c: any) => ({ ...c, config: { ...c.config, Env: { PATH: '/bin' } } }), /config\.Env: must be array or null/],
    ['Entrypoint with a number', (c: any) => ({ ...c, config: { ...c.config, Entrypoint: ['/bin/sh', 1] } }), /config\.Entrypoint\[1\]: must be string/],
    ['User as a number', (c: any) => ({ ...c, config: { ...c.config, User: 0 } }), /config\.User: must be string/],
    ['a null config', () => null, /\(root\): must be object/],
    ['a config without rootfs', (c: any) => ({ ...c, rootfs: undefined }), /rootfs: is required/],
  ])('%s is refused, naming the field', (_n, edit, re) => {
    const r = unpackCli(layout({}, edit));
    expectRefused(r, new RegExp(`^ts-img: config sha256:[0-9a-f]{64}: .*${re.source}`, 'm'));
  });

  test('Docker nulls (Entrypoint, Volumes, OnBuild) are accepted', () => {
    const r = unpackCli(layout({}, (c: any) => ({ ...c, config: { ...c.config, Entrypoint: null, Volumes: null, OnBuild: null, Cmd: ['true'] } })));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });
});
