import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { createHash } from 'crypto';
import type { Descriptor } from '@tsrt/oci-spec';
import { LayoutSource } from '../../src/sources/layout';
import type { ImageSource } from '../../src/sources/types';
import { readBlob, readJson } from '../../src/sources/blob';

/** readBlob reads a layout's blob from its file at once, other sources' as a stream: the same checks and texts either way. */
let dir: string;
const text = Buffer.from('{"schemaVersion":2}');
const digest = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

function put(content: Buffer | 'dir', as = digest(text)): Descriptor {
  const p = path.join(dir, 'blobs/sha256', as.slice(7));
  fs.rmSync(p, { recursive: true, force: true });
  if (content === 'dir') fs.mkdirSync(p);
  else fs.writeFileSync(p, content);
  return { mediaType: 'application/json', digest: as, size: text.length };
}

/** The layout as a source without a local file for any blob: read through openBlob's stream. */
function streamOnly(src: LayoutSource): ImageSource {
  return { kind: src.kind, name: src.name, index: () => src.index(), openBlob: (d) => src.openBlob(d), hasBlob: (d) => src.hasBlob(d), close: async () => undefined };
}

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ts-img-blob-'));
  fs.mkdirSync(path.join(dir, 'blobs/sha256'), { recursive: true });
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe.each([
  ['from its file', (s: LayoutSource): ImageSource => s],
  ['as a stream', streamOnly],
])('readBlob %s', (_, as) => {
  const src = (): ImageSource => as(new LayoutSource(dir));

  test('the blob, its size and digest checked', async () => {
    expect(await readBlob(src(), put(text), 'manifest')).toEqual(text);
    expect(await readJson(src(), put(text), 'manifest')).toEqual({ schemaVersion: 2 });
  });

  test.each([
    ['larger than its descriptor', Buffer.concat([text, Buffer.from(' ')]), /^manifest sha256:[0-9a-f]{64}: blob is larger than its descriptor size 19$/],
    ['smaller', text.subarray(1), /^manifest sha256:[0-9a-f]{64}: size mismatch: descriptor says 19, blob has 18$/],
    ['other bytes', Buffer.from('{"schemaVersion":3}'), /^manifest: digest mismatch: expected sha256:[0-9a-f]{64}, got sha256:[0-9a-f]{64}$/],
  ])('%s: refused', async (_n, content, msg) => {
    await expect(readBlob(src(), put(content), 'manifest')).rejects.toThrow(msg);
  });

  test('a directory where the blob should be, and no blob at all: openBlob\'s texts', async () => {
    await expect(readBlob(src(), put('dir'), 'config')).rejects.toThrow(/: not a regular file in /);
    const missing = { mediaType: 'application/json', digest: `sha256:${'0'.repeat(64)}`, size: 2 };
    await expect(readBlob(src(), missing, 'config')).rejects.toThrow(/: not found in /);
  });

  test('invalid JSON is named', async () => {
    const bad = Buffer.from('{nope');
    await expect(readJson(src(), { ...put(bad, digest(bad)), size: bad.length }, 'config')).rejects.toThrow(/^config sha256:[0-9a-f]{64}: invalid JSON: /);
  });
});
