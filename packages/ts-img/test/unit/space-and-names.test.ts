import { formatBytes, parseSize } from '../../src/layers/space';
import { cPath, nameBytes, showName } from '../../src/layers/byte-names';
import { checkMagic, sniffMagic } from '../../src/layers/magic';

describe('parseSize (--max-layer-size)', () => {
  test.each([
    ['1048576', 1048576],
    ['512K', 512 * 1024],
    ['64M', 64 << 20],
    ['2G', 2 * 2 ** 30],
    ['1.5G', 1.5 * 2 ** 30],
    ['3MiB', 3 << 20],
    ['1t', 2 ** 40],
  ])('%s', (s, n) => expect(parseSize(s, '--max-layer-size')).toBe(n));

  test.each(['', 'lots', '-1', '0', '5X', '1e9'])('%j is refused naming the flag', (s) => {
    expect(() => parseSize(s, '--max-layer-size')).toThrow(/^--max-layer-size: expected a size/);
  });

  test('formatBytes', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(3 * 2 ** 30)).toBe('3.0 GiB');
  });
});

describe('byte names', () => {
  const bin = Buffer.from([0x61, 0xff]).toString('latin1');
  test('ASCII passes as a string, other bytes as NUL-terminated Buffers', () => {
    expect(cPath('etc/passwd')).toBe('etc/passwd');
    expect(cPath(bin)).toEqual(Buffer.from([0x61, 0xff, 0]));
  });
  test('nameBytes keeps bytes; text above U+00FF is UTF-8', () => {
    expect(nameBytes(bin)).toEqual(Buffer.from([0x61, 0xff]));
    expect(nameBytes('€')).toEqual(Buffer.from('€'));
  });
  test('showName: UTF-8 shown as text, invalid bytes escaped', () => {
    expect(showName(Buffer.from('é').toString('latin1'))).toBe('"é"');
    expect(showName(bin)).toBe('"a\\xff"');
  });
});

describe('magic bytes against the media type', () => {
  const gz = Buffer.from([0x1f, 0x8b, 8, 0]);
  const zst = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);
  const xz = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);
  const tar = Buffer.from('etc/\0\0\0');
  test('sniff', () => {
    expect([gz, zst, xz, Buffer.from('BZh9'), tar].map(sniffMagic)).toEqual(['gzip', 'zstd', 'xz', 'bzip2', 'none']);
  });
  test('a match passes, a mismatch names what was declared and found', () => {
    expect(checkMagic('zstd', zst, 'layer 1/1 (d)', 'mt+zstd')).toBe('zstd');
    expect(() => checkMagic('zstd', gz, 'layer 1/1 (d)', 'mt+zstd')).toThrow('layer 1/1 (d): media type mt+zstd declares zstd, but the blob is gzip-compressed');
    expect(() => checkMagic('none', xz, 'l', 'mt')).toThrow('l: media type mt declares uncompressed, but the blob is xz-compressed');
    expect(() => checkMagic('sniff', xz, 'l', undefined)).toThrow(/xz-compressed/);
    expect(checkMagic('sniff', tar, 'l', undefined)).toBe('none');
  });
});
