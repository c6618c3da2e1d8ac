import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { mkdirAll } from '../../src/mkdir-all';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mkdir-all-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

test('creates every missing level with the mode; an existing directory is fine', () => {
  const d = path.join(dir, 'a', 'b', 'c');
  mkdirAll(d, 0o700);
  expect(fs.statSync(d).isDirectory()).toBe(true);
  expect(fs.statSync(path.join(dir, 'a')).mode & 0o777).toBe(0o700 & ~process.umask());
  expect(() => mkdirAll(d)).not.toThrow();
});

test('a file in the way: ENOTDIR', () => {
  fs.writeFileSync(path.join(dir, 'f'), '');
  expect(() => mkdirAll(path.join(dir, 'f', 'x'))).toThrow(`mkdir ${path.join(dir, 'f', 'x')}: ENOTDIR`);
});

test('where mkdir(2) says ENOENT under an existing parent (/proc), it fails at once instead of looping like fs.mkdirSync', () => {
  let err: NodeJS.ErrnoException | undefined;
  try {
    mkdirAll('/proc/no-such-dir-here/x');
  } catch (e) {
    err = e as NodeJS.ErrnoException;
  }
  expect(err?.message).toBe('mkdir /proc/no-such-dir-here: ENOENT');
  expect(err?.code).toBe('ENOENT');
});
