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

  test('with a mapping: uidMap and gidMap last', () => {
    const m = { ...meta(), uidMap: [{ containerID: 0, hostID: 100000, size: 65536 }], gidMap: [{ containerID: 0, hostID: 200000, size: 1 }, { containerID: 1, hostID: 300000, size: 9 }] };
    writeOverlayMeta(dir, m);
    expect(readOverlayMeta(dir)).toEqual(m);
    expect(Object.keys(JSON.parse(fs.readFileSync(path.join(dir, OVERLAY_FILE), 'utf8'))).slice(-2)).toEqual(['uidMap', 'gidMap']);
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
    ['uidMap not a list', { uidMap: { containerID: 0 } }, /uidMap must be a non-empty array of \{containerID, hostID, size\}/],
    ['gidMap range of size 0', { gidMap: [{ containerID: 0, hostID: 1, size: 0 }] }, /gidMap must be a list of ranges \(entry 0: /],
    ['uidMap beyond 32 bits', { uidMap: [{ containerID: 0, hostID: 2 ** 32 - 1, size: 2 }] }, /uidMap must be a list of ranges/],
  ])('bad file (%s): one-line error naming the file and field', (_n, patch, re) => {
    const text = typeof patch === 'string' ? patch : JSON.stringify({ ...meta(), ...patch });
    fs.writeFileSync(path.join(dir, OVERLAY_FILE), text);
    expect(() => readOverlayMeta(dir)).toThrow(re);
    expect(() => readOverlayMeta(dir)).toThrow(new RegExp(OVERLAY_FILE.replace(/\./g, '\\.')));
  });
});
