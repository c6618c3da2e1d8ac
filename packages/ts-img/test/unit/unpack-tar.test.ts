import { TarParser, TarEntry, parsePax } from '../../src/layers/tar';
import { tarBuffer, WEntry } from '../../src/testing/tarwriter';

interface Got { e: TarEntry; data: Buffer }

function parse(buf: Buffer, chunk = buf.length): Got[] {
  const out: Got[] = [];
  let cur: Got | null = null;
  const p = new TarParser({
    entry: (e) => { cur = { e, data: Buffer.alloc(0) }; out.push(cur); },
    data: (c) => { cur!.data = Buffer.concat([cur!.data, c]); },
    end: () => { cur = null; },
  });
  for (let i = 0; i < buf.length; i += chunk) p.push(buf.subarray(i, i + chunk));
  p.finish();
  return out;
}

const entries: WEntry[] = [
  { name: 'dir/', type: 'dir', mode: 0o755, mtime: 1234 },
  { name: 'dir/file', data: 'hello world\n', mode: 0o4755, uid: 1000, gid: 100, uname: 'u', gname: 'g' },
  { name: 'dir/link', type: 'symlink', linkname: '../target' },
  { name: 'dir/hard', type: 'link', linkname: 'dir/file' },
  { name: 'dev/null', type: 'char', devmajor: 1, devminor: 3 },
  { name: 'dev/loop0', type: 'block', devmajor: 7, devminor: 0 },
  { name: 'fifo', type: 'fifo' },
  { name: 'x'.repeat(150) + '/long-name-file', data: 'long' },
  { name: 'longlink', type: 'symlink', linkname: 'y'.repeat(200) },
  { name: 'xattr', data: 'x', xattrs: { 'user.a': 'b', 'security.capability': Buffer.from([1, 0, 0, 2, 255]) } },
  { name: 'paxtime', data: '', pax: { mtime: '1700000000.123456789', atime: '1700000001.5' } },
  { name: 'big', data: Buffer.alloc(5000, 7) },
];

describe('TarParser', () => {
  const buf = tarBuffer(entries);

  test('parses every entry type, long names, pax records and xattrs', () => {
    const got = parse(buf);
    expect(got.map((g) => g.e.name)).toEqual(entries.map((e) => e.name));
    expect(got[0].e).toMatchObject({ type: 'dir', mode: 0o755, mtimeNs: 1234000000000n });
    expect(got[1].e).toMatchObject({ type: 'file', mode: 0o4755, uid: 1000, gid: 100, uname: 'u', gname: 'g', size: 12 });
    expect(got[1].data.toString()).toBe('hello world\n');
    expect(got[2].e).toMatchObject({ type: 'symlink', linkname: '../target' });
    expect(got[3].e).toMatchObject({ type: 'link', linkname: 'dir/file' });
    expect(got[4].e).toMatchObject({ type: 'char', devmajor: 1, devminor: 3 });
    expect(got[5].e).toMatchObject({ type: 'block', devmajor: 7, devminor: 0 });
    expect(got[6].e.type).toBe('fifo');
    expect(got[8].e.linkname).toBe('y'.repeat(200));
    expect(got[9].e.xattrs.get('user.a')!.toString()).toBe('b');
    expect([...got[9].e.xattrs.get('security.capability')!]).toEqual([1, 0, 0, 2, 255]);
    expect(got[10].e.mtimeNs).toBe(1700000000123456789n);
    expect(got[10].e.atimeNs).toBe(1700000001500000000n);
    expect(got[11].data.equals(Buffer.alloc(5000, 7))).toBe(true);
  });

  test.each([1, 7, 511, 512, 513, 4096])('same result when fed in %i-byte chunks', (n) => {
    const a = parse(buf);
    const b = parse(buf, n);
    expect(b.map((g) => [g.e.name, g.data.toString('hex')])).toEqual(a.map((g) => [g.e.name, g.data.toString('hex')]));
  });

  test('bad checksum is an error', () => {
    const bad = Buffer.from(buf);
    bad[0] ^= 1;
    expect(() => parse(bad)).toThrow(/checksum/);
  });

  test('truncated archive is an error', () => {
    const one = tarBuffer([{ name: 'f', data: Buffer.alloc(2000) }]);
    expect(() => parse(one.subarray(0, 1500))).toThrow(/unexpected end/);
  });

  test('data after the end-of-archive marker is ignored', () => {
    const t = Buffer.concat([tarBuffer([{ name: 'f', data: 'x' }]), Buffer.alloc(512, 1)]);
    expect(parse(t).map((g) => g.e.name)).toEqual(['f']);
  });

  test('unsupported entry types and sparse files are errors', () => {
    expect(() => parse(tarBuffer([{ name: 'v', typeflag: 'V' }]))).toThrow(/unsupported entry type/);
    expect(() => parse(tarBuffer([{ name: 's', data: 'x', pax: { 'GNU.sparse.major': '1' } }]))).toThrow(/sparse/);
  });

  test('base-256 numbers', () => {
    const t = tarBuffer([{ name: 'f', uid: 1, data: '' }]);
    // uid field as base-256: 0x80 marker then big-endian 3000000
    t.fill(0, 108, 116);
    t[108] = 0x80;
    t.writeUInt32BE(3000000, 112);
    let sum = 0;
    t.fill(0x20, 148, 156);
    for (let i = 0; i < 512; i++) sum += t[i];
    t.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
    expect(parse(t)[0].e.uid).toBe(3000000);
  });

  test('pax records with binary values', () => {
    const m = parsePax(Buffer.from('13 path=abcd\n'));
    expect(m.get('path')!.toString()).toBe('abcd');
    expect(() => parsePax(Buffer.from('99 path=abcd\n'))).toThrow(/length/);
  });
});
