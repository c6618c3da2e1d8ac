import { createHash, randomBytes } from 'crypto';
import { sha256Hex } from '../../src/sha256';
import { digestOf } from '../../src/digest';
import { randomHex } from '../../src/random-hex';

const nodeSha = (b: Buffer | string, alg = 'sha256'): string => createHash(alg).update(b).digest('hex');

describe('sha256 in JS (what an unpack of stored layers hashes without node:crypto)', () => {
  test('the FIPS 180-4 examples', () => {
    expect(sha256Hex('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(sha256Hex('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')).toBe('248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1');
  });

  test('every length around the block and padding edges, as node:crypto', () => {
    for (let n = 0; n <= 260; n++) {
      const b = randomBytes(n);
      expect(sha256Hex(b)).toBe(nodeSha(b));
    }
  });

  test('strings are hashed as UTF-8', () => {
    for (const s of ['sha256:ab sha256:cd', 'héllo ✓ 😀', '/tmp/bundle with space']) expect(sha256Hex(s)).toBe(nodeSha(s));
  });

  test('digestOf: small, large and sha512 inputs give node:crypto\'s digests', () => {
    for (const b of [randomBytes(10), randomBytes(16 << 10), randomBytes((16 << 10) + 1), randomBytes(100_000)]) {
      expect(digestOf(b)).toBe(`sha256:${nodeSha(b)}`);
      expect(digestOf(b, 'sha512')).toBe(`sha512:${nodeSha(b, 'sha512')}`);
    }
    expect(digestOf('a b')).toBe(`sha256:${nodeSha('a b')}`);
  });
});

test('randomHex: that many random bytes as hex', () => {
  const a = randomHex(4);
  expect(a).toMatch(/^[0-9a-f]{8}$/);
  expect(randomHex(6)).toMatch(/^[0-9a-f]{12}$/);
  expect(new Set(Array.from({ length: 20 }, () => randomHex(4))).size).toBe(20);
});
