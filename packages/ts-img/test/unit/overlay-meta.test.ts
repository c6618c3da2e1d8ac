import * as fs from 'fs';
import * as path from 'path';
import { OVERLAY_FILE, OverlayMeta, readOverlayMeta, writeOverlayMeta } from '../../src/bundle/overlay-meta';
import { rmrf, tmpdir } from '../helpers';

const D = (c: string): string => `sha256:${c.repeat(64)}`;

describe('ts-img-overlay.json', () => {
  let dir: string;
  beforeEach(() => { dir = tmpdir(); });
  afterEach(() => rmrf(dir));

  const meta = (): OverlayMeta => ({
    version: 1, store: '/var/lib/ts-img', layers: [D('a'), D('b')], lowerdirs: ['/s/l/a', '/s/l/b'],
    upper: `${dir}/overlay/upper`, work: `${dir}/overlay/work`,
  });

  test('round trip, in the contract\'s field order', () => {
    writeOverlayMeta(dir, meta());
    expect(readOverlayMeta(dir)).toEqual(meta());
    expect(Object.keys(JSON.parse(fs.readFileSync(path.join(dir, OVERLAY_FILE), 'utf8')))).toEqual(['version', 'store', 'layers', 'lowerdirs', 'upper', 'work']);
    expect(fs.readdirSync(dir)).toEqual([OVERLAY_FILE]);
  });

  test('with a fold: its field between layers and lowerdirs, one lower dir per layer above it', () => {
    const m = { ...meta(), layers: [D('a'), D('b'), D('c')], fold: { layers: 2, dir: '/s/fold/f/diff' }, lowerdirs: ['/s/l/c'] };
    writeOverlayMeta(dir, m);
    expect(readOverlayMeta(dir)).toEqual(m);
    expect(Object.keys(JSON.parse(fs.readFileSync(path.join(dir, OVERLAY_FILE), 'utf8')))).toEqual(['version', 'store', 'layers', 'fold', 'lowerdirs', 'upper', 'work']);
  });

  test('absent: undefined (a flat bundle)', () => {
    expect(readOverlayMeta(dir)).toBeUndefined();
    expect(readOverlayMeta(path.join(dir, 'nope'))).toBeUndefined();
  });

  test.each([
    ['not JSON', '{', /not valid JSON/],
    ['version', { ...{ version: 2 } }, /version must be 1/],
    ['layers', { layers: ['sha256:xyz'] }, /layers\[0\] must be a sha256 diff_id/],
    ['lowerdirs length', { lowerdirs: ['/a'] }, /lowerdirs must be an array as long as layers/],
    ['relative upper', { upper: 'overlay/upper' }, /upper must be an absolute path/],
    ['fold not an object', { fold: 2 }, /fold must be an object/],
    ['fold of one layer', { fold: { layers: 1, dir: '/f' } }, /fold\.layers must be an integer from 2 to 2 \(the number of layers\)/],
    ['fold of more layers than there are', { fold: { layers: 3, dir: '/f' } }, /fold\.layers must be an integer from 2 to 2/],
    ['fold dir relative', { fold: { layers: 2, dir: 'f' } }, /fold\.dir must be an absolute path/],
    ['lowerdirs below the fold', { fold: { layers: 2, dir: '/f' } }, /lowerdirs must be an array of one dir per layer above the fold/],
  ])('bad file (%s): one-line error naming the file and field', (_n, patch, re) => {
    const text = typeof patch === 'string' ? patch : JSON.stringify({ ...meta(), ...patch });
    fs.writeFileSync(path.join(dir, OVERLAY_FILE), text);
    expect(() => readOverlayMeta(dir)).toThrow(re);
    expect(() => readOverlayMeta(dir)).toThrow(new RegExp(OVERLAY_FILE.replace(/\./g, '\\.')));
  });
});
