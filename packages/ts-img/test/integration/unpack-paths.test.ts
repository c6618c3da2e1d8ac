import * as fs from 'fs';
import * as path from 'path';
import { execFileSync } from 'child_process';
import { unpack } from '../../src';
import { buildImage, ImageSpec, writeTaggedLayout } from '../../src/testing/images';
import { rmrf, tmpdir } from '../helpers';

jest.setTimeout(120000);

/** Names that are bytes, paths deeper than PATH_MAX, hardlinks to themselves (issue #16 items 2, 3, 10). */

let base: string;
let k = 0;
beforeAll(() => (base = tmpdir('ts-img-paths-')));
afterAll(() => rmrf(base));

const layout = (spec: ImageSpec): string => writeTaggedLayout(path.join(base, `img-${++k}`), buildImage(spec));

/** Temp dirs an unpack may have left beside its bundles. */
const leftovers = (): string[] => fs.readdirSync(base).filter((x) => x.includes('.ts-img-'));

const b = (...parts: Array<string | number[] | Buffer>): Buffer => Buffer.concat(parts.map((p) => (Buffer.isBuffer(p) ? p : typeof p === "string" ? Buffer.from(p) : Buffer.from(p))));
/** Names in a directory as raw bytes (hex), sorted. */
const namesHex = (dir: string | Buffer): string[] => (fs.readdirSync(dir, { encoding: 'buffer' }) as Buffer[]).map((n) => n.toString('hex')).sort();

describe('non-UTF-8 names are bytes', () => {
  const a1 = b('a', [0xff]); // "a\xff"
  const a2 = b('a', [0xfe]); // "a\xfe": differs in one invalid byte
  const d = b('d', [0xc3, 0x28]); // an invalid UTF-8 sequence as a directory

  test.each([['worker'], ['stream']])('two names differing in one invalid byte stay two files (%s)', async (mode) => {
    const dir = layout({
      layers: [
        { entries: [{ name: a1, data: 'one' }, { name: a2, data: 'two' }, { name: b(d, '/'), type: 'dir' }, { name: b(d, '/f'), data: 'f' }, { name: 'gone', data: 'g' }] },
        {
          entries: [
            { name: b('.wh.', a2) }, // removes a\xfe only
            { name: b('h', [0xff]), type: 'link', linkname: a1 },
            { name: b('s', [0xff]), type: 'symlink', linkname: b(d, '/f') },
            { name: b(d, '/.wh.f') },
          ],
        },
      ],
    });
    const bundle = path.join(base, `bundle-${++k}`);
    await unpack(`${dir}:x`, bundle, { quiet: true, warn: () => {}, noWorkers: mode === 'stream', workerMinBytes: 0 });
    const root = path.join(bundle, 'rootfs');
    expect(namesHex(root)).toEqual([a1, d, Buffer.from('gone'), b('h', [0xff]), b('s', [0xff])].map((x) => x.toString('hex')).sort());
    expect(fs.readFileSync(b(root, '/', a1)).toString()).toBe('one');
    expect(fs.statSync(b(root, '/', a1)).ino).toBe(fs.statSync(b(root, '/h', [0xff])).ino);
    expect((fs.readlinkSync(b(root, '/s', [0xff]), { encoding: 'buffer' }) as Buffer).equals(b(d, '/f'))).toBe(true);
    expect(namesHex(b(root, '/', d))).toEqual([]);
    expect(leftovers()).toEqual([]);
  });
});

