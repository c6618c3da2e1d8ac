import { spawnSync } from 'child_process';
import { createHash, randomBytes } from 'crypto';
import * as path from 'path';
import { putBitLength, sha256Hex } from '../../src/sha256';
import { digestOf } from '../../src/digest';
import { randomHex } from '../../src/random-hex';

const nodeSha = (b: Buffer | string, alg = 'sha256'): string => createHash(alg).update(b).digest('hex');

describe('sha256 in JS (what an unpack of stored layers hashes without node:crypto)', () => {
  // FIPS 180-4's examples (NIST CSRC, "SHA256.pdf" and "SHA2_Additional.pdf"), written out here:
  // not computed by node:crypto, so a wrong digest cannot agree with itself.
  test.each([
    ['the empty string', '', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'],
    ['"abc"', 'abc', 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'],
    ['the 448-bit message', 'abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq', '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1'],
    [
      'the 896-bit message',
      'abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu',
      'cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1',
    ],
    ['one million "a"', 'a'.repeat(1_000_000), 'cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0'],
  ])('FIPS 180-4: %s', (_name, msg, want) => {
    expect(sha256Hex(msg)).toBe(want);
    expect(sha256Hex(Buffer.from(msg, 'latin1'))).toBe(want);
  });

  test('every length from 0 to 300 bytes, as node:crypto (random bytes)', () => {
    for (let n = 0; n <= 300; n++) {
      const b = randomBytes(n);
      expect([n, sha256Hex(b)]).toEqual([n, nodeSha(b)]);
    }
  });

  test('the lengths around block boundaries up to 4 KiB, as node:crypto (random bytes, and all 0x00, all 0xff)', () => {
    for (const n of [55, 56, 57, 63, 64, 65, 119, 120, 121, 127, 128, 129, 1023, 1024, 1025, 4031, 4032, 4039, 4040, 4095, 4096, 4097]) {
      for (const b of [randomBytes(n), Buffer.alloc(n, 0), Buffer.alloc(n, 0xff)]) expect([n, sha256Hex(b)]).toEqual([n, nodeSha(b)]);
    }
  });

  test('a Buffer that is a view with a non-zero byteOffset hashes its own bytes only, and is left as it was', () => {
    const whole = randomBytes(8192);
    for (const [start, end] of [[1, 4], [3, 59], [7, 71], [13, 141], [64, 128], [100, 4196], [4000, 8191]]) {
      const view = whole.subarray(start, end);
      expect(view.byteOffset).toBeGreaterThan(0);
      const copy = Buffer.from(view);
      expect([start, end, sha256Hex(view)]).toEqual([start, end, nodeSha(copy)]);
      expect(view.equals(copy)).toBe(true);
    }
    // a view over an ArrayBuffer with other bytes before and after it
    const ab = new ArrayBuffer(300);
    new Uint8Array(ab).fill(0xaa);
    const mid = Buffer.from(ab, 17, 200);
    mid.fill(0x5c);
    expect(sha256Hex(mid)).toBe(nodeSha(Buffer.alloc(200, 0x5c)));
    // small Buffers from Node's shared pool (byteOffset past other Buffers' bytes)
    const pooled = Buffer.from('sha256:0123456789abcdef');
    expect(sha256Hex(pooled)).toBe(nodeSha('sha256:0123456789abcdef'));
  });

  test('strings are hashed as UTF-8, as node:crypto hashes them (a lone surrogate as U+FFFD)', () => {
    const strings = ['sha256:ab sha256:cd', 'héllo ✓ 😀', '/tmp/bundle with space', '\u0000\u007f\u0080\u07ff\u0800\uffff', 'x\ud800y', '\udc00', 'é'.repeat(100)];
    for (const s of strings) {
      expect([s, sha256Hex(s)]).toEqual([s, nodeSha(s)]);
      expect([s, sha256Hex(s)]).toEqual([s, nodeSha(Buffer.from(s, 'utf8'))]);
    }
    // not as latin1 or UTF-16: the same text in those encodings has another digest
    expect(sha256Hex('é')).not.toBe(nodeSha(Buffer.from('é', 'latin1')));
  });

  test('the length field: 8n as 64-bit big-endian in the last 8 bytes, the high word too (2^29 bytes and more)', () => {
    const want = (n: number): string => (BigInt(n) * 8n).toString(16).padStart(16, '0');
    const lengths = [0, 1, 55, 0x1fffffff, 0x20000000, 0x20000001, 0x3fffffff, 0x40000000, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 7, 2 ** 40 + 12345, 2 ** 50 - 1, 2 ** 50];
    for (const n of lengths) {
      const block = new Uint8Array(64).fill(0xee);
      putBitLength(block, n);
      expect([n, Buffer.from(block.subarray(56)).toString('hex')]).toEqual([n, want(n)]);
      expect(block.subarray(0, 56).every((x) => x === 0xee)).toBe(true);
    }
  });
});

describe('digestOf', () => {
  test('small, large and sha512 inputs give node:crypto\'s digests', () => {
    for (const b of [Buffer.alloc(0), randomBytes(10), randomBytes(4095), randomBytes(4096), randomBytes(16 << 10), randomBytes(100_000)]) {
      expect(digestOf(b)).toBe(`sha256:${nodeSha(b)}`);
      expect(digestOf(b, 'sha512')).toBe(`sha512:${nodeSha(b, 'sha512')}`);
    }
    expect(digestOf('a b')).toBe(`sha256:${nodeSha('a b')}`);
  });

  /**
   * Which hash digestOf uses, seen in a fresh Node (jest itself has node:crypto loaded): the built
   * digest.js with sha256Hex counted, and Node's list of loaded builtins. Each scenario is a list
   * of steps, each [data, alg?]; a step string 'load' requires node:crypto as another module would.
   */
  function inFreshNode(steps: Array<'load' | 'hasher' | [string | { fill: number; n: number }, ('sha256' | 'sha512')?]>): Array<{ js: boolean; loaded: boolean; digest: string }> {
    const src = `
      const sha = require(${JSON.stringify(path.resolve(__dirname, '../../src/sha256.js'))});
      const real = sha.sha256Hex;
      let calls = 0;
      sha.sha256Hex = (d) => (calls++, real(d));
      const { digestOf, hasher, parseDigest } = require(${JSON.stringify(path.resolve(__dirname, '../../src/digest.js'))});
      const loaded = () => process.moduleLoadList.includes('NativeModule crypto');
      const out = [];
      if (loaded()) throw new Error('node:crypto loaded before the first step');
      for (const s of JSON.parse(process.argv[2])) {
        if (s === 'load') { require('node:crypto'); continue; }
        if (s === 'hasher') { hasher(parseDigest('sha256:' + '0'.repeat(64))); continue; }
        const data = typeof s[0] === 'string' ? s[0] : Buffer.alloc(s[0].n, s[0].fill);
        const before = calls;
        const digest = digestOf(data, s[1]);
        out.push({ js: calls > before, loaded: loaded(), digest });
      }
      process.stdout.write(JSON.stringify(out));`;
    const r = spawnSync(process.execPath, ['-', JSON.stringify(steps)], { input: src, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`node exited ${r.status}: ${r.stderr}`);
    return JSON.parse(r.stdout);
  }

  const sha = (data: string | { fill: number; n: number }, alg = 'sha256'): string => `${alg}:${nodeSha(typeof data === 'string' ? data : Buffer.alloc(data.n, data.fill), alg)}`;

  test('below 4 KiB and while node:crypto is not loaded: the JS hash, and node:crypto stays unloaded', () => {
    const data = ['', 'abc', 'é'.repeat(2047), { fill: 7, n: 1 }, { fill: 7, n: 4095 }];
    expect(inFreshNode(data.map((d) => [d]))).toEqual(data.map((d) => ({ js: true, loaded: false, digest: sha(d) })));
  });

  test('from 4 KiB (counted in UTF-8 bytes), node:crypto; and after that, node:crypto for small inputs too', () => {
    const data = [{ fill: 7, n: 4096 }, 'abc', { fill: 7, n: 4095 }];
    expect(inFreshNode(data.map((d) => [d]))).toEqual(data.map((d) => ({ js: false, loaded: true, digest: sha(d) })));
    // 2048 characters, 4096 bytes
    expect(inFreshNode([['é'.repeat(2048)]])).toEqual([{ js: false, loaded: true, digest: sha('é'.repeat(2048)) }]);
    expect(inFreshNode([[{ fill: 1, n: 100_000 }]])).toEqual([{ js: false, loaded: true, digest: sha({ fill: 1, n: 100_000 }) }]);
  });

  test('node:crypto already loaded, by another module or by a hasher or a sha512: node:crypto for small inputs', () => {
    expect(inFreshNode(['load', ['abc']])).toEqual([{ js: false, loaded: true, digest: sha('abc') }]);
    expect(inFreshNode(['hasher', ['abc']])).toEqual([{ js: false, loaded: true, digest: sha('abc') }]);
    expect(inFreshNode([['abc', 'sha512'], ['abc']])).toEqual([
      { js: false, loaded: true, digest: sha('abc', 'sha512') },
      { js: false, loaded: true, digest: sha('abc') },
    ]);
    // JS first, then another module loads node:crypto: from then on node:crypto
    expect(inFreshNode([['abc'], 'load', ['abc']])).toEqual([
      { js: true, loaded: false, digest: sha('abc') },
      { js: false, loaded: true, digest: sha('abc') },
    ]);
  });
});

test('randomHex: that many random bytes as hex', () => {
  const a = randomHex(4);
  expect(a).toMatch(/^[0-9a-f]{8}$/);
  expect(randomHex(6)).toMatch(/^[0-9a-f]{12}$/);
  expect(new Set(Array.from({ length: 20 }, () => randomHex(4))).size).toBe(20);
});
