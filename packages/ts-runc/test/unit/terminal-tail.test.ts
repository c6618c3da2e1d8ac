// The terminal proxy's last read of the pty master (terminal-proxy.ts readRest): all that is left,
// but never without end.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { readRest, TAIL_LIMIT } from '../../src/lifecycle/terminal-proxy';

test('reads everything that is left, in order, up to the end', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ts-tail-'));
  const file = path.join(dir, 'tail');
  const text = Array.from({ length: 20000 }, (_, i) => `line ${i}\n`).join('');
  fs.writeFileSync(file, text);
  const fd = fs.openSync(file, 'r');
  try {
    const chunks: Buffer[] = [];
    expect(readRest(fd, (c) => chunks.push(c))).toBe(Buffer.byteLength(text));
    expect(Buffer.concat(chunks).toString()).toBe(text);
  } finally {
    fs.closeSync(fd);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('stops at the limit when the writing goes on (a slave opened again)', () => {
  const fd = fs.openSync('/dev/zero', 'r');
  try {
    let seen = 0;
    expect(readRest(fd, (c) => (seen += c.length))).toBe(TAIL_LIMIT);
    expect(seen).toBe(TAIL_LIMIT);
    expect(readRest(fd, () => undefined, 1000)).toBe(1000);
  } finally {
    fs.closeSync(fd);
  }
});

test('an error ends the read without throwing', () => {
  const fd = fs.openSync(os.tmpdir(), 'r'); // a directory: EISDIR
  try {
    expect(readRest(fd, () => undefined)).toBe(0);
  } finally {
    fs.closeSync(fd);
  }
});