describe('paths longer than PATH_MAX', () => {
  const comp = 'c'.repeat(20);
  const deep = Array.from({ length: 260 }, () => comp).join('/'); // 5459 bytes
  const find = (root: string, name: string): string[] =>
    execFileSync('find', [root, '-name', name], { maxBuffer: 1 << 24 }).toString().trim().split('\n').filter(Boolean).map((p) => path.relative(root, p));

  test('a deep tree unpacks (files, dirs, symlinks, hardlinks, whiteouts)', async () => {
    const dir = layout({
      layers: [
        { entries: [{ name: `${deep}/leaf`, data: 'leaf' }, { name: `${deep}/sub/`, type: 'dir', mode: 0o700 }, { name: `${deep}/gone`, data: 'x' }] },
        { entries: [{ name: `${deep}/sl`, type: 'symlink', linkname: 'leaf' }, { name: `${deep}/hl`, type: 'link', linkname: `${deep}/leaf` }, { name: `${deep}/.wh.gone` }] },
      ],
    });
    const bundle = path.join(base, `bundle-${++k}`);
    await unpack(`${dir}:x`, bundle, { quiet: true, warn: () => {} });
    const root = path.join(bundle, 'rootfs');
    expect(find(root, 'leaf')).toEqual([`${deep}/leaf`]);
    expect(find(root, 'hl')).toEqual([`${deep}/hl`]);
    expect(find(root, 'sl')).toEqual([`${deep}/sl`]);
    expect(find(root, 'sub')).toEqual([`${deep}/sub`]);
    expect(find(root, 'gone')).toEqual([]);
    execFileSync('rm', ['-rf', bundle]);
  });

  test('symlinks met while walking a deep path stay inside the root', async () => {
    // the walk is the one used beyond PATH_MAX: ".." stops at the root, absolute targets start there
    const up = Array.from({ length: 400 }, () => '..').join('/');
    const dir = layout({
      layers: [{
        entries: [
          { name: `${deep}/up`, type: 'symlink', linkname: `${up}${base}` },
          { name: `${deep}/up/pwned`, data: 'in' },
          { name: `${deep}/abs`, type: 'symlink', linkname: base },
          { name: `${deep}/abs/pwned2`, data: 'in' },
        ],
      }],
    });
    const bundle = path.join(base, `bundle-${++k}`);
    await unpack(`${dir}:x`, bundle, { quiet: true, warn: () => {} });
    const root = path.join(bundle, 'rootfs');
    expect(fs.readFileSync(path.join(root, base, 'pwned'), 'utf8')).toBe('in');
    expect(fs.readFileSync(path.join(root, base, 'pwned2'), 'utf8')).toBe('in');
    expect(fs.existsSync(path.join(base, 'pwned'))).toBe(false);
    expect(fs.existsSync(path.join(base, 'pwned2'))).toBe(false);
    execFileSync('rm', ['-rf', bundle]);
  });

  test('a failed unpack of a deep tree leaves no temporary directory', async () => {
    const dir = layout({ layers: [{ entries: [{ name: `${deep}/leaf`, data: 'leaf' }] }, { entries: [{ name: 'f', data: 'f' }] }] });
    // break the second layer's digest: the unpack fails after the deep tree exists
    const blobs = path.join(dir, 'blobs/sha256');
    const index = JSON.parse(fs.readFileSync(path.join(dir, 'index.json'), 'utf8'));
    const manifest = JSON.parse(fs.readFileSync(path.join(blobs, index.manifests[0].digest.slice(7)), 'utf8'));
    const l2 = path.join(blobs, manifest.layers[1].digest.slice(7));
    const buf = fs.readFileSync(l2);
    buf[buf.length - 5] ^= 0xff;
    fs.writeFileSync(l2, buf);
    const bundle = path.join(base, `bundle-${++k}`);
    await expect(unpack(`${dir}:x`, bundle, { quiet: true, warn: () => {} })).rejects.toThrow(/layer 2\/2/);
    expect(fs.existsSync(bundle)).toBe(false);
    expect(leftovers()).toEqual([]);
  });
});

describe('a hardlink to itself', () => {
  test('names nothing when the file does not exist: an error naming the layer', async () => {
    const dir = layout({ layers: [{ entries: [{ name: 'self', type: 'link', linkname: 'self' }] }] });
    const bundle = path.join(base, `bundle-${++k}`);
    await expect(unpack(`${dir}:x`, bundle, { quiet: true, warn: () => {} })).rejects.toThrow(/layer 1\/1 .*"self": hardlink to itself/);
    expect(fs.existsSync(bundle)).toBe(false);
    expect(leftovers()).toEqual([]);
  });

  test('changes nothing when the file exists (a lower layer holds it)', async () => {
    const dir = layout({ layers: [{ entries: [{ name: 'self', data: 'kept' }] }, { entries: [{ name: './self', type: 'link', linkname: 'self' }] }] });
    const bundle = path.join(base, `bundle-${++k}`);
    await unpack(`${dir}:x`, bundle, { quiet: true, warn: () => {} });
    expect(fs.readFileSync(path.join(bundle, 'rootfs/self'), 'utf8')).toBe('kept');
  });
});

describe('rootfs/ times', () => {
  test('the epoch when no layer has a root entry (as umoci), else the last root entry', async () => {
    const without = layout({ layers: [{ entries: [{ name: 'f', data: 'f' }] }] });
    const b1 = path.join(base, `bundle-${++k}`);
    await unpack(`${without}:x`, b1, { quiet: true, warn: () => {} });
    expect(fs.statSync(path.join(b1, 'rootfs')).mtimeMs).toBe(0);
    const withRoot = layout({ layers: [{ entries: [{ name: './', type: 'dir', mtime: 1600000000 }, { name: 'f', data: 'f' }] }] });
    const b2 = path.join(base, `bundle-${++k}`);
    await unpack(`${withRoot}:x`, b2, { quiet: true, warn: () => {} });
    expect(fs.statSync(path.join(b2, 'rootfs')).mtimeMs).toBe(1600000000 * 1000);
  });
});
