import { createHash } from 'crypto';
import { sha256Hex } from '../../src/sha256';

// The unit test (test/unit/digest-small.test.ts) checks the length field's high word on its own;
// this hashes a message that needs it, 2^29 bytes (8n = 2^32 bits), whole: ~12 s in JS, which is
// more than the whole unit run, so it is here. digestOf never hands sha256Hex more than 4 KiB.
test('sha256Hex of 2^29 bytes (the first length whose bit count needs the high word) is node:crypto\'s', () => {
  const b = Buffer.alloc(2 ** 29, 0x61);
  b[12345] = 0; // not one repeated byte: one wrong block shows
  b[b.length - 1] = 0x7f;
  expect(sha256Hex(b)).toBe(createHash('sha256').update(b).digest('hex'));
}, 120_000);
