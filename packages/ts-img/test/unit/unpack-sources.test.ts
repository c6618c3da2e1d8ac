import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { parseSource } from '../../src/sources/open';
import { TarIndex } from '../../src/sources/archive';
import { tarBuffer } from '../../src/testing/tarwriter';
import { rmrf, tmpdir } from '../helpers';

let dir: string;
beforeAll(() => {
  dir = tmpdir('ts-img-sources-');
  fs.mkdirSync(path.join(dir, 'lay:out'));
  fs.writeFileSync(path.join(dir, 'a.tar'), tarBuffer([
    { name: 'dir/', type: 'dir' },
    { name: 'dir/real', data: 'real data' },
    { name: 'sym', type: 'symlink', linkname: 'dir/real' },
    { name: 'hard', type: 'link', linkname: 'dir/real' },
    { name: 'x'.repeat(120), data: 'long' },
    { name: 'escape', type: 'symlink', linkname: '../../etc/passwd' },
  ]));
});
afterAll(() => rmrf(dir));

describe('parseSource', () => {
  test('PATH, PATH:tag, PATH@digest, a path containing ":", transports', () => {
    const d = path.join(dir, 'lay:out');
    const dg = 'sha256:' + 'a'.repeat(64);
    expect(parseSource(d)).toEqual({ transport: 'auto', path: d });
    expect(parseSource(`${d}:v1`)).toEqual({ transport: 'auto', path: d, ref: 'v1' });
    expect(parseSource(`${d}@${dg}`)).toEqual({ transport: 'auto', path: d, ref: dg });
    expect(parseSource(`oci:${d}:v1`)).toEqual({ transport: 'oci', path: d, ref: 'v1' });
    const a = path.join(dir, 'a.tar');
    expect(parseSource(`docker-archive:${a}:repo/x:tag`)).toEqual({ transport: 'docker-archive', path: a, ref: 'repo/x:tag' });
    expect(() => parseSource(path.join(dir, 'missing:tag'))).toThrow(/no such file/);
    expect(() => parseSource(`${d}:`)).toThrow(/empty tag/);
  });
});

describe('TarIndex', () => {
  test('indexes members without reading data; follows symlink and hardlink members', () => {
    const idx = TarIndex.open(path.join(dir, 'a.tar'));
    try {
      const real = idx.get('dir/real')!;
      expect(idx.read(real).toString()).toBe('real data');
      expect(idx.get('sym')).toEqual(real);
      expect(idx.get('./hard')).toEqual(real);
      expect(idx.read(idx.get('x'.repeat(120))!).toString()).toBe('long');
      expect(idx.get('escape')).toBeUndefined();
      expect(idx.get('nope')).toBeUndefined();
    } finally {
      idx.close();
    }
  });
  test('compressed or non-tar files are refused with a clear message', () => {
    fs.writeFileSync(path.join(dir, 'c.tar.gz'), zlib.gzipSync(fs.readFileSync(path.join(dir, 'a.tar'))));
    expect(() => TarIndex.open(path.join(dir, 'c.tar.gz'))).toThrow(/gzip-compressed archive/);
    fs.writeFileSync(path.join(dir, 'junk'), 'not a tar at all '.repeat(100));
    expect(() => TarIndex.open(path.join(dir, 'junk'))).toThrow(/checksum|not a tar/);
  });
});
